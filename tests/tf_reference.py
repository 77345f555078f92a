"""Native Keras on the TensorFlow backend, for a test session on another one.

compat_init's claim on Keras 3's JAX and PyTorch backends is that one seed
gives the tensor native Keras gives *on the TensorFlow backend* (Keras' own
initializers draw other values on each backend).  Keras reads
``KERAS_BACKEND`` once per process, so the reference runs in a second
process: this file, started once per test session with
``KERAS_BACKEND=tensorflow``, answers requests on its standard input:

    (class name, config, shape, dtype) -> numpy array

A fresh native initializer per request (seeded ones draw the same values on
every call).  The client is :func:`tensorflow_backend_initializer`, a Keras
initializer a test hands to a layer or calls itself.
"""
import atexit
import os
import pickle
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _send(stream, value):
    data = pickle.dumps(value, protocol=4)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream):
    header = stream.read(8)
    if len(header) < 8:
        return None
    (size,) = struct.unpack("<Q", header)
    return pickle.loads(stream.read(size))


class _Server:
    def __init__(self):
        env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
        env.pop("TF_USE_LEGACY_KERAS", None)
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
        atexit.register(self.close)

    def ask(self, request):
        _send(self.process.stdin, request)
        answer = _receive(self.process.stdout)
        if answer is None:
            raise RuntimeError("the TensorFlow-backend reference process ended (exit {})".format(self.process.wait()))
        kind, value = answer
        if kind == "error":
            raise RuntimeError("native Keras on the TensorFlow backend raised: {}".format(value))
        return value

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


_SERVER = None


def native_values(class_name, config, shape, dtype, index=0):
    """The ``index``-th call (from 0) of a fresh
    ``keras.initializers.<class_name>.from_config(config)`` on the
    TensorFlow backend, with ``shape`` and ``dtype``, as numpy (a
    ``SeedGenerator`` seed moves on once per call)."""
    global _SERVER
    if _SERVER is None:
        _SERVER = _Server()
    return _SERVER.ask((class_name, dict(config), tuple(shape), dtype, index))


_CLASSES = {}


def tensorflow_backend_initializer(class_name, **kwargs):
    """Native Keras' ``class_name(**kwargs)`` whose values are drawn on the
    TensorFlow backend and handed back as this backend's tensor.  A subclass
    of this backend's native class: a layer treats it as it treats the
    native one (EinsumDense gives a VarianceScaling its ``input_axes`` and
    clones it through ``from_config``), and the clone draws from the
    reference too."""
    if class_name not in _CLASSES:
        import keras

        def __call__(self, shape, dtype=None):
            dtype = keras.backend.standardize_dtype(dtype or keras.backend.floatx())
            index = self.__dict__.get("_reference_calls", 0)
            self._reference_calls = index + 1
            values = native_values(class_name, self.get_config(), shape, dtype, index)
            return keras.ops.convert_to_tensor(values, dtype=dtype)

        native = getattr(keras.initializers, class_name)
        _CLASSES[class_name] = type("TensorFlowBackend" + class_name, (native,), {"__call__": __call__})
    return _CLASSES[class_name](**kwargs)


def _serve():
    import numpy as np

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    assert keras.backend.backend() == "tensorflow", keras.backend.backend()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write on the answers' stream
    while True:
        request = _receive(stdin)
        if request is None:
            return
        class_name, config, shape, dtype, index = request
        try:
            initializer = getattr(keras.initializers, class_name).from_config(config)
            for _ in range(index + 1):
                value = initializer(shape, dtype=dtype)
            answer = ("ok", np.asarray(keras.ops.convert_to_numpy(value)))
        except Exception as error:  # noqa: BLE001 - handed to the test, which fails with it
            answer = ("error", "{}: {}".format(type(error).__name__, error))
        _send(stdout, answer)


if __name__ == "__main__":
    _serve()
