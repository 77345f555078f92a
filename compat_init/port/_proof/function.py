"""Function parity of a migration: the port computes what the legacy model
computed, at initialization and after a few training steps.

Both models get the same weights (the legacy model's initial values, copied
into the port's paired weights: with compat_init seeds on both sides they are
bit-equal already), the same input batch, the same loss (built here from each
side's outputs, plus each side's regularization losses) and the same optimizer
steps (SGD, momentum or Adam).  Outputs are compared against their measured
rounding noise (the legacy outputs' largest change when every weight and
input moves by one unit in its last place) times ``NOISE_FACTOR``; losses and
weights after training with a tolerance that has a reason (float32 rounding
of the same operations in another order).  Where they differ, the report says
where: inputs fed in another order, else the first layer of the port (nested
layers included) whose input-dependent output has no counterpart among the
legacy graph's tensors.

A check that cannot conclude says so (``inconclusive``): outputs that do not
depend on the inputs, a loss that does not move, gradients that are all zero.
"""
from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple

import numpy as np

from compat_init._errors import UsageError
from compat_init.port._core.numerics import Comparison, NumpyOptimizer, compare, labels_for, noise_allowance
from compat_init.port._core.pairs import Pair, assemble
from compat_init.port._core.text import first_line
from compat_init.port._proof.locate import locate
from compat_init.port._proof.report import FunctionReport, Step
from compat_init.port._sides.drivers import port_side
from compat_init.port._sides.legacy import LegacyModel
from compat_init.port._sides.port import PortModel


def _vacuous_outputs(names: List[str], values: List[np.ndarray]) -> Optional[str]:
    """Why equal outputs would prove nothing: every output is the same for
    every row of the batch, or a saturated softmax.  None when one of them
    carries information."""
    reasons = []
    for name, value in zip(names, values):
        value = np.asarray(value, np.float64)
        if value.ndim >= 1 and value.shape[0] > 1 and np.all(value == value[:1]):
            reasons.append("{} is the same for every row of the batch (it does not depend on the inputs)".format(name))
        elif value.ndim >= 2 and value.shape[-1] > 1 and np.all(value >= 0) and np.allclose(
                value.sum(-1), 1.0, atol=1e-3) and np.all(value.max(-1) >= 1.0 - 1e-6):
            reasons.append("{} is a saturated softmax (every row puts all its mass on one class: differences "
                           "upstream would not show)".format(name))
        else:
            return None
    return "the legacy output " + "; ".join(reasons) + ", so equal outputs prove nothing" if reasons else None


def _idle_dropouts(port: PortModel, traced: List[float]) -> str:
    """Words for the port's dropout layers its training-mode call never
    activates (their rates are missing from the trace): which, and the
    argument of its call that would switch them; "" when none."""
    left = list(traced)
    idle = []
    for name, rate in port.dropout_layers():
        if rate in left:
            left.remove(rate)
        else:
            idle.append("Dropout({:g}) ({})".format(rate, name))
    if not idle:
        return ""
    words = "the port holds {} that the call the proof makes ({}=True) never activates".format(
        ", ".join(idle), port.training_argument)
    switches = port.training_switches()
    if switches:
        return words + ": its call takes {}; pass training_argument={!r} (--training-arg {}) to switch it".format(
            " and ".join(switches), switches[0], switches[0])
    return words + " (does the call pass its training argument down to them?)"


def _training_parts_as_notes(report: FunctionReport) -> None:
    """A forward-only proof: regularization and dropout differences are
    noted, not failures (a port converted to serve drops them on purpose)."""
    if report.regularization is not None and not report.regularization.passed:
        report.notes.append("forward-only: the regularization losses differ ({}), not a failure".format(
            report.regularization.describe()))
        report.regularization = None
    if report.dropout is not None and not report.dropout.passed:
        report.notes.append("forward-only: the dropout rates differ (legacy {} vs port {}), not a failure".format(
            report.dropout_rates[0] or "none", report.dropout_rates[1] or "none"))
        report.dropout = None


