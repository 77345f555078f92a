"""A recording written: the legacy model run once where its code runs (TF 1.15
included), and what the proof reads from it written to one zip archive,
whole or not at all (``record``).  Read back by ``_sides.recorded``."""
from __future__ import annotations

import io
import json
import os
import platform
import sys
import zipfile
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init._files import write_whole
from compat_init.port._core.inputs import fit_inputs, name_inputs, parse_inputs
from compat_init.port._core.numerics import NumpyOptimizer, labels_for
from compat_init.port._core.options import check_run
from compat_init.port._files.reading import checkpoint_digest
from compat_init.port._sides.legacy import LegacyModel
from compat_init.port._sides.recorded import CANDIDATE_BUDGET, FORMAT, MANIFEST, Recording, VERSION


class _Arrays:
    """Arrays and their keys, for the manifest."""

    def __init__(self) -> None:
        self.arrays: Dict[str, np.ndarray] = {}

    def add(self, key: str, value: Any) -> str:
        array = np.asarray(value)
        if array.dtype == object:
            raise UsageError("the legacy model returned a value numpy holds as objects ({}); record numeric "
                             "tensors".format(key))
        self.arrays[key] = np.ascontiguousarray(array)
        return key


def record(v1_builder: Callable[[], Any], out: str, *, inputs: Any = None, checkpoint: Optional[str] = None,
           steps: int = 0, loss: str = "categorical_crossentropy", optimizer: str = "sgd",
           learning_rate: float = 0.01, from_logits: bool = False, seed: int = 0,
           placeholders: Optional[List[str]] = None, feeds: Optional[Dict[str, Any]] = None,
           progress: Optional[Callable[[str], None]] = None) -> Recording:
    """Runs the legacy model once, as the migration proof would, and writes
    what the proof reads from it to ``out``: ``check_migration(recording,
    port_builder)`` then proves the port on another TensorFlow (TF 2) with no
    legacy code.

    Args:
      v1_builder: The legacy model's builder (as ``check_migration`` takes
        it), or ``port.meta_graph(...)``.
      out: The file to write (whole, or nothing; never over an input).
      inputs: The batch the outputs are recorded on (as ``check_migration``
        takes it: an array, a shape, a list, or a dict by placeholder).
      checkpoint: Record at this checkpoint's tensors (its digest is kept:
        the proof refuses another checkpoint).
      steps: Record that many training steps (each step's loss, gradients,
        outputs, and the weights after it) with ``loss``, ``optimizer``,
        ``learning_rate`` and ``from_logits`` (as ``check_migration``).
      loss: As ``check_migration``.
      optimizer: As ``check_migration``.
      learning_rate: As ``check_migration``.
      from_logits: As ``check_migration``.
      seed: The build's seed, and the drawn batch's and the labels'.
      placeholders: As ``check_migration``.
      feeds: As ``check_migration``: fixed in the recording.
      progress: Called with a line of text at each stage.

    Returns:
      The :class:`Recording` written.

    Raises:
      UsageError: bad arguments (as ``check_migration``), or ``out`` cannot
        be written.
    """

    say = progress or (lambda text: None)
    if not isinstance(out, str) or not out:
        raise UsageError("out must be a file path; received out={!r}".format(out))
    folder = os.path.dirname(os.path.abspath(out))
    if os.path.isdir(out) or not os.path.isdir(folder):
        raise UsageError("out must be a file path in an existing folder; received out={}".format(out))
    if steps and inputs is None:
        raise UsageError("steps needs inputs: the training steps run on a batch; received steps={!r} without "
                         "inputs".format(steps))
    seed, steps, learning_rate = check_run(seed, steps, learning_rate, loss, optimizer)
    named = isinstance(inputs, dict)
    inputs, placeholders, _ = name_inputs(inputs, placeholders, None)
    arrays = parse_inputs(inputs, seed) if inputs is not None else []
    say("building the legacy model")
    legacy = LegacyModel(v1_builder, seed, need_outputs=inputs is not None, feeds=feeds, placeholders=placeholders)
    w = _Arrays()
    try:
        notes: List[str] = list(legacy.notes)
        if inputs is not None:
            arrays, fitted = fit_inputs(arrays, legacy)
            notes += fitted
        ckpt = None
        if checkpoint is not None:
            say("reading the checkpoint")
            prefix = legacy.load_checkpoint(checkpoint)
            ckpt = {"prefix": os.path.basename(prefix), "sha256": checkpoint_digest(prefix)}
        on_path = legacy.feeding_variables() if inputs is not None else None
        variables = []
        for v in legacy.vars:
            theory, why = legacy.theory(v)
            variables.append({"name": v.name, "shape": list(v.shape), "dtype": v.dtype, "trainable": v.trainable,
                              "on_path": on_path is None or v.name in on_path,
                              "array": w.add("variables/{}".format(v.index), v.value),
                              "theory": dict(theory._asdict()) if theory is not None else None, "why": why})
        manifest: Dict[str, Any] = {
            "format": FORMAT, "version": VERSION,
            "made_with": _versions(),
            "legacy": getattr(v1_builder, "spec", "") or "{}:{}".format(
                getattr(v1_builder, "__module__", "?"), getattr(v1_builder, "__qualname__", type(v1_builder).__name__)),
            "checkpoint": ckpt,
            "nonfinite": list(legacy.nonfinite),
            "run": {"seed": seed, "steps": steps, "loss": loss, "optimizer": optimizer,
                    "learning_rate": learning_rate, "from_logits": bool(from_logits), "labels": None},
            "inputs": [{"name": name, "array": w.add("inputs/{}".format(i), a), "dtype": a.dtype.name,
                        "shape": list(a.shape)} for i, (name, a) in enumerate(zip(legacy.input_names, arrays))],
            "named_inputs": named,
            "input_notes": notes,
            "feeds": {t.op.name: np.asarray(v).tolist() for t, v in legacy.feed.items()},
            "switch": legacy.switch_name,
            "variables": variables,
            "outputs": {"names": list(legacy.output_names), "inference": None, "training": None},
            "regularization": None,
            "noise": {"inference": None, "training": None},
            "training_noise": None,
            "dropout": {"rates": [], "fed": 0},
            "candidates": {"tensors": [], "unread": [], "left_out": 0},
            "trajectories": {},
            "flow": None,
        }
        flow = legacy.flow()
        if flow is not None:
            manifest["flow"] = flow.to_dict()
        if inputs is not None:
            _record_function(manifest, w, legacy, arrays, on_path or set(), steps, loss, optimizer, learning_rate,
                             from_logits, seed, say)
    finally:
        legacy.close()
    manifest["arrays"] = sorted(w.arrays)
    say("writing {}".format(out))
    _write(out, manifest, w.arrays)
    return Recording(out, manifest, w.arrays)


