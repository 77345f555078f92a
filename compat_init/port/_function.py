"""Function parity of a migration: the port computes what the legacy model
computed, at initialization and after a few training steps.

Both models get the same weights (the legacy model's initial values, copied
into the port's paired weights: with compat_init seeds on both sides they are
bit-equal already), the same input batch, the same loss (built here from each
side's outputs) and the same optimizer steps (SGD, momentum or Adam).  Outputs, losses
and weights are compared with a tolerance that has a reason: float32 rounding
of a different order of the same operations (a convolution algorithm, a
matmul's blocking).  Where they differ, the report says where: the first layer
of the port whose output has no counterpart among the legacy graph's tensors.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError

LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "mse")
OPTIMIZERS = ("sgd", "momentum", "adam")

#: |a - b| <= ATOL * scale + RTOL * |b| per value (scale: the largest |b|;
#: for weights, at least the model's largest weight).
#: float32 carries 24 bits (eps 1.19e-7); the same dot product of n terms in
#: another order differs by about sqrt(n) eps relative, at most n eps.  1e-4
#: is 840 eps: room for sums of ~10^5 terms in another order, four orders of
#: magnitude below what a missing activation, a transposed kernel or another
#: padding changes (O(1) relative).  Training multiplies it by the steps.
RTOL = 1e-4
ATOL = 1e-5
TOLERANCE_REASON = (
    "|a - b| <= 1e-5 * max|b| + 1e-4 * |b| (weights: max|b| at least the model's largest weight), times "
    "(1 + steps) after training: float32 rounding of the same operations in another order (about sqrt(n) "
    "eps for n-term sums); a wrong port differs by O(1)")


@dataclass
class Comparison:
    """One compared array: an output, a loss or a weight."""

    name: str
    shape: Tuple[int, ...]
    max_abs: float
    max_rel: float
    tolerance: float  #: the largest allowed |a - b| (at the largest |b|)
    passed: bool


@dataclass
class Step:
    """After one training step."""

    step: int
    loss_v1: float
    loss_v2: float
    loss: Comparison
    weights: List[Comparison] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.loss.passed and all(w.passed for w in self.weights)


@dataclass
class FunctionReport:
    """Forward and training equivalence of a legacy model and its port."""

    inputs: Dict[str, Tuple[int, ...]]
    outputs: List[Comparison]
    steps: List[Step]
    loss: str
    optimizer: str
    learning_rate: float
    tolerance: str = TOLERANCE_REASON
    divergence: Optional[str] = None  #: where they differ, in plain words

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(o.passed for o in self.outputs) and all(s.passed for s in self.steps)

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data

    def __str__(self) -> str:
        lines = ["function: {} input(s) {}; {}".format(
            len(self.inputs), ", ".join("{} {}".format(k, "x".join(map(str, v))) for k, v in self.inputs.items()),
            "same function" if self.passed else "DIFFERENT FUNCTION")]
        for o in self.outputs:
            lines.append("  output {} {}: max |diff| {:.3g} (rel {:.3g}), allowed {:.3g}: {}".format(
                o.name, "x".join(map(str, o.shape)), o.max_abs, o.max_rel, o.tolerance,
                "agree" if o.passed else "DIFFER"))
        for s in self.steps:
            worst = max(s.weights, key=lambda w: w.max_abs / max(w.tolerance, 1e-30)) if s.weights else None
            lines.append("  step {} ({} {}, lr {:g}): loss v1 {:.6g} v2 {:.6g}{}: {}".format(
                s.step, self.optimizer, self.loss, self.learning_rate, s.loss_v1, s.loss_v2,
                "; largest weight diff {:.3g} ({})".format(worst.max_abs, worst.name) if worst else "",
                "agree" if s.passed else "DIFFER"))
        if self.divergence:
            lines.append("  where: " + self.divergence)
        lines.append("  tolerance: " + self.tolerance)
        return "\n".join(lines)


def compare(name: str, a: np.ndarray, b: np.ndarray, slack: float = 1.0, floor: float = 0.0) -> Comparison:
    """``floor``: the smallest scale of the absolute tolerance (the model's
    largest weight, for a weight near zero whose updates are rounding-sized:
    an attention key bias, which the softmax ignores)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return Comparison(name, tuple(b.shape), math.inf, math.inf, 0.0, False)
    diff = np.abs(a - b)
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, floor)
    allowed = slack * (ATOL * max(scale, 1e-30) + RTOL * np.abs(b))
    finite = bool(np.all(np.isfinite(a)) and np.all(np.isfinite(b)))
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = max_abs / scale if scale else (0.0 if max_abs == 0 else math.inf)
    tolerance = slack * (ATOL * scale + RTOL * scale)
    return Comparison(name, tuple(b.shape), max_abs, max_rel, tolerance,
                      finite and bool(np.all(diff <= allowed)))