def _looks_like_probabilities(value: np.ndarray) -> bool:
    value = np.asarray(value, np.float64)
    return bool(np.all(value >= 0) and np.allclose(value.sum(-1), 1.0, atol=1e-3))


def check_function(legacy: LegacyModel, port: PortModel, pairs: List[Pair], arrays: List[np.ndarray], *,
                   seed: int, steps: int = 0, loss: str = "categorical_crossentropy", optimizer: str = "sgd",
                   learning_rate: float = 0.01, from_logits: bool = False,
                   forward_only: bool = False, precision: str = "float32") -> FunctionReport:
    """Forward (and, with ``steps``, training) equivalence of two built
    models, both starting from the legacy model's initial values.
    ``forward_only``: what acts only in training (regularization, dropout,
    training-mode batch norm) is reported as notes, not compared."""
    tf = port.tf
    old = legacy.side(arrays)
    new = port_side(port, arrays)
    new.write(assemble(pairs, [p.to_port(p.legacy.value) for p in pairs]))
    report = FunctionReport({name: tuple(x.shape) for name, x in zip(legacy.input_names, arrays)},
                            [], [], loss, optimizer, float(learning_rate))
    try:
        before = old.forward(False)
    except tf.errors.InvalidArgumentError as error:
        raise UsageError("inputs were refused by the legacy graph: {} (check the values: token ids within the "
                         "vocabulary, shapes the placeholders take)".format(first_line(error))) from None
    try:
        after = new.forward(False)
    except UsageError:
        raise
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
        raise UsageError("the port cannot run on the inputs ({}): {}".format(
            ", ".join("shape {} {}".format(x.shape, x.dtype) for x in arrays), first_line(error))) from None
    names = legacy.output_names
    noise = legacy.rounding_noise(arrays, False, seed=seed)
    allowed = [noise_allowance(x, b, precision) for x, b in zip(noise, before)]
    report.noise = {n: x for n, x in zip(names, noise)}
    report.outputs = [compare(n, b, a, allowed_abs=x) for n, a, b, x in zip(names, before, after, allowed)]
    if len(before) != len(after):
        report.outputs.append(Comparison("output count", (len(after),), math.inf, math.inf, 0.0, False,
                                         (len(before),)))
    # What training=False hides: regularization losses and dropout rates.
    reg_old, reg_new = old.regularization(), new.regularization()
    legacy_rates, fed = legacy.dropout_rates()
    port_rates, untraced = port.dropout_rates()
    rates = (legacy_rates, port_rates)
    report.dropout_rates = rates
    # A graph built for inference (is_training=False) holds no dropout op and
    # no switch to turn one on: it says nothing of its training-time parts.
    # Where the port's rates could not be read (``untraced``: Keras 3 off
    # TensorFlow), nothing says its regularization belongs to training it:
    # not comparable either, never a guessed DIFFER.
    inference_graph = not rates[0] and not fed and legacy.training is None
    if reg_old is None and reg_new is not None and inference_graph and (rates[1] or untraced):
        report.notes.append("regularization not comparable: the legacy graph was built for inference (no dropout op, "
                            "no training switch) and holds no regularization loss; the port's total {:.6g} is not "
                            "checked".format(reg_new))
    elif reg_old is not None or reg_new is not None:
        report.regularization = compare("total", np.float64(reg_new or 0.0), np.float64(reg_old or 0.0))
    idle = "" if untraced else _idle_dropouts(port, rates[1])  # untraced: no rates to miss
    if idle:
        report.notes.append(idle)
    if untraced:
        report.notes.append("dropout rates not compared: " + untraced)
    elif fed:
        report.notes.append("{} legacy dropout(s) take their rate from a fed placeholder (keep_prob): their rates "
                            "are not compared".format(fed))
    elif not rates[0] and rates[1] and legacy.training is None:
        # A graph built for inference (is_training=False) holds no dropout op
        # and no switch to turn one on: it says nothing of its training rates.
        report.notes.append("dropout rates not comparable: the legacy graph was built for inference (no dropout op, "
                            "no training switch); the port's {} are not checked".format(rates[1]))
    elif rates[0] or rates[1]:
        same = rates[0] == rates[1]
        report.dropout = Comparison("dropout rates", (len(rates[1]),), 0.0 if same else math.inf, 0.0, 0.0, same,
                                    None if same else (len(rates[0]),))
    if not all(o.passed for o in report.outputs):
        report.decided_by = "forward"
        report.divergence = locate(legacy, port, arrays, before, allowed)
        return report
    if forward_only:
        _training_parts_as_notes(report)
    if report.failed and report.dropout is not None and not report.dropout.passed and idle:
        report.divergence = idle  # the reason of the verdict, said once
        report.notes.remove(idle)
    if report.failed:
        report.decided_by = "regularization" if report.regularization is not None and not \
            report.regularization.passed else "dropout rates"
        return report
    vacuous = _vacuous_outputs(names, before)
    if vacuous:
        report.reasons.append(vacuous)
        report.hints.append("use inputs whose rows differ (a shape draws a random batch), and outputs before "
                            "their final softmax")
    training = False
    stateful = port.training_layers()
    if forward_only:
        report.training_mode = "not compared: a forward-only proof (forward_only, --forward-only)" if stateful else ""
        report.decided_by = "forward"
        return report
    if legacy.training is not None and not rates[0] and stateful:
        training = True
        report.training_mode = ("outputs and batch-norm moving statistics compared in training mode at every step "
                                "(the legacy switch {} fed True; no dropout)".format(legacy.switch_name))
        old_t, new_t = old.forward(True), new.forward(True)
        # Keras moves its batch-norm statistics on every training-mode call;
        # the legacy graph only when its update ops run: put them back.
        state = [p for p in pairs if not p.legacy.trainable]
        new.write(assemble(state, [p.to_port(v) for p, v in zip(state, old.read([p.legacy.index for p in state]))]))
        noise_t = legacy.rounding_noise(arrays, True, seed=seed)
        report.noise.update({n + " (training)": x for n, x in zip(names, noise_t)})
        report.outputs += [compare(n + " (training)", b, a, allowed_abs=noise_allowance(x, a, precision))
                           for n, a, b, x in zip(names, old_t, new_t, noise_t)]
        if not all(o.passed for o in report.outputs):
            report.decided_by = "forward (training mode)"
            return report
    elif stateful:
        report.training_mode = ("not compared: {}".format(
            "the legacy graph has no boolean training placeholder to switch" if legacy.training is None
            else "dropout makes training-mode outputs random (the rates are compared instead)"))
    if steps:
        if not before or np.asarray(before[0]).dtype.kind != "f":
            raise UsageError("steps need a floating-point first output to build the loss on; received dtype "
                             "{}".format(np.asarray(before[0]).dtype))
        if loss != "mse" and not from_logits and not _looks_like_probabilities(before[0]):
            report.reasons.append("the first output is not a probability distribution (values below 0 or rows not "
                                  "summing to 1), so {} on it measures nothing sensible".format(loss))
            report.hints.append("outputs are logits: pass from_logits=True (--from-logits), or loss='mse'")
            report.decided_by = "training"
            return report
        _train(report, legacy, port, old, new, pairs, steps, loss, from_logits, optimizer, learning_rate, seed,
               np.asarray(before[0]).shape, training, arrays, precision)
    if not report.decided_by:
        report.decided_by = "training" if steps else "forward"
    return report


