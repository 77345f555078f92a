"""Checkpoint conversion, both ways: a TensorFlow checkpoint (read by
``_files.reading``) paired with a port's weights (``pair``, as the migration
proof pairs them) and loaded into it; and the port's weights written back
under the legacy variables' names (``reverse``).  Every key is accounted for: loaded (into which weight,
paired how), skipped (with the reason) or an error; every port weight is
filled or named as missing.  Nothing is written until every check passed, and
then atomically.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init.port._core.inputs import parse_inputs, port_inputs
from compat_init.port._core.pairing import pair
from compat_init.port._core.pairs import assemble, join, keep_patterns, kept
from compat_init.port._core.text import cut, first_line, shape_text
from compat_init.port._files.reading import Checkpoint, CheckpointError, LOSSLESS, count_nonfinite, read
from compat_init.port._files.writing import staged
from compat_init.port._sides.drivers import legacy_side, port_side
from compat_init.port._sides.flow import flows_of
from compat_init.port._sides.legacy import LegacyModel, open_legacy, refuse_recording
from compat_init.port._sides.port import PortModel


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
    #: "optimizer state" for a TF 1 optimizer's slot or counter (loaded only
    #: when its state is resumed), else "".
    kind: str = ""
    #: The axes permutation applied to the key's tensor (a rule's transpose), if any.
    transpose: Optional[Tuple[int, ...]] = None
    #: (axis, parts, index): the weight is that part of the key's tensor (a rule's split), if any.
    split: Optional[Tuple[int, int, int]] = None
    #: (axis, parts, index): the key's tensor is that part of the weight (several keys into one), if any.
    concat: Optional[Tuple[int, int, int]] = None
    reshaped: bool = False  #: the tensor was reshaped into the weight's shape


@dataclass
class ConversionReport:
    checkpoint: str
    format: str  #: "name-based" or "object-based"
    entries: List[Entry] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)  #: port weights no key filled
    #: Port weights no key filled that keep the port's initial values (keep_initial).
    kept: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    proof: Any = None  #: the MigrationReport at the trained weights, when run
    #: The legacy outputs compared, found in the dataflow of the graph beside the checkpoint.
    outputs: List[str] = field(default_factory=list)
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
        for name in self.kept:
            lines.append("  port weight {}: kept as the port initialized it (keep_initial: no checkpoint key for "
                         "it)".format(name))
        for note in self.notes:
            lines.append("  note: " + note)
        counts = self.counts()
        lines.append("{} keys: {} loaded, {} skipped, {} errors; {} port weights missing{}".format(
            len(self.entries), counts["loaded"], counts["skipped"], counts["error"], len(self.missing),
            ", {} kept as initialized".format(len(self.kept)) if self.kept else ""))
        if self.proof is not None:
            lines.append(str(self.proof))
        if self.written:
            lines.append("written to {}".format(self.written))
        return "\n".join(lines)


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


def _pairing_table(ckpt: Checkpoint, port: Any, mapping: Any, legacy: Any,
                   keep: Sequence[Any] = ()) -> Tuple[List[Any], ConversionReport, List[str]]:
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
        feeding = legacy.feeding_variables(losses=False)  # a regularizer on a head is no reason to keep it
        off_path = {v.name for v in legacy.vars if feeding is not None and v.name not in feeding}
        pairs, _, left_new = pair([v for v in legacy.vars if v.name not in off_path], port.vars, mapping,
                                  require_all=False, ambiguities=ambiguous, keep_initial=keep,
                                  flows=flows_of(legacy, port, report.notes), notes=report.notes)
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
                                         ambiguities=ambiguous, keep_initial=keep)
    for p in pairs:
        key = ckpt.keys[p.legacy.name]
        _check_cast(ckpt.dtypes[key], p.port.dtype, key, ckpt.prefix, p.port.name, report.notes)
        report.entries.append(Entry(key, p.legacy.shape, p.legacy.dtype, "loaded", p.port.name, p.describe(),
                                    transpose=p.transpose, reshaped=p.reshaped, split=p.split, concat=p.concat))
    for v in left_old:
        report.entries.append(Entry(ckpt.keys[v.name], v.shape, v.dtype, "skipped", reason=(
            "not on the path to the legacy builder's outputs (an auxiliary head): not the port's" if legacy is not None
            and v.name in off_path else
            ("the port has no place for it: every port weight is already filled (an auxiliary head, or a part the "
             "port leaves out)" if not left_new else
             "no port weight of that shape and name (pass mapping= / --mapping {}=PORT_WEIGHT to load it)".format(
                 v.name)))))
    for key, why in sorted(ckpt.skipped.items()):
        report.entries.append(Entry(key, ckpt.shapes[key], ckpt.dtypes[key], "skipped", reason=why,
                                    kind="optimizer state" if key in ckpt.optimizer_state else ""))
    report.missing = [v.name for v in left_new if not kept(v, keep)]
    report.kept = [v.name for v in left_new if kept(v, keep)]
    idle = [p.pattern for p in keep if not any(p.fullmatch(v.name.split(":")[0]) for v in left_new)]
    if idle:
        report.notes.append("keep_initial pattern(s) matching no port weight left unfilled: {}".format(
            ", ".join(idle)))
    order = {k: i for i, k in enumerate(sorted(ckpt.shapes))}
    report.entries.sort(key=lambda e: order.get(e.key, 0))
    return pairs, report, ambiguous


def plan(checkpoint: Any, v2_builder: Callable[[], Any], v1_builder: Optional[Callable[[], Any]] = None, *,
         mapping: Any = None, inputs: Any = None, seed: int = 0,
         input_map: Optional[Dict[str, str]] = None, keep_initial: Any = None) -> ConversionReport:
    """The pairing table a conversion would load, read from the checkpoint's
    metadata and the port's weights (built, never filled): every key loaded
    into which weight (how, with any reshape), skipped (why), and every port
    weight left unfilled (``report.missing``).  No tensor is read and nothing
    is written.  Arguments as :func:`convert`'s."""

    keep = keep_patterns(keep_initial)
    ckpt = read(checkpoint)
    arrays, port_names = port_inputs(inputs, input_map, seed)
    legacy = open_legacy(v1_builder, seed, need_outputs=False, read_values=False) if v1_builder is not None else None
    port = None
    try:
        port = PortModel(v2_builder, seed, arrays, read_values=False, input_names=port_names,
                         named=input_map is not None)
        _, report, ambiguous = _pairing_table(ckpt, port, mapping, legacy, keep)
        report.notes += ["ambiguous: " + a for a in ambiguous]
        return report
    finally:
        if legacy is not None:
            legacy.close()
        if port is not None:
            port.close()


