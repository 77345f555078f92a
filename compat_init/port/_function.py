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
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init.port._core.numerics import (
    Comparison,
    NOISE_DRAWS,
    NOISE_FACTOR,
    NumpyOptimizer,
    TRAINING_NOISE_DRAWS,
    change,
    compare,
    dense_gradient,
    labels_for,
    largest_abs,
    last_bit,
    loss_value,
    noise_allowance,
    regularization_sum,
)
from compat_init.port._core.options import PRECISIONS
from compat_init.port._core.pairing import Pair
from compat_init.port._core.text import first_line, shape_text
from compat_init.port._keras import PortModel, to_numpy
from compat_init.port._legacy import LegacyModel


TOLERANCE_REASON = (
    "outputs: |a - b| <= {factor} x the measured rounding noise (the largest change of the legacy outputs when its "
    "weights and inputs move by one unit in the last place, {draws} random draws; at least {factor} ulp of the "
    "output's scale); training steps: the loss, each weight and each training-mode output within {factor} x the "
    "change the same perturbations ({training} draws) make to the legacy training run at that step").format(
    factor=NOISE_FACTOR, draws=NOISE_DRAWS, training=TRAINING_NOISE_DRAWS)


@dataclass
class Step:
    """After one training step."""

    step: int
    loss_v1: float
    loss_v2: float
    loss: Comparison
    weights: List[Comparison] = field(default_factory=list)
    regularization: Optional[Comparison] = None
    outputs: List[Comparison] = field(default_factory=list)  #: training-mode outputs (batch norm)

    @property
    def passed(self) -> bool:
        return (self.loss.passed and all(w.passed for w in self.weights) and all(o.passed for o in self.outputs)
                and (self.regularization is None or self.regularization.passed))


@dataclass
class FunctionReport:
    """Forward and training equivalence of a legacy model and its port.

    ``status``: ``"pass"``, ``"fail"`` or ``"inconclusive"`` (``reasons``
    say why; ``hints`` what to change); ``decided_by``: the part that set it.
    """

    inputs: Dict[str, Tuple[int, ...]]
    outputs: List[Comparison]
    steps: List[Step]
    loss: str
    optimizer: str
    learning_rate: float
    tolerance: str = TOLERANCE_REASON
    divergence: Optional[str] = None  #: where they differ, in plain words
    regularization: Optional[Comparison] = None
    dropout: Optional[Comparison] = None  #: the two sides' dropout rates
    dropout_rates: Tuple[List[float], List[float]] = ([], [])
    training_mode: str = ""  #: what was compared in training mode, or why not
    reasons: List[str] = field(default_factory=list)  #: why inconclusive
    hints: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    decided_by: str = ""
    #: Each output's measured rounding noise (the largest change under
    #: last-bit perturbations of the legacy weights and inputs).
    noise: Dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        checks = list(self.outputs) + [c for c in (self.regularization, self.dropout) if c is not None]
        return any(not c.passed for c in checks) or any(not s.passed for s in self.steps)

    @property
    def status(self) -> str:
        if self.failed:
            return "fail"
        if self.reasons or not self.outputs:
            return "inconclusive"
        return "pass"

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["status"] = self.status
        return data

    def __str__(self) -> str:
        verdict = {"pass": "same function", "fail": "DIFFERENT FUNCTION", "inconclusive": "INCONCLUSIVE"}
        lines = ["function: {} input(s) {}; {}".format(
            len(self.inputs), ", ".join("{} {}".format(k, shape_text(v)) for k, v in self.inputs.items()),
            verdict[self.status])]
        for o in self.outputs:
            lines.append("  output " + o.describe())
        if self.regularization is not None:
            lines.append("  regularization loss " + self.regularization.describe())
        if self.dropout is not None:
            lines.append("  dropout rates: legacy {} vs port {}: {}".format(
                self.dropout_rates[0] or "none", self.dropout_rates[1] or "none",
                "agree" if self.dropout.passed else "DIFFER"))
        if self.training_mode:
            lines.append("  training mode: " + self.training_mode)
        for s in self.steps:
            worst = max(s.weights, key=lambda w: w.max_abs / max(w.tolerance, 1e-30)) if s.weights else None
            lines.append("  step {} ({} {}, lr {:g}): loss v1 {:.6g} v2 {:.6g}{}: {}".format(
                s.step, self.optimizer, self.loss, self.learning_rate, s.loss_v1, s.loss_v2,
                "; largest weight diff {:.3g} ({})".format(worst.max_abs, worst.name) if worst else "",
                "agree" if s.passed else "DIFFER"))
            for o in s.outputs:
                if not o.passed:
                    lines.append("    training-mode " + o.describe())
        if self.divergence:
            lines.append("  where: " + self.divergence)
        for reason in self.reasons:
            lines.append("  inconclusive: " + reason)
        for hint in self.hints:
            lines.append("  hint: " + hint)
        for note in self.notes:
            lines.append("  note: " + note)
        lines.append("  tolerance: " + self.tolerance)
        return "\n".join(lines)


