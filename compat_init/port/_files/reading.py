"""TensorFlow checkpoints read: a prefix resolved (a state file, a folder),
its files, its keys sorted into model variables and the rest (optimizer
slots, counters, the object graph), their tensors, a digest of its files.

Reads name-based TF1 checkpoints (``tf.compat.v1.train.Saver``: V2 ``.index``
+ data shards, a ``checkpoint`` state file or its folder; partitioned
variables come back whole) and object-based TF2 checkpoints
(``tf.train.Checkpoint``, Keras 2 / tf_keras ``save_weights`` in TF format,
walked through their object graph in tracking order), on every TensorFlow the
project supports."""
from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init.port._core.pairs import Var
from compat_init.port._core.text import first_line


#: Slot variables TF1 optimizers add beside each variable (``kernel/Adam``).
SLOT_SUFFIXES = ("Adam", "Adam_1", "Momentum", "RMSProp", "RMSProp_1", "Adagrad", "AdagradDA", "Ftrl", "Ftrl_1",
                 "Adadelta", "Adadelta_1", "ProximalAdagrad", "ExponentialMovingAverage")
#: Optimizer state TF1 keeps outside the slots.
OPTIMIZER_KEYS = ("beta1_power", "beta2_power")
OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
NOT_CARRIED = "not carried (the port's optimizer starts fresh)"


#: dtype casts that lose nothing (source -> targets).
LOSSLESS = {"float16": ("float32", "float64"), "bfloat16": ("float32", "float64"), "float32": ("float64",),
            "int8": ("int16", "int32", "int64"), "int16": ("int32", "int64"), "int32": ("int64",)}


class CheckpointError(UsageError):
    """A checkpoint that cannot be used as given (the message names the file
    and the key)."""


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
        shards = shard_files(path)
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


def read_elsewhere(path: str, prefix: str) -> str:
    """A note when the folder named (``path``) is not where the checkpoint's
    files are read (``prefix``, ``resolve(path)``): a copied folder whose
    ``checkpoint`` state file still names the original's absolute path; ""
    otherwise."""
    from compat_init._files import named_folder

    named, read = named_folder(path), os.path.dirname(os.path.abspath(prefix))
    if os.path.realpath(named) == os.path.realpath(read):
        return ""
    return ("the checkpoint read is {}, in another folder than the one named ({}): its `checkpoint` state file "
            "names it (a copied folder keeps the original's path); name the prefix to read the copy's".format(
                prefix, named))


_SHARD = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


def shard_files(prefix: str) -> List[str]:
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
    found += shard_files(prefix)
    state = os.path.join(os.path.dirname(os.path.abspath(prefix)), "checkpoint")
    if os.path.isfile(state):
        found.append(state)
    return found


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
    #: The keys of a TF 1 optimizer's state (slots, its counters): skipped,
    #: ``NOT_CARRIED`` unless the state is resumed.
    optimizer_state: Set[str] = field(default_factory=set)

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
    optimizer_state: Set[str] = set()
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
                optimizer_state.add(key)
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
                optimizer_state.add(key)
            elif _slot_of(key, shapes):
                skipped[key] = "optimizer slot of {}: {}".format(_slot_of(key, shapes), NOT_CARRIED)
                optimizer_state.add(key)
            else:
                keys[key] = key
                variables.append(Var(key, shapes[key], dtypes[key], _trainable(key), len(variables)))
    return Checkpoint(prefix, kind, reader, shapes, dtypes, variables, skipped, keys, optimizer_state)


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


#: Elements per slice where a whole tensor is scanned (16 MiB of float32).
_SLICE = 1 << 22


def count_nonfinite(key: str, value: Any, found: List[str]) -> None:
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


def values_for(path: str, variables: Sequence[Var]) -> Tuple[str, Dict[int, np.ndarray], List[str]]:
    """The checkpoint's tensors for ``variables`` (by their names: a Saver's
    keys), each in its variable's dtype: ``(prefix, {index: value}, the keys
    holding NaN or infinite values)``.

    Raises:
      CheckpointError: a variable without its key, or of another shape.
    """
    ckpt = read(path)
    nonfinite: List[str] = []
    absent = [v.name for v in variables if v.name not in ckpt.keys]
    if absent:
        raise CheckpointError("checkpoint {} has no key for the legacy variable(s) {} (its keys: {})".format(
            ckpt.prefix, ", ".join(absent), ", ".join(sorted(ckpt.keys)) or "none"))
    values = {}
    for var in variables:
        value = ckpt.tensor(var.name)
        count_nonfinite(var.name, value, nonfinite)
        if tuple(value.shape) != tuple(var.shape):
            raise CheckpointError("checkpoint {}: key {} has shape {} and the legacy variable has shape {}".format(
                ckpt.prefix, var.name, value.shape, var.shape))
        values[var.index] = value.astype(var.dtype)
    return ckpt.prefix, values, nonfinite


def checkpoint_digest(prefix: str) -> str:
    """sha256 over a checkpoint's index and data shards (in name order): the
    files the reader reads (``shard_files``), so a stray file beside them
    does not change it."""
    digest = hashlib.sha256()
    files = [p for p in [prefix, prefix + ".index"] if os.path.isfile(p)]
    files += shard_files(prefix)
    for path in files:
        digest.update(os.path.basename(path).encode("utf-8") + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