def _record_function(manifest: Dict[str, Any], w: _Arrays, legacy: Any, arrays: List[np.ndarray], on_path: set,
                     steps: int, loss: str, optimizer: str, learning_rate: float, from_logits: bool, seed: int,
                     say: Callable[[str], None]) -> None:
    """The outputs, the dropout rates, the regularization loss, the
    locator's tensors and the training steps, into the manifest."""

    side = legacy.side(arrays)
    say("running the legacy model on the batch")
    inference = side.forward(False)
    rates, fed = legacy.dropout_rates()
    manifest["outputs"]["inference"] = [w.add("outputs/inference/{}".format(i), v) for i, v in enumerate(inference)]
    if legacy.training is not None and not rates:
        manifest["outputs"]["training"] = [w.add("outputs/training/{}".format(i), v)
                                           for i, v in enumerate(side.forward(True))]
    say("measuring the outputs' rounding noise")
    manifest["noise"] = {"inference": legacy.rounding_noise(arrays, False, seed=seed), "training": None}
    if manifest["outputs"]["training"] is not None:
        manifest["noise"]["training"] = legacy.rounding_noise(arrays, True, seed=seed)
    manifest["regularization"] = side.regularization()
    manifest["dropout"] = {"rates": rates, "fed": fed}
    candidates, unread = legacy.candidates_at(arrays)
    kept: List[Dict[str, Any]] = []
    left_out, size = 0, 0
    for name in candidates:
        value = np.asarray(candidates[name])
        if size + value.nbytes > CANDIDATE_BUDGET:
            left_out += 1
            continue
        size += value.nbytes
        kept.append({"tensor": name, "array": w.add("candidates/{}".format(len(kept)), value),
                     "activation": legacy.activation_after(name)})
    manifest["candidates"] = {"tensors": kept, "unread": unread, "left_out": left_out}
    if not steps:
        return
    if np.asarray(inference[0]).dtype.kind != "f":
        raise UsageError("steps need a floating-point first output to build the loss on; received dtype {}".format(
            np.asarray(inference[0]).dtype))
    labels = labels_for(loss, tuple(np.asarray(inference[0]).shape), seed)
    manifest["run"]["labels"] = w.add("labels", labels)
    manifest["training_noise"] = {}
    for mode in [False, True] if manifest["outputs"]["training"] is not None else [False]:
        name = "training" if mode else "inference"
        manifest["trajectories"][name] = _trajectory(
            w, legacy, side, mode, steps, loss, from_logits, labels, optimizer, learning_rate, on_path, say)
        say("measuring the {}-mode training run's rounding noise".format(name))
        manifest["training_noise"][name] = legacy.training_noise(
            arrays, [v.index for v in legacy.vars if v.trainable and v.name in on_path],
            [v.index for v in legacy.vars if not v.trainable and v.name in on_path], steps, loss, from_logits,
            labels, optimizer, learning_rate, mode, seed)


