"""Named inputs for the proof (issue 23 row 4): a dict of arrays or shapes by
legacy placeholder, an input map onto a port that names its inputs otherwise,
integer placeholders drawn within the embedding table they index; legacy
variables the compared outputs never read are skipped and listed; a Saver's
.meta graph as the legacy side.  Every leg."""
import os

import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci
from compat_init import _runtime, port
from compat_init._errors import UsageError

v1 = tf.compat.v1
needs_eager = pytest.mark.skipif(not _runtime.can_evaluate_eagerly(),
                                 reason="the Keras port with named int inputs runs eagerly (TF 2)")


def legacy():
    ids = v1.placeholder(tf.int32, (None, 3), name="ids")
    x = v1.placeholder(tf.float32, (None, 4), name="x")
    table = v1.get_variable("embed/embeddings", (5, 4), initializer=ci.glorot_uniform(seed=1))
    kernel = v1.get_variable("dense/kernel", (4, 2), initializer=ci.glorot_uniform(seed=2))
    v1.get_variable("aux_head/kernel", (4, 7), initializer=ci.glorot_uniform(seed=3))  # feeds no output
    hidden = tf.reduce_mean(tf.gather(table, ids), axis=1) + x
    return tf.matmul(hidden, kernel)


def keras_port():
    """Inputs named otherwise, and in the other order."""
    layers = tf.keras.layers
    features = tf.keras.Input((4,), name="features")
    tokens = tf.keras.Input((3,), dtype="int32", name="tokens")
    embedded = layers.Embedding(5, 4, embeddings_initializer=ci.glorot_uniform(seed=1), name="embed")(tokens)
    hidden = layers.Add()([layers.GlobalAveragePooling1D()(embedded), features])
    out = layers.Dense(2, use_bias=False, kernel_initializer=ci.glorot_uniform(seed=2), name="dense")(hidden)
    return tf.keras.Model([features, tokens], out)


INPUT_MAP = {"ids": "tokens", "x": "features"}


@needs_eager
def test_named_shapes_an_input_map_and_ids_in_range():
    report = port.check_migration(legacy, keras_port, inputs={"ids": (8, 3), "x": (8, 4)}, input_map=INPUT_MAP,
                                  steps=2, loss="mse")
    assert report.exit_code == 0, str(report)
    notes = " ".join(report.function.notes)
    assert "inputs for ids drawn as integers in [0, 5)" in notes, notes
    assert "inputs paired by name: ids -> tokens, x -> features" in notes, notes
    assert report.unpaired == ["legacy aux_head/kernel (skipped: not on the path to the outputs)"]


@needs_eager
def test_named_arrays_are_fed_as_given():
    ids = np.array([[0, 1, 2], [4, 4, 3]], np.int32)
    x = np.random.RandomState(0).rand(2, 4).astype(np.float32)
    report = port.check_migration(legacy, keras_port, inputs={"x": x, "ids": ids}, input_map=INPUT_MAP)
    assert report.exit_code == 0, str(report)
    assert not any("drawn" in n for n in report.function.notes)


@needs_eager
def test_an_input_map_naming_no_port_input_is_one_clear_error():
    with pytest.raises(UsageError, match="input_map must name the port's inputs .*features.*tokens"):
        port.check_migration(legacy, keras_port, inputs={"ids": (8, 3), "x": (8, 4)},
                             input_map={"ids": "token_ids", "x": "features"})


@pytest.mark.parametrize("kwargs,words", [
    (dict(inputs={"ids": (8, 3)}, input_map={"nope": "tokens"}), "input_map must name the placeholders"),
    (dict(inputs=[(8, 3), (8, 4)], input_map={"ids": "tokens"}), "input_map needs named inputs"),
    (dict(inputs={"ids": (8, 3), "x": (8, 4)}, placeholders=["ids", "x"]), "placeholders must not be given"),
], ids=["unknown-placeholder", "positional-inputs", "both-named"])
def test_bad_named_inputs(kwargs, words):
    with pytest.raises(UsageError, match=words):
        port.check_migration(legacy, keras_port, **kwargs)


def test_a_meta_graph_is_the_legacy_side(tmp_path):
    prefix = str(tmp_path / "model.ckpt")
    with tf.Graph().as_default():
        out = legacy()
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            v1.train.Saver().save(session, prefix)
        name = out.name
    build = port.meta_graph(prefix + ".meta", [name])
    with tf.Graph().as_default():
        (tensor,) = build()
        assert tensor.name == name
        assert {v.op.name for v in v1.trainable_variables()} == {"embed/embeddings", "dense/kernel",
                                                                 "aux_head/kernel"}
    with tf.Graph().as_default(), pytest.raises(UsageError, match="outputs must name tensors"):
        port.meta_graph(prefix + ".meta", ["no_such_tensor:0"])()
    with pytest.raises(UsageError, match="needs the names of its outputs"):
        port.meta_graph(prefix + ".meta", [])
    with pytest.raises(UsageError, match="must be an existing file"):
        port.meta_graph(os.path.join(str(tmp_path), "missing.meta"), [name])


def slim_batch_norm_without_tf_keras():
    """What TF-Slim's batch_norm does under TF 2.16+ without tf-keras installed."""
    raise ModuleNotFoundError("No module named 'tf_keras'", name="tf_keras")


def test_a_module_tensorflow_moved_is_named_with_its_fix():
    with pytest.raises(UsageError) as caught:
        port.check_migration(slim_batch_norm_without_tf_keras, keras_port)
    message = str(caught.value)
    assert "needs the module tf_keras" in message and "pip install tf-keras==" in message, message
    assert len(message.splitlines()) == 1


def test_a_module_tensorflow_moved_is_one_line_on_the_command_line():
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-m", "compat_init", "parity", "--migration",
                             "tests.test_named_inputs:slim_batch_norm_without_tf_keras",
                             "tests.test_named_inputs:keras_port"], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    ours = [line for line in result.stderr.splitlines() if line.startswith("compat-init")]
    assert result.returncode == 2 and len(ours) == 1 and "pip install tf-keras==" in ours[0], result.stderr[-2000:]