class _GraphSide:
    """A model living in a v1 graph and Session (the legacy model; the port on
    TF 1.x or without eager execution)."""

    def __init__(self, tf: Any, graph: Any, session: Any, handles: List[Any], feed: Any,
                 outputs: Any, regularization: Any, updates: Any) -> None:
        self.tf, self.graph, self.session, self.handles = tf, graph, session, handles
        self.feed_for = feed  #: training -> feed dict
        self.outputs_for = outputs  #: training -> output tensors
        self.regularization_for = regularization  #: training -> list of loss tensors
        self.updates_for = updates  #: training -> update ops
        with graph.as_default():
            self.fed = [tf.compat.v1.placeholder(h.dtype.base_dtype, h.shape) for h in handles]
            self.assign = [h.assign(f) for h, f in zip(handles, self.fed)]
        self.built: Dict[Any, Any] = {}

    def write(self, values: Dict[int, np.ndarray]) -> None:
        if values:
            self.session.run([self.assign[i] for i in values],
                             feed_dict={self.fed[i]: v for i, v in values.items()})

    def read(self, indices: Sequence[int]) -> List[np.ndarray]:
        return self.session.run([self.handles[i] for i in indices]) if indices else []

    def forward(self, training: bool) -> List[np.ndarray]:
        return self.session.run(self.outputs_for(training), feed_dict=self.feed_for(training))

    def _training_ops(self, key: Any, trainable: Tuple[int, ...], training: bool) -> Any:
        tf = self.tf
        if key not in self.built:
            loss_name, from_logits, labels_dtype = key[:3]
            with self.graph.as_default():
                labels = tf.compat.v1.placeholder(labels_dtype, name="compat_init_labels")
                outputs = self.outputs_for(training)
                data = loss_value(tf, loss_name, labels, outputs[0], from_logits)
                regs = self.regularization_for(training)
                reg = regularization_sum(tf, regs)
                total = data + reg
                variables = [self.handles[i] for i in trainable]
                grads = [dense_gradient(tf, g, v) for g, v in zip(tf.gradients(total, variables), variables)]
                self.built[key] = (labels, total, reg, grads, outputs, list(self.updates_for(training)))
        return self.built[key]

    def gradients(self, loss: str, from_logits: bool, labels: np.ndarray, trainable: Tuple[int, ...],
                  training: bool) -> Tuple[float, float, List[np.ndarray], List[np.ndarray]]:
        dtype = self.tf.int64 if labels.dtype.kind in "iu" else self.tf.float32
        ph, total, reg, grads, outputs, updates = self._training_ops(
            (loss, from_logits, dtype, trainable, training), trainable, training)
        feed = dict(self.feed_for(training))
        feed[ph] = labels
        value, reg_value, grad_values, output_values = self.session.run([total, reg, grads, outputs], feed_dict=feed)
        if updates:  # batch norm's moving statistics, from the same batch and the same weights
            self.session.run(updates, feed_dict=feed)
        return float(value), float(reg_value), grad_values, output_values

    def regularization(self) -> Optional[float]:
        with self.graph.as_default():
            regs = self.regularization_for(False)
        if not regs:
            return None
        return float(sum(np.sum(r) for r in self.session.run(regs, feed_dict=self.feed_for(False))))

    def close(self) -> None:
        self.session.close()