# Inputs, labels ------------------------------------------------------------------


def parse_inputs(inputs: Any, seed: int) -> List[np.ndarray]:
    """``inputs``: an array, a shape (a fixed standard-normal batch drawn from
    ``seed``), or a list of either (several placeholders, in order)."""
    items = inputs if isinstance(inputs, list) else [inputs]
    rng = np.random.RandomState(seed)
    arrays = []
    for item in items:
        if isinstance(item, tuple) and all(isinstance(d, int) and d > 0 for d in item):
            arrays.append(rng.standard_normal(item).astype(np.float32))
        else:
            array = np.asarray(item)
            if array.dtype.kind not in "fiu" or array.ndim < 1:
                raise UsageError("inputs must be arrays or shapes (tuples of positive ints); received an "
                                 "array of dtype {} and shape {}".format(array.dtype, array.shape))
            arrays.append(array.astype(np.float32) if array.dtype.kind == "f" else array)
    return arrays


def labels_for(loss: str, output_shape: Tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed + 1)
    if loss == "mse":
        return rng.standard_normal(output_shape).astype(np.float32)
    classes = output_shape[-1]
    index = rng.randint(0, classes, size=output_shape[:-1])
    if loss == "sparse_categorical_crossentropy":
        return index.astype(np.int64)
    return np.eye(classes, dtype=np.float32)[index]


def loss_value(tf: Any, loss: str, labels: Any, output: Any) -> Any:
    """The same formula on both sides (Keras' definitions on probabilities)."""
    if loss == "mse":
        return tf.reduce_mean(tf.square(output - labels))
    epsilon = 1e-7
    probabilities = output / tf.reduce_sum(output, axis=-1, keepdims=True)
    probabilities = tf.clip_by_value(probabilities, epsilon, 1.0 - epsilon)
    if loss == "sparse_categorical_crossentropy":
        labels = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(output)[-1], dtype=output.dtype)
    return tf.reduce_mean(-tf.reduce_sum(labels * tf.math.log(probabilities), axis=-1))


# The two sides ------------------------------------------------------------------


class _Side:
    """One model in its own context, with its paired variables."""

    def forward(self) -> List[np.ndarray]:
        raise NotImplementedError

    def train_step(self, labels: np.ndarray) -> Tuple[float, List[np.ndarray]]:
        raise NotImplementedError


def _dense(tf: Any, grad: Any, variable: Any) -> Any:
    """A gradient as a dense tensor (an embedding's are IndexedSlices; a
    variable the loss does not reach has None: zeros)."""
    if grad is None:
        return tf.zeros_like(variable)
    return tf.convert_to_tensor(grad)