def _trajectory(w: _Arrays, legacy: Any, side: Any, training: bool, steps: int, loss: str, from_logits: bool,
                labels: np.ndarray, optimizer: str, learning_rate: float, on_path: set,
                say: Callable[[str], None]) -> List[Dict[str, Any]]:
    """``steps`` training steps from the recorded start, as the proof takes
    them (its own optimizer arithmetic, on every trainable variable the
    outputs read)."""
    start = {v.index: v.value for v in legacy.vars}
    side.write(start)
    mode = "training" if training else "inference"
    trainable = tuple(v.index for v in legacy.vars if v.trainable and v.name in on_path)
    state = [v.index for v in legacy.vars if not v.trainable and v.name in on_path]
    update = NumpyOptimizer(optimizer, learning_rate, [legacy.vars[i].shape for i in trainable])
    entries = []
    for step in range(1, steps + 1):
        say("{}-mode training step {} of {}".format(mode, step, steps))
        value, reg, grads, outputs = side.gradients(loss, from_logits, labels, trainable, training)
        new = update(side.read(trainable), grads)
        side.write(dict(zip(trainable, new)))
        prefix = "steps/{}/{}/".format(mode, step)
        entries.append({
            "loss": float(value), "regularization": float(reg),
            "grads": {str(i): w.add(prefix + "grad/{}".format(i), g) for i, g in zip(trainable, grads)},
            "outputs": [w.add(prefix + "output/{}".format(k), o) for k, o in enumerate(outputs)],
            "weights": {str(i): w.add(prefix + "weight/{}".format(i), x) for i, x in zip(trainable, new)},
            "state": {str(i): w.add(prefix + "state/{}".format(i), x) for i, x in zip(state, side.read(state))},
        })
    side.write(start)
    return entries


def _versions() -> Dict[str, str]:
    from compat_init import __version__

    tf = _runtime.tf()
    return {"compat_init": __version__, "tensorflow": tf.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": sys.platform}


def _write(out: str, manifest: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> None:
    """The archive staged beside ``out`` and renamed into place: whole, or
    nothing (a failure leaves ``out`` as it was)."""

    def write(temporary: str) -> None:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            # Infinite bounds and a diverged loss as Python's json writes and reads them (Infinity, NaN)
            archive.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
            for key, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, allow_pickle=False)
                archive.writestr("arrays/{}.npy".format(key), buffer.getvalue())

    write_whole(out, write, ".rec.tmp")
