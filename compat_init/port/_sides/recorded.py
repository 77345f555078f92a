"""A recording: the legacy side of the migration proof, run once where the
legacy code runs (TF 1.15 and Python 3.7 included) and replayed on TF 2.

The proof reads its legacy side through one interface (``base.LegacySource``),
from three sources:

* a builder (``module:function``): ``legacy.LegacyModel``, built and run live;
* a ``Saver``'s ``.meta`` graph: the same, built by ``port.meta_graph``;
* a recording: :class:`RecordedModel`, replayed from the file ``record`` wrote
  (``compat_init.port._record``).

A recording holds what the proof reads from the legacy model, on one batch:
its variables (names, shapes, dtypes, initial or checkpoint values, the
distribution each was drawn from), the inputs, the outputs (at inference, and
in training mode where the graph has a training switch and no dropout), its
dropout rates and regularization loss, the tensors the locator compares, and,
with ``steps``, each training step's loss, gradients and outputs and the
weights after it (batch-norm statistics included).  Also the versions it was
made with, the run's options, and a digest of the checkpoint it started from.

The file is a zip archive: ``recording.json`` (the manifest) and one ``.npy``
per array (read without pickle).  It is written whole or not at all.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from compat_init import _fans, _runtime
from compat_init._errors import UsageError, printable
from compat_init.port._core.dataflow import Flow, flow_from_dict
from compat_init.port._core.options import RUN_DEFAULTS
from compat_init.port._core.pairs import Var
from compat_init.port._core.text import first_line
from compat_init.port._files.reading import checkpoint_digest, resolve


FORMAT = "compat_init recording"
VERSION = 1
MANIFEST = "recording.json"
#: What every manifest holds.
REQUIRED = ("made_with", "legacy", "checkpoint", "run", "inputs", "named_inputs", "input_notes", "feeds", "switch",
            "variables", "outputs", "regularization", "noise", "training_noise", "dropout", "candidates",
            "trajectories", "arrays")
#: The locator's intermediate tensors are recorded up to this many bytes.
CANDIDATE_BUDGET = 256 * 2 ** 20
#: The largest manifest read (a BERT-base recording's is well under 1 MiB).
MANIFEST_MOST = 64 * 2 ** 20
#: A recording's arrays inflate to at most this many times the file's size,
#: plus ``INFLATE_FLOOR``: weights and activations barely compress, so a
#: larger ratio is a file made to exhaust memory (2 GiB of zeros in 2 MiB).
INFLATE_RATIO = 64
INFLATE_FLOOR = 64 * 2 ** 20


class Recording:
    """A recording read back (``read_recording``): its manifest and arrays."""

    def __init__(self, path: str, manifest: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> None:
        self.path = path
        self.manifest = manifest
        self.arrays = arrays
        #: Where it came from, for the refusal of outputs that would replace it.
        self.source = path

    @property
    def run(self) -> Dict[str, Any]:
        return self.manifest["run"]

    @property
    def checkpoint(self) -> Optional[Dict[str, str]]:
        return self.manifest.get("checkpoint")

    def describe(self) -> str:
        made = self.manifest["made_with"]
        run = self.run
        inputs = ", ".join("{} {}".format(i["name"], "x".join(map(str, i["shape"])))
                           for i in self.manifest["inputs"])
        return "recording {} of {} (TensorFlow {}, Python {}{}; {}, seed {})".format(
            self.path, self.manifest["legacy"], made["tensorflow"], made["python"],
            ", from checkpoint {}".format(self.checkpoint["prefix"]) if self.checkpoint else "",
            ("{} step(s) of {} {} at lr {:g} on {}".format(run["steps"], run["optimizer"], run["loss"],
                                                           run["learning_rate"], inputs) if run["steps"] else
             "forward on {}".format(inputs)) if inputs else "initial values only", run["seed"])

    def __repr__(self) -> str:
        return "<Recording {}>".format(self.describe())

    def model(self) -> "RecordedModel":
        return RecordedModel(self)

    # What the proof may change, and what it must take from the recording ------------------

    def replay_options(self, *, seed: int, inputs: Any, placeholders: Optional[List[str]], feeds: Any,
                       **run: Any) -> Tuple[Dict[str, Any], List[np.ndarray], List[str]]:
        """The run the proof replays: ``(options, input arrays, notes)``.
        Options left at their defaults take the recording's values; any other
        must equal them (a UsageError names the option, its value and the
        recording's)."""
        recorded = dict(self.run)
        resolved: Dict[str, Any] = {}
        given = dict(run, seed=seed)
        for key, default in RUN_DEFAULTS.items():
            value = given.get(key, default)
            if value == default or value == recorded[key]:
                resolved[key] = recorded[key]
            elif key == "steps" and value < recorded["steps"]:
                resolved[key] = value  # the first steps of the recorded run
            else:
                raise UsageError("{} must be the recording's ({!r}, as {} was made) or left out; received {}={!r}; "
                                 "record again with the options you want".format(key, recorded[key], self.path, key,
                                                                                value))
        if feeds:
            fixed = {k.split(":")[0]: v for k, v in self.manifest["feeds"].items()}
            differ = [k for k, v in feeds.items() if k.split(":")[0] not in fixed
                      or not np.array_equal(np.asarray(v), np.asarray(fixed[k.split(":")[0]]))]
            if differ:
                raise UsageError("feeds were fixed when the recording {} was made ({}); received feeds for {}".format(
                    self.path, ", ".join("{}={}".format(k, v) for k, v in fixed.items()) or "none",
                    ", ".join(differ)))
        names = [i["name"] for i in self.manifest["inputs"]]
        arrays = [self.arrays[i["array"]] for i in self.manifest["inputs"]]
        if not names and inputs is not None:
            raise UsageError("the recording {} holds no inputs (it was made without them: initial values only); "
                             "received inputs: record again with inputs".format(self.path))
        if placeholders is not None and [p.split(":")[0] for p in placeholders] != names:
            raise UsageError("placeholders must be the recording's inputs ({}) or left out; received {}".format(
                ", ".join(names), ", ".join(placeholders)))
        if isinstance(inputs, dict):
            if sorted(k.split(":")[0] for k in inputs) != sorted(names):
                raise UsageError("inputs must be the recording's ({}) or left out; received inputs named {}".format(
                    ", ".join(names), ", ".join(inputs)))
            inputs = [{k.split(":")[0]: v for k, v in inputs.items()}[n] for n in names]
        if inputs is not None:
            items = list(inputs) if isinstance(inputs, list) else [inputs]
            if len(items) != len(arrays) or not all(_same_input(i, a) for i, a in zip(items, arrays)):
                raise UsageError("inputs must be the recording's batch ({}) or left out: the legacy outputs were "
                                 "recorded on it; received {}".format(
                                     ", ".join("{} {} {}".format(n, a.dtype, "x".join(map(str, a.shape)))
                                               for n, a in zip(names, arrays)),
                                     ", ".join(_describe_input(i) for i in items)))
        notes = ["the legacy side is the " + self.describe()]
        if resolved["steps"] < recorded["steps"]:
            notes.append("the first {} of its {} recorded steps replayed".format(resolved["steps"],
                                                                                 recorded["steps"]))
        return resolved, arrays, notes

    def check_checkpoint(self, path: str) -> str:
        """The recording was made from the checkpoint at ``path`` (its digest),
        or a UsageError; returns the resolved prefix."""

        prefix = resolve(path)
        recorded = self.checkpoint
        if recorded is None:
            raise UsageError("the recording {} was made from the legacy model's initial values, not from a "
                             "checkpoint; received checkpoint={}: record with --checkpoint {}".format(
                                 self.path, path, path))
        digest = checkpoint_digest(prefix)
        if digest != recorded["sha256"]:
            raise UsageError("the recording {} was made from another checkpoint ({}, sha256 {}...); received "
                             "checkpoint={} (sha256 {}...): record again from this one".format(
                                 self.path, recorded["prefix"], recorded["sha256"][:12], path, digest[:12]))
        return prefix


def _same_input(item: Any, array: np.ndarray) -> bool:
    if isinstance(item, tuple):
        return tuple(int(d) for d in item) == tuple(array.shape)
    try:
        value = np.asarray(item)
    except Exception:  # noqa: BLE001 - not an array: not the recorded one
        return False
    return value.shape == array.shape and np.array_equal(value.astype(array.dtype), array)


def _describe_input(item: Any) -> str:
    if isinstance(item, tuple):
        return "shape " + "x".join(map(str, item))
    value = np.asarray(item)
    return "an array {} {}".format(value.dtype, "x".join(map(str, value.shape)))


def read_recording(path: str) -> Recording:
    """A recording written by ``record`` (``compat-init record``).

    Raises:
      UsageError: not a file, not a recording, damaged (a checksum or an
        array does not read), or written by a newer compat_init.
    """
    if not isinstance(path, str) or not os.path.isfile(path):
        raise UsageError("a recording must be an existing file; received {!r}".format(path))

    def bad(reason: str) -> UsageError:
        return UsageError("{} is not a usable recording: {}; make it again with `compat-init record`".format(
            path, reason))

    if not zipfile.is_zipfile(path):
        raise bad("not a zip archive (a recording is one)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if MANIFEST not in names:
                raise bad("it has no {}".format(MANIFEST))
            if archive.getinfo(MANIFEST).file_size > MANIFEST_MOST:
                raise bad("its manifest is {:.1f} MiB, over the {} MiB a manifest takes".format(
                    archive.getinfo(MANIFEST).file_size / 2 ** 20, MANIFEST_MOST >> 20))
            try:
                manifest = json.loads(archive.read(MANIFEST).decode("utf-8"))
            except RecursionError:
                raise bad("its manifest is nested deeper than Python reads") from None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise bad("its manifest is not a compat_init recording's")
            if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
                raise bad("format version {!r}, newer than this compat_init reads ({}): upgrade compat_init".format(
                    manifest.get("version"), VERSION))
            absent = [key for key in REQUIRED if key not in manifest]
            if absent:
                raise bad("its manifest lacks {}".format(", ".join(absent)))
            keys = manifest.get("arrays")
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise bad("its manifest's arrays must be a list of names")
            members = ["arrays/{}.npy".format(key) for key in keys]
            missing = [key for key, member in zip(keys, members) if member not in names]
            if missing:
                raise bad("the array {} is missing".format(printable(missing[0], most=200)))
            inflated = sum(archive.getinfo(m).file_size for m in members)
            most = INFLATE_RATIO * os.path.getsize(path) + INFLATE_FLOOR
            if inflated > most:
                raise bad("its arrays inflate to {:.1f} MiB from a {:.1f} MiB file, past what recorded arrays "
                          "compress to ({}x and {} MiB): refused unread".format(
                              inflated / 2 ** 20, os.path.getsize(path) / 2 ** 20, INFLATE_RATIO,
                              INFLATE_FLOOR >> 20))
            arrays = {key: _read_array(archive, member, bad) for key, member in zip(keys, members)}
    except UsageError:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, UnicodeDecodeError, RuntimeError,
            NotImplementedError, zlib.error) as error:  # encrypted, an unknown compression: not ours
        raise bad("{}: {}".format(type(error).__name__, printable(first_line(error, typed=False), most=200)))
    return Recording(path, manifest, arrays)


def _read_array(archive: zipfile.ZipFile, member: str, bad: Any) -> np.ndarray:
    """One ``.npy`` member, streamed (never inflated whole in memory), its
    header's size checked against the member's declared size first."""
    declared = archive.getinfo(member).file_size
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise bad("{} is a .npy of version {}, which recordings do not write".format(member, version))
        if dtype.hasobject:
            raise bad("{} holds Python objects (a pickle), which a recording never does".format(member))
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else dtype.itemsize
        if size > declared:
            raise bad("{} claims {} values of {} ({:.3g} MiB) in a member of {:.3g} MiB".format(
                member, int(np.prod(shape, dtype=np.int64)), dtype, size / 2 ** 20, declared / 2 ** 20))
        array = np.empty(shape, dtype, order="F" if fortran else "C")
        view = memoryview(array.reshape(-1, order="A").view(np.uint8)) if size else memoryview(b"")  # type: ignore[arg-type]
        done = 0
        while done < size:
            read = f.readinto(view[done:done + (1 << 24)])  # type: ignore[attr-defined]
            if not read:
                raise bad("{} ends after {} of its {} bytes".format(member, done, size))
            done += read
        return array


def is_recording(path: str) -> bool:
    """``path`` is a zip archive with a recording's manifest (cheap: reads the
    directory only)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return MANIFEST in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


class RecordedModel:
    """A recording as the proof's legacy side (the interface ``LegacyModel``
    offers): what was recorded, served back; nothing runs."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        m = recording.manifest
        arrays = recording.arrays
        self.tf = _runtime.tf()
        self.vars = [Var(v["name"], tuple(v["shape"]), v["dtype"], bool(v["trainable"]), i, arrays[v["array"]])
                     for i, v in enumerate(m["variables"])]
        self._on_path = set(v["name"] for v in m["variables"] if v["on_path"])
        self.input_names = [i["name"] for i in m["inputs"]]
        self.output_names = list(m["outputs"]["names"])
        self.training = m["switch"]  #: the switch's name, or None
        self.switch_name = m["switch"]
        #: Checkpoint keys with NaN or infinite values when it was recorded.
        self.nonfinite = list(m.get("nonfinite", []))

    def feeding_variables(self, losses: bool = True) -> Optional[set]:
        return set(self._on_path)  # recorded with the regularization losses' variables

    def flow(self) -> Optional[Flow]:
        """The legacy graph's dataflow as recorded; None in a recording made
        before it was kept, or of a builder without outputs.

        Raises:
          UsageError: a recorded flow that is not one (names no recorded
            variable, parts that are no count).
        """
        data = self.recording.manifest.get("flow")
        if data is None:
            return None
        try:
            return flow_from_dict(data, [v.name for v in self.vars])
        except ValueError as error:
            raise UsageError("{} is not a usable recording: its flow {}; make it again with `compat-init "
                             "record`".format(self.recording.path, error)) from None

    def theory(self, var: Var) -> Tuple[Optional[_fans.Theory], str]:
        entry = self.recording.manifest["variables"][var.index]
        theory = entry.get("theory")
        if theory is None:
            return None, entry.get("why") or "the recording does not say how it was initialized"
        return _fans.Theory(**theory), ""

    def dropout_rates(self) -> Tuple[List[float], int]:
        dropout = self.recording.manifest["dropout"]
        return list(dropout["rates"]), int(dropout["fed"])

    def rounding_noise(self, arrays: Sequence[np.ndarray], training: bool = False, draws: int = 0,
                       seed: int = 0) -> List[float]:
        """As measured when the recording was made."""
        noise = self.recording.manifest["noise"]["training" if training else "inference"]
        if noise is None:
            raise UsageError("the recording {} holds no {}-mode rounding noise".format(
                self.recording.path, "training" if training else "inference"))
        return [float(x) for x in noise]

    def training_noise(self, arrays: Sequence[np.ndarray], trainable: Sequence[int], state: Sequence[int],
                       steps: int, loss: str, from_logits: bool, labels: np.ndarray, optimizer: str,
                       learning_rate: float, training: bool, seed: int) -> List[Dict[str, Any]]:
        """As measured when the recording was made (its first ``steps``)."""
        mode = "training" if training else "inference"
        noise = (self.recording.manifest["training_noise"] or {}).get(mode)
        if not noise or len(noise) < steps:
            raise UsageError("the recording {} holds the rounding noise of {} {}-mode step(s); the proof asked for "
                             "{}".format(self.recording.path, len(noise or []), mode, steps))
        return noise[:steps]

    def candidates_at(self, arrays: Sequence[np.ndarray]) -> Tuple[Dict[str, np.ndarray], List[str]]:
        m = self.recording.manifest
        values = {c["tensor"]: self.recording.arrays[c["array"]] for c in m["candidates"]["tensors"]}
        unread = list(m["candidates"]["unread"])
        if m["candidates"]["left_out"]:
            unread.append("{} more tensor(s) not recorded (over the recording's {} MiB for them)".format(
                m["candidates"]["left_out"], CANDIDATE_BUDGET // 2 ** 20))
        return values, unread

    def activation_after(self, tensor_name: Optional[str]) -> Optional[str]:
        for c in self.recording.manifest["candidates"]["tensors"]:
            if c["tensor"] == tensor_name:
                return c.get("activation")
        return None

    def side(self, arrays: Sequence[np.ndarray]) -> "_RecordedSide":
        return _RecordedSide(self)

    def close(self) -> None:
        pass


class _RecordedSide:
    """Forward, gradients, read and write, served from a recording.  The
    proof's own update of the legacy weights must land on the recorded
    weights after each step (it is the same arithmetic): a check that the
    recording holds this run."""

    def __init__(self, model: RecordedModel) -> None:
        self.model = model
        self.recording = model.recording
        self.current = {v.index: v.value for v in model.vars}
        self.steps = {False: 0, True: 0}

    def _array(self, key: str) -> np.ndarray:
        return self.recording.arrays[key]

    def write(self, values: Dict[int, np.ndarray]) -> None:
        for i, value in values.items():
            self.current[i] = np.asarray(value)

    def read(self, indices: Sequence[int]) -> List[np.ndarray]:
        return [self.current[i] for i in indices]

    def forward(self, training: bool) -> List[np.ndarray]:
        outputs = self.recording.manifest["outputs"]["training" if training else "inference"]
        if outputs is None:
            raise UsageError("the recording {} has no training-mode outputs (its graph has {})".format(
                self.recording.path, "dropout" if self.model.training is not None else "no training switch"))
        return [self._array(k) for k in outputs]

    def gradients(self, loss: str, from_logits: bool, labels: np.ndarray, trainable: Tuple[int, ...],
                  training: bool) -> Tuple[float, float, List[np.ndarray], List[np.ndarray]]:
        m = self.recording.manifest
        trajectory = m["trajectories"].get("training" if training else "inference") or []
        step = self.steps[training]
        if step >= len(trajectory):
            raise UsageError("the recording {} holds {} {} step(s); the proof asked for step {}".format(
                self.recording.path, len(trajectory), "training-mode" if training else "inference-mode", step + 1))
        if step and trajectory[step - 1]["weights"]:  # the proof's update of the step before, as recorded
            for i, key in trajectory[step - 1]["weights"].items():
                if int(i) in self.current and not np.array_equal(self.current[int(i)], self._array(key)):
                    raise UsageError("the recording {} holds another training run than this proof's: after step "
                                     "{}, {} differs from the recorded weights (record again with the proof's "
                                     "options)".format(self.recording.path, step, self.model.vars[int(i)].name))
        if m["run"]["labels"] is None or not np.array_equal(labels, self._array(m["run"]["labels"])):
            raise UsageError("the recording {} was made with other labels (another seed or loss); record again"
                             .format(self.recording.path))
        entry = trajectory[step]
        self.steps[training] += 1
        grads = []
        for i in trainable:
            key = entry["grads"].get(str(i))
            grads.append(self._array(key) if key is not None else np.zeros(self.model.vars[i].shape, np.float32))
        for i, key in entry["state"].items():  # batch norm's moving statistics after the step
            self.current[int(i)] = self._array(key)
        return float(entry["loss"]), float(entry["regularization"]), grads, [self._array(k) for k in entry["outputs"]]

    def regularization(self) -> Optional[float]:
        value = self.recording.manifest["regularization"]
        return None if value is None else float(value)

    def close(self) -> None:
        pass
