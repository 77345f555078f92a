"""A TensorFlow graph's dataflow between its variables (``_core.dataflow.Flow``):
which variables each one's first use is computed from, and the variables a
``tf.split`` cuts into equal parts along their last axis.  Both sides read it
from a graph: the legacy side from its TF1 graph (a builder or a ``.meta``),
the port from its call traced by ``tf.function``."""
from __future__ import annotations

import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from compat_init.port._core.dataflow import Flow
from compat_init.port._sides.graph import output_kind, set_bits, upstream

#: Ops a weight's value passes through unchanged along its last axis when the
#: last dimension stays the same (a reshape of ``1 x E x 3E`` into ``E x 3E``,
#: a bias added, a scale).
_SAME_LAST = {"Identity", "ReadVariableOp", "Cast", "Reshape", "Add", "AddV2", "BiasAdd", "Sub", "Mul", "RealDiv"}
#: Ops whose output depends on their input's shape, not its values: a
#: variable behind them does not feed what they compute (KerasHub's position
#: embedding reads the token embeddings' shape).
_SHAPE_ONLY = {"Shape", "ShapeN", "Size", "Rank", "ZerosLike", "OnesLike"}
#: Ops that add their inputs: a variable first used there, on a side that
#: no input reaches, is a term of a sum (``Flow.additive``).
_ADDS = {"Add", "AddV2", "AddN", "BiasAdd", "Sub"}
#: How far past the variable a split is looked for.
_SPLIT_DEPTH = 10


def _last(tensor: Any) -> Optional[int]:
    dims = tensor.shape.as_list() if tensor.shape.ndims else None
    return dims[-1] if dims else None


def _constant(tensor: Any) -> Any:
    op = tensor.op
    if op.type != "Const":
        return None
    try:
        from tensorflow.python.framework import tensor_util  # the one reader of a Const's value on every TF

        return tensor_util.MakeNdarray(op.get_attr("value"))
    except Exception:  # noqa: BLE001 - a constant that cannot be read is no split
        return None


def _carries_last(op: Any, tensor: Any) -> bool:
    """Whether ``op``'s first output keeps ``tensor``'s last axis as its own."""
    if op.type in _SAME_LAST:
        return _last(op.outputs[0]) is not None and _last(op.outputs[0]) == _last(tensor)
    index = [i for i, t in enumerate(op.inputs) if t is tensor]
    if op.type == "MatMul":
        return index == [1] and not op.get_attr("transpose_b")
    if op.type in ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
        return index == [1] and not op.get_attr("adj_y")
    if op.type == "Conv2D":
        return index == [1] and op.get_attr("data_format") in (b"NHWC", "NHWC")
    return False


def _split_parts(op: Any, tensor: Any) -> int:
    """The number of equal parts ``op`` cuts ``tensor`` into along its last
    axis; 0 when it is no such split."""
    rank = tensor.shape.ndims
    if not rank:
        return 0
    if op.type == "Split" and list(op.inputs)[1:] == [tensor]:
        axis = _constant(op.inputs[0])
        return int(op.get_attr("num_split")) if axis is not None and int(axis) % rank == rank - 1 else 0
    if op.type == "SplitV" and op.inputs[0] is tensor:
        sizes, axis = _constant(op.inputs[1]), _constant(op.inputs[2])
        if sizes is None or axis is None or int(axis) % rank != rank - 1 or len(set(sizes.tolist())) != 1:
            return 0
        return len(sizes)
    return 0


def _split_of(source: Any, on_path: set) -> Tuple[str, int]:
    """The split op that cuts a variable's value along its last axis on its
    one way to the outputs, and into how many parts; ("", 0) when there is
    none (a use elsewhere, a transpose, another axis)."""
    tensor = source.outputs[0]
    for _ in range(_SPLIT_DEPTH):
        consumers = [op for op in tensor.consumers() if op.name in on_path]
        if len(consumers) != 1:
            return "", 0
        op = consumers[0]
        parts = _split_parts(op, tensor)
        if parts:
            return op.name, parts
        if not _carries_last(op, tensor) and not (op.type in ("ReadVariableOp", "Identity") and op.inputs[0] is tensor):
            return "", 0
        tensor = op.outputs[0]
    return "", 0


