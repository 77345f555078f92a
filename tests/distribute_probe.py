"""Run in a fresh process by test_distribute.py (logical devices must be set first).

Builds the article's Keras CNN under MirroredStrategy over two logical CPU
devices and prints JSON: per kernel, the digests of every replica's initial
value, the single-device model's digests, and the unseeded spread.
"""
import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import compat_init as ci  # noqa: E402
from compat_init import _runtime  # noqa: E402

TF1 = _runtime.is_tf1()
SESSION = None
if TF1:
    SESSION = tf.compat.v1.Session(config=tf.compat.v1.ConfigProto(device_count={"CPU": 2}))
    tf.compat.v1.keras.backend.set_session(SESSION)
else:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])


def build(seeded):
    s = (lambda k: k) if seeded else (lambda k: None)
    layers = tf.keras.layers
    return tf.keras.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1),
                      kernel_initializer=ci.glorot_uniform(seed=s(1))),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(10, activation="softmax", kernel_initializer=ci.glorot_normal(seed=s(2))),
    ])


def value(variable):
    if TF1:
        return SESSION.run(variable)
    return np.asarray(variable.numpy())


def replicas(layer):
    kernel = layer.kernel
    if not hasattr(kernel, "values") and not callable(getattr(kernel, "value", None)):
        kernel = kernel.value  # Keras 3 wraps the tf.Variable (a property there)
    return [value(v) for v in getattr(kernel, "values", [kernel])]


def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def main():
    # A global seed makes the unseeded draws replay (fixed-seed statistics).
    if TF1:
        tf.compat.v1.set_random_seed(0)
    else:
        tf.random.set_seed(0)
    devices = ["/cpu:0", "/cpu:1"]
    strategy = tf.distribute.MirroredStrategy(devices)
    out = {"replicas": strategy.num_replicas_in_sync}
    for seeded in (True, False):
        with strategy.scope():
            model = build(seeded)
        if TF1:
            SESSION.run(tf.compat.v1.global_variables_initializer())
        kernels = [l for l in model.layers if hasattr(l, "kernel")]
        out["seeded" if seeded else "unseeded"] = [
            {"shape": list(replicas(l)[0].shape),
             "digests": [digest(r) for r in replicas(l)],
             "std": float(replicas(l)[0].astype(np.float64).std()),
             "max": float(np.abs(replicas(l)[0]).max())}
            for l in kernels
        ]
    single = build(True)
    if TF1:
        SESSION.run(tf.compat.v1.global_variables_initializer())
    out["single_device"] = [digest(value(l.kernel)) for l in single.layers if hasattr(l, "kernel")]
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
