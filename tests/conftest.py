"""Shared fixtures: run one check eagerly, inside tf.function and in a v1 Session.

In the spirit of TF's ``run_in_graph_and_eager_modes``: the ``context`` fixture
is parametrised over the contexts this leg has.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from compat_init import _runtime  # noqa: E402

TF1 = _runtime.is_tf1()
FLAVOUR = _runtime.keras_flavour()
#: Keras 3's backend ("tensorflow" on TF 1.x and Keras 2).  On another one
#: (the jax leg), native Keras' reference values come from the TensorFlow
#: backend, in a second process (tests/tf_reference.py): one seed, one tensor.
BACKEND = _runtime.keras_backend()
OTHER_BACKEND = BACKEND != "tensorflow"
OTHER_BACKEND_REASON = "Keras 3 on {} builds its variables outside TensorFlow".format(BACKEND)
#: The port's call traces as a TensorFlow function (its dataflow is read for
#: the pairing): TF 2 with Keras on TensorFlow.
TRACEABLE = not TF1 and not OTHER_BACKEND


def missing_dtype(dtype):
    """Why this leg's backend gives no ``dtype`` tensor, or None: JAX
    without x64 has no float64 (Keras' own initializers give float32 there
    too; tests/test_backends.py checks float64 with x64 on)."""
    if BACKEND == "jax" and str(getattr(dtype, "name", dtype)) == "float64":
        import jax

        if not jax.config.jax_enable_x64:
            return "JAX without x64 (JAX_ENABLE_X64=1) has no float64, for Keras' own initializers too"
    return None


def to_numpy(value):
    """A tensor of this leg's Keras backend (or of TensorFlow) as numpy."""
    if tf.is_tensor(value) and hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    if OTHER_BACKEND:
        import keras

        return np.asarray(keras.ops.convert_to_numpy(value))
    return np.asarray(value)
#: Native Keras seeded initializers draw stateless ``[seed, 0]`` values from
#: Keras 2.10 (TF 2.10) on; before, they drew other values (stateful ops, and
#: on 2.7 - 2.9 another seeding), so there is no bit-for-bit reference there
#: (measured by the version sweep).
KERAS_STATELESS = not TF1 and _runtime.tf_version() >= __import__("packaging.version").version.Version("2.10")
NOT_STATELESS_REASON = ("native Keras seeded initializers draw other values before TF 2.10 (compat_init gives the "
                        "2.10+ values, checked by the golden digests)")
# TF 2.0 - 2.2 name he_*/lecun_* only as functions returning VarianceScaling.
_PRESETS = {"GlorotUniform": (1.0, "fan_avg", "uniform"), "GlorotNormal": (1.0, "fan_avg", "truncated_normal"),
            "HeUniform": (2.0, "fan_in", "uniform"), "HeNormal": (2.0, "fan_in", "truncated_normal"),
            "LecunUniform": (1.0, "fan_in", "uniform"), "LecunNormal": (1.0, "fan_in", "truncated_normal")}


def native_keras(class_name, seed=None, **kwargs):
    """``tf.keras.initializers.<class_name>(seed, **kwargs)``, or the
    VarianceScaling it stands for where the class does not exist."""
    if OTHER_BACKEND:
        from tf_reference import tensorflow_backend_initializer

        return tensorflow_backend_initializer(class_name, seed=seed, **kwargs)
    module = tf.keras.initializers
    cls = getattr(module, class_name, None)
    if isinstance(cls, type):
        return cls(seed=seed, **kwargs)
    scale, mode, distribution = _PRESETS[class_name]
    return module.VarianceScaling(scale, mode, distribution, seed=seed)
CONTEXTS = ["eager", "function", "graph", "get_variable"]


class Context:
    """Evaluates ``build()`` (a callable returning a tensor) in one context."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name

    @property
    def expected_api(self):
        return "v1" if self.name in ("graph", "get_variable") else "v2"

    def run(self, build):
        if self.name == "eager":
            return to_numpy(build())
        if self.name == "function":
            return np.asarray(tf.function(build)().numpy())
        with tf.Graph().as_default():
            tensor = build()
            with tf.compat.v1.Session() as session:
                return session.run(tensor)

    def draw(self, make_initializer, shape, dtype="float32", global_seed=None):
        """Creates the initializer *inside* the context and draws ``shape``.

        ``global_seed`` fixes the graph-level seed (unseeded draws then replay).
        """

        def build():
            if global_seed is not None:
                if self.name in ("eager", "function"):
                    tf.random.set_seed(global_seed)
                else:
                    tf.compat.v1.set_random_seed(global_seed)
            return make_initializer()(shape, dtype=dtype)

        if global_seed is not None and self.name == "function":
            tf.random.set_seed(global_seed)
        if self.name != "get_variable":
            return self.run(build)
        with tf.Graph().as_default():
            if global_seed is not None:
                tf.compat.v1.set_random_seed(global_seed)
            variable = tf.compat.v1.get_variable(
                "w", shape=shape, dtype=dtype, initializer=make_initializer()
            )
            with tf.compat.v1.Session() as session:
                session.run(tf.compat.v1.global_variables_initializer())
                return session.run(variable)


@pytest.fixture(params=CONTEXTS)
def context(request):
    if TF1 and request.param in ("eager", "function"):
        pytest.skip("TF 1.15 runs graphs by default (its eager mode is tested in a subprocess)")
    return Context(request.param)


def free_ports(count):
    """``count`` free TCP ports on loopback (for test clusters)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def digest(array):
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