class Update:
    """One side's optimizer, in numpy float32: both sides apply the very same
    arithmetic to their own gradients.

    * ``sgd``: ``w -= lr g`` (tf.compat.v1.train.GradientDescentOptimizer, Keras SGD);
    * ``momentum``: ``a = 0.9 a + g; w -= lr a`` (MomentumOptimizer(lr, 0.9);
      Keras SGD(momentum=0.9) writes it ``v = 0.9 v - lr g; w += v``, the same
      for a constant lr);
    * ``adam``: ``m = 0.9 m + 0.1 g; v = 0.999 v + 0.001 g**2;
      w -= lr sqrt(1 - 0.999**t) / (1 - 0.9**t) * m / (sqrt(v) + 1e-7)``: the
      tf.compat.v1.train.AdamOptimizer form, which Keras' Adam also uses
      (measured on TF 2.21: the two agree within 1.2e-5 of the step over 5 steps).
    """

    def __init__(self, optimizer: str, learning_rate: float, shapes: List[Tuple[int, ...]]) -> None:
        self.optimizer = optimizer
        self.learning_rate = np.float32(learning_rate)
        self.first: List[Any] = [np.zeros(s, np.float32) for s in shapes]
        self.second: List[Any] = [np.zeros(s, np.float32) for s in shapes]
        self.t = 0

    def __call__(self, weights: List[np.ndarray], grads: List[np.ndarray]) -> List[np.ndarray]:
        self.t += 1
        lr = self.learning_rate
        new = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            g = np.asarray(g, np.float32)
            if self.optimizer == "momentum":
                self.first[i] = np.float32(0.9) * self.first[i] + g
                new.append(w - lr * self.first[i])
            elif self.optimizer == "adam":
                self.first[i] = np.float32(0.9) * self.first[i] + np.float32(0.1) * g
                self.second[i] = np.float32(0.999) * self.second[i] + np.float32(0.001) * g * g
                lr_t = np.float32(lr * math.sqrt(1 - 0.999 ** self.t) / (1 - 0.9 ** self.t))
                new.append(w - lr_t * self.first[i] / (np.sqrt(self.second[i]) + np.float32(1e-7)))
            else:
                new.append(w - lr * g)
        return [x.astype(np.float32) for x in new]


class _GraphRun:
    """A model's outputs and variables in a v1 graph, with its Session: the
    forward pass, and training steps that read every gradient first and write
    the new weights in a second run (so no update can race a gradient that
    reads the same TF 1 ref variable)."""

    def __init__(self, tf: Any, graph: Any, outputs: List[Any], variables: List[Any], feed: Dict[Any, Any],
                 loss: str, optimizer: str, learning_rate: float, values: Dict[int, np.ndarray]) -> None:
        self.outputs, self.variables, self.feed = outputs, variables, feed
        self.labels = tf.compat.v1.placeholder(
            tf.int64 if loss == "sparse_categorical_crossentropy" else tf.float32, name="compat_init_labels")
        self.loss = loss_value(tf, loss, self.labels, outputs[0])
        self.grads = [_dense(tf, g, v) for g, v in zip(tf.gradients(self.loss, variables), variables)]
        self.fed = [tf.compat.v1.placeholder(v.dtype.base_dtype, v.shape) for v in variables]
        self.assign = [v.assign(f) for v, f in zip(variables, self.fed)]
        self.update = Update(optimizer, learning_rate, [tuple(v.shape.as_list()) for v in variables])
        self.session = tf.compat.v1.Session(graph=graph)
        self.session.run(tf.compat.v1.global_variables_initializer())
        for index, value in values.items():
            self.session.run(self.assign[index], feed_dict={self.fed[index]: value})

    def forward(self) -> List[np.ndarray]:
        return self.session.run(self.outputs, feed_dict=self.feed)

    def train_step(self, labels: np.ndarray) -> Tuple[float, List[np.ndarray]]:
        feed = dict(self.feed)
        feed[self.labels] = labels
        value, grads, weights = self.session.run([self.loss, self.grads, self.variables], feed_dict=feed)
        new = self.update(weights, grads)
        self.session.run(self.assign, feed_dict=dict(zip(self.fed, new)))
        return float(value), new


