"""Model-level migration parity: a v1-graph model against its Keras port."""
import os
import subprocess
import sys

import pytest
import tensorflow as tf

import compat_init as ci
from compat_init import _runtime, parity, port
from conftest import OTHER_BACKEND


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from examples_v1 import cnn_pair as old_cnn  # noqa: E402
from examples_v2 import cnn_pair as new_cnn  # noqa: E402

v1 = tf.compat.v1


def legacy(seeded=True, scale=1.0):
    def build():
        seed = (lambda s: s) if seeded else (lambda s: None)
        v1.get_variable("w", (600, 40), initializer=ci.glorot_uniform(seed=seed(3)))
        v1.get_variable("b", (40,), initializer=v1.zeros_initializer())
    return build


def keras(seeded=True, init=None):
    def build():
        seed = 3 if seeded else None
        return tf.keras.Sequential([tf.keras.layers.Dense(
            40, input_shape=(600,), kernel_initializer=init or ci.glorot_uniform(seed=seed))])
    return build


def test_the_article_cnn_pair_is_bit_equal():
    report = port.check_migration(old_cnn.build, new_cnn.build)
    assert [k.verdict for k in report.kernels] == ["bit-equal"] * 4, str(report)
    assert [k.shape for k in report.kernels] == [(3, 3, 1, 32), (32,), (5408, 10), (10,)]


def test_unseeded_pair_agrees_statistically():
    report = port.check_migration(legacy(seeded=False), keras(seeded=False))
    kernel, bias = report.kernels
    assert kernel.verdict == "agree" and kernel.tests, str(report)
    assert bias.verdict == "bit-equal"


def test_a_wrong_scale_in_the_port_is_caught():
    wrong = ci.variance_scaling(2.0, "fan_avg", "uniform")
    report = port.check_migration(legacy(seeded=False), keras(seeded=False, init=wrong))
    assert not report.passed
    assert report.kernels[0].verdict == "DISAGREE", str(report)


def test_mapping_overrides_creation_order():
    def reversed_legacy():
        v1.get_variable("b", (40,), initializer=v1.zeros_initializer())
        v1.get_variable("w", (600, 40), initializer=ci.glorot_uniform(seed=3))

    # Another creation order: the names' roles (w ~ kernel, b ~ bias) pair them, and say so.
    report = port.check_migration(reversed_legacy, keras())
    assert [p["how"] for p in report.pairs] == ["structure", "structure"] and report.passed, str(report)
    report = port.check_migration(reversed_legacy, keras(), mapping={"w": "kernel", "b": "bias"})
    assert [k.verdict for k in report.kernels] == ["bit-equal", "bit-equal"], str(report)
    assert [p["how"] for p in report.pairs] == ["mapping", "mapping"]
    with pytest.raises(ValueError, match="mapping must name exactly one port variable"):
        port.check_migration(reversed_legacy, keras(), mapping={"w": "no_such_weight"})


