"""What a TF1 graph says: its random ops, control flow and activations, what
an op is computed from, its dropout rates; and the legacy side read from a
``Saver``'s ``.meta`` graph (``meta_graph``)."""
from __future__ import annotations

import itertools
import os
import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError, printable
from compat_init.port._core.text import first_line


#: Random ops whose output is a standard draw: uniform on [0, 1), standard
#: normal, or standard normal truncated at 2.
RANDOM_OPS = {
    "RandomUniform": "uniform", "StatelessRandomUniform": "uniform", "StatelessRandomUniformV2": "uniform",
    "RandomStandardNormal": "untruncated_normal", "StatelessRandomNormal": "untruncated_normal",
    "StatelessRandomNormalV2": "untruncated_normal",
    "TruncatedNormal": "truncated_normal", "StatelessTruncatedNormal": "truncated_normal",
    "StatelessTruncatedNormalV2": "truncated_normal",
}
#: Ops a draw passes through on its way to a variable's initial value.
PASS_THROUGH = {"Identity", "Mul", "Add", "AddV2", "Sub", "Cast", "Reshape", "RealDiv", "Neg"}
#: TF 1 control-flow ops: their outputs (and everything inside a cond or a
#: while loop) cannot be fetched as a plain tensor.
CONTROL_FLOW = {"Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond", "RefSwitch", "RefEnter",
                "RefMerge", "If", "StatelessIf", "While", "StatelessWhile"}
ACTIVATIONS = ("Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softmax", "LeakyRelu", "Softplus", "Softsign",
               "Gelu")


#: The ops that hold a variable.
VARIABLE_OPS = {"VariableV2", "Variable", "VarHandleOp", "AutoReloadVariable"}
#: The ops of an optimizer's update (TF 1's ``tf.train`` optimizers; Keras'
#: in a graph): ApplyAdam, ResourceApplyMomentum, ResourceSparseApplyAdagrad,
#: ...  The variable updated is their first input; every other variable they
#: read is the optimizer's state (a slot, an accumulator, a power of beta).
OPTIMIZER_UPDATE = re.compile(r"^(Resource)?(Sparse)?Apply[A-Z][A-Za-z]*(V\d)?$")
#: Ops through which an update reads a variable's value.
READS = {"Identity", "RefIdentity", "ReadVariableOp", "Cast", "Enter", "RefEnter", "Switch", "RefSwitch"}


#: Op types that reach outside the graph when they run: files, printing,
#: Python, summaries, debuggers, readers, datasets, tables read from files,
#: checkpoints.  A graph from a file runs none of them here (``reaching_outside``).
OUTSIDE = re.compile(r"File|Reader|Writer|Summary|Save|Restore|Print|PyFunc|Debug|Dataset|Checkpoint|Table|"
                     r"ImmutableConst")


#: Op types that read or write files or run Python when they run (``OUTSIDE``
#: less lookup tables, which compute in memory): a ``.meta`` graph runs none
#: of them for the outputs compared unless allowed (``meta_graph``'s ``allow_io_ops``).
IO_OPS = re.compile(r"File|Reader|Writer|Summary|Save|Restore|Print|PyFunc|Debug|Dataset|Checkpoint|ImmutableConst")


def setup_ops(tf: Any) -> List[Any]:
    """The ops of the default graph that a proof runs besides its outputs:
    the variables' initializers, the regularization losses, the update ops."""
    keys = tf.compat.v1.GraphKeys
    return [v.initializer for v in tf.compat.v1.global_variables()] + [
        getattr(t, "op", t) for key in (keys.REGULARIZATION_LOSSES, keys.UPDATE_OPS)
        for t in tf.compat.v1.get_collection(key)]


def io_ops(graph: Any, roots: List[Any]) -> List[str]:
    """The ops of ``IO_OPS`` that running ``roots`` runs, ``Type (name)``."""
    ops = (graph.get_operation_by_name(name) for name in upstream(roots))
    return sorted("{} ({})".format(op.type, op.name) for op in ops if IO_OPS.search(op.type))


def reaching_outside(graph: Any) -> set:
    """The names of the ops whose running runs an op of ``OUTSIDE``: those
    ops and every op computed from them, through data and control inputs
    (read to a fixed point, so a while loop's back edge is followed too)."""
    found: set = set()
    changed = True
    while changed:
        changed = False
        for op in graph.get_operations():
            if op.name not in found and (OUTSIDE.search(op.type) or any(t.op.name in found for t in op.inputs)
                                         or any(c.name in found for c in op.control_inputs)):
                found.add(op.name)
                changed = True
    return found