class _EagerSide:
    """The port, eagerly (TF 2)."""

    def __init__(self, tf: Any, port: PortModel, arrays: List[np.ndarray]) -> None:
        self.tf, self.port, self.arrays = tf, port, arrays

    def write(self, values: Dict[int, np.ndarray]) -> None:
        for i, value in values.items():
            self.port.weights[i].assign(value)

    def read(self, indices: Sequence[int]) -> List[np.ndarray]:
        return [np.asarray(self.port.weights[i].numpy()) for i in indices]

    def forward(self, training: bool) -> List[np.ndarray]:
        return [np.asarray(o) for o in self.port.call(self.arrays, training)]

    def _losses(self) -> List[Any]:
        return list(getattr(self.port.model, "losses", []) or [])

    def gradients(self, loss: str, from_logits: bool, labels: np.ndarray, trainable: Tuple[int, ...],
                  training: bool) -> Tuple[float, float, List[np.ndarray], List[np.ndarray]]:
        tf = self.tf
        variables = [self.port.weights[i] for i in trainable]
        with tf.GradientTape() as tape:
            outputs = self.port.call(self.arrays, training)
            data = loss_value(tf, loss, tf.constant(labels), outputs[0], from_logits)
            regs = self._losses()
            reg = regularization_sum(tf, regs)
            total = data + reg
        grads = [np.asarray(dense_gradient(tf, g, w)) for g, w in zip(tape.gradient(total, variables), variables)]
        return float(total), float(reg), grads, [np.asarray(o) for o in outputs]

    def regularization(self) -> Optional[float]:
        self.port.call(self.arrays, False)  # Keras 2 collects a call's losses during the call
        regs = self._losses()
        if not regs:
            return None
        return float(sum(float(np.sum(np.asarray(r))) for r in regs))

    def close(self) -> None:
        pass


class _BackendSide(_EagerSide):
    """The port on Keras 3's JAX or PyTorch backend: the same reads, writes
    and formulas, with that backend's gradients (``jax.value_and_grad`` over
    a stateless call, PyTorch's autograd)."""

    def __init__(self, tf: Any, port: PortModel, arrays: List[np.ndarray]) -> None:
        super().__init__(tf, port, arrays)
        from keras import ops

        self.ops = ops
        self.backend = _runtime.keras_backend()

    def read(self, indices: Sequence[int]) -> List[np.ndarray]:
        return [to_numpy(self.port.weights[i]) for i in indices]

    def forward(self, training: bool) -> List[np.ndarray]:
        return [to_numpy(o) for o in self._outputs(training)]

    def _outputs(self, training: bool) -> List[Any]:
        """The port's call, whose outputs must be the backend's own: TensorFlow
        tensors mean its layers call tf.* (no gradient reaches the weights)."""
        outputs = self.port.call(self.arrays, training)
        if any(self.tf.is_tensor(o) for o in outputs):
            raise UsageError("the port's call returns TensorFlow tensors on Keras' {} backend: its layers call "
                             "tf.*, so it runs on the TensorFlow backend only (KERAS_BACKEND=tensorflow)".format(
                                 self.backend))
        return outputs

    def _total(self, loss: str, from_logits: bool, labels: np.ndarray, training: bool) -> Tuple[Any, Any, List[Any]]:
        outputs = self._outputs(training)
        data = loss_value(self.ops, loss, self.ops.convert_to_tensor(labels), outputs[0], from_logits)
        regs = self._losses()
        reg = sum((self.ops.cast(r, "float32") for r in regs[1:]), self.ops.cast(regs[0], "float32")) if regs \
            else self.ops.convert_to_tensor(0.0)
        return data + reg, reg, outputs

    def gradients(self, loss: str, from_logits: bool, labels: np.ndarray, trainable: Tuple[int, ...],
                  training: bool) -> Tuple[float, float, List[np.ndarray], List[np.ndarray]]:
        variables = [self.port.weights[i] for i in trainable]
        if self.backend == "jax":
            return self._jax_gradients(loss, from_logits, labels, variables, training)
        if self.backend != "torch":
            raise UsageError("the proof's training steps run the port on the TensorFlow, JAX or PyTorch backend; "
                             "this Keras runs on {}: prove with --steps 0 or KERAS_BACKEND=tensorflow".format(
                                 self.backend))
        for variable in variables:
            variable.value.grad = None
        total, reg, outputs = self._total(loss, from_logits, labels, training)
        total.backward()
        grads = [np.zeros(tuple(v.shape), v.dtype) if v.value.grad is None else to_numpy(v.value.grad)
                 for v in variables]
        return float(to_numpy(total)), float(to_numpy(reg)), grads, [to_numpy(o) for o in outputs]

    def _jax_gradients(self, loss: str, from_logits: bool, labels: np.ndarray, variables: List[Any],
                       training: bool) -> Tuple[float, float, List[np.ndarray], List[np.ndarray]]:
        import jax
        import keras

        model_variables = list(self.port.weights)
        others = [v for v in model_variables if all(v is not t for t in variables)]

        def total(values: List[Any]) -> Tuple[Any, Tuple[Any, List[Any], List[Any]]]:
            mapping = list(zip(variables, values)) + [(v, v.value) for v in others]
            with keras.StatelessScope(state_mapping=mapping) as scope:
                value, reg, outputs = self._total(loss, from_logits, labels, training)
                # A training call's own updates (batch-norm moments), applied below as Keras applies them.
                updated = [scope.get_current_value(v) for v in others]
            return value, (reg, outputs, updated)

        (value, (reg, outputs, updated)), grads = jax.value_and_grad(total, has_aux=True)(
            [v.value for v in variables])
        for variable, new in zip(others, updated):
            if new is not None:
                variable.assign(new)
        return (float(value), float(reg), [to_numpy(g) for g in grads], [to_numpy(o) for o in outputs])

    def regularization(self) -> Optional[float]:
        self.port.call(self.arrays, False)
        regs = self._losses()
        if not regs:
            return None
        return float(sum(float(np.sum(to_numpy(r))) for r in regs))