def load(checkpoint: Any, port: Any, *, mapping: Any = None, legacy: Any = None,
         write: Optional[Callable[[Dict[int, np.ndarray]], None]] = None,
         keep_initial: Any = None) -> Tuple[Dict[int, np.ndarray], ConversionReport]:
    """The values for the port's weights (index -> array) and the report.
    Every pairing, shape and dtype is checked first, from the checkpoint's
    metadata; then each tensor is read and, with ``write``, handed to it at
    once (one tensor in memory at a time) instead of collected.  Raises
    CheckpointError: before anything is read for a pairing, shape or dtype
    problem; while reading for an unreadable tensor."""
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else read(checkpoint)
    pairs, report, ambiguous = _pairing_table(ckpt, port, mapping, legacy, keep_patterns(keep_initial))
    if report.missing:
        unloaded = [e.key for e in report.entries if e.status == "skipped" and e.key not in ckpt.skipped]
        shapes = {v.name: v.shape for v in port.vars}
        raise CheckpointError("checkpoint {} leaves {} port weight(s) unfilled: {}; the keys not loaded: {}{}; pass "
                              "mapping= (--mapping CHECKPOINT_KEY=PORT_WEIGHT, or a rules file; convert --plan "
                              "prints the whole pairing table), or keep_initial=PATTERN (--keep-initial) for port "
                              "weights the checkpoint has no source for".format(
                                  ckpt.prefix, len(report.missing),
                                  cut(["{} ({})".format(n, shape_text(shapes.get(n, ()))) for n in report.missing]),
                                  cut(["{} ({})".format(k, shape_text(ckpt.shapes[k])) for k in unloaded]) or "none",
                                  "; ambiguous: " + "; ".join(ambiguous[:4]) if ambiguous else ""))
    values: Dict[int, np.ndarray] = {}
    nonfinite: List[str] = []
    pending: Dict[int, List[Tuple[Any, np.ndarray]]] = {}  #: the parts read of a weight several keys fill
    for p in pairs:
        if write is not None and _runtime.can_evaluate_eagerly() and not p.split and not p.concat:
            # Straight from the file into a tensor, then one copy into the weight.
            tensor = ckpt.restore(p.legacy.name, p.port.dtype)
            count_nonfinite(ckpt.keys[p.legacy.name], tensor, nonfinite)
            if p.transpose:
                tensor = _runtime.tf().transpose(tensor, p.transpose)
            write({p.port.index: _runtime.tf().reshape(tensor, p.port.shape) if p.reshaped else tensor})
            continue
        value = p.to_port(ckpt.tensor(p.legacy.name))
        count_nonfinite(ckpt.keys[p.legacy.name], value, nonfinite)
        value = value.astype(p.port.dtype) if value.dtype.name != p.port.dtype else value
        if p.concat:  # held until every part of the weight is read, then joined
            pending.setdefault(p.port.index, []).append((p, value))
            if len(pending[p.port.index]) < p.concat[1]:  # pairs were checked: each part once
                continue
            held = pending.pop(p.port.index)
            value = assemble([q for q, _ in held], [v for _, v in held])[p.port.index]
        if write is not None:
            write({p.port.index: value})
        else:
            values[p.port.index] = value
    if nonfinite:
        report.notes.append("non-finite values loaded as they are (the legacy training diverged?): {}".format(
            cut(nonfinite)))
    return values, report