def optimizer_state(graph: Any) -> set:
    """The names of the variables an optimizer's updates read besides the
    variable each one updates (``OPTIMIZER_UPDATE``): its slots,
    accumulators and powers of beta, read from the graph's ops (a training
    graph's ``.meta`` holds them beside the model's variables)."""
    found = set()
    for op in graph.get_operations():
        if not OPTIMIZER_UPDATE.match(op.type):
            continue
        for tensor in list(op.inputs)[1:]:
            source, depth = tensor.op, 0
            while source.type in READS and source.inputs and depth < 8:
                source, depth = source.inputs[0].op, depth + 1
            if source.type in VARIABLE_OPS:
                found.add(source.name)
    return found


def upstream(roots: List[Any], kinds: Optional[set] = None) -> set:
    """The names of the ops of ``kinds`` (any kind without) that ``roots`` are
    computed from, read backwards through the graph (inputs and control
    inputs)."""
    stack = list(roots)
    seen: set = set()
    found: set = set()
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        if kinds is None or op.type in kinds:
            found.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return found


def flatten_outputs(tf: Any, built: Any) -> Tuple[List[str], List[Any]]:
    """(names, tensors) of what a builder returned: a tensor, a list/tuple of
    them, or a dict (sorted by key); ([], []) for anything else."""
    if isinstance(built, dict):
        keys = sorted(built, key=str)
        values = [built[k] for k in keys]
        names = [str(k) for k in keys]
    elif isinstance(built, (list, tuple)):
        values = list(built)
        names = []
    else:
        values = [built]
        names = []
    if not values or any(v is None or not tf.is_tensor(v) for v in values):
        return [], []
    if not names:
        names = [v.name.split(":")[0] for v in values]
    return names, values


def static_shape_text(tensor: Any) -> str:
    """A static shape as 4x?x3 (? for an unknown dimension; "any shape"
    when the rank is unknown), the same on every TensorFlow."""
    if tensor.shape.ndims is None:
        return "any shape"
    return "x".join("?" if d is None else str(d) for d in tensor.shape.as_list()) or "scalar"


def dropout_rates(tf: Any, graph: Any, ops: Optional[List[Any]] = None) -> Tuple[List[float], int]:
    """The constant rates of the dropouts in ``graph`` (or among ``ops``) and
    in its functions (a v2 cond's branches): ``random >= rate`` masks; and how
    many take their rate from something else (a fed ``keep_prob``)."""
    graphs = [graph]
    for function in list(getattr(graph, "_functions", {}).values()):
        inner = getattr(function, "graph", None) or getattr(getattr(function, "_function", None), "graph", None)
        if inner is not None and inner is not graph:
            graphs.append(inner)
    rates: List[float] = []
    fed = 0
    for g in graphs:
        for op in (ops if ops is not None and g is graph else g.get_operations()):
            if op.type != "GreaterEqual" or len(op.inputs) != 2 or not _reaches_random(op.inputs[0].op):
                continue
            rate = tf.get_static_value(op.inputs[1])
            if rate is None:
                fed += 1
            elif np.size(rate) == 1 and float(np.asarray(rate).ravel()[0]) > 0:
                rates.append(round(float(np.asarray(rate).ravel()[0]), 6))
    return sorted(rates), fed


def _reaches_random(op: Any, depth: int = 6) -> bool:
    if op.type in RANDOM_OPS:
        return True
    if depth == 0 or op.type not in PASS_THROUGH | {"Floor", "Add"}:
        return False
    return any(_reaches_random(t.op, depth - 1) for t in op.inputs)


#: The largest ``.meta`` read: a model's graph without its weights (BERT-base's
#: is 0.8 MiB, TF-Slim InceptionV3's with its training ops 1.3 MiB).  Parsing
#: takes several times the file's size in memory; a larger file is refused unread.
META_MOST = 128 << 20


def check_meta(path: str) -> None:
    """A ``.meta`` file can be read: a regular file (a FIFO would block) of at
    most ``META_MOST`` bytes; else a UsageError saying which, its size."""
    from compat_init._files import not_regular

    kind = not_regular(path)
    if kind:
        raise UsageError("the legacy .meta graph {} must be a regular file; it is {}".format(path, kind))
    size = os.path.getsize(path)
    if size > META_MOST:
        raise UsageError("the legacy .meta graph {} is {:.1f} MiB, over the {} MiB a model's graph takes (its weights "
                         "are in the checkpoint, not in it): refused unread".format(
                             path, size / 2 ** 20, META_MOST >> 20))


