"""Keras models with compat_init initializers save, load, and need no compat_init to load."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci

from packaging.version import Version

from compat_init import _runtime
from conftest import KERAS_STATELESS, NOT_STATELESS_REASON, OTHER_BACKEND, TF1, digest, native_keras, to_numpy

SUFFIX = ".h5" if TF1 else ".keras"


def build_model():
    return tf.keras.Sequential([
        tf.keras.layers.Conv2D(
            4, 3, padding="same", input_shape=(8, 8, 1),
            kernel_initializer=ci.variance_scaling(2.0, "fan_out", "uniform", seed=5)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(6, kernel_initializer=ci.glorot_uniform(seed=3)),
        tf.keras.layers.Dense(2, kernel_initializer=ci.he_normal(seed=4)),
    ])


def kernels(model):
    return [w for w in model.get_weights() if w.ndim >= 2]


@pytest.fixture
def saved(tmp_path):
    model = build_model()
    path = str(tmp_path / ("model" + SUFFIX))
    model.save(path)
    return model, path


def initializer_configs(model):
    layers = [l for l in model.layers if hasattr(l, "kernel_initializer")]
    return [l.get_config()["kernel_initializer"] for l in layers]


def test_initial_kernels_are_the_seeded_tensors():
    model = build_model()
    conv, dense1, dense2 = kernels(model)
    with ci.use_api("v1"), tf.Graph().as_default():
        expected = [
            ci.variance_scaling(2.0, "fan_out", "uniform", seed=5)((3, 3, 1, 4)),
            ci.glorot_uniform(seed=3)((256, 6)),
            ci.he_normal(seed=4)((6, 2)),
        ]
        with tf.compat.v1.Session() as session:
            expected = session.run(expected)
    for got, want in zip((conv, dense1, dense2), expected):
        np.testing.assert_array_equal(got, want)


def test_saved_config_names_the_public_keras_classes(saved):
    model, _ = saved
    configs = initializer_configs(model)
    he_normal = "HeNormal" if isinstance(getattr(tf.keras.initializers, "HeNormal", None), type) else "VarianceScaling"
    assert [c["class_name"] for c in configs] == ["VarianceScaling", "GlorotUniform", he_normal]
    assert [c["config"]["seed"] for c in configs] == [5, 3, 4]
    if not TF1 and _runtime.keras_version() >= Version("2.13"):  # Keras 2.12 and older write no module key
        assert all(c.get("module") == "keras.initializers" for c in configs), configs


def test_load_in_process_keeps_weights_and_config(saved):
    model, path = saved
    loaded = tf.keras.models.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert initializer_configs(loaded) == initializer_configs(model)


def test_load_in_a_fresh_process_without_compat_init(saved):
    model, path = saved
    code = textwrap.dedent("""
        import sys, json, hashlib
        sys.modules["compat_init"] = None  # as if compat_init were not installed
        import numpy as np, tensorflow as tf
        model = tf.keras.models.load_model(sys.argv[1])
        layers = [l for l in model.layers if hasattr(l, "kernel_initializer")]
        print(json.dumps({
            "digests": [hashlib.sha256(np.ascontiguousarray(w).tobytes()).hexdigest()
                        for w in model.get_weights()],
            "configs": [l.get_config()["kernel_initializer"] for l in layers],
        }))
    """)
    out = subprocess.run([sys.executable, "-c", code, path], stdout=subprocess.PIPE,
                         check=True, universal_newlines=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["digests"] == [digest(w) for w in model.get_weights()]
    assert result["configs"] == json.loads(json.dumps(initializer_configs(model)))


def build_sequence_model():
    """Embedding + MultiHeadAttention (TF 2) + LSTM + Dense, with the rest of
    the random family in their slots."""
    tokens = tf.keras.Input((6,), dtype="int32")
    x = tf.keras.layers.Embedding(50, 16, embeddings_initializer=ci.truncated_normal(stddev=0.02, seed=6))(tokens)
    if hasattr(tf.keras.layers, "MultiHeadAttention"):  # TF >= 2.4
        x = tf.keras.layers.MultiHeadAttention(
            num_heads=2, key_dim=8, kernel_initializer=ci.glorot_uniform(seed=1))(x, x)
    if TF1:  # TF 1.15's LSTM fails to build with the numpy its leg has (symbolic tensor to numpy)
        x = tf.keras.layers.Flatten()(x)
        x = tf.keras.layers.Dense(8, kernel_initializer=ci.orthogonal(seed=8))(x)
    else:
        x = tf.keras.layers.LSTM(8, kernel_initializer=ci.random_uniform(-0.1, 0.1, seed=7),
                                 recurrent_initializer=ci.orthogonal(seed=8))(x)
    out = tf.keras.layers.Dense(3, kernel_initializer=ci.random_normal(stddev=0.1, seed=9))(x)
    return tf.keras.Model(tokens, out)


def test_attention_model_saves_and_loads_with_and_without_compat_init(tmp_path):
    model = build_sequence_model()
    path = str(tmp_path / ("seq" + SUFFIX))
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    code = textwrap.dedent("""
        import sys, json, hashlib
        sys.modules["compat_init"] = None  # as if compat_init were not installed
        import numpy as np, tensorflow as tf
        model = tf.keras.models.load_model(sys.argv[1])
        print(json.dumps([hashlib.sha256(np.ascontiguousarray(w).tobytes()).hexdigest()
                          for w in model.get_weights()]))
    """)
    out = subprocess.run([sys.executable, "-c", code, path], stdout=subprocess.PIPE,
                         check=True, universal_newlines=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [digest(w) for w in model.get_weights()]


@pytest.mark.skipif(TF1, reason="the weights are Keras' seeded tensors on TF 2")
@pytest.mark.skipif(not KERAS_STATELESS or not hasattr(tf.keras.layers, "MultiHeadAttention"),
                    reason=NOT_STATELESS_REASON + "; MultiHeadAttention exists from TF 2.4")
def test_attention_model_weights_are_the_native_seeded_ones():
    ours = build_sequence_model().get_weights()
    tokens = tf.keras.Input((6,), dtype="int32")
    x = tf.keras.layers.Embedding(50, 16, embeddings_initializer=native_keras("TruncatedNormal", stddev=0.02,
                                                                               seed=6))(tokens)
    x = tf.keras.layers.MultiHeadAttention(
        num_heads=2, key_dim=8, kernel_initializer=native_keras("GlorotUniform", seed=1))(x, x)
    x = tf.keras.layers.LSTM(8, kernel_initializer=native_keras("RandomUniform", minval=-0.1, maxval=0.1, seed=7),
                             recurrent_initializer=native_keras("Orthogonal", seed=8))(x)
    out = tf.keras.layers.Dense(3, kernel_initializer=native_keras("RandomNormal", stddev=0.1, seed=9))(x)
    theirs = tf.keras.Model(tokens, out).get_weights()
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


ROUND_TRIP = ["glorot_uniform", "he_normal", "variance_scaling", "truncated_normal", "random_normal",
              "random_uniform", "orthogonal", "uniform_unit_scaling"]


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("name", ROUND_TRIP)
def test_get_config_from_config_round_trip(api, name):
    init = getattr(ci, name)(seed=9, api=api)
    clone = type(init).from_config(init.get_config())
    assert type(clone) is type(init)
    assert clone.get_config() == init.get_config()
    with tf.Graph().as_default():
        a, b = init((5, 3)), clone((5, 3))
        with tf.compat.v1.Session() as session:
            a, b = session.run([a, b])
    np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(TF1, reason="keras.initializers.serialize is the TF 2 API")
def test_keras_serialize_deserialize_gives_the_same_values():
    init = ci.glorot_normal(seed=12)
    restored = tf.keras.initializers.deserialize(tf.keras.initializers.serialize(init))
    assert isinstance(restored, tf.keras.initializers.GlorotNormal)
    assert restored.get_config()["seed"] == 12
    # The native class draws Keras' stateless values from TF 2.10 on; on another Keras 3 backend it draws with
    # that backend's generator (a config names Keras' own class: docs/explanation/reproducibility.md)
    if KERAS_STATELESS and not OTHER_BACKEND:
        np.testing.assert_array_equal(to_numpy(restored((7, 7))), to_numpy(init((7, 7))))
