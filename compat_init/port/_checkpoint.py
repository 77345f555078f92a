"""Trained tensors: a TensorFlow checkpoint read, paired with a port's weights
(``_pairing.pair``, as the migration proof pairs them) and loaded into it.

Reads name-based TF1 checkpoints (``tf.compat.v1.train.Saver``: V2 ``.index``
+ data shards, a ``checkpoint`` state file or its folder; partitioned
variables come back whole) and object-based TF2 checkpoints
(``tf.train.Checkpoint``, Keras 2 / tf_keras ``save_weights`` in TF format,
walked through their object graph in tracking order), on every TensorFlow the
project supports.  Every key is accounted for: loaded (into which weight,
paired how), skipped (with the reason) or an error; every port weight is
filled or named as missing.  Nothing is written until every check passed, and
then atomically.
"""
from __future__ import annotations

import glob
import math
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init._files import temp_prefix
from compat_init.port._core.inputs import fit_inputs, parse_inputs, port_inputs
from compat_init.port._core.numerics import compare, labels_for, loss_value, regularization_sum
from compat_init.port._core.pairing import Var, pair
from compat_init.port._core.text import cut, first_line, shape_text


#: Slot variables TF1 optimizers add beside each variable (``kernel/Adam``).
SLOT_SUFFIXES = ("Adam", "Adam_1", "Momentum", "RMSProp", "RMSProp_1", "Adagrad", "AdagradDA", "Ftrl", "Ftrl_1",
                 "Adadelta", "Adadelta_1", "ProximalAdagrad", "ExponentialMovingAverage")
#: Optimizer state TF1 keeps outside the slots.
OPTIMIZER_KEYS = ("beta1_power", "beta2_power")
OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
NOT_CARRIED = "not carried (the port's optimizer starts fresh)"
_ATTRIBUTE = "/.ATTRIBUTES/VARIABLE_VALUE"
#: dtype casts that lose nothing (source -> targets).
LOSSLESS = {"float16": ("float32", "float64"), "bfloat16": ("float32", "float64"), "float32": ("float64",),
            "int8": ("int16", "int32", "int64"), "int16": ("int32", "int64"), "int32": ("int64",)}


class CheckpointError(UsageError):
    """A checkpoint that cannot be used as given (the message names the file
    and the key)."""


@dataclass
class Entry:
    """One checkpoint key and what became of it."""

    key: str
    shape: Tuple[int, ...]
    dtype: str
    status: str  #: "loaded", "skipped" or "error"
    weight: str = ""  #: the port weight it was loaded into
    how: str = ""  #: how the pair was made
    reason: str = ""