def import_meta(path: str) -> Any:
    """The graph a ``Saver`` wrote (``model.ckpt.meta``) imported into the
    default graph, which it returns.

    Raises:
      UsageError: the file is not a regular file of at most ``META_MOST``
        bytes, or not a graph this TensorFlow can import (an op it lacks, such
        as a ``tf.contrib`` kernel, is named).
    """
    tf = _runtime.tf()
    check_meta(path)
    try:
        tf.compat.v1.train.import_meta_graph(path, clear_devices=True)
    except Exception as error:  # noqa: BLE001 - a file that is not a graph this TF can run
        text = first_line(error)
        op = re.search(r"Op type not registered '([^']+)'", str(error))
        if op:
            raise UsageError("the legacy graph {} uses the op {}, which this TensorFlow {} lacks (a tf.contrib "
                             "or custom kernel): record the legacy side where it runs (compat-init record "
                             "LEGACY:BUILD --inputs ... --out LEGACY.rec, on TF 1.x) and prove from the "
                             "recording (--migration LEGACY.rec PORT:BUILD)".format(
                                 path, op.group(1), _runtime.tf_version())) from None
        raise UsageError("the legacy .meta graph {} cannot be imported: {}".format(
            path, printable(text, most=300))) from None
    return tf.compat.v1.get_default_graph()


def meta_graph(path: str, outputs: Sequence[str], allow_io_ops: bool = False) -> Callable[[], Any]:
    """A legacy builder that imports the graph a ``Saver`` wrote beside its
    checkpoint (``model.ckpt.meta``, a ``MetaGraphDef``) and returns the
    tensors named by ``outputs`` (``bert/pooler/dense/Tanh:0``): the legacy
    model as it ran, with no legacy Python code, on any TensorFlow that has
    its ops.

    Raises:
      UsageError: the file is not a graph this TensorFlow can import (an op
        it lacks, such as a ``tf.contrib`` kernel, is named), an output
        names no tensor of it, or (unless ``allow_io_ops``) computing the
        outputs or the variables' initial values would run an op that reads
        or writes files or runs Python (``IO_OPS``: a ``.meta`` graph is a
        program, ``WriteFile`` and ``PyFunc`` among its possible ops).
    """
    if not isinstance(path, str) or not os.path.isfile(path):
        raise UsageError("the legacy .meta graph must be an existing file; received {!r}".format(path))
    if not outputs:
        raise UsageError("a legacy .meta graph needs the names of its outputs to compare (outputs=[...], --outputs "
                         "NAME:0); received none for {}".format(path))

    def build() -> Any:
        graph = import_meta(path)
        found = []
        for name in outputs:
            tensor_name = name if ":" in name else name + ":0"
            try:
                found.append(graph.get_tensor_by_name(tensor_name))
            except (KeyError, ValueError):
                candidates = [op.name for op in graph.get_operations() if op.type in ACTIVATIONS or
                              op.type in ("MatMul", "BiasAdd", "Add", "AddV2", "Reshape")][-5:]
                raise UsageError("outputs must name tensors of the legacy graph {}; received {} (its last "
                                 "operations of interest: {})".format(path, name, ", ".join(candidates))) from None
        if not allow_io_ops:
            touching = io_ops(graph, [t.op for t in found] + setup_ops(_runtime.tf()))
            if touching:
                raise UsageError("the legacy .meta graph {} would run {} op(s) that read or write files or run Python "
                                 "to compute the outputs compared or the variables' initial values: {}; a .meta graph "
                                 "is a program: allow_io_ops=True (--allow-io-ops) runs them".format(
                                     path, len(touching), ", ".join(touching[:4]) + (
                                         ", ..." if len(touching) > 4 else "")))
        return found

    return build


