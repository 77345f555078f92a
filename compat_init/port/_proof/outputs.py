"""The legacy outputs a port's outputs stand for, found in the dataflow of
the graph a ``Saver`` wrote beside its checkpoint (``convert --port`` with
``PREFIX.meta`` there): so the conversion is proven with no name given."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init.port._core.dataflow import inputs_by_dataflow
from compat_init.port._core.pairing import pair
from compat_init.port._core.pairs import Var
from compat_init.port._sides.flow import graph_flow
from compat_init.port._sides.graph import (
    OUTSIDE,
    VARIABLE_OPS,
    import_meta,
    made_there,
    output_candidates,
    output_kind,
    reaching_outside,
    setup_ops,
    upstream,
)
from compat_init.port._sides.port import PortModel

#: The rows of the batch the tied candidates are told apart on.
_BATCH = 2


def _signature(value: Any) -> Tuple[bool, ...]:
    """What an output is whatever the weights' values (at initial weights,
    the norms' scales 1 and offsets 0): non-negative, rows summing to 1, rows
    of mean 0 and deviation 1 (a ReLU or a sigmoid, a softmax, a
    normalization; logits are none).  Bounds that depend on the weights'
    scale (a tanh's [-1, 1], met by small logits too) are not read."""
    v = np.asarray(value, dtype=np.float64)
    rows = bool(v.ndim and np.allclose(v.sum(axis=-1), 1.0, atol=1e-4))
    normal = bool(v.ndim and v.shape[-1] > 1 and np.allclose(v.mean(axis=-1), 0.0, atol=1e-3)
                  and np.allclose(v.std(axis=-1), 1.0, atol=1e-2))
    return bool(np.all(v >= 0)), rows, normal


def find_outputs(meta: str, v2_builder: Callable[[], Any], *, seed: int = 0,
                 input_map: Optional[Dict[str, str]] = None,
                 inputs_found: Optional[Dict[str, str]] = None, tell_apart: bool = True
                 ) -> Tuple[List[str], List[str]]:
    """The tensors of the ``.meta`` graph ``meta`` that the port's outputs
    compute, in the port's output order, and a note saying how they were
    found: the tensors of the outputs' shapes computed together from the most
    variables (no more than the port has) and the fewest placeholders
    (``output_candidates``); where several ways tie, the one whose tensors
    are what the port's outputs are at initial weights (a softmax, a
    normalization: ``_signature``), the last of those alike.  The proof then
    decides: a port that computes none of them fails it.

    Where the port takes several inputs named unlike the placeholders and
    ``input_map`` is not given, they are paired by the dataflow: both graphs'
    variables paired by it (``pair``), each placeholder goes to the port input
    that meets first the images of the variables it meets first (BERT's
    ``input_ids`` meets the word embeddings, KerasHub's ``token_ids`` the
    token embedding); ``inputs_found``, a dict, receives that pairing.

    ``tell_apart=False`` (a plan: the pairing needs only which variables the
    outputs read): ways that tie and read the same variables are not run to
    be told apart; the last is taken, and the note says which it stands for.

    Raises:
      UsageError: the port is not a functional model (its outputs' shapes
        are unknown before a call), no tensor or several different ones may be
        an output, or the placeholders they read are not the port's inputs;
        saying why (``outputs=``/``--outputs`` names them then).
    """
    tf = _runtime.tf()
    # A plan runs nothing: its port starts as zeros, no initializer drawn, no value read.
    port = PortModel(v2_builder, seed, None, read_values=tell_apart)
    try:
        symbolic = getattr(port.model, "outputs", None)
        inputs = getattr(port.model, "inputs", None)
        if not symbolic or not inputs:
            raise UsageError("the port is not a functional Keras model: its outputs' shapes are unknown before a "
                             "call")
        shapes = [tuple(tf.TensorShape(t.shape).as_list()) for t in symbolic]
        names = port.port_input_names()
        graph = tf.Graph()
        with graph.as_default():
            import_meta(meta)
            outside = reaching_outside(graph)
            run = {op.name for op in setup_ops(tf)}
            roots = [op for op in graph.get_operations() if op.name in outside and op.name in run]
            kinds = {op.type for op in graph.get_operations() if OUTSIDE.search(op.type)}
            touching = sorted({graph.get_operation_by_name(n).type for n in upstream(roots, kinds)})
            if touching:  # the proof would run them: initializing the variables, its losses, its updates
                raise UsageError("its variables' initializers, regularization losses or update ops run ops that "
                                 "reach outside the graph ({}): a graph from a file is not run for that unless "
                                 "named (--migration PREFIX.meta --outputs ...)".format(", ".join(touching)))
            ways = output_candidates(graph, shapes, len(port.vars), outside,
                                     sum(int(np.prod(v.shape, dtype=np.int64)) for v in port.vars))
            if not ways:
                raise UsageError("no tensors of the legacy graph have the shapes of the port's outputs ({}) and are "
                                 "computed from an input and at most the port's {} weights".format(
                                     ", ".join("x".join("?" if d is None else str(d) for d in shape)
                                               for shape in shapes), len(port.vars)))
            ways, made_by = _by_kind(ways, port)
            fitting, why = [], ""
            mapped_by_flow: List[Dict[str, str]] = []
            inputs_by_reads: Dict[Any, Tuple[Dict[str, str], str]] = {}
            for way in ways:
                read = upstream([t.op for tensors in way for t in tensors], {"Placeholder"})
                fed = [op.outputs[0] for op in graph.get_operations() if op.name in read
                       and not op.outputs[0].dtype.base_dtype.is_bool]
                mapped = [(input_map or {}).get(t.op.name, t.op.name) for t in fed]
                if len(fed) != len(inputs):
                    why = "they read {} placeholder(s) ({}) and the port takes {} input(s)".format(
                        len(fed), ", ".join(t.op.name for t in fed) or "none", len(inputs))
                elif len(fed) > 1 and sorted(mapped) != sorted(names):
                    reads = (frozenset(t.op.name for t in fed), _reads(way))
                    if reads not in inputs_by_reads:  # ways that read the same pair their inputs alike
                        inputs_by_reads[reads] = ({}, "--input-map is given") if input_map else _inputs_by_dataflow(
                            tf, graph, way, fed, port)
                    paired, unpaired = inputs_by_reads[reads]
                    if paired:
                        fitting.append((way, fed))
                        mapped_by_flow.append(paired)
                        continue
                    why = ("the port's inputs ({}) are not the placeholders ({}) by name, and the dataflow does not "
                           "tell which feeds which ({}); --input-map LEGACY=PORT says it".format(
                               ", ".join(names), ", ".join(t.op.name for t in fed), unpaired))
                else:
                    fitting.append((way, fed))
            if not fitting:
                raise UsageError("the legacy tensors of the port's output shapes do not fit its inputs: " + why)
            found_map = {}
            if mapped_by_flow:
                if len(mapped_by_flow) != len(fitting) or any(m != mapped_by_flow[0] for m in mapped_by_flow):
                    raise UsageError("the port's inputs ({}) are not the placeholders by name, and the ways the "
                                     "outputs may be computed pair them differently; --input-map LEGACY=PORT says "
                                     "it".format(", ".join(names)))
                found_map = input_map = mapped_by_flow[0]
                if inputs_found is not None:
                    inputs_found.update(found_map)
        tied = len(fitting) > 1 or any(len(tensors) > 1 for tensors in fitting[0][0])
        alike = ""
        if tied and not tell_apart and len({_reads(way) for way, _ in fitting}) == 1:
            chosen = [next((t for t in reversed(group) if made_there(t)), group[-1]) for group in fitting[0][0]]
            alike = " (tied with {}, which read the same variables: the conversion tells them apart)".format(
                ", ".join(sorted({t.name for way, _ in fitting for group in way for t in group} -
                                 {t.name for t in chosen})))
        elif tied:
            chosen = _tell_apart(tf, graph, port, fitting, input_map, seed)
        else:
            chosen = [tensors[0] for tensors in fitting[0][0]]
        found = [t.name for t in chosen]
        note = ("the legacy outputs, found in the graph's dataflow (the tensors of the port outputs' shapes computed "
                "from the most variables and the fewest placeholders{}): {}{}".format(
                    ", made by the ops that make the port's ({})".format(", ".join(made_by)) if made_by else "",
                    ", ".join(found), alike))
        notes = [note]
        if found_map:
            notes.append("the legacy inputs paired with the port's by the variables each meets first (dataflow): "
                         "{}".format(", ".join("{} -> {}".format(k, v) for k, v in sorted(found_map.items()))))
        return found, notes
    finally:
        port.close()


def _by_kind(ways: List[List[List[Any]]], port: PortModel) -> Tuple[List[List[List[Any]]], Tuple[str, ...]]:
    """Of tied ``ways``, the tensors made by the ops that make the port's
    outputs (``output_kind``: a pooler's ``Tanh``, not its ``BiasAdd`` or a
    prediction head's product), read from the port's traced call, and those
    kinds; all of them and () where no way is made so or the port does not
    trace.  Nothing is run: a plan needs no more, a conversion tells the rest
    apart by running them (``_tell_apart``)."""
    if len(ways) < 2 and all(len(group) < 2 for group in ways[0]):
        return ways, ()
    flow, _ = port.flow()
    kinds = flow.output_kinds if flow is not None else ()
    if len(kinds) != len(ways[0]):
        return ways, ()
    kept = []
    for way in ways:
        groups = [[t for t in group if output_kind(t) == kind] for group, kind in zip(way, kinds)]
        if all(groups):
            kept.append(groups)
    return (kept, kinds) if kept else (ways, ())


def _reads(way: List[List[Any]]) -> FrozenSet[str]:
    """The variables a way's tensors are computed from."""
    return frozenset(upstream([t.op for group in way for t in group], VARIABLE_OPS))


def _inputs_by_dataflow(tf: Any, graph: Any, way: List[List[Any]], fed: List[Any], port: PortModel
                        ) -> Tuple[Dict[str, str], str]:
    """The placeholders ``fed`` paired with the port's inputs by the dataflow
    to ``way``'s tensors (``dataflow.inputs_by_dataflow``); ({}, why) where
    it does not tell."""
    new, why = port.flow()
    if new is None:
        return {}, why
    with graph.as_default():
        variables = list(tf.compat.v1.global_variables())
        trainable = {v.op.name for v in tf.compat.v1.trainable_variables()}
    old = graph_flow(graph, {v.op.name: v.op.name for v in variables}, [t for tensors in way for t in tensors])
    wanted = {t.op.name for t in fed}
    old = replace(old, inputs={n: d for n, d in old.inputs.items() if n in wanted})
    legacy = [Var(v.op.name, tuple(v.shape.as_list()), v.dtype.base_dtype.name, v.op.name in trainable, i)
              for i, v in enumerate(variables) if v.op.name in old.deps]
    pairs, left_old, left_new = pair(legacy, port.vars, require_all=False, flows=lambda: (old, new))
    if left_old or left_new or any(not p.how.startswith("dataflow") for p in pairs):
        return {}, "its variables do not all pair by the dataflow"
    return inputs_by_dataflow((old, new), pairs)


def _draw(placeholders: Sequence[Any], rng: Any) -> Dict[Any, Any]:
    """A batch for ``placeholders`` (ids 0 for integers, False for a switch)."""
    feed: Dict[Any, Any] = {}
    for tensor in placeholders:
        dims = tensor.shape.as_list() if tensor.shape.ndims is not None else None
        if tensor.dtype.base_dtype.is_bool:
            feed[tensor] = False
            continue
        if dims is None or any(d is None for d in dims[1:]):
            raise UsageError("several legacy tensors may be the port's outputs, and the placeholder {} has unknown "
                             "dimensions past the batch, so no batch can be drawn to tell them apart".format(
                                 tensor.op.name))
        shape = tuple(_BATCH if d is None else int(d) for d in dims)
        dtype = tensor.dtype.base_dtype.as_numpy_dtype
        feed[tensor] = (np.zeros(shape, dtype) if tensor.dtype.base_dtype.is_integer
                        else rng.standard_normal(shape).astype(dtype))
    return feed


def _distinct(tensors: List[Any], values: Dict[str, Any]) -> List[Any]:
    """``tensors`` less those equal to an earlier one (a copy, a transpose by
    the identity): the first of equal ones is the model's."""
    kept: List[Any] = []
    for tensor in tensors:
        if not any(np.array_equal(values[tensor.name], values[k.name]) for k in kept):
            kept.append(tensor)
    return kept


def _tell_apart(tf: Any, graph: Any, port: PortModel, ways: List[Tuple[List[List[Any]], List[Any]]],
                input_map: Optional[Dict[str, str]], seed: int) -> List[Any]:
    """Of the ways that tie, the one whose tensors are what the port's outputs
    are at initial weights on a drawn batch (its shape and ``_signature``), the last
    tensor of those alike (a dense layer's ``tanh`` after its ``BiasAdd``,
    both within [-1, 1] at small initial weights), a copy counting as the
    tensor it copies.  Raises UsageError where
    several ways remain."""
    if not port.eager:
        raise UsageError("several legacy tensors may be the port's outputs, and a port in graph mode cannot be run "
                         "here to tell them apart")
    names = port.port_input_names()
    tensors = list({t.name: t for way, _ in ways for group in way for t in group}.values())
    needed = upstream([t.op for t in tensors], {"Placeholder"})
    with graph.as_default():
        feed = _draw([op.outputs[0] for op in graph.get_operations() if op.name in needed],
                     np.random.RandomState(seed))
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.variables_initializer(tf.compat.v1.global_variables()))
            values = dict(zip([t.name for t in tensors], session.run(tensors, feed)))
    kept = []
    called: Dict[Tuple[str, ...], List[Any]] = {}  #: the port's outputs, by the placeholders fed in its order
    for way, fed in ways:
        mapped = [(input_map or {}).get(t.op.name, t.op.name) for t in fed]
        order = [fed[mapped.index(n)] for n in names] if len(fed) > 1 else [fed[0]]
        key = tuple(t.name for t in order)
        if key not in called:
            if len(fed) > 1:  # by name, as the proof will call it
                port.input_names, port.by_name = names, True
            called[key] = [np.asarray(o) for o in port.call([feed[t] for t in order], False)]
        ours = called[key]
        alike = [_distinct([t for t in group if np.shape(values[t.name]) == value.shape
                            and _signature(values[t.name]) == _signature(value)], values)
                 for group, value in zip(way, ours)]
        if all(alike):
            kept.append([group[-1] for group in alike])
    distinct = {tuple(t.name for t in way): way for way in kept}
    if len(distinct) > 1:
        raise UsageError("the port's outputs may be any of {}".format(
            "; ".join(", ".join(names) for names in list(distinct)[:4])))
    if not distinct:  # nothing is what the port computes: the proof will say where it differs
        return [group[-1] for group in ways[0][0]]
    return list(distinct.values())[0]
