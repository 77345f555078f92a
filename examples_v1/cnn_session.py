"""The seed article's TF1 CNN, in Session code, with compat_init initializers.

placeholder 28x28x1 -> conv 3x3x32 'same' + ReLU -> flatten -> dense 10 softmax,
trained a few steps on synthetic MNIST-shaped data.  Written with
``tf.compat.v1.get_variable`` + ``tf.nn`` so that it runs unchanged on TF 1.15
and on TF 2.x (Keras 3 has no ``tf.compat.v1.layers``).

Prints the initializer class each variable got and the measured vs theoretical
spread; exits 1 when something is off.
"""
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import compat_init as ci  # noqa: E402

v1 = tf.compat.v1
v1.disable_eager_execution()  # a no-op on TF 1.15, which runs graphs already
Z = 5.0  # accept 5 standard errors (two-sided p ~ 6e-7)
KURTOSIS = {"uniform": 1.8, "truncated_normal": 2.7737, "untruncated_normal": 3.0}


def build(images):
    initializers = {
        "conv/kernel": ci.glorot_uniform(seed=1),
        "dense/kernel": ci.glorot_normal(seed=2),
    }
    conv_w = v1.get_variable("conv/kernel", (3, 3, 1, 32), initializer=initializers["conv/kernel"])
    conv_b = v1.get_variable("conv/bias", (32,), initializer=v1.zeros_initializer())
    hidden = tf.nn.relu(tf.nn.conv2d(images, conv_w, strides=[1, 1, 1, 1], padding="SAME") + conv_b)
    flat = tf.reshape(hidden, [-1, 28 * 28 * 32])
    dense_w = v1.get_variable("dense/kernel", (28 * 28 * 32, 10), initializer=initializers["dense/kernel"])
    dense_b = v1.get_variable("dense/bias", (10,), initializer=v1.zeros_initializer())
    return tf.matmul(flat, dense_w) + dense_b, initializers, {"conv/kernel": conv_w, "dense/kernel": dense_w}


def native_class(initializer):
    """The TensorFlow/Keras class compat_init's subclass extends."""
    return next(c for c in type(initializer).__mro__ if not c.__module__.startswith("compat_init"))


def check_spread(name, initializer, values):
    t = ci.theory(initializer, values.shape)
    n = values.size
    std_error = t.std * math.sqrt((KURTOSIS[t.distribution] - 1.0) / (4.0 * n))
    measured = float(values.astype(np.float64).std())
    ok = abs(measured - t.std) < Z * std_error and float(np.abs(values).max()) <= t.bound * (1 + 1e-6)
    print("  {:<13} {:<45} fans=({}, {})  std measured {:.5f} theory {:.5f} (+-{:.5f})  max|w| {:.4f} <= {:.4f}  {}".format(
        name, native_class(initializer).__module__ + "." + native_class(initializer).__name__,
        t.fan_in, t.fan_out, measured, t.std, Z * std_error,
        float(np.abs(values).max()), t.bound, "ok" if ok else "OFF"))
    return ok


def main():
    rng = np.random.RandomState(0)
    x = rng.rand(256, 28, 28, 1).astype(np.float32)
    y = rng.randint(0, 10, size=256)
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, (None, 28, 28, 1))
        labels = v1.placeholder(tf.int64, (None,))
        logits, initializers, kernels = build(images)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        train = v1.train.AdamOptimizer(1e-3).minimize(loss)
        print("compat_init {} on TensorFlow {} (active api: {})".format(
            ci.__version__, tf.__version__, ci.active_api()))
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            ok = all(check_spread(n, initializers[n], session.run(kernels[n])) for n in kernels)
            ok = ok and all(ci.active_api() == "v1" and native_class(i).__module__.endswith("init_ops")
                            for i in initializers.values())
            losses = []
            for step in range(5):
                batch = slice(step * 32, step * 32 + 32)
                _, value = session.run([train, loss], {images: x[batch], labels: y[batch]})
                losses.append(value)
            print("  training loss per step:", " ".join("{:.3f}".format(v) for v in losses))
            ok = ok and all(np.isfinite(losses))
    print("examples_v1: " + ("OK" if ok else "SOMETHING IS OFF"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