def legacy_side(legacy: LegacyModel, arrays: List[np.ndarray]) -> _GraphSide:
    return _GraphSide(legacy.tf, legacy.graph, legacy.session, legacy.variables,
                      lambda training: legacy.run_feed(arrays, training),
                      lambda training: legacy.outputs, lambda training: legacy.regularization,
                      lambda training: legacy.update_ops if training else [])


def port_side(port: PortModel, arrays: List[np.ndarray]) -> Any:
    if port.eager and _runtime.keras_backend() != "tensorflow":
        kinds = {isinstance(w, port.tf.Variable) for w in port.weights}
        if kinds == {False}:
            return _BackendSide(port.tf, port, arrays)
        if kinds == {True, False}:
            raise UsageError("the port holds TensorFlow variables beside Keras' {} ones: it runs on the TensorFlow "
                             "backend only (KERAS_BACKEND=tensorflow)".format(_runtime.keras_backend()))
        # Only tf.Variables (a tf.Module): a TensorFlow program, whatever Keras' backend.
    if port.eager:
        return _EagerSide(port.tf, port, arrays)
    tf = port.tf

    def updates(training: bool) -> List[Any]:
        if not training:
            return []
        model = port.model
        if hasattr(model, "get_updates_for"):  # TF 1.x Keras: the updates of this call, and the unconditional ones
            return list(model.get_updates_for(port.placeholders)) + list(model.get_updates_for(None))
        return list(getattr(model, "updates", []) or [])

    return _GraphSide(tf, port.graph, port.session, [port.handle(i) for i in range(len(port.weights))],
                      lambda training: dict(zip(port.placeholders, arrays)), port.symbolic_outputs,
                      lambda training: list(getattr(port.model, "losses", []) or []), updates)


