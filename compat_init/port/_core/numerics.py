"""The numbers of the proof, in numpy: one comparison and its tolerances
(from measured rounding noise), the labels and the loss formula on both
sides, the numpy optimizer both sides share, last-bit perturbations."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from compat_init._choices import PRECISIONS
from compat_init.port._core.text import shape_text


#: Perturbed runs that measure a model's rounding noise (``rounding_noise``).
NOISE_DRAWS = 4


def last_bit(value: Any, rng: Any) -> Any:
    """A float array moved by one unit in its last place, up or down at
    random per element (other dtypes unchanged)."""
    array = np.asarray(value)
    if array.dtype.kind != "f":
        return value
    up = rng.randint(0, 2, size=array.shape).astype(bool)
    return np.where(up, np.nextafter(array, np.inf), np.nextafter(array, -np.inf)).astype(array.dtype)


#: |a - b| <= ATOL * scale + RTOL * |b| per value (scale: the largest |b|;
#: for weights, at least the model's largest weight).
#: float32 carries 24 bits (eps 1.19e-7); the same dot product of n terms in
#: another order differs by about sqrt(n) eps relative, at most n eps.  1e-4
#: is 840 eps: room for sums of ~10^5 terms in another order, four orders of
#: magnitude below what a missing activation, a transposed kernel or another
#: padding changes (O(1) relative).  Training multiplies it by the steps.
RTOL = 1e-4
ATOL = 1e-5
#: The outputs may differ by this many times their measured rounding noise.
NOISE_FACTOR = 8


def noise_allowance(noise: float, legacy_output: Any, precision: str = "float32") -> float:
    """The largest |port - legacy| an output may show: NOISE_FACTOR times its
    measured rounding noise, and at least NOISE_FACTOR units in the last place
    of its largest value (an output the perturbations did not move); scaled
    to ``precision`` when the port computes in less than float32."""
    floor = PRECISIONS["float32"] * largest_abs(legacy_output)
    return NOISE_FACTOR * max(float(noise), floor) * PRECISIONS[precision] / PRECISIONS["float32"]


@dataclass
class Comparison:
    """One compared array: an output, a loss or a weight."""

    name: str
    shape: Tuple[int, ...]  #: the port's (v2) shape
    max_abs: float
    max_rel: float
    tolerance: float  #: the largest allowed |a - b| (at the largest |b|)
    passed: bool
    legacy_shape: Optional[Tuple[int, ...]] = None  #: set when the shapes differ

    def describe(self) -> str:
        if self.legacy_shape is not None:
            return "{}: shapes differ: legacy {} vs port {}: DIFFER".format(
                self.name, shape_text(self.legacy_shape), shape_text(self.shape))
        return "{} {}: max |diff| {:.3g} (rel {:.3g}), allowed {:.3g}: {}".format(
            self.name, shape_text(self.shape), self.max_abs, self.max_rel, self.tolerance,
            "agree" if self.passed else "DIFFER")


def compare(name: str, a: Any, b: Any, slack: float = 1.0, floor: float = 0.0,
            allowed_abs: Optional[float] = None) -> Comparison:
    """``a`` (port) against ``b`` (legacy).  ``floor``: the smallest scale of
    the absolute tolerance (the model's largest weight, for a weight near zero
    whose updates are rounding-sized: an attention key bias).
    ``allowed_abs``: the largest |a - b| allowed anywhere (from the measured
    rounding noise) instead of the formula."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return Comparison(name, tuple(a.shape), math.inf, math.inf, 0.0, False, tuple(b.shape))
    diff = np.abs(a - b)
    finite_b = np.abs(b[np.isfinite(b)])
    scale = max(float(np.max(finite_b)) if finite_b.size else 0.0, floor)
    if allowed_abs is not None:
        allowed = np.full(b.shape, float(allowed_abs))
    else:
        allowed = slack * (ATOL * max(scale, 1e-30) + RTOL * np.abs(b))
    same_nonfinite = bool(np.array_equal(a[~np.isfinite(a)], b[~np.isfinite(a)])) and bool(
        np.array_equal(np.isfinite(a), np.isfinite(b)))
    finite = np.isfinite(a) & np.isfinite(b)
    max_abs = float(diff[finite].max()) if finite.any() else 0.0
    if not same_nonfinite:
        max_abs = math.inf
    max_rel = max_abs / scale if scale else (0.0 if max_abs == 0 else math.inf)
    tolerance = float(allowed_abs) if allowed_abs is not None else slack * (ATOL * scale + RTOL * scale)
    return Comparison(name, tuple(b.shape), max_abs, max_rel, tolerance,
                      same_nonfinite and bool(np.all(diff[finite] <= allowed[finite])))


