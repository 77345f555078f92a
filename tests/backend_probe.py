"""Run in fresh processes by tests/test_backends.py, one per Keras 3 backend
(``KERAS_BACKEND`` is read once, at ``import keras``):

    KERAS_BACKEND=jax python backend_probe.py

Prints one JSON line: the sha256 of every registry initializer's tensor for a
table of seeds and dtypes (and, on the TensorFlow backend, of the v1 path in a
Session), the types the v2 path returns, and what worked where Keras' own
initializers work (a layer build, ``jax.jit``, a ``SeedGenerator`` inside
``jax.jit``, serialization).
"""
import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHAPE = (5, 7)
SEED = 7
DTYPES = ("float32", "float16", "bfloat16", "float64")


def digest(array):
    import keras
    import numpy as np

    if "tensorflow" in sys.modules and sys.modules["tensorflow"].is_tensor(array):
        array = array.numpy()  # a v1 or TensorFlow-backend tensor
    return hashlib.sha256(np.ascontiguousarray(keras.ops.convert_to_numpy(array)).tobytes()).hexdigest()


def v2_values(ci, keras):
    found = {}
    for name in ci._registry.NAMES:
        for dtype in DTYPES:
            found["{}/{}".format(name, dtype)] = digest(getattr(ci, name)(seed=SEED, api="v2")(SHAPE, dtype=dtype))
    generator = keras.random.SeedGenerator(11)
    for draw in range(2):  # a SeedGenerator advances once per call, on every backend
        for name in ("glorot_uniform", "truncated_normal", "orthogonal"):
            found["{}/generator/{}".format(name, draw)] = digest(getattr(ci, name)(seed=generator)(SHAPE))
    # Seeds at the edges of the seed dtypes (int64, JAX's uint32, PyTorch's
    # int32): where Keras itself refuses the SeedGenerator, the key says so.
    for seed in (-5, 2 ** 31 - 1, 3000000000):
        try:
            generator = keras.random.SeedGenerator(seed)
        except (RuntimeError, OverflowError, ValueError) as error:
            found["he_uniform/generator/{}".format(seed)] = "Keras refuses it: {}".format(error)
        else:
            found["he_uniform/generator/{}".format(seed)] = digest(ci.he_uniform(seed=generator)(SHAPE))
    return found


def v1_values(ci, tf):
    found = {}
    with tf.Graph().as_default():
        made = {"{}/{}".format(name, dtype): getattr(ci, name)(seed=SEED, api="v1")(SHAPE, dtype=getattr(tf, dtype))
                for name in ci._registry.NAMES for dtype in DTYPES}
        with tf.compat.v1.Session() as session:
            for key, value in session.run(made).items():
                found[key] = digest(value)
    return found


def kind(value):
    """Whose tensor ``value`` is."""
    if "jax" in sys.modules and isinstance(value, sys.modules["jax"].Array):
        return "jax"
    if "torch" in sys.modules and sys.modules["torch"].is_tensor(value):
        return "torch"
    if "tensorflow" in sys.modules and sys.modules["tensorflow"].is_tensor(value):
        return "tensorflow"
    return type(value).__name__


def checks(ci, keras):
    import numpy as np

    backend = keras.backend.backend()
    done = {"type": kind(ci.glorot_uniform(seed=1)((3, 3)))}
    import tensorflow as tf

    inside = tf.function(lambda: ci.glorot_uniform(seed=1)((3, 3)))()  # TensorFlow's caller keeps a TF tensor
    done["tf_function"] = [kind(inside), digest(inside) == digest(ci.glorot_uniform(seed=1)((3, 3)))]
    layer = keras.layers.Dense(4, kernel_initializer=ci.he_uniform(seed=3))
    layer.build((None, 6))
    done["layer"] = digest(keras.ops.convert_to_numpy(layer.kernel)) == digest(ci.he_uniform(seed=3)((6, 4)))
    # As on the TensorFlow backend, a config names Keras' own class (a saved
    # model loads without compat_init); from_config clones ours, as layers do.
    ours = ci.lecun_normal(seed=4)
    config = keras.initializers.serialize(ours)
    again = keras.initializers.deserialize(config)
    back = type(ours).from_config(config["config"])
    done["serialized"] = [type(again).__module__.split(".")[0], again.get_config() == ours.get_config(),
                          type(back) is type(ours), digest(back((3, 5))) == digest(ours((3, 5)))]
    if backend == "jax":
        import jax

        jitted = jax.jit(lambda: ci.glorot_uniform(seed=1)((3, 3)))()
        done["float64"] = [str(ci.random_normal(seed=2)((2, 2), dtype="float64").dtype),
                           str(keras.initializers.RandomNormal(seed=2)((2, 2), dtype="float64").dtype)]
        done["jit"] = [kind(jitted), digest(jitted) == digest(ci.glorot_uniform(seed=1)((3, 3)))]
        traced, eager = keras.random.SeedGenerator(5), keras.random.SeedGenerator(5)

        @jax.jit
        def stateless(state):
            with keras.StatelessScope(state_mapping=[(traced.state, state)]) as scope:
                out = ci.he_normal(seed=traced)((4, 6))
            return out, scope.get_current_value(traced.state)

        out, state = stateless(traced.state.value)
        done["jit_generator"] = [digest(out) == digest(ci.he_normal(seed=eager)((4, 6))),
                                 np.asarray(state).tolist() == np.asarray(eager.state.value).tolist()]
    if backend == "torch":
        import torch

        # torch.compile as Keras uses it (no fullgraph): the draw runs eagerly
        # (TorchDynamo cannot trace TensorFlow), the rest compiles.
        compiled = torch.compile(lambda: ci.glorot_uniform(seed=1)((3, 3)) * 2.0)()
        done["compile"] = [kind(compiled), digest(compiled) == digest(ci.glorot_uniform(seed=1)((3, 3)) * 2.0)]
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_initializer=ci.glorot_uniform(seed=2))])
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
        history = model.fit(np.ones((8, 4), "float32"), np.zeros((8, 3), "float32"), epochs=2, verbose=0)
        losses = history.history["loss"]
        done["compiled_fit"] = [len(losses) == 2 and losses[1] < losses[0]]
    return done


def main():
    import keras
    import tensorflow as tf

    import compat_init as ci

    result = {"backend": keras.backend.backend(), "v2": v2_values(ci, keras), "checks": checks(ci, keras)}
    if result["backend"] == "tensorflow":
        result["v1"] = v1_values(ci, tf)
    print(json.dumps(result))


def without_tensorflow():
    """TensorFlow made unimportable (a JAX-only environment): the error a
    user gets, as one line."""
    sys.modules["tensorflow"] = None  # `import tensorflow` raises ImportError
    import compat_init as ci

    try:
        ci.glorot_uniform(seed=1)((3, 3))
    except ImportError as error:
        print(json.dumps({"error": str(error)}))
    else:
        print(json.dumps({"error": None}))


def outputs_of(weights, batch):
    """The example CNN port with ``weights`` loaded, on ``batch``: its
    weights' digests and its outputs."""
    import keras
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from examples_v2 import cnn_pair

    model = cnn_pair.build()
    model.load_weights(weights)
    out = keras.ops.convert_to_numpy(model(np.load(batch)))
    print(json.dumps({"backend": keras.backend.backend(), "weights": [digest(w) for w in model.weights],
                      "outputs": np.asarray(out, np.float64).tolist()}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["no-tf"]:
        without_tensorflow()
    elif sys.argv[1:2] == ["load"]:
        outputs_of(*sys.argv[2:4])
    else:
        main()