def _train(report: FunctionReport, legacy: LegacyModel, port: PortModel, old: Any, new: Any, pairs: List[Pair],
           steps: int, loss: str, from_logits: bool, optimizer: str, learning_rate: float, seed: int,
           output_shape: Tuple[int, ...], training: bool, arrays: List[np.ndarray],
           precision: str = "float32") -> None:
    trainable = [p for p in pairs if p.legacy.trainable]
    state = [p for p in pairs if not p.legacy.trainable]
    idx_old = tuple(p.legacy.index for p in trainable)
    idx_new = tuple(p.port.index for p in trainable)
    shapes = [p.legacy.shape for p in trainable]
    update_old = NumpyOptimizer(optimizer, learning_rate, shapes)
    update_new = NumpyOptimizer(optimizer, learning_rate, [p.part_shape() for p in trainable])
    labels = labels_for(loss, output_shape, seed)
    noise = legacy.training_noise(arrays, idx_old, [p.legacy.index for p in state], steps, loss, from_logits,
                                  labels, optimizer, learning_rate, training, seed)

    def allow(measured: float, legacy_value: Any) -> float:
        return noise_allowance(measured, legacy_value, precision)
    losses = []
    moved = False
    for step in range(1, steps + 1):
        loss_v1, reg_v1, grads_v1, out_v1 = old.gradients(loss, from_logits, labels, idx_old, training)
        loss_v2, reg_v2, grads_v2, out_v2 = new.gradients(loss, from_logits, labels, idx_new, training)
        moved = moved or any(np.any(np.asarray(g) != 0) for g in grads_v1)
        weights_v1 = update_old(old.read(idx_old), grads_v1)
        # The port's side in the legacy shapes (a reshaped pair), so one update serves both.
        weights_v2 = update_new([p.to_legacy(w) for p, w in zip(trainable, new.read(idx_new))],
                                [p.to_legacy(np.asarray(g)) for p, g in zip(trainable, grads_v2)])
        old.write(dict(zip(idx_old, weights_v1)))
        new.write(assemble(trainable, [p.to_port(w) for p, w in zip(trainable, weights_v2)]))
        measured = noise[step - 1]
        record = Step(step, loss_v1, loss_v2, compare("loss", np.array(loss_v2), np.array(loss_v1),
                                                      allowed_abs=allow(measured["loss"], loss_v1)))
        if reg_v1 or reg_v2:
            record.regularization = compare("regularization loss", np.array(reg_v2), np.array(reg_v1),
                                            allowed_abs=allow(measured["regularization"], reg_v1))
        if training:
            record.outputs = [compare(n + " (training)", b, a, allowed_abs=allow(x, a))
                              for n, a, b, x in zip(legacy.output_names, out_v2, out_v1, measured["outputs"])]
        for p, w_new, w_old in zip(trainable, weights_v2, weights_v1):
            record.weights.append(compare(p.legacy.name, w_new, p.part(w_old),
                                          allowed_abs=allow(measured["weights"][str(p.legacy.index)], w_old)))
        if state:
            for p, s_new, s_old in zip(state, new.read([p.port.index for p in state]),
                                       old.read([p.legacy.index for p in state])):
                record.weights.append(compare(p.legacy.name, p.to_legacy(s_new), p.part(s_old),
                                              allowed_abs=allow(measured["state"][str(p.legacy.index)], s_old)))
        report.steps.append(record)
        losses.append(loss_v1)
        if not record.passed:
            bad = [w.name for w in record.weights if not w.passed]
            what = ("the first weight that differs is {}".format(bad[0]) if bad else
                    "the regularization losses differ" if record.regularization is not None
                    and not record.regularization.passed else
                    "the training-mode outputs differ" if record.outputs and not all(o.passed for o in record.outputs)
                    else "the losses differ")
            report.divergence = (
                "the outputs agree before training, and after step {} {}: check the loss the port trains on, its "
                "regularizers, its optimizer and learning rate, and layers that act only in training (dropout, "
                "batch normalization)".format(step, what))
            report.decided_by = "training"
            return
    report.decided_by = "training"
    if not moved:
        report.reasons.append("no gradient reached any paired weight in {} step(s): nothing trained, so equal "
                              "weights prove nothing".format(steps))
    elif len(set(losses)) == 1 and steps > 1:
        report.reasons.append("the loss did not change over {} steps ({:.6g} each): nothing trained".format(
            steps, losses[0]))
    if report.reasons:
        report.hints.append("use loss='mse', or from_logits=True with outputs before their softmax, or a larger "
                            "learning rate")