class _GraphSide(_Side):
    """The legacy model: a v1 graph and Session."""

    def __init__(self, builder: Callable[[], Any], seed: int, placeholders: Optional[Sequence[str]],
                 inputs: List[np.ndarray], loss: str, optimizer: str, learning_rate: float,
                 values: Dict[int, np.ndarray]) -> None:
        tf = _runtime.tf()
        self.tf = tf
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.set_random_seed(seed)
            built = builder()
            outputs = built if isinstance(built, (list, tuple)) else [built]
            if not outputs or any(o is None or not tf.is_tensor(o) for o in outputs):
                raise UsageError(
                    "the legacy builder must return its output tensor(s) to compare functions "
                    "(inputs= given); received {!r}".format(built))
            self.outputs = list(outputs)
            self.placeholders = _find_placeholders(self.graph, placeholders, len(inputs))
            self.variables = tf.compat.v1.trainable_variables()
            self.run = _GraphRun(tf, self.graph, self.outputs, self.variables,
                                 dict(zip(self.placeholders, inputs)), loss, optimizer, learning_rate, values)
        self.session, self.feed = self.run.session, self.run.feed

    def forward(self) -> List[np.ndarray]:
        return self.run.forward()

    def train_step(self, labels: np.ndarray) -> Tuple[float, List[np.ndarray]]:
        return self.run.train_step(labels)

    def candidates(self) -> Dict[str, np.ndarray]:
        """Every float tensor of the graph with a batch dimension, evaluated."""
        tf = self.tf
        tensors = {}
        for op in self.graph.get_operations():
            for t in op.outputs:
                dims = t.shape.as_list() if t.shape.ndims is not None else []
                if t.dtype.is_floating and len(dims) >= 2 and dims[0] is None \
                        and "compat_init" not in t.name and "gradients" not in t.name:
                    tensors[t.name] = t
        values = self.session.run(tensors, feed_dict=self.feed) if tensors else {}
        del tf
        return values

    def activation_after(self, tensor_name: Optional[str]) -> Optional[str]:
        """The activation op type (Relu, Sigmoid, ...) that consumes a tensor, if any."""
        if not tensor_name:
            return None
        tensor = self.graph.get_tensor_by_name(tensor_name)
        for op in tensor.consumers():
            if op.type in ACTIVATIONS:
                return op.type
        return None

    def close(self) -> None:
        self.session.close()


ACTIVATIONS = ("Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softmax", "LeakyRelu", "Softplus", "Softsign",
               "Gelu")


def _find_placeholders(graph: Any, names: Optional[Sequence[str]], count: int) -> List[Any]:
    found = [op.outputs[0] for op in graph.get_operations() if op.type == "Placeholder"]
    if names:
        by_name = {t.name.split(":")[0]: t for t in found}
        missing = [n for n in names if n.split(":")[0] not in by_name]
        if missing:
            raise UsageError("placeholders must name the legacy graph's placeholders ({}); received {}".format(
                ", ".join(sorted(by_name)) or "none", ", ".join(missing)))
        chosen = [by_name[n.split(":")[0]] for n in names]
    else:
        chosen = found
    if len(chosen) != count:
        raise UsageError(
            "the legacy graph has {} placeholder(s) ({}) for {} input array(s); name them with "
            "placeholders=[...] (--placeholders) or pass one array per placeholder".format(
                len(chosen), ", ".join(t.name for t in chosen) or "none", count))
    return chosen