def locate(legacy: LegacyModel, port: PortModel, arrays: List[np.ndarray], expected: Sequence[np.ndarray] = (),
           allowed: Sequence[float] = ()) -> str:
    """Where the port departs from the legacy model, in words: inputs fed in
    another order (a permutation of them makes the outputs agree), else the
    first layer of the port (nested layers included, in the order their calls
    finish) whose output depends on the inputs and matches no tensor of the
    legacy graph (same shape, within the outputs' relative allowance).
    Layers whose output does not depend on the inputs (a position embedding's
    table) have no counterpart to find and are passed over."""
    swapped = _swapped_inputs(legacy, port, arrays, expected, allowed)
    if swapped:
        return swapped
    layers, why = port.layer_outputs(arrays)
    if not layers:
        return "the port's intermediate outputs cannot be read: {}; compare its layers one by one".format(why)
    constant = _input_independent(port, arrays, layers)
    relative = max([NOISE_FACTOR * PRECISIONS["float32"]] + [
        a / s for a, s in zip(allowed, (largest_abs(e) for e in expected)) if s > 0])
    candidates, unread = legacy.candidates_at(arrays)
    previous = matched = None
    for position, (name, cls, value) in enumerate(layers):
        if position in constant:
            continue
        same_shape = {k: v for k, v in candidates.items() if v.shape == value.shape}
        best = None
        found = None
        for tensor, old in same_shape.items():  # in graph order: keep the last match
            result = compare(tensor, value, old, allowed_abs=relative * largest_abs(old))
            if result.passed:
                found = tensor
            elif best is None or result.max_rel < best.max_rel:
                best = result
        if found is None:
            closest = ("the closest legacy tensor of that shape, {}, differs by {:.3g} (relative {:.3g})".format(
                best.name, best.max_abs, best.max_rel) if best else
                "the legacy graph has no tensor of shape {} (its batch tensors have shapes {})".format(
                    shape_text(value.shape), ", ".join(sorted(set(shape_text(v.shape) for v in candidates.values())))
                    or "none readable"))
            words = ["the first layer whose output differs is {} ({}, output {}): {}".format(
                name, cls, shape_text(value.shape), closest)]
            if previous:
                words.append("everything before it agrees ({}'s output is the legacy {})".format(previous, matched))
                activation = legacy.activation_after(matched)
                if activation:
                    words.append("the legacy graph applies {} to that tensor and the port does not: is {}'s "
                                 "activation missing?".format(activation, previous))
            if unread:
                words.append("{} legacy tensor(s) could not be read ({})".format(len(unread), unread[0]))
            text = "; ".join(words)
            return text + (" " if text.endswith("?") else ". ") + (
                "Check the layer's activation, padding, strides, and the layout of its kernel.")
        if found != matched:  # a layer that passes its input through (dropout at inference) names nothing new
            previous, matched = name, found
    return "every layer's output agrees: the difference comes after the last layer (the loss or the update)"


def _swapped_inputs(legacy: Any, port: PortModel, arrays: List[np.ndarray], expected: Sequence[np.ndarray],
                    allowed: Sequence[float]) -> str:
    """Words naming the inputs when another order of them (arrays of the same
    shape and dtype exchanged, up to 4 inputs) makes every output agree;
    "" otherwise."""
    import itertools

    if not expected or not 1 < len(arrays) <= 4:
        return ""
    same = lambda i, j: arrays[i].shape == arrays[j].shape and arrays[i].dtype == arrays[j].dtype  # noqa: E731
    for order in itertools.permutations(range(len(arrays))):
        if order == tuple(range(len(arrays))) or not all(same(i, j) for i, j in enumerate(order)):
            continue
        try:
            outputs = port_side(port, [arrays[j] for j in order]).forward(False)
        except Exception:  # noqa: BLE001 - an order the port cannot run is not the answer
            continue
        if len(outputs) == len(expected) and all(
                compare("", o, e, allowed_abs=a).passed for o, e, a in zip(outputs, expected, allowed)):
            names = legacy.input_names
            port_names = port.input_names or ["the port's input {}".format(i) for i in range(len(arrays))]
            moves = ["{} -> {}".format(names[j], port_names[i]) for i, j in enumerate(order) if i != j]
            return ("the inputs are swapped: fed as {}, the port's outputs agree with the legacy ones; check the "
                    "order of the port's inputs (or --input-map)".format(", ".join(moves)))
    return ""


