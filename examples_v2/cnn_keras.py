"""The seed article's Keras CNN with compat_init initializers.

Conv2D 32 3x3 ReLU -> MaxPooling 2x2 -> Flatten -> Dense 10 softmax (the model
of ``cnn_pair.py``, glorot_uniform kernels seeded 1 and 2), compiled with Adam and trained one epoch on synthetic MNIST-shaped data (no downloads).

Prints the initializer class each layer got and the measured vs theoretical
spread; exits 1 when something is off.  Runs on TF 1.15 (graph-mode Keras),
Keras 2 and Keras 3.
"""
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import compat_init as ci  # noqa: E402
from cnn_pair import build as build_model  # noqa: E402  (the model of the migration pair)

Z = 5.0  # accept 5 standard errors (two-sided p ~ 6e-7)
KURTOSIS = {"uniform": 1.8, "truncated_normal": 2.7737, "untruncated_normal": 3.0}


def native_class(initializer):
    """The TensorFlow/Keras class compat_init's subclass extends."""
    return next(c for c in type(initializer).__mro__ if not c.__module__.startswith("compat_init"))


def check_layer(layer):
    init = layer.kernel_initializer
    values = layer.get_weights()[0]
    t = ci.theory(init, values.shape)
    std_error = t.std * math.sqrt((KURTOSIS[t.distribution] - 1.0) / (4.0 * values.size))
    measured = float(values.astype(np.float64).std())
    ok = abs(measured - t.std) < Z * std_error and float(np.abs(values).max()) <= t.bound * (1 + 1e-6)
    native = native_class(init)
    print("  {:<10} {:<62} fans=({}, {})  std measured {:.5f} theory {:.5f} (+-{:.5f})  {}".format(
        layer.name[:10], native.__module__ + "." + native.__name__, t.fan_in, t.fan_out,
        measured, t.std, Z * std_error, "ok" if ok else "OFF"))
    return ok


def main():
    print("compat_init {} on TensorFlow {} (active api: {}, Keras flavour: {})".format(
        ci.__version__, tf.__version__, ci.active_api(), ci.runtime_info().keras_flavour))
    model = build_model()
    ok = all(check_layer(l) for l in model.layers if hasattr(l, "kernel_initializer"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.RandomState(0)
    x = rng.rand(512, 28, 28, 1).astype(np.float32)
    y = rng.randint(0, 10, size=512)
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    loss = history.history["loss"][-1]
    print("  one epoch on synthetic data: loss {:.3f}".format(loss))
    ok = ok and math.isfinite(loss)
    print("examples_v2: " + ("OK" if ok else "SOMETHING IS OFF"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