class _KerasSide(_Side):
    """The port: a Keras model, eagerly (TF 2) or in a graph (TF 1.x, no eager)."""

    def __init__(self, builder: Callable[[], Any], seed: int, inputs: List[np.ndarray], loss: str,
                 optimizer: str, learning_rate: float, values: Dict[int, np.ndarray]) -> None:
        tf = _runtime.tf()
        self.tf = tf
        self.inputs = inputs
        self.loss_name = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.eager = _runtime.can_evaluate_eagerly()
        if self.eager:
            tf.random.set_seed(seed)
            self.model = builder()
            self.weights = list(self.model.trainable_weights)
            self.update = Update(optimizer, learning_rate, [tuple(int(d) for d in w.shape) for w in self.weights])
            for index, value in values.items():
                self.weights[index].assign(value)
            return
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.set_random_seed(seed)
            self.model = builder()
            placeholders = [tf.compat.v1.placeholder(tf.as_dtype(x.dtype), (None,) + x.shape[1:]) for x in inputs]
            out = self.model(placeholders if len(placeholders) > 1 else placeholders[0])
            self.outputs = list(out) if isinstance(out, (list, tuple)) else [out]
            self.weights = [_runtime.fetchable_variable(w) for w in self.model.trainable_weights]
            self.run = _GraphRun(tf, self.graph, self.outputs, self.weights, dict(zip(placeholders, inputs)),
                                 loss, optimizer, learning_rate, values)
        self.session = self.run.session

    def _call(self) -> List[Any]:
        # training=False on both sides' passes and steps: dropout and batch
        # statistics would make the two runs differ by design.
        x = self.inputs if len(self.inputs) > 1 else self.inputs[0]
        out = self.model(x, training=False)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def forward(self) -> List[np.ndarray]:
        if not self.eager:
            return self.run.forward()
        return [np.asarray(o) for o in self._call()]

    def train_step(self, labels: np.ndarray) -> Tuple[float, List[np.ndarray]]:
        tf = self.tf
        if not self.eager:
            return self.run.train_step(labels)
        with tf.GradientTape() as tape:
            loss = loss_value(tf, self.loss_name, tf.constant(labels), self._call()[0])
        grads = [np.asarray(_dense(tf, g, w)) for g, w in zip(tape.gradient(loss, self.weights), self.weights)]
        new = self.update([np.asarray(w.numpy()) for w in self.weights], grads)
        for weight, value in zip(self.weights, new):
            weight.assign(value)
        return float(loss), [np.asarray(w.numpy()) for w in self.weights]

    def layer_outputs(self) -> List[Tuple[str, str, np.ndarray]]:
        """(layer name, class, output) for each layer of a functional or
        Sequential model; [] where they cannot be had (a subclassed model)."""
        tf = self.tf
        try:
            layers = [layer for layer in self.model.layers if not type(layer).__name__ == "InputLayer"]
            if not self.eager:  # the layers' symbolic outputs live in this graph
                feed = dict(zip(self.model.inputs, self.inputs))
                values = self.session.run([layer.output for layer in layers], feed_dict=feed)
            else:
                probe = tf.keras.Model(self.model.inputs, [layer.output for layer in layers])
                values = probe(list(self.inputs))
                values = values if isinstance(values, (list, tuple)) else [values]
        except Exception:  # noqa: BLE001 - a model without symbolic layer outputs
            return []
        return [(layer.name, type(layer).__name__, np.asarray(v)) for layer, v in zip(layers, values)]

    def close(self) -> None:
        if not self.eager:
            self.session.close()


def locate(graph_side: _GraphSide, keras_side: _KerasSide) -> Optional[str]:
    """The first layer of the port whose output matches no tensor of the
    legacy graph (same shape, within the tolerance), in words."""
    layers = keras_side.layer_outputs()
    if not layers:
        return ("the port's intermediate outputs cannot be read (a subclassed model): compare its layers "
                "one by one")
    candidates = graph_side.candidates()
    previous = matched = None
    for name, cls, value in layers:
        same_shape = {k: v for k, v in candidates.items() if v.shape == value.shape}
        best = None
        found = None
        for tensor, legacy in same_shape.items():  # in graph order: keep the last match
            result = compare(tensor, legacy, value)
            if result.passed:
                found = tensor
            elif best is None or result.max_rel < best.max_rel:
                best = result
        if found is None:
            closest = ("the closest legacy tensor of that shape, {}, differs by {:.3g} (relative {:.3g})".format(
                best.name, best.max_abs, best.max_rel) if best else
                "the legacy graph has no tensor of that shape")
            words = ["the first layer whose output differs is {} ({}, output {}): {}".format(
                name, cls, "x".join(map(str, value.shape)), closest)]
            if previous:
                words.append("everything before it agrees ({}'s output is the legacy {})".format(previous, matched))
                activation = graph_side.activation_after(matched)
                if activation:
                    words.append("the legacy graph applies {} to that tensor and the port does not: is {}'s "
                                 "activation missing?".format(activation, previous))
            text = "; ".join(words)
            return text + (" " if text.endswith("?") else ". ") + (
                "Check the layer's activation, padding, strides, and the layout of its kernel.")
        previous, matched = name, found
    return "every layer's output agrees: the difference comes after the last layer (the loss or the update)"