def _input_independent(port: PortModel, arrays: List[np.ndarray], layers: List[Tuple[str, str, Any]]) -> set:
    """The positions (in ``layers``) of layer outputs that stay the same when
    the batch's rows are rotated: they do not depend on the inputs."""
    if not arrays or arrays[0].ndim == 0 or arrays[0].shape[0] < 2:
        return set()
    rolled, _ = port.layer_outputs([np.roll(a, 1, axis=0) for a in arrays])
    if len(rolled) != len(layers):
        return set()
    return {i for i, ((n, _, a), (m, _, b)) in enumerate(zip(layers, rolled))
            if n == m and np.shape(a) == np.shape(b) and np.array_equal(a, b)}


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
    new.write({p.port.index: p.to_port(p.legacy.value) for p in pairs})
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
        new.write({p.port.index: p.to_port(v) for p, v in zip(state, old.read([p.legacy.index for p in state]))})
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


def training_noise(legacy: Any, arrays: Sequence[np.ndarray], trainable: Sequence[int], state: Sequence[int],
                   steps: int, loss: str, from_logits: bool, labels: np.ndarray, optimizer: str,
                   learning_rate: float, training: bool, seed: int,
                   draws: int = TRAINING_NOISE_DRAWS) -> List[Dict[str, Any]]:
    """How far float32 rounding moves the legacy training run: the run from
    its start, and again ``draws`` times with every weight and float input
    moved by one unit in its last place; per step, the largest change of the
    loss, the regularization loss, each output (``training`` mode) and each
    variable (``trainable`` and ``state`` indices).  The variables are put
    back to their start."""

    everything = [v.index for v in legacy.vars]
    base_side = legacy.side(arrays)
    start = base_side.read(everything)

    def run(side: Any) -> List[Tuple[Any, ...]]:
        update = NumpyOptimizer(optimizer, learning_rate, [legacy.vars[i].shape for i in trainable])
        taken = []
        for _ in range(steps):
            value, reg, grads, outputs = side.gradients(loss, from_logits, labels, tuple(trainable), training)
            side.write(dict(zip(trainable, update(side.read(trainable), grads))))
            taken.append((value, reg, outputs, side.read(trainable), side.read(state)))
        return taken

    rng = np.random.RandomState(seed + 11)
    try:
        base = run(base_side)
        noise: List[Dict[str, Any]] = [
            {"loss": 0.0, "regularization": 0.0, "outputs": [0.0] * len(b[2]),
             "weights": {str(i): 0.0 for i in trainable}, "state": {str(i): 0.0 for i in state}} for b in base]
        for _ in range(draws):
            side = legacy.side([last_bit(x, rng) for x in arrays])
            side.write({i: last_bit(w, rng) for i, w in zip(everything, start)})
            for entry, b, m in zip(noise, base, run(side)):
                entry["loss"] = max(entry["loss"], change(m[0], b[0]))
                entry["regularization"] = max(entry["regularization"], change(m[1], b[1]))
                entry["outputs"] = [max(x, change(o, p)) for x, o, p in zip(entry["outputs"], m[2], b[2])]
                for key, indices, position in (("weights", trainable, 3), ("state", state, 4)):
                    moved_values: List[Any] = m[position]
                    base_values: List[Any] = b[position]
                    for i, a, c in zip(indices, moved_values, base_values):
                        entry[key][str(i)] = max(entry[key][str(i)], change(a, c))
    finally:
        base_side.write(dict(zip(everything, start)))
    return noise


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
    update_new = NumpyOptimizer(optimizer, learning_rate, shapes)
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
        new.write({i: p.to_port(w) for i, p, w in zip(idx_new, trainable, weights_v2)})
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
            record.weights.append(compare(p.legacy.name, w_new, w_old,
                                          allowed_abs=allow(measured["weights"][str(p.legacy.index)], w_old)))
        if state:
            for p, s_new, s_old in zip(state, new.read([p.port.index for p in state]),
                                       old.read([p.legacy.index for p in state])):
                record.weights.append(compare(p.legacy.name, p.to_legacy(s_new), s_old,
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