def graph_flow(graph: Any, sources: Dict[str, str], outputs: List[Any]) -> Flow:
    """The dataflow of ``graph`` from its placeholders to ``outputs``:
    ``sources`` names the variable each op holding one stands for (a
    ``VariableV2``, a ``VarHandleOp``, a traced function's captured handle).

    A variable's first use is the first op (in the graph's order, which is
    topological) computed from it and from an input; it depends on the
    variables whose first use comes before and that op is computed from.  A
    variable first used in a sum, on a side no input reaches, is a term of
    it (``Flow.additive``).  Each placeholder meets variables first at the
    first op its value (not only its shape) reaches that a variable does
    too: those variables (``Flow.inputs``)."""
    on_path = upstream([t.op for t in outputs])
    bit: Dict[str, int] = {}
    names: List[str] = []
    masks: Dict[str, int] = {}
    use: Dict[str, int] = {}
    use_mask: Dict[str, int] = {}
    inputs_mask = 0
    values: Dict[str, int] = {}  #: the inputs whose values (not only shapes) reach each op
    met: Dict[str, int] = {}  #: each input's first op with a variable: the variables there
    operations = graph.get_operations()
    for position, op in enumerate(operations):
        if op.name not in on_path:
            continue
        mask = value = 0
        for tensor in op.inputs:
            mask |= masks.get(tensor.op.name, 0)
            value |= values.get(tensor.op.name, 0)
        token = sources.get(op.name) or ("" if op.type != "Placeholder" else "\0" + op.name)
        if token:
            if token not in bit:
                bit[token] = 1 << len(names)
                names.append(token)
                if token.startswith("\0"):
                    inputs_mask |= bit[token]
            mask |= bit[token]
            value |= bit[token] & inputs_mask
        masks[op.name] = mask & inputs_mask if op.type in _SHAPE_ONLY else mask
        values[op.name] = 0 if op.type in _SHAPE_ONLY else value
        if value and mask & ~inputs_mask:
            for index in set_bits(value):
                met.setdefault(names[index][1:], mask & ~inputs_mask)
        if mask & inputs_mask:
            for index in set_bits(mask & ~inputs_mask):
                if names[index] not in use:
                    use[names[index]], use_mask[names[index]] = position, mask
    additive = set()
    for name, position in use.items():
        op = operations[position]
        if op.type in _ADDS and any(masks.get(t.op.name, 0) & bit[name] and not masks.get(t.op.name, 0) & inputs_mask
                                    for t in op.inputs):
            additive.add(name)
    deps = {}
    for name, position in use.items():
        deps[name] = frozenset(other for other in use if use[other] < position and use_mask[name] & bit[other])
    splits = {}
    for op_name, name in sources.items():
        if name in use:
            split, parts = _split_of(graph.get_operation_by_name(op_name), on_path)
            if parts > 1:
                splits[name] = (split, parts)
    inputs = {name: frozenset(other for other in use if met[name] & bit[other]) for name in met}
    return Flow(deps, splits, frozenset(additive), inputs)


def _handle(tf: Any, weight: Any) -> Any:
    value = weight if isinstance(weight, tf.Variable) else getattr(weight, "value", None)
    return getattr(value, "handle", None)


#: Each model's traced dataflow, by its weights' names and training argument:
#: the model built to find a ``.meta``'s outputs is handed on to the
#: conversion, which need not trace it again.
_TRACED: "weakref.WeakKeyDictionary[Any, Tuple[Tuple[str, ...], str, Flow]]" = weakref.WeakKeyDictionary()


def traced_flow(tf: Any, model: Any, weights: Sequence[Any], names: Sequence[str], training_argument: str) -> Flow:
    """The dataflow of a Keras port's call at inference, traced by
    ``tf.function`` on its inputs' specs (a functional model's); raises
    whatever the trace raises (a subclassed model has no input specs)."""
    try:
        done = _TRACED.get(model)
    except TypeError:  # a model that cannot be weakly referenced
        done = None
    if done is not None and done[0] == tuple(names) and done[1] == training_argument:
        return done[2]
    flow = _trace(tf, model, weights, names, training_argument)
    try:
        _TRACED[model] = (tuple(names), training_argument, flow)
    except TypeError:
        pass
    return flow


def _trace(tf: Any, model: Any, weights: Sequence[Any], names: Sequence[str], training_argument: str) -> Flow:
    try:
        structure = model.input
    except (AttributeError, ValueError):  # a Sequential under Keras 3 lists its inputs only
        inputs = list(model.inputs or [])
        structure = inputs[0] if len(inputs) == 1 else inputs
    specs = tf.nest.map_structure(lambda k: tf.TensorSpec(tuple(k.shape), tf.as_dtype(k.dtype)), structure)
    try:  # without AutoGraph first (a functional model's call has no Python control flow on tensors): faster
        graph = tf.function(lambda x: model(x, **{training_argument: False}),
                            autograph=False).get_concrete_function(specs).graph
    except Exception:  # noqa: BLE001 - a call that branches on tensors in Python traces with AutoGraph
        graph = tf.function(lambda x: model(x, **{training_argument: False})).get_concrete_function(specs).graph
    handles = {id(handle): name for handle, name in ((_handle(tf, w), n) for w, n in zip(weights, names))
               if handle is not None}
    captures = graph.captures
    pairs = captures.items() if hasattr(captures, "items") else captures
    sources = {internal.op.name: handles[id(external)] for external, internal in pairs if id(external) in handles}
    flow = graph_flow(graph, sources, [t for t in graph.outputs if t is not None])
    # The call's own placeholders, in the order of its inputs' structure, by the port's input names.
    keys = sorted(structure) if isinstance(structure, dict) else [
        str(getattr(k, "name", "") or "").split(":")[0] for k in tf.nest.flatten(structure)]
    placeholders = [t.op.name for t in graph.inputs[:len(keys)]]
    named = dict(zip(placeholders, keys)) if len(set(keys)) == len(keys) and all(keys) else {}
    flow.inputs = {named[n]: d for n, d in flow.inputs.items() if n in named}
    # What computes each output, in the model's outputs' order (both flatten the call's structure alike).
    returned = [t for t in tf.nest.flatten(graph.structured_outputs) if t is not None]
    declared = list(getattr(model, "outputs", None) or [])
    if len(returned) == len(declared) and all(len(t.shape) == len(k.shape) for t, k in zip(returned, declared)):
        flow.output_kinds = tuple(output_kind(t) for t in returned)
    return flow


def flows_of(legacy: Any, port: Any, notes: List[str]) -> Callable[[], Optional[Tuple[Flow, Flow]]]:
    """Both sides' dataflow, read when the pairing first asks; where the port's
    cannot be read, None and a note saying why (the pairing goes on without)."""

    def read() -> Optional[Tuple[Flow, Flow]]:
        old = legacy.flow()
        if old is None:
            return None
        new, why = port.flow()
        if new is None:
            notes.append("paired without the port's dataflow: {}".format(why))
            return None
        return old, new

    return read