def labels_for(loss: str, output_shape: Tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed + 1)
    if loss == "mse":
        return rng.standard_normal(output_shape).astype(np.float32)
    classes = output_shape[-1]
    index = rng.randint(0, classes, size=output_shape[:-1])
    if loss == "sparse_categorical_crossentropy":
        return index.astype(np.int64)
    return np.eye(classes, dtype=np.float32)[index]


#: The loss formulas' operations in each vocabulary: TensorFlow's (a TF
#: side) and ``keras.ops`` (a port on Keras 3's JAX or PyTorch backend).
_LOSS_OPS = {
    "cast": ("cast", "cast"), "mean": ("reduce_mean", "mean"), "sum": ("reduce_sum", "sum"),
    "square": ("square", "square"), "shape": ("shape", "shape"), "one_hot": ("one_hot", "one_hot"),
    "log_softmax": ("nn.log_softmax", "log_softmax"), "clip": ("clip_by_value", "clip"), "log": ("math.log", "log"),
}


def _loss_op(namespace: Any, name: str) -> Any:
    """``name`` from ``namespace`` (the ``tensorflow`` module or ``keras.ops``)."""
    found = namespace
    for part in _LOSS_OPS[name][0 if hasattr(namespace, "reduce_mean") else 1].split("."):
        found = getattr(found, part)
    return found


def loss_value(namespace: Any, loss: str, labels: Any, output: Any, from_logits: bool = False) -> Any:
    """The same formula on both sides (Keras' definitions), in TensorFlow
    (``namespace`` is ``tf``) or in ``keras.ops``."""
    def op(name: str) -> Any:
        return _loss_op(namespace, name)

    output = op("cast")(output, "float32")
    if loss == "mse":
        return op("mean")(op("square")(output - labels))
    if loss == "sparse_categorical_crossentropy":
        labels = op("one_hot")(op("cast")(labels, "int32"), op("shape")(output)[-1], dtype=output.dtype)
    if from_logits:
        return op("mean")(-op("sum")(labels * op("log_softmax")(output, axis=-1), axis=-1))
    epsilon = 1e-7
    probabilities = output / op("sum")(output, axis=-1, keepdims=True)
    probabilities = op("clip")(probabilities, epsilon, 1.0 - epsilon)
    return op("mean")(-op("sum")(labels * op("log")(probabilities), axis=-1))


def regularization_sum(tf: Any, losses: Sequence[Any]) -> Any:
    """The sum of a side's regularization losses, in float32 (0 without any)."""
    return tf.add_n([tf.cast(r, tf.float32) for r in losses]) if losses else tf.constant(0.0)


def dense_gradient(tf: Any, grad: Any, variable: Any) -> Any:
    """A gradient as a dense tensor (an embedding's are IndexedSlices; a
    variable the loss does not reach has None: zeros)."""
    if grad is None:
        return tf.zeros(variable.shape, variable.dtype)
    return tf.convert_to_tensor(grad)


class NumpyOptimizer:
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
        return [np.asarray(x, np.float32) for x in new]


def largest_abs(value: Any) -> float:
    """The largest finite |value| (0 when there is none)."""
    value = np.abs(np.asarray(value, np.float64))
    finite = value[np.isfinite(value)]
    return float(np.max(finite)) if finite.size else 0.0


#: Perturbed training runs that measure the training comparisons' noise.
TRAINING_NOISE_DRAWS = 2


def change(a: Any, b: Any) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a - b)[both])) if both.any() else 0.0