def test_cli_migration_command():
    result = subprocess.run(
        [sys.executable, "-m", "compat_init", "parity", "--migration",
         "examples_v1.cnn_pair:build", "examples_v2.cnn_pair:build"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "4 passed, 0 failed"
    assert result.stdout.count("bit-equal") == 4


# --- the migration proof: the same function, at init and while training -----

import numpy as np  # noqa: E402

from examples_v1 import attention_pair as old_attention  # noqa: E402
from examples_v2 import attention_pair as new_attention  # noqa: E402

HAS_ATTENTION = hasattr(tf.keras.layers, "MultiHeadAttention")
BATCH = (4, 28, 28, 1)
TOKENS = np.random.RandomState(0).randint(0, old_attention.VOCAB, size=(4, old_attention.SEQUENCE))


def cnn_port(activation="relu", conv=None):
    """The article's CNN port, or a wrong one."""
    def build():
        layers = tf.keras.layers
        return tf.keras.Sequential([
            (conv or layers.Conv2D)(32, (3, 3), activation=activation, input_shape=(28, 28, 1),
                                    kernel_initializer=ci.glorot_uniform(seed=1)),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(10, activation="softmax", kernel_initializer=ci.glorot_uniform(seed=2)),
        ])
    return build


class TransposedConv2D(tf.keras.layers.Conv2D):
    """A port that reads its kernel with the spatial axes swapped (a weight
    layout converted the wrong way)."""

    def call(self, inputs):
        kernel = tf.transpose(tf.convert_to_tensor(self.kernel), [1, 0, 2, 3])
        return self.activation(tf.nn.conv2d(inputs, kernel, [1, 1, 1, 1], "VALID") + self.bias)


class StopGradientDense(tf.keras.layers.Dense):
    """A port whose forward pass is right and whose gradients are not."""

    def call(self, inputs):
        if _runtime.keras_flavour() == "keras3":  # on every Keras 3 backend
            import keras

            return super().call(keras.ops.stop_gradient(inputs))
        return super().call(tf.stop_gradient(inputs))


def test_the_cnn_port_computes_the_same_function_and_trains_the_same():
    report = port.check_migration(old_cnn.build, new_cnn.build, inputs=BATCH, steps=5)
    function = report.function
    assert report.passed and function.passed, str(report)
    if not OTHER_BACKEND:  # bit-equal weights, the same ops here (JAX's convolution rounds otherwise)
        assert [o.max_abs for o in function.outputs] == [0.0]
    assert len(function.steps) == 5 and all(s.passed for s in function.steps)
    assert abs(function.steps[-1].loss_v1 - function.steps[-1].loss_v2) <= 1e-4 * function.steps[-1].loss_v1


@pytest.mark.parametrize("optimizer,loss", [("momentum", "mse"), ("adam", "sparse_categorical_crossentropy")])
def test_other_optimizers_and_losses_train_the_same_too(optimizer, loss):
    report = port.check_migration(old_cnn.build, new_cnn.build, inputs=BATCH, steps=3, optimizer=optimizer,
                                    loss=loss, learning_rate=0.05)
    assert report.passed, str(report)
    assert report.function.steps[-1].loss_v1 != report.function.steps[0].loss_v1  # it did train


def test_a_port_missing_an_activation_is_caught_and_located():
    report = port.check_migration(old_cnn.build, cnn_port(activation=None), inputs=BATCH)
    assert not report.passed and not report.function.passed
    assert all(k.verdict == "bit-equal" for k in report.kernels)  # same weights, another function
    where = report.function.divergence
    assert "the legacy graph applies Relu to that tensor and the port does not" in where, where
    assert "activation missing?" in where


def test_a_port_with_a_transposed_kernel_is_caught_and_located():
    report = port.check_migration(old_cnn.build, cnn_port(conv=TransposedConv2D), inputs=BATCH)
    assert not report.passed
    where = report.function.divergence
    assert where.startswith("the first layer whose output differs is "), where
    assert "transposed_conv2d" in where.split(":")[0], where


def test_a_port_whose_gradients_differ_is_caught_in_training():
    def wrong_port():
        layers = tf.keras.layers
        return tf.keras.Sequential([
            layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1),
                          kernel_initializer=ci.glorot_uniform(seed=1)),
            layers.MaxPooling2D((2, 2)), layers.Flatten(),
            StopGradientDense(10, activation="softmax", kernel_initializer=ci.glorot_uniform(seed=2)),
        ])

    report = port.check_migration(old_cnn.build, wrong_port, inputs=BATCH, steps=3)
    function = report.function
    assert all(o.passed for o in function.outputs) and not function.passed
    assert function.steps[0].weights[0].name == "conv/kernel" and not function.steps[0].weights[0].passed
    assert "the outputs agree before training, and after step 1" in function.divergence


@pytest.mark.skipif(not HAS_ATTENTION, reason="MultiHeadAttention exists from TF 2.4")
def test_the_attention_port_computes_the_same_function_and_trains_the_same():
    report = port.check_migration(old_attention.build, new_attention.build, inputs=TOKENS, steps=5)
    assert all(k.verdict == "bit-equal" for k in report.kernels), str(report)
    assert report.passed, str(report)
    assert len(report.function.steps) == 5


@pytest.mark.skipif(not HAS_ATTENTION, reason="MultiHeadAttention exists from TF 2.4")
def test_an_attention_port_without_its_softmax_is_caught():
    def wrong_port():
        layers = tf.keras.layers
        model = new_attention.build()
        # the same layers, the classifier without its activation
        x = model.layers[-2].output
        out = layers.Dense(new_attention.CLASSES, kernel_initializer=ci.glorot_uniform(seed=3))(x)
        return tf.keras.Model(model.inputs, out)

    report = port.check_migration(old_attention.build, wrong_port, inputs=TOKENS)
    assert not report.passed and not report.function.passed, str(report)