def output_candidates(graph: Any, shapes: Sequence[Sequence[Optional[int]]], most: int,
                      exclude: Optional[set] = None, most_size: Optional[int] = None) -> List[List[List[Any]]]:
    """For each of ``shapes`` (a port's outputs, the batch dimension first),
    the tensors of ``graph`` that may be that output, read from its dataflow:
    floating tensors of that shape past the batch dimension (an unknown
    dimension on either side matches), outside control flow, computed from an
    input placeholder and a model variable.  Of the ways to pick one per
    output, the one whose outputs are computed from the most variables
    together, at most ``most`` (the port's weights: an earlier layer or an
    auxiliary head reads fewer, a pretraining head on top of an output more;
    or more, where they hold no more than ``most_size`` values in all: a port
    that fuses several legacy variables into one weight),
    then needing the fewest placeholders fed (a gradient or a loss needs the
    labels too); none of the ops ``exclude`` names.  Returns every way that ties (none where no tensor fits):
    for each output, the tensors alike in both (logits and their softmax), to
    be told apart otherwise."""
    ignore = optimizer_state(graph)
    bits: dict = {}
    sizes: Dict[int, int] = {}  #: each variable's bit: its number of values
    placeholders = variables = 0
    next_bit = 0
    for op in graph.get_operations():
        mask = 0
        for source in [t.op for t in op.inputs] + list(op.control_inputs):  # what fetching it needs fed
            mask |= bits.get(source.name, 0)
        if op.type == "Placeholder" and not op.outputs[0].dtype.base_dtype.is_bool:  # a switch is no input
            mask |= 1 << next_bit
            placeholders |= 1 << next_bit
            next_bit += 1
        elif op.type in VARIABLE_OPS and op.name not in ignore:
            mask |= 1 << next_bit
            variables |= 1 << next_bit
            sizes[next_bit] = _size_of(op)
            next_bit += 1
        bits[op.name] = mask
    def fits(read: int) -> bool:
        if _count(read) <= most:
            return True
        if most_size is None:
            return False
        return sum(sizes[bit] for bit in set_bits(read)) <= most_size

    per_output: List[Dict[Tuple[int, int], List[Any]]] = []
    for shape in shapes:
        kinds: Dict[Tuple[int, int], List[Any]] = {}  # (variables read, placeholders fed) -> tensors
        for op in graph.get_operations():
            if op.type in CONTROL_FLOW or op.type in VARIABLE_OPS or exclude and op.name in exclude:
                continue
            read, fed = bits[op.name] & variables, bits[op.name] & placeholders
            if not fed or not read or not fits(read):
                continue
            for tensor in op.outputs:
                dims = tensor.shape.as_list() if tensor.shape.ndims is not None else None
                if (dims is not None and len(dims) == len(shape) and tensor.dtype.base_dtype.is_floating
                        and all(a is None or b is None or a == b for a, b in zip(dims[1:], shape[1:]))):
                    kinds.setdefault((read, fed), []).append(tensor)
        # The likeliest few per output: the most variables, then the fewest placeholders.
        best = sorted(kinds, key=lambda k: (-_count(k[0]), _count(k[1])))[:max(2, 12 // max(1, len(shapes)))]
        per_output.append({k: kinds[k] for k in best})
    scored = []
    for combination in itertools.product(*[list(k) for k in per_output]):
        read = fed = 0
        for r, f in combination:
            read, fed = read | r, fed | f
        if fits(read):
            scored.append(((-_count(read), _count(fed)), combination))
    top = min((score for score, _ in scored), default=None)
    return [[kinds[key] for kinds, key in zip(per_output, combination)] for score, combination in scored
            if score == top]


#: Ops that leave what a tensor is unchanged in kind (a copy, a reshape, a
#: slice, a transpose), passed over by ``output_kind``.
_SAME_KIND = {"Identity", "IdentityN", "Snapshot", "Reshape", "Squeeze", "ExpandDims", "StridedSlice", "Transpose",
              "Cast"}
#: Op types that compute alike, whichever a framework writes (a bias added
#: by ``BiasAdd`` or ``AddV2``, a product by ``MatMul`` or ``Einsum``).
_KIND_OF = {"BiasAdd": "Add", "AddV2": "Add", "Sub": "Add", "AddN": "Add", "BatchMatMul": "MatMul",
            "BatchMatMulV2": "MatMul", "BatchMatMulV3": "MatMul", "Einsum": "MatMul"}


def output_kind(tensor: Any) -> str:
    """What computes ``tensor``, past copies, reshapes and slices: the op
    type, alike ones as one (``Tanh``; ``Add`` for a bias added or a
    normalization's last step; ``MatMul`` for a product without its bias).
    Two graphs computing the same output agree on it where their outputs tie
    on shapes and variables (a pooler's ``tanh`` against its ``BiasAdd``)."""
    op = tensor.op
    for _ in range(16):
        if op.type not in _SAME_KIND or not op.inputs:
            break
        op = op.inputs[0].op
    return _KIND_OF.get(op.type, op.type)


def made_there(tensor: Any) -> bool:
    """Whether ``tensor``'s own op computes it (not a copy, a reshape, a
    slice of another: ``output_kind`` passes over those)."""
    return tensor.op.type not in _SAME_KIND


def _size_of(op: Any) -> int:
    """A variable op's number of values (0 where its shape is unknown)."""
    try:
        dims = op.get_attr("shape").dim
        return int(np.prod([max(int(d.size), 0) for d in dims], dtype=np.int64)) if dims else 1
    except Exception:  # noqa: BLE001 - a variable op without a readable shape counts for nothing
        return 0


def set_bits(mask: int) -> Iterator[int]:
    """The positions of ``mask``'s set bits, lowest first."""
    while mask:
        low = mask & -mask
        mask ^= low
        yield low.bit_length() - 1


def _count(mask: int) -> int:
    return bin(mask).count("1")
