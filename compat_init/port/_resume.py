"""Training resumed where the legacy run stopped: a TF 1 optimizer's slots in
the port's Keras optimizer, and the steps both sides then take, compared."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init.port._convert import load
from compat_init.port._core.inputs import fit_inputs, parse_inputs
from compat_init.port._core.numerics import compare, labels_for, loss_value, regularization_sum
from compat_init.port._core.pairing import pair
from compat_init.port._files.reading import Checkpoint, CheckpointError, read
from compat_init.port._sides.drivers import port_side
from compat_init.port._sides.legacy import LegacyModel, refuse_recording
from compat_init.port._sides.port import PortModel


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
        fused = [p.legacy.name for p in trainable if p.split or p.concat]
        if fused:
            raise UsageError("the optimizer state of a variable cut into several port weights, or of several "
                             "joined into one, is not carried (its slots are per variable): {}; convert without "
                             "--optimizer-state".format(", ".join(fused[:6])))
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
            diffs = [compare(p.legacy.name, p.to_legacy(b), p.part(a), 1.0 + step, floor)
                     for p, a, b in zip(trainable, old, new)]
            worst = max(diffs, key=lambda c: c.max_abs / max(c.tolerance, 1e-30))
            records.append({"step": step, "loss_v1": float(loss_v1), "loss_v2": float(loss_v2),
                            "max_weight_diff": worst.max_abs, "weight": worst.name, "tolerance": worst.tolerance,
                            "passed": all(c.passed for c in diffs),
                            "differ": [c.name for c in diffs if not c.passed]})
        return keras_optimizer, records, notes + report.notes
    finally:
        legacy.close()