def check_function(v1_builder: Callable[[], Any], v2_builder: Callable[[], Any], pairs: List[Tuple[int, int]],
                   initial: List[np.ndarray], *, inputs: Any, seed: int, steps: int = 0,
                   loss: str = "categorical_crossentropy", optimizer: str = "sgd", learning_rate: float = 0.01,
                   placeholders: Optional[Sequence[str]] = None) -> FunctionReport:
    """Forward (and, with ``steps``, training) equivalence; ``pairs`` are
    (v1 variable index, v2 weight index) in creation order, ``initial`` the
    v1 initial values both sides start from."""
    if loss not in LOSSES:
        raise UsageError("loss must be one of {}; received loss={!r}".format(", ".join(LOSSES), loss))
    if optimizer not in OPTIMIZERS:
        raise UsageError("optimizer must be one of {}; received optimizer={!r}".format(
            ", ".join(OPTIMIZERS), optimizer))
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise UsageError("steps must be a non-negative integer; received steps={!r}".format(steps))
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0):
        raise UsageError("learning_rate must be a positive number; received learning_rate={!r}".format(
            learning_rate))
    arrays = parse_inputs(inputs, seed)
    old = _GraphSide(v1_builder, seed, placeholders, arrays, loss, optimizer, float(learning_rate),
                     {i: initial[i] for i, _ in pairs})
    new = _KerasSide(v2_builder, seed, arrays, loss, optimizer, float(learning_rate),
                     {j: initial[i] for i, j in pairs})
    try:
        before = old.forward()
        after = new.forward()
        outputs = [compare("{}".format(t.name.split(":")[0]), b, a)
                   for t, a, b in zip(old.outputs, before, after)]
        if len(before) != len(after):
            outputs.append(Comparison("output count", (len(before), len(after)), math.inf, math.inf, 0.0, False))
        report = FunctionReport({p.name.split(":")[0]: tuple(x.shape) for p, x in zip(old.placeholders, arrays)},
                                outputs, [], loss, optimizer, float(learning_rate))
        if not all(o.passed for o in outputs):
            report.divergence = locate(old, new)
            return report
        labels = labels_for(loss, tuple(before[0].shape), seed)
        names_v1 = [v.op.name for v in old.variables]
        for step in range(1, steps + 1):
            loss_v1, weights_v1 = old.train_step(labels)
            loss_v2, weights_v2 = new.train_step(labels)
            slack = 1.0 + step
            record = Step(step, loss_v1, loss_v2, compare("loss", np.array(loss_v2), np.array(loss_v1), slack))
            floor = max((float(np.max(np.abs(w))) for w in weights_v1 if w.size), default=0.0)
            for i, j in pairs:
                record.weights.append(compare(names_v1[i], weights_v2[j], weights_v1[i], slack, floor))
            report.steps.append(record)
            if not record.passed:
                bad = [w.name for w in record.weights if not w.passed]
                report.divergence = (
                    "the outputs agree before training, and after step {} {}: check the loss the port trains "
                    "on, its optimizer and learning rate, and layers that act only in training (dropout, "
                    "batch normalization)".format(
                        step, "the first weight that differs is {}".format(bad[0]) if bad else
                        "the losses differ"))
                break
        return report
    finally:
        old.close()
        new.close()