@dataclass
class ConversionReport:
    checkpoint: str
    format: str  #: "name-based" or "object-based"
    entries: List[Entry] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)  #: port weights no key filled
    notes: List[str] = field(default_factory=list)
    proof: Any = None  #: the MigrationReport at the trained weights, when run
    written: str = ""

    @property
    def errors(self) -> List[Entry]:
        return [e for e in self.entries if e.status == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.missing and (self.proof is None or self.proof.passed)

    def counts(self) -> Dict[str, int]:
        return {s: sum(1 for e in self.entries if e.status == s) for s in ("loaded", "skipped", "error")}

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["proof"] = None if self.proof is None else self.proof.to_dict()
        data["ok"] = self.ok
        data["counts"] = self.counts()
        return data

    def __str__(self) -> str:
        lines = ["checkpoint {} ({})".format(self.checkpoint, self.format)]
        for e in self.entries:
            shape = "x".join(map(str, e.shape)) or "scalar"
            if e.status == "loaded":
                lines.append("  {} {} {} -> {} ({})".format(e.key, shape, e.dtype, e.weight, e.how))
            else:
                lines.append("  {} {} {}: {}: {}".format(e.key, shape, e.dtype, e.status, e.reason))
        for name in self.missing:
            lines.append("  port weight {}: MISSING: no checkpoint key was paired with it".format(name))
        for note in self.notes:
            lines.append("  note: " + note)
        counts = self.counts()
        lines.append("{} keys: {} loaded, {} skipped, {} errors; {} port weights missing".format(
            len(self.entries), counts["loaded"], counts["skipped"], counts["error"], len(self.missing)))
        if self.proof is not None:
            lines.append(str(self.proof))
        if self.written:
            lines.append("written to {}".format(self.written))
        return "\n".join(lines)


def resolve(path: str) -> str:
    """The checkpoint prefix ``path`` names: a prefix, its ``.index`` file, a
    ``checkpoint`` state file, or a folder holding one."""
    tf = _runtime.tf()
    if not isinstance(path, (str, os.PathLike)):
        raise CheckpointError("checkpoint must be a path; received {!r}".format(path))
    path = os.fspath(path)
    from compat_init._files import not_regular

    if os.path.isdir(path) or os.path.basename(path) == "checkpoint" and os.path.lexists(path):
        folder = path if os.path.isdir(path) else os.path.dirname(path)
        state = os.path.join(folder, "checkpoint")
        if not_regular(state):  # TensorFlow would block reading a FIFO
            raise CheckpointError("checkpoint {}: its `checkpoint` state file must be a regular file; it is {}".format(
                path, not_regular(state)))
        try:
            latest = tf.train.latest_checkpoint(folder)
        except Exception as error:  # noqa: BLE001 - a state file TF cannot parse
            raise CheckpointError("checkpoint {}: its `checkpoint` state file cannot be read ({})".format(
                path, str(error).splitlines()[0])) from None
        if not latest:
            named = None
            if os.path.isfile(state):
                try:
                    named = tf.train.get_checkpoint_state(folder).model_checkpoint_path
                except Exception:  # noqa: BLE001 - unparseable: said as having no checkpoint
                    named = None
            if named:
                raise CheckpointError("checkpoint {}: its `checkpoint` state file names {}, which does not exist (no "
                                      "{}.index); pass an existing prefix".format(path, named, named))
            raise CheckpointError("checkpoint {} is a folder without a checkpoint (no `checkpoint` state file naming "
                                  "one); pass the prefix (e.g. {})".format(path, os.path.join(path, "model.ckpt-1000")))
        path = latest
    if path.endswith(".index"):
        path = path[:-len(".index")]
    if not_regular(path + ".index"):
        raise CheckpointError("checkpoint {}: {}.index must be a regular file; it is {}".format(
            path, path, not_regular(path + ".index")))
    if os.path.isfile(path + ".index"):
        shards = _shards(path)
        if not shards:
            raise CheckpointError("checkpoint {}: {}.index has no data shard ({}.data-00000-of-0000N is "
                                  "missing)".format(path, path, path))
        counts = sorted(set(int(s[-5:]) for s in shards))
        if len(counts) > 1:
            raise CheckpointError("checkpoint {}: data shards of {} different counts lie beside it ({}): remove "
                                  "the stray ones".format(path, len(counts), ", ".join(
                                      os.path.basename(s) for s in sorted(shards))))
        count = counts[0]
        missing = ["{}.data-{:05d}-of-{:05d}".format(path, i, count) for i in range(count)
                   if "{}.data-{:05d}-of-{:05d}".format(path, i, count) not in shards]
        if missing:
            raise CheckpointError("checkpoint {}: data shard(s) missing: {}".format(path, ", ".join(missing)))
        _regular(path)
        return path
    if os.path.isfile(path):  # the V1 format: one file
        return path
    if not_regular(path) and not os.path.isdir(path):
        raise CheckpointError("checkpoint {} must be a regular file; it is {}".format(path, not_regular(path)))
    raise CheckpointError("checkpoint {} does not exist (no {}.index, no such file or folder)".format(path, path))


_SHARD = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


def _shards(prefix: str) -> List[str]:
    """The data shards beside ``prefix``: ``PREFIX.data-NNNNN-of-MMMMM``
    (other names that merely look alike are not shards)."""
    return sorted(p for p in glob.glob(glob.escape(prefix) + ".data-*-of-*") if _SHARD.search(p[len(prefix):]))


def _regular(prefix: str) -> None:
    """Every file of the checkpoint is a regular file: a FIFO shard would
    block the read."""
    from compat_init._files import not_regular

    for path in files_of(prefix):
        kind = not_regular(path)
        if kind:
            raise CheckpointError("checkpoint {}: {} must be a regular file; it is {}".format(prefix, path, kind))


def files_of(prefix: str) -> List[str]:
    """The files a checkpoint ``prefix`` consists of, and the files beside it
    that a run reads: its index, data shards and ``.meta`` graph, the folder's
    ``checkpoint`` state file; the one file of the V1 format."""
    found = [prefix] if os.path.isfile(prefix) else []
    found += [p for p in (prefix + ".index", prefix + ".meta") if os.path.isfile(p)]
    found += _shards(prefix)
    state = os.path.join(os.path.dirname(os.path.abspath(prefix)), "checkpoint")
    if os.path.isfile(state):
        found.append(state)
    return found


def prefix_files(prefix: str) -> List[str]:
    """The files writing a TF checkpoint at ``prefix`` creates (one data
    shard, as ``save_weights`` and a ``Saver`` write); the folder's
    ``checkpoint`` state file is never replaced (``_staged``)."""
    return [prefix, prefix + ".index", prefix + ".data-00000-of-00001"]


@dataclass
class Checkpoint:
    prefix: str
    format: str
    reader: Any
    shapes: Dict[str, Tuple[int, ...]]
    dtypes: Dict[str, str]
    #: The model's variables (names without the object-graph attribute suffix),
    #: in tracking order for object-based checkpoints, sorted otherwise.
    variables: List[Var]
    #: key -> why it is not a model variable
    skipped: Dict[str, str]
    keys: Dict[str, str]  #: variable name -> checkpoint key

    def tensor(self, name: str) -> np.ndarray:
        key = self.keys.get(name, name)
        try:
            return np.asarray(self.reader.get_tensor(key))
        except Exception as error:  # noqa: BLE001 - a truncated or corrupt data file
            raise CheckpointError("checkpoint {}: key {} cannot be read ({})".format(
                self.prefix, key, first_line(error, typed=False))) from None


    def restore(self, name: str, dtype: str) -> Any:
        """The tensor of ``name`` as an eager tensor of ``dtype``, read by TF's
        RestoreV2 (no numpy copy on the way)."""
        tf = _runtime.tf()
        key = self.keys.get(name, name)
        try:
            (tensor,) = tf.raw_ops.RestoreV2(prefix=self.prefix, tensor_names=[key], shape_and_slices=[""],
                                             dtypes=[tf.as_dtype(self.dtypes[key])])
        except Exception as error:  # noqa: BLE001 - a truncated or corrupt data file
            raise CheckpointError("checkpoint {}: key {} cannot be read ({})".format(
                self.prefix, key, first_line(error, typed=False))) from None
        return tensor if tensor.dtype.name == dtype else tf.cast(tensor, dtype)


def _slot_of(key: str, keys: Any) -> Optional[str]:
    head, _, tail = key.rpartition("/")
    if head and head in keys and tail in SLOT_SUFFIXES:
        return head
    return None


def _object_graph_order(reader: Any, keys: Any) -> List[Tuple[str, str]]:
    """(readable name, key) of the object graph's variables, depth first in
    tracking order, each once; the optimizer's subtree and counters left out."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(OBJECT_GRAPH))
    order: List[Tuple[str, str]] = []
    seen = set()

    def visit(node_id: int, path: List[str]) -> None:
        if node_id in seen:
            return
        seen.add(node_id)
        node = graph.nodes[node_id]
        for attribute in node.attributes:
            if attribute.checkpoint_key in keys and attribute.name == "VARIABLE_VALUE":
                order.append(("/".join(path), attribute.checkpoint_key))
        for child in node.children:
            if child.local_name in ("optimizer", "save_counter"):
                continue
            visit(child.node_id, path + [child.local_name])

    visit(0, [])
    return order


def read(path: str) -> Checkpoint:
    """Opens a checkpoint and sorts its keys into model variables and the
    rest (optimizer slots, counters, the object graph)."""
    tf = _runtime.tf()
    prefix = resolve(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = {k: tuple(int(d) for d in v) for k, v in reader.get_variable_to_shape_map().items()}
        dtypes = {k: v.name for k, v in reader.get_variable_to_dtype_map().items()}
    except Exception as error:  # noqa: BLE001 - DataLossError, NotFoundError, ...: the file is not a checkpoint
        glob_words = ("; TensorFlow reads a checkpoint prefix as a glob pattern, and this one holds {}: rename the "
                      "files or move them to a path without them".format(" ".join(sorted(set("[]*?") & set(prefix))))
                      if set("[]*?") & set(prefix) else "")
        raise CheckpointError("checkpoint {} cannot be read: {}{}".format(
            prefix, first_line(error, typed=False), glob_words)) from None
    skipped: Dict[str, str] = {}
    keys: Dict[str, str] = {}
    variables: List[Var] = []
    if OBJECT_GRAPH in shapes:
        kind = "object-based"
        skipped[OBJECT_GRAPH] = "the object graph (structure, not a tensor of the model)"
        ordered = _object_graph_order(reader, shapes)
        model_keys = {key for _, key in ordered}
        for key in shapes:
            if key == OBJECT_GRAPH or key in model_keys:
                continue
            if key.startswith("save_counter"):
                skipped[key] = "tf.train.Checkpoint's save counter"
            elif key.startswith("optimizer/") or "/.OPTIMIZER_SLOT/" in key:
                skipped[key] = "optimizer state: " + NOT_CARRIED
            else:
                skipped[key] = "not a variable of the model's object graph"
        for name, key in ordered:
            keys[name] = key
            variables.append(Var(name, shapes[key], dtypes[key], _trainable(name), len(variables)))
    else:
        kind = "name-based"
        order = _meta_graph_order(prefix)
        if order:
            kind = "name-based, in the creation order of its .meta graph"
        rank = {name: i for i, name in enumerate(order)}
        for key in sorted(shapes, key=lambda k: (rank.get(k, len(rank)), k)):
            if key.split("/")[-1] == "global_step":
                skipped[key] = "the training step counter (global_step)"
            elif key in OPTIMIZER_KEYS:
                skipped[key] = "optimizer state ({}): {}".format(key, NOT_CARRIED)
            elif _slot_of(key, shapes):
                skipped[key] = "optimizer slot of {}: {}".format(_slot_of(key, shapes), NOT_CARRIED)
            else:
                keys[key] = key
                variables.append(Var(key, shapes[key], dtypes[key], _trainable(key), len(variables)))
    return Checkpoint(prefix, kind, reader, shapes, dtypes, variables, skipped, keys)


def _meta_graph_order(prefix: str) -> List[str]:
    """The variables of the graph a ``Saver`` wrote beside the checkpoint
    (``PREFIX.meta``), in the order the legacy program created them; [] when
    there is none or it cannot be read (the keys' names then sort them)."""
    path = prefix + ".meta"
    if not os.path.isfile(path):
        return []
    try:
        from tensorflow.core.protobuf import meta_graph_pb2

        meta = meta_graph_pb2.MetaGraphDef()
        with open(path, "rb") as f:
            meta.ParseFromString(f.read())
    except Exception:  # noqa: BLE001 - an unreadable .meta only loses the order, said in the format
        return []
    kinds = {"VariableV2", "Variable", "VarHandleOp"}
    return [node.name for node in meta.graph_def.node if node.op in kinds]


def _trainable(name: str) -> bool:
    """Batch-norm statistics are state, not trained weights (their pairing
    follows the port's non-trainable weights)."""
    return not re.search(r"moving_(mean|variance)|moving_avg|/count$", name)


def _cast(value: np.ndarray, target: str, key: str, prefix: str, weight: str, notes: List[str]) -> np.ndarray:
    _check_cast(value.dtype.name, target, key, prefix, weight, notes)
    return value if value.dtype.name == target else value.astype(target)


def _check_cast(source: str, target: str, key: str, prefix: str, weight: str, notes: List[str]) -> None:
    """A dtype change is lossless (noted) or refused."""
    if source == target:
        return
    if target in LOSSLESS.get(source, ()):
        notes.append("{}: cast from {} to {} (lossless)".format(key, source, target))
        return
    raise CheckpointError("checkpoint {}: key {} has dtype {} and port weight {} has dtype {}: a lossy cast is "
                          "refused".format(prefix, key, source, weight, target))


def _plan(ckpt: Checkpoint, port: Any, mapping: Any, legacy: Any) -> Tuple[List[Any], ConversionReport, List[str]]:
    """The pairing of a checkpoint's keys with the port's weights, checked
    from the metadata alone (no tensor is read): (pairs, the report with
    every key's entry and the port weights left unfilled, ambiguities)."""
    report = ConversionReport(ckpt.prefix, ckpt.format)
    ambiguous: List[str] = []
    off_path: set = set()
    if legacy is not None:
        # The legacy model's variables, in creation order, name the keys (a Saver's names).
        # Variables the builder's outputs never read (an auxiliary head) are
        # not the port's to hold: skipped with that reason, not paired.
        feeding = legacy.feeding_variables()
        off_path = {v.name for v in legacy.vars if feeding is not None and v.name not in feeding}
        pairs, _, left_new = pair([v for v in legacy.vars if v.name not in off_path], port.vars, mapping,
                                  require_all=False, ambiguities=ambiguous)
        absent = [p.legacy.name for p in pairs if p.legacy.name not in ckpt.keys]
        if absent:
            raise CheckpointError("checkpoint {} has no key for the legacy variable(s) {} (its keys: {})".format(
                ckpt.prefix, ", ".join(absent), ", ".join(sorted(ckpt.keys)) or "none"))
        by_name = {v.name: v for v in ckpt.variables}
        for p in pairs:
            if tuple(by_name[p.legacy.name].shape) != tuple(p.legacy.shape):
                raise CheckpointError("checkpoint {}: key {} has shape {} and the legacy variable has shape {}".format(
                    ckpt.prefix, p.legacy.name, by_name[p.legacy.name].shape, p.legacy.shape))
        pairs = [replace(p, legacy=by_name[p.legacy.name]) for p in pairs]
        left_old = [v for v in ckpt.variables if v.name not in {p.legacy.name for p in pairs}]
    else:
        pairs, left_old, left_new = pair(ckpt.variables, port.vars, mapping, require_all=False,
                                         ambiguities=ambiguous)
    for p in pairs:
        key = ckpt.keys[p.legacy.name]
        _check_cast(ckpt.dtypes[key], p.port.dtype, key, ckpt.prefix, p.port.name, report.notes)
        report.entries.append(Entry(key, p.legacy.shape, p.legacy.dtype, "loaded", p.port.name, p.describe()))
    for v in left_old:
        report.entries.append(Entry(ckpt.keys[v.name], v.shape, v.dtype, "skipped", reason=(
            "not on the path to the legacy builder's outputs (an auxiliary head): not the port's" if legacy is not None
            and v.name in off_path else
            ("the port has no place for it: every port weight is already filled (an auxiliary head, or a part the "
             "port leaves out)" if not left_new else
             "no port weight of that shape and name (pass mapping= / --mapping {}=PORT_WEIGHT to load it)".format(
                 v.name)))))
    for key, why in sorted(ckpt.skipped.items()):
        report.entries.append(Entry(key, ckpt.shapes[key], ckpt.dtypes[key], "skipped", reason=why))
    report.missing = [v.name for v in left_new]
    order = {k: i for i, k in enumerate(sorted(ckpt.shapes))}
    report.entries.sort(key=lambda e: order.get(e.key, 0))
    return pairs, report, ambiguous


def plan(checkpoint: Any, v2_builder: Callable[[], Any], v1_builder: Optional[Callable[[], Any]] = None, *,
         mapping: Any = None, inputs: Any = None, seed: int = 0,
         input_map: Optional[Dict[str, str]] = None) -> ConversionReport:
    """The pairing table a conversion would load, read from the checkpoint's
    metadata and the port's weights (built, never filled): every key loaded
    into which weight (how, with any reshape), skipped (why), and every port
    weight left unfilled (``report.missing``).  No tensor is read and nothing
    is written.  Arguments as :func:`convert`'s."""
    from compat_init.port._keras import PortModel
    from compat_init.port._recording import legacy_model

    ckpt = read(checkpoint)
    arrays, port_names = port_inputs(inputs, input_map, seed)
    legacy = legacy_model(v1_builder, seed, need_outputs=False) if v1_builder is not None else None
    port = None
    try:
        port = PortModel(v2_builder, seed, arrays, read_values=False, input_names=port_names,
                         named=input_map is not None)
        _, report, ambiguous = _plan(ckpt, port, mapping, legacy)
        report.notes += ["ambiguous: " + a for a in ambiguous]
        return report
    finally:
        if legacy is not None:
            legacy.close()
        if port is not None:
            port.close()


def load(checkpoint: Any, port: Any, *, mapping: Any = None, legacy: Any = None,
         write: Optional[Callable[[Dict[int, np.ndarray]], None]] = None) -> Tuple[Dict[int, np.ndarray],
                                                                                ConversionReport]:
    """The values for the port's weights (index -> array) and the report.
    Every pairing, shape and dtype is checked first, from the checkpoint's
    metadata; then each tensor is read and, with ``write``, handed to it at
    once (one tensor in memory at a time) instead of collected.  Raises
    CheckpointError: before anything is read for a pairing, shape or dtype
    problem; while reading for an unreadable tensor."""
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else read(checkpoint)
    pairs, report, ambiguous = _plan(ckpt, port, mapping, legacy)
    if report.missing:
        unloaded = [e.key for e in report.entries if e.status == "skipped" and e.key not in ckpt.skipped]
        shapes = {v.name: v.shape for v in port.vars}
        raise CheckpointError("checkpoint {} leaves {} port weight(s) unfilled: {}; the keys not loaded: {}{}; pass "
                              "mapping= (--mapping CHECKPOINT_KEY=PORT_WEIGHT, or a rules file; convert --plan "
                              "prints the whole pairing table)".format(
                                  ckpt.prefix, len(report.missing),
                                  cut(["{} ({})".format(n, shape_text(shapes.get(n, ()))) for n in report.missing]),
                                  cut(["{} ({})".format(k, shape_text(ckpt.shapes[k])) for k in unloaded]) or "none",
                                  "; ambiguous: " + "; ".join(ambiguous[:4]) if ambiguous else ""))
    values: Dict[int, np.ndarray] = {}
    nonfinite: List[str] = []
    for p in pairs:
        if write is not None and _runtime.can_evaluate_eagerly():
            # Straight from the file into a tensor, then one copy into the weight.
            tensor = ckpt.restore(p.legacy.name, p.port.dtype)
            _count_nonfinite(ckpt.keys[p.legacy.name], tensor, nonfinite)
            if p.transpose:
                tensor = _runtime.tf().transpose(tensor, p.transpose)
            write({p.port.index: _runtime.tf().reshape(tensor, p.port.shape) if p.reshaped else tensor})
            continue
        value = p.to_port(ckpt.tensor(p.legacy.name))
        _count_nonfinite(ckpt.keys[p.legacy.name], value, nonfinite)
        value = value.astype(p.port.dtype) if value.dtype.name != p.port.dtype else value
        if write is not None:
            write({p.port.index: value})
        else:
            values[p.port.index] = value
    if nonfinite:
        report.notes.append("non-finite values loaded as they are (the legacy training diverged?): {}".format(
            cut(nonfinite)))
    return values, report


#: Elements per slice where a whole tensor is scanned (16 MiB of float32).
_SLICE = 1 << 22


def _count_nonfinite(key: str, value: Any, found: List[str]) -> None:
    """``found`` gets "KEY (N NaN or infinite of M)" when ``value`` (a float
    array or tensor) holds any."""
    array = np.asarray(value).reshape(-1)
    if array.dtype.kind != "f" or not array.size:
        return
    # In slices: a mask of the whole tensor would be a quarter of a float32
    # kernel's size more at the conversion's peak.
    bad = sum(int(part.size - np.count_nonzero(np.isfinite(part)))
              for part in (array[start:start + _SLICE] for start in range(0, array.size, _SLICE)))
    if bad:
        found.append("{} ({} NaN or infinite of {})".format(key, bad, array.size))


def convert(checkpoint: Any, v2_builder: Callable[[], Any], v1_builder: Optional[Callable[[], Any]] = None, *,
            mapping: Any = None, inputs: Any = None, seed: int = 0,
            input_map: Optional[Dict[str, str]] = None) -> Tuple[Any, ConversionReport]:
    """Loads a checkpoint into the port ``v2_builder()`` returns.

    Args:
      checkpoint: A checkpoint prefix, its ``.index``, a ``checkpoint`` state
        file or its folder (name-based TF1 or object-based TF2).
      v2_builder: Returns the port (a model called on ``inputs`` to build it
        when it has no weights yet).
      v1_builder: The legacy model's builder: its variables' creation order
        pairs them with the port, as the migration proof does.  Without it,
        keys and weights pair by name correspondence and shape (``mapping``
        for the rest).
      mapping: ``{checkpoint key (or legacy name): port weight}``, a rules
        file's path, or a list of dicts and ``port.Rule``s (as
        ``port.pair`` takes it).

    Returns:
      ``(port, report)``: the port with every weight loaded, and a
      :class:`ConversionReport` naming what each key became.

    Raises:
      CheckpointError: (a ``ValueError``) the checkpoint cannot be read, a key
        is mapped twice, shapes or dtypes differ (lossy casts), a port weight
        stays unfilled; nothing is loaded then.
    """
    from compat_init.port._function import port_side
    from compat_init.port._keras import PortModel
    from compat_init.port._recording import legacy_model

    if not _runtime.can_evaluate_eagerly():
        raise UsageError("checkpoint conversion loads a TF 2 port (eager execution); this TensorFlow {} runs graphs "
                         "(TF 1.x, or eager execution disabled): convert on TF 2, where the port runs".format(
                             _runtime.tf_version()))
    ckpt = read(checkpoint)
    arrays, port_names = port_inputs(inputs, input_map, seed)
    legacy = legacy_model(v1_builder, seed, need_outputs=False) if v1_builder is not None else None
    try:
        port = PortModel(v2_builder, seed, arrays, read_values=False, input_names=port_names,
                         named=input_map is not None)
        _, report = load(ckpt, port, mapping=mapping, legacy=legacy, write=port_side(port, arrays or []).write)
        return port.model, report
    finally:
        if legacy is not None:
            legacy.close()


def is_preset_path(path: str) -> bool:
    """``--out`` names a KerasHub preset (a new folder) rather than a weights
    file: under Keras 3, a path that ends in ``/`` or whose name has no
    extension."""
    name = os.path.basename(path.rstrip("/" + os.sep))
    return _runtime.keras_flavour() == "keras3" and (path.endswith(("/", os.sep)) or "." not in name)


def check_output(path: str) -> None:
    """``path`` can take the port's weights in this Keras: Keras 3 writes
    ``.weights.h5`` only, or a KerasHub model's preset into a new folder; in
    an existing, writable folder."""
    folder = os.path.dirname(os.path.abspath(path.rstrip("/" + os.sep)))
    if is_preset_path(path):
        if os.path.lexists(path.rstrip("/" + os.sep)):
            raise UsageError("--out names a preset folder, which must not exist yet (a preset is written whole, "
                             "never over another); received --out={}".format(path))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise UsageError("--out must be in an existing writable folder; received --out={}".format(path))
        return
    if _runtime.keras_flavour() == "keras3" and not path.endswith(".weights.h5"):
        raise UsageError("--out must end in .weights.h5 (Keras 3 writes weights only there) or name a new folder "
                         "for a KerasHub model's preset; received --out={}".format(path))
    if os.path.isdir(path) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError("--out must be a file path in an existing writable folder; received --out={}".format(path))


def save_preset(model: Any, path: str) -> str:
    """A KerasHub backbone or task written as a preset folder
    (``save_to_preset``: config, weights, metadata) that
    ``from_preset(path)`` loads: staged in a temporary folder beside
    ``path``, then renamed into place whole."""
    if not hasattr(model, "save_to_preset"):
        raise UsageError("--out names a folder (a KerasHub preset) but the port is a {}, which has no "
                         "save_to_preset; name a .weights.h5 file instead; received --out={}".format(
                             type(model).__name__, path))
    target = path.rstrip("/" + os.sep)
    staging = tempfile.mkdtemp(prefix=temp_prefix(), dir=os.path.dirname(os.path.abspath(target)))
    try:
        model.save_to_preset(os.path.join(staging, "preset"))
        os.rename(os.path.join(staging, "preset"), target)  # fails, rather than merges, if target appeared
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def save(model: Any, path: str) -> str:
    """Writes the port's weights to ``path`` atomically: a temporary file in
    the same folder, then renamed; no partial file is ever left at ``path``.
    Keras 3: ``.weights.h5``, or a KerasHub model's preset folder
    (``is_preset_path``); Keras 2: ``.h5`` (HDF5) or a TF checkpoint prefix;
    a ``tf.Module``: a ``tf.train.Checkpoint`` prefix."""
    from compat_init._files import NoSpace, check_space, clean_stale

    folder = os.path.dirname(os.path.abspath(path.rstrip("/" + os.sep)))
    clean_stale(folder)  # what a killed run left here
    variables = list(getattr(model, "weights", None) or getattr(model, "variables", None) or [])
    try:
        check_space(folder, sum(int(np.prod(v.shape)) * np.dtype(v.dtype.name if hasattr(v.dtype, "name")
                                                                    else v.dtype).itemsize for v in variables),
                    "writing the port's weights")
        return _save(model, path)
    except (UsageError, KeyboardInterrupt):
        raise
    except NoSpace as error:
        raise UsageError("--out {}: not enough space: {}; nothing written".format(path, error)) from None
    except Exception as error:  # noqa: BLE001 - a full disk mid-write, a folder gone: the writer's error
        raise UsageError("--out {} cannot be written: {}; nothing written".format(
            path, first_line(error, typed=False))) from None


def _save(model: Any, path: str) -> str:
    tf = _runtime.tf()
    if is_preset_path(path):
        return save_preset(model, path)
    folder = os.path.dirname(os.path.abspath(path))
    if path.endswith(".h5") and hasattr(model, "save_weights"):
        suffix = ".weights.h5" if path.endswith(".weights.h5") else ".h5"
        handle, temporary = tempfile.mkstemp(prefix=temp_prefix(), suffix=suffix, dir=folder)
        os.close(handle)
        os.remove(temporary)  # Keras writes it anew
        try:
            _save_weights(model, temporary)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
        return path
    if hasattr(model, "save_weights"):
        _staged(path, model.save_weights)
    else:
        _staged(path, tf.train.Checkpoint(model=model).write)
    return path


def _save_weights(model: Any, path: str) -> None:
    """``model.save_weights(path)``; for a Keras 3 ``.weights.h5``, the same
    file written by Keras' own walk of the model with each weight handed to
    h5py as a read-only view of the variable's buffer: Keras' writer converts
    each weight with ``np.array(variable)``, two full copies at its peak
    (``numpy()``, then ``np.array``), which a 2 GiB kernel cannot spare."""
    saving_lib = _runtime.keras3_weights_store() if path.endswith(".weights.h5") else None
    if saving_lib is None or not getattr(model, "built", False):
        model.save_weights(path)
        return
    store = _view_store(saving_lib)(path, mode="w")
    try:
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="",
                               visited_saveables=set())
    finally:
        store.close()


def _view_store(saving_lib: Any) -> type:
    """``saving_lib.H5IOStore`` whose ``store[key] = weight`` writes the weight
    from a view of its buffer (a copy only where no view exists)."""
    from keras import backend  # Keras 3 only: keras3_weights_store() said so

    class _ViewStore(saving_lib.H5IOStore):  # type: ignore[misc, name-defined]
        def __setitem__(self, key: str, value: Any) -> None:
            if self.mode not in ("w", "a"):
                raise ValueError("Setting a value is only allowed in write mode.")
            if not self._h5_entry_initialized:
                self._create_h5_group(self._h5_entry_path)
            array = _buffer_view(value)
            if backend.standardize_dtype(array.dtype) == "bfloat16":
                dataset = self._h5_entry_group.create_dataset(key, data=array)
                dataset.attrs["dtype"] = "bfloat16"
            else:
                self._h5_entry_group[key] = array

    return _ViewStore


def _buffer_view(value: Any) -> np.ndarray:
    """A weight's values without a copy where the backend allows it: a Keras
    variable on the TensorFlow backend is read into a tensor that shares the
    variable's buffer, and numpy views that; on JAX numpy takes the array's
    buffer through DLPack, on PyTorch a CPU tensor's ``numpy()`` shares it.
    A copy (``convert_to_numpy``) only where no view exists (bfloat16, which
    numpy lacks; a tensor off the CPU)."""
    from keras import ops

    native = getattr(value, "value", None)
    tf = _runtime.tf()
    if isinstance(native, tf.Variable):
        return np.asarray(tf.convert_to_tensor(native))
    backend = _runtime.keras_backend()
    try:
        if backend == "jax" and native is not None:
            return np.from_dlpack(native)
        if backend == "torch" and native is not None:
            return np.asarray(native.detach().numpy())
    except (AttributeError, TypeError, RuntimeError, BufferError, ValueError):  # no view of this one: a copy
        pass
    return np.asarray(ops.convert_to_numpy(value))


def _staged(path: str, write: Callable[[str], Any]) -> None:
    """A TF checkpoint (several files) written by ``write(prefix)`` in a
    temporary folder beside ``path``, then moved next to it, the index last:
    no partial checkpoint ever stands at ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    staging = tempfile.mkdtemp(prefix=temp_prefix(), dir=folder)
    try:
        write(os.path.join(staging, os.path.basename(path)))
        for produced in sorted(os.listdir(staging), key=lambda f: f.endswith(".index")):  # the index last
            if produced == "checkpoint" and os.path.lexists(os.path.join(folder, produced)):
                # The folder's state file names the user's own checkpoint: a
                # prefix loads without it, so it is kept as it is.
                continue
            os.replace(os.path.join(staging, produced), os.path.join(folder, produced))
    finally:
        for leftover in os.listdir(staging):
            os.remove(os.path.join(staging, leftover))
        os.rmdir(staging)


def reverse(v2_builder: Callable[[], Any], v1_builder: Callable[[], Any], out: str, *,
            weights: Optional[str] = None, mapping: Any = None, inputs: Any = None,
            seed: int = 0) -> ConversionReport:
    """Writes the port's weights as a name-based checkpoint the legacy program
    restores with its own ``Saver``: each paired port weight under its legacy
    variable's name, written by a ``Saver`` over the legacy graph's variables
    (for teams that serve the legacy graph while the port is finished).

    Args:
      v2_builder: Returns the port; ``weights`` (a Keras weights file or TF
        checkpoint the port's ``load_weights`` reads) is loaded into it first.
      v1_builder: The legacy model's builder: its variables name the keys.
      out: The checkpoint prefix to write (``legacy/model.ckpt``).

    Returns:
      A :class:`ConversionReport` whose entries are the written keys.
    """
    from compat_init.port._function import legacy_side, port_side
    from compat_init.port._keras import PortModel
    from compat_init.port._legacy import LegacyModel
    from compat_init.port._recording import refuse_recording

    refuse_recording(v1_builder, "the way back (reverse)")
    tf = _runtime.tf()
    arrays = parse_inputs(inputs, seed) if inputs is not None else None
    legacy = LegacyModel(v1_builder, seed, need_outputs=False)
    port = None
    try:
        port = PortModel(v2_builder, seed, arrays)
        if weights is not None:
            if not hasattr(port.model, "load_weights"):
                raise UsageError("--weights needs a Keras port (load_weights); received a {}".format(
                    type(port.model).__name__))
            try:
                port.model.load_weights(weights)
            except Exception as error:  # noqa: BLE001 - a file Keras cannot read into this port
                raise CheckpointError("weights {} cannot be loaded into the port: {}".format(
                    weights, first_line(error, typed=False))) from None
        current = port_side(port, arrays or []).read(range(len(port.vars)))
        pairs, _, _ = pair(legacy.vars, port.vars, mapping, require_all=True)
        report = ConversionReport(out, "name-based")
        values = {}
        for p in pairs:
            value = p.to_legacy(np.asarray(current[p.port.index]))
            values[p.legacy.index] = _cast(value, p.legacy.dtype, p.port.name, weights or "the port", p.legacy.name,
                                           report.notes)
            report.entries.append(Entry(p.legacy.name, p.legacy.shape, p.legacy.dtype, "loaded", p.port.name,
                                        p.describe()))
        legacy_side(legacy, []).write(values)
        def write(prefix: str) -> None:
            with legacy.graph.as_default():
                saver = tf.compat.v1.train.Saver(legacy.variables, save_relative_paths=True)
                saver.save(legacy.session, prefix, write_meta_graph=False, write_state=False)

        _staged(out, write)
        report.written = out
        return report
    finally:
        legacy.close()
        if port is not None:
            port.close()


def _same(value: Any) -> Any:
    return value


#: TF 1 optimizer -> (its slot names, the Keras optimizer that continues it).
TF1_OPTIMIZERS = {"adam": ("Adam", "Adam_1"), "momentum": ("Momentum",)}


def _slot(optimizer: Any, slots: str, variable: Any) -> Any:
    """The Keras optimizer's slot variable for ``variable`` (Keras 3 and the
    Keras 2.11+ optimizers keep them in lists indexed by the variable)."""
    if hasattr(optimizer, "_get_variable_index"):  # Keras 3
        index = optimizer._get_variable_index(variable)
    else:  # Keras 2 / tf_keras
        index = optimizer._index_dict[optimizer._var_key(variable)]
    return getattr(optimizer, slots)[index]


def load_optimizer_state(checkpoint: Any, optimizer: Any, variables: List[Any], keys: List[str],
                         kind: str, learning_rate: float, beta_1: float = 0.9,
                         transforms: Optional[List[Callable[[Any], Any]]] = None) -> List[str]:
    """Fills a Keras optimizer's state from a TF 1 optimizer's slots.

    ``variables`` are the port's trainable weights and ``keys`` their legacy
    names (the checkpoint keys), pair by pair.  Adam: ``m`` = ``key/Adam``,
    ``v`` = ``key/Adam_1``, ``iterations`` = t where ``beta1_power`` =
    ``beta_1 ** (t + 1)`` (TF 1 raises the power after each step).  Momentum:
    Keras keeps ``m = -lr a`` where TF 1 keeps the accumulator ``a`` (the same
    update for a constant learning rate).  ``transforms``: per variable, how a
    legacy value takes the port weight's shape (``Pair.to_port``, for reshaped
    pairs).  Returns notes."""
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else read(checkpoint)
    names = TF1_OPTIMIZERS[kind]
    missing = ["{}/{}".format(k, n) for k in keys for n in names if "{}/{}".format(k, n) not in ckpt.shapes]
    if missing:
        raise CheckpointError("checkpoint {} has no {} state for: {} (was the legacy model trained with {}?)".format(
            ckpt.prefix, kind, ", ".join(missing[:6]), "AdamOptimizer" if kind == "adam" else "MomentumOptimizer"))
    for key in keys:  # every slot has its variable's shape and finite values
        for name in names:
            slot = "{}/{}".format(key, name)
            if tuple(ckpt.shapes[slot]) != tuple(ckpt.shapes.get(key, ckpt.shapes[slot])):
                raise CheckpointError("checkpoint {}: the optimizer slot {} has shape {} and its variable {} has shape "
                                      "{}".format(ckpt.prefix, slot, ckpt.shapes[slot], key, ckpt.shapes[key]))
            bad = int(np.size(ckpt.reader.get_tensor(slot)) - np.count_nonzero(np.isfinite(
                ckpt.reader.get_tensor(slot))))
            if bad:
                raise CheckpointError("checkpoint {}: the optimizer slot {} holds {} NaN or infinite value(s): its "
                                      "training diverged; resume from an earlier checkpoint".format(
                                          ckpt.prefix, slot, bad))
    optimizer.build(variables)
    notes = []
    if kind == "adam":
        if "beta1_power" not in ckpt.shapes:
            raise CheckpointError("checkpoint {} has Adam slots but no beta1_power (the step count TF 1's "
                                  "AdamOptimizer keeps); it cannot be resumed".format(ckpt.prefix))
        power = float(np.asarray(ckpt.reader.get_tensor("beta1_power")).ravel()[0])
        if not (math.isfinite(power) and 0 < power <= beta_1):
            raise CheckpointError("checkpoint {}: beta1_power must be beta_1 ** (step + 1), in (0, {}]; it is {!r}, "
                                  "which gives no step count".format(ckpt.prefix, beta_1, power))
        steps = int(round(np.log(power) / np.log(beta_1))) - 1
        for variable, key, shaped in zip(variables, keys, transforms or [_same] * len(keys)):
            _slot(optimizer, "_momentums", variable).assign(shaped(ckpt.reader.get_tensor(key + "/Adam")))
            _slot(optimizer, "_velocities", variable).assign(shaped(ckpt.reader.get_tensor(key + "/Adam_1")))
        notes.append("Adam: m from each VARIABLE/Adam, v from VARIABLE/Adam_1; iterations = {} (beta1_power = {:.6g} "
                     "= beta_1^{})".format(steps, power, steps + 1))
    else:
        steps = int(np.asarray(ckpt.reader.get_tensor("global_step"))) if "global_step" in ckpt.shapes else 0
        for variable, key, shaped in zip(variables, keys, transforms or [_same] * len(keys)):
            _slot(optimizer, "momentums", variable).assign(
                -np.float32(learning_rate) * np.asarray(shaped(ckpt.reader.get_tensor(key + "/Momentum"))))
        notes.append("Momentum: Keras m = -lr * the TF 1 accumulator; iterations = global_step = {}".format(steps))
    optimizer.iterations.assign(steps)
    return notes


def resume(checkpoint: Any, v1_builder: Callable[[], Any], v2_builder: Callable[[], Any], *, inputs: Any,
           optimizer: str = "adam", learning_rate: float = 0.001, steps: int = 5,
           loss: str = "categorical_crossentropy", from_logits: bool = False, seed: int = 0,
           mapping: Any = None,
           dense_gradients: bool = False) -> Tuple[Any, List[Dict[str, Any]], List[str]]:
    """Training resumed where the legacy run stopped, on both sides: the legacy
    graph restores the whole checkpoint (weights and its optimizer's slots)
    and takes ``steps`` steps with its own ``tf.compat.v1.train`` optimizer in
    a Session; the port gets the weights and a Keras optimizer (Adam with TF
    1's defaults, or SGD with momentum 0.9) holding the same state, and takes
    the same steps with ``apply_gradients``.

    ``dense_gradients``: give the Keras optimizer dense gradients.  An
    embedding's gradient is a ``tf.IndexedSlices``, which Keras 3's TensorFlow
    backend applies with scatter updates, and TF 1's AdamOptimizer (and Keras
    2's Adam) does not: resumed Adam then moves an embedding differently under
    Keras 3 (measured on TF 2.21: 7.2e-3 after one step); with dense gradients
    they agree within rounding.  On Keras 3's JAX and PyTorch backends the
    port's gradients come from that backend and are always dense.

    Returns ``(keras optimizer, per-step comparisons, notes)``; each step's
    entry has the losses, the largest weight difference against its
    tolerance (``_function.compare``) and the weights that differ.
    """
    from compat_init.port._function import port_side
    from compat_init.port._keras import PortModel
    from compat_init.port._legacy import LegacyModel
    from compat_init.port._recording import refuse_recording

    refuse_recording(v1_builder, "resuming with the optimizer's state")
    tf = _runtime.tf()
    if optimizer not in TF1_OPTIMIZERS:
        raise UsageError("optimizer must be one of {} to resume; received optimizer={!r}".format(
            ", ".join(TF1_OPTIMIZERS), optimizer))
    if not _runtime.can_evaluate_eagerly():
        raise UsageError("resuming in the port needs TF 2 (eager execution); this TensorFlow {} runs graphs".format(
            _runtime.tf_version()))
    ckpt = read(checkpoint)
    legacy = LegacyModel(v1_builder, seed, need_outputs=True)
    try:
        arrays, notes = fit_inputs(parse_inputs(inputs, seed), legacy)
        port = PortModel(v2_builder, seed, arrays)
        pairs, _, _ = pair(legacy.vars, port.vars, mapping)
        trainable = [p for p in pairs if p.legacy.trainable]
        values, report = load(ckpt, port, mapping=mapping, legacy=legacy)
        side = port_side(port, arrays)
        side.write(values)
        # The legacy run, resumed: its own optimizer, restored with its slots.
        labels = labels_for(loss, tuple(np.asarray(legacy.session.run(legacy.outputs[0], feed_dict=legacy.run_feed(
            arrays))).shape), seed)
        with legacy.graph.as_default():
            target = tf.compat.v1.placeholder(tf.int64 if labels.dtype.kind in "iu" else tf.float32)
            regs = legacy.regularization
            total = loss_value(tf, loss, target, legacy.outputs[0], from_logits) + (
                regularization_sum(tf, regs))
            legacy_optimizer = (tf.compat.v1.train.AdamOptimizer(learning_rate) if optimizer == "adam" else
                                tf.compat.v1.train.MomentumOptimizer(learning_rate, 0.9))
            step_op = legacy_optimizer.minimize(total, var_list=[p.legacy.handle for p in trainable])
            restorable = [v for v in tf.compat.v1.global_variables() if v.op.name in ckpt.shapes]
            tf.compat.v1.train.Saver(restorable).restore(legacy.session, ckpt.prefix)
            absent = [v.op.name for v in tf.compat.v1.global_variables() if v.op.name not in ckpt.shapes]
            legacy.session.run(tf.compat.v1.variables_initializer(
                [v for v in tf.compat.v1.global_variables() if v.op.name in absent]))
        if absent:
            notes.append("not in the checkpoint, started fresh on both sides: {}".format(", ".join(absent)))
        keras_optimizer = (tf.keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
                           if optimizer == "adam" else tf.keras.optimizers.SGD(learning_rate, momentum=0.9))
        variables = [port.weights[p.port.index] for p in trainable]
        notes += load_optimizer_state(ckpt, keras_optimizer, variables, [p.legacy.name for p in trainable],
                                      optimizer, learning_rate, transforms=[p.to_port for p in trainable])
        feed = legacy.run_feed(arrays, False)
        feed[target] = labels
        records = []
        for step in range(1, steps + 1):
            loss_v1, _ = legacy.session.run([total, step_op], feed_dict=feed)
            if _runtime.keras_backend() == "tensorflow":
                with tf.GradientTape() as tape:
                    outputs = port.call(arrays, False)
                    port_losses = list(getattr(port.model, "losses", []) or [])
                    loss_v2 = loss_value(tf, loss, tf.constant(labels), outputs[0], from_logits) + (
                        regularization_sum(tf, port_losses))
                grads = tape.gradient(loss_v2, variables)
                if dense_gradients:
                    grads = [tf.convert_to_tensor(g) if g is not None else g for g in grads]
            else:  # the port's own backend's gradients (JAX, PyTorch), dense
                from keras import ops

                loss_v2, _, arrays_grads, _ = side.gradients(loss, from_logits, labels,
                                                             tuple(p.port.index for p in trainable), False)
                grads = [ops.convert_to_tensor(g) for g in arrays_grads]
            keras_optimizer.apply_gradients(zip(grads, variables))
            old = legacy.session.run([p.legacy.handle for p in trainable])
            new = side.read([p.port.index for p in trainable])
            floor = max((float(np.max(np.abs(w))) for w in old if w.size), default=0.0)
            diffs = [compare(p.legacy.name, p.to_legacy(b), a, 1.0 + step, floor)
                     for p, a, b in zip(trainable, old, new)]
            worst = max(diffs, key=lambda c: c.max_abs / max(c.tolerance, 1e-30))
            records.append({"step": step, "loss_v1": float(loss_v1), "loss_v2": float(loss_v2),
                            "max_weight_diff": worst.max_abs, "weight": worst.name, "tolerance": worst.tolerance,
                            "passed": all(c.passed for c in diffs),
                            "differ": [c.name for c in diffs if not c.passed]})
        return keras_optimizer, records, notes + report.notes
    finally:
        legacy.close()