def test_function_arguments_are_checked():
    with pytest.raises(ValueError, match="steps needs inputs"):
        port.check_migration(old_cnn.build, new_cnn.build, steps=2)
    with pytest.raises(ValueError, match="optimizer must be one of sgd, momentum, adam"):
        port.check_migration(old_cnn.build, new_cnn.build, inputs=BATCH, optimizer="rmsprop")
    with pytest.raises(ValueError, match=r"the legacy graph has 1 input placeholder\(s\) \(images\) for 2 input array"):
        port.check_migration(old_cnn.build, new_cnn.build, inputs=[BATCH, BATCH])


def test_cli_migration_with_inputs_and_steps(tmp_path):
    base = [sys.executable, "-m", "compat_init", "parity", "--migration", "examples_v1.cnn_pair:build"]
    good = subprocess.run(base + ["examples_v2.cnn_pair:build", "--inputs", "4x28x28x1", "--steps", "3",
                                  "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "t.png")],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert good.returncode == 0, good.stderr[-2000:]
    assert good.stdout.strip().splitlines()[-1] == "5 passed, 0 failed"
    import json

    function = json.loads((tmp_path / "r.json").read_text())["function"]
    assert function["passed"] and len(function["steps"]) == 3
    assert (tmp_path / "t.png").stat().st_size > 10000
    usage = subprocess.run(base + ["examples_v2.cnn_pair:build", "--steps", "3"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert usage.returncode == 2
    assert usage.stderr.strip().splitlines()[-1] == (
        "compat-init: error: --steps needs --inputs (both models train on that batch); received --steps=3")


# --- a training checkpoint's .meta as the legacy side (issue 32, item 5) ------------------------------


@pytest.fixture(scope="module")
def training_checkpoint(tmp_path_factory):
    """A Saver checkpoint written while training (Adam, 3 steps, with a step
    counter): its .meta holds the optimizer's slots and powers of beta beside
    the model's variables, as most real checkpoints do."""
    import numpy as np

    prefix = str(tmp_path_factory.mktemp("training") / "model")
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(1)
        x = v1.placeholder(tf.float32, (None, 6), name="x")
        y = v1.placeholder(tf.float32, (None, 3), name="y")
        hidden = tf.nn.relu(tf.matmul(x, v1.get_variable("dense/kernel", (6, 5))) + v1.get_variable(
            "dense/bias", (5,), initializer=v1.zeros_initializer()))
        logits = tf.matmul(hidden, v1.get_variable("logits/kernel", (5, 3))) + v1.get_variable(
            "logits/bias", (3,), initializer=v1.zeros_initializer())
        tf.nn.softmax(logits, name="probs")
        loss = -tf.reduce_mean(tf.reduce_sum(y * tf.nn.log_softmax(logits), axis=1))
        train = v1.train.AdamOptimizer(0.05).minimize(loss, global_step=v1.train.get_or_create_global_step())
        rng = np.random.RandomState(0)
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            for _ in range(3):
                session.run(train, {x: rng.randn(8, 6), y: np.eye(3)[rng.randint(0, 3, 8)]})
            path = v1.train.Saver().save(session, prefix, global_step=3)
    return path


def dense_port(relu=True):
    def build():
        return tf.keras.Sequential([tf.keras.layers.Dense(5, activation="relu" if relu else None, input_shape=(6,),
                                                          name="dense"),
                                    tf.keras.layers.Dense(3, activation="softmax", name="logits")])
    return build


def test_a_training_checkpoints_meta_is_the_legacy_side(training_checkpoint):
    legacy = port.meta_graph(training_checkpoint + ".meta", ["probs:0"])
    report = port.check_migration(legacy, dense_port(), checkpoint=training_checkpoint, inputs=(8, 6))
    assert report.status == "pass", str(report)
    assert [p["legacy"] for p in report.pairs] == ["dense/kernel", "dense/bias", "logits/kernel", "logits/bias"]
    # The optimizer's state is recognized from the graph (the updates read it), named, and never demanded
    note = next(n for n in report.function.notes if "optimizer's state" in n)
    assert "10 variable(s)" in note and "beta1_power" in note and "dense/kernel/Adam" in note, note
    wrong = port.check_migration(legacy, dense_port(relu=False), checkpoint=training_checkpoint, inputs=(8, 6))
    assert wrong.status == "fail", str(wrong)