def convert(checkpoint: Any, v2_builder: Callable[[], Any], v1_builder: Optional[Callable[[], Any]] = None, *,
            mapping: Any = None, inputs: Any = None, seed: int = 0,
            input_map: Optional[Dict[str, str]] = None, keep_initial: Any = None) -> Tuple[Any, ConversionReport]:
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
      keep_initial: Port weights the checkpoint has no source for (a
        regular expression over whole port weight names, or a list of them:
        Keras' ResNet50 conv biases, which TF-Slim's convolutions lack): they
        keep the port's own initial values, listed in ``report.kept``; any
        other unfilled port weight is an error.

    Returns:
      ``(port, report)``: the port with every weight loaded, and a
      :class:`ConversionReport` naming what each key became.

    Raises:
      CheckpointError: (a ``ValueError``) the checkpoint cannot be read, a key
        is mapped twice, shapes or dtypes differ (lossy casts), a port weight
        stays unfilled; nothing is loaded then.
    """

    if not _runtime.can_evaluate_eagerly():
        raise UsageError("checkpoint conversion loads a TF 2 port (eager execution); this TensorFlow {} runs graphs "
                         "(TF 1.x, or eager execution disabled): convert on TF 2, where the port runs".format(
                             _runtime.tf_version()))
    keep = keep_patterns(keep_initial)
    ckpt = read(checkpoint)
    arrays, port_names = port_inputs(inputs, input_map, seed)
    legacy = open_legacy(v1_builder, seed, need_outputs=False, read_values=False) if v1_builder is not None else None
    try:
        # Built with its initializers where some weights keep them, else zeros (every one is overwritten).
        port = PortModel(v2_builder, seed, arrays, read_values=False, input_names=port_names,
                         named=input_map is not None, zeros=not keep)
        _, report = load(ckpt, port, mapping=mapping, legacy=legacy, write=port_side(port, arrays or []).write,
                         keep_initial=keep)
        return port.model, report
    finally:
        if legacy is not None:
            legacy.close()


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

    refuse_recording(v1_builder, "the way back (reverse)")
    if not isinstance(out, str) or not out or not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise UsageError("out must be a checkpoint prefix in an existing folder (the legacy Saver's files are "
                         "written beside it); received out={!r}".format(out))
    tf = _runtime.tf()
    arrays = parse_inputs(inputs, seed) if inputs is not None else None
    legacy = LegacyModel(v1_builder, seed, need_outputs=False)
    port = None
    try:
        port = PortModel(v2_builder, seed, arrays)
        if weights is not None:
            if not hasattr(port.model, "load_weights"):
                raise UsageError("weights (--weights) needs a Keras port (load_weights) to load them into; "
                                 "received weights={} for a {}".format(weights, type(port.model).__name__))
            try:
                port.model.load_weights(weights)
            except Exception as error:  # noqa: BLE001 - a file Keras cannot read into this port
                raise CheckpointError("weights {} cannot be loaded into the port: {}".format(
                    weights, first_line(error, typed=False))) from None
        current = port_side(port, arrays or []).read(range(len(port.vars)))
        report = ConversionReport(out, "name-based")
        pairs, _, _ = pair(legacy.vars, port.vars, mapping, require_all=True,
                           flows=flows_of(legacy, port, report.notes), notes=report.notes)
        values = {}
        groups: Dict[int, List[Any]] = {}  # a legacy variable's pairs (its parts, where split)
        for p in pairs:
            groups.setdefault(p.legacy.index, []).append(p)
        for index, group in groups.items():
            first = group[0]
            value = join(group, [p.to_legacy(np.asarray(current[p.port.index])) for p in group])
            values[index] = _cast(value, first.legacy.dtype, ", ".join(p.port.name for p in group),
                                  weights or "the port", first.legacy.name, report.notes)
            for p in group:
                report.entries.append(Entry(p.legacy.name, p.legacy.shape, p.legacy.dtype, "loaded", p.port.name,
                                            p.describe(), split=p.split, concat=p.concat))
        legacy_side(legacy, []).write(values)
        def write(prefix: str) -> None:
            with legacy.graph.as_default():
                saver = tf.compat.v1.train.Saver(legacy.variables, save_relative_paths=True)
                saver.save(legacy.session, prefix, write_meta_graph=False, write_state=False)

        staged(out, write)
        report.written = out
        return report
    finally:
        legacy.close()
        if port is not None:
            port.close()
