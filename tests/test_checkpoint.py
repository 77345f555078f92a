"""Trained tensors into the port: checkpoints written by TF 1.15 (and by Keras 2)
read on every leg, converted into Keras ports, and the proof at the trained
weights; every bad checkpoint is one clear error and nothing is written."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from compat_init import _runtime, port
from compat_init.parity._model import weight_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from examples_v1 import attention_pair as old_attention  # noqa: E402
from examples_v1 import cnn_pair as old_cnn  # noqa: E402
from examples_v2 import attention_pair as new_attention  # noqa: E402
from examples_v2 import cnn_pair as new_cnn  # noqa: E402

FIXTURES = os.path.join(ROOT, "tests", "fixtures")
TF115 = os.path.join(FIXTURES, "tf115")
EAGER = _runtime.can_evaluate_eagerly()
#: The port's call traces as a TensorFlow function: pairs follow the dataflow
#: (as conftest's TRACEABLE; this module is also imported by subprocesses).
TRACEABLE = EAGER and _runtime.keras_backend() == "tensorflow"
HAS_ATTENTION = hasattr(tf.keras.layers, "MultiHeadAttention")
needs_eager = pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port; TF 1.x runs graphs")
needs_attention = pytest.mark.skipif(not HAS_ATTENTION, reason="MultiHeadAttention exists from TF 2.4")
v1 = tf.compat.v1


def fixture(*parts):
    return os.path.join(TF115, *parts)


def cnn_batch():
    return np.load(fixture("cnn_sgd", "batch.npy"))


# --- the proof at the trained weights (every leg, TF 1.15 included) ---------------------------


def test_the_cnn_proof_runs_at_the_trained_weights():
    report = port.check_migration(old_cnn.build, new_cnn.build, checkpoint=fixture("cnn_sgd"), inputs=cnn_batch(),
                                  steps=3)
    assert report.passed and report.checkpoint.endswith("model.ckpt-3"), str(report)
    assert "both models start from the 4 tensors of checkpoint" in str(report)
    # the trained weights are not the initial ones: the outputs differ from the untrained model's
    untrained = port.check_migration(old_cnn.build, new_cnn.build, inputs=cnn_batch())
    assert report.function.steps[0].loss_v1 != untrained.function.outputs[0].max_abs


@needs_attention
def test_the_attention_proof_runs_at_the_trained_weights():
    report = port.check_migration(old_attention.build, new_attention.build, checkpoint=fixture("attention_adam"),
                                  inputs=np.load(fixture("attention_adam", "batch.npy")), steps=3)
    assert report.passed, str(report)


def test_a_wrong_port_fails_at_the_trained_weights_too():
    def no_relu():
        layers = tf.keras.layers
        return tf.keras.Sequential([
            layers.Conv2D(32, (3, 3), input_shape=(28, 28, 1)), layers.MaxPooling2D((2, 2)), layers.Flatten(),
            layers.Dense(10, activation="softmax")])

    report = port.check_migration(old_cnn.build, no_relu, checkpoint=fixture("cnn_sgd"), inputs=cnn_batch())
    assert report.status == "fail" and "activation missing?" in report.function.divergence, str(report)


# --- conversion (TF 2 legs) ---------------------------------------------------------------------


@needs_eager
@pytest.mark.parametrize("with_legacy", [True, False], ids=["legacy-builder", "port-alone"])
def test_the_tf115_cnn_checkpoint_converts_into_the_port(with_legacy):
    from compat_init import checkpoint

    model, report = checkpoint.convert(fixture("cnn_sgd"), new_cnn.build, old_cnn.build if with_legacy else None)
    assert report.counts() == {"loaded": 4, "skipped": 1, "error": 0} and not report.missing, str(report)
    reader = tf.train.load_checkpoint(fixture("cnn_sgd"))
    loaded = {e.weight: e.key for e in report.entries if e.status == "loaded"}
    for weight in model.weights:
        np.testing.assert_array_equal(weight.numpy(), reader.get_tensor(loaded[weight_name(weight)]))
    assert [e.reason for e in report.entries if e.status == "skipped"] == ["the training step counter (global_step)"]
    assert {e.how for e in report.entries if e.status == "loaded"} == {
        ("dataflow" if TRACEABLE else "creation order") if with_legacy else "name"}


@needs_eager
@needs_attention
def test_the_tf115_attention_checkpoint_skips_adam_state_with_reasons():
    from compat_init import checkpoint

    _, report = checkpoint.convert(fixture("attention_adam"), new_attention.build, old_attention.build)
    counts = report.counts()
    assert counts == {"loaded": 11, "skipped": 25, "error": 0}, str(report)
    reasons = {e.key: e.reason for e in report.entries if e.status == "skipped"}
    assert reasons["beta1_power"].startswith("optimizer state (beta1_power)")
    assert reasons["query/kernel/Adam_1"] == "optimizer slot of query/kernel: not carried (the port's optimizer " \
                                            "starts fresh)"
    # What --optimizer-state carries is data on each entry, not a suffix of its reason
    state = {e.key for e in report.entries if e.kind == "optimizer state"}
    assert state == {k for k, why in reasons.items() if why.startswith("optimizer")} and len(state) == 2 + 2 * 11
    assert all(e.kind == "" for e in report.entries if e.status == "loaded")


def v1_layers_port():
    """The Keras port of the fixture's tf.compat.v1.layers model (Keras 3 cannot build that model)."""
    layers = tf.keras.layers
    inputs = tf.keras.Input((8, 8, 1))
    h = layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    h = layers.BatchNormalization(name="bn", epsilon=1e-3, momentum=0.99)(h)
    h = layers.Flatten()(h)
    return tf.keras.Model(inputs, layers.Dense(3, name="logits")(h))


@needs_eager
def test_a_v1_layers_checkpoint_converts_with_the_port_alone():
    from compat_init import checkpoint

    model, report = checkpoint.convert(fixture("v1_layers"), v1_layers_port)
    assert report.ok and report.counts()["loaded"] == 8, str(report)
    assert {e.key for e in report.entries if e.status == "loaded"} >= {"model/bn/moving_mean",
                                                                          "model/bn/moving_variance"}
    out = np.asarray(model(np.load(fixture("v1_layers", "batch.npy")), training=False))
    expected = np.load(fixture("v1_layers", "outputs.npy"))  # TF 1.15's own outputs of the trained model
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@needs_eager
@needs_attention
def test_a_keras2_save_weights_checkpoint_converts_into_the_port():
    from compat_init import checkpoint

    folder = os.path.join(FIXTURES, "keras2", "attention")
    model, report = checkpoint.convert(folder, new_attention.build)
    assert report.format == "object-based" and report.ok and report.counts()["loaded"] == 11, str(report)
    out = np.asarray(model(np.load(os.path.join(folder, "tokens.npy"))))
    np.testing.assert_allclose(out, np.load(os.path.join(folder, "outputs.npy")), rtol=1e-5, atol=1e-6)


@needs_eager
def test_save_is_atomic_and_loads_back(tmp_path):
    from compat_init import checkpoint

    model, _ = checkpoint.convert(fixture("cnn_sgd"), new_cnn.build)
    out = str(tmp_path / ("port.weights.h5" if _runtime.keras_flavour() == "keras3" else "port.h5"))
    checkpoint.save(model, out)
    assert sorted(os.listdir(str(tmp_path))) == [os.path.basename(out)]  # no temporary file left
    fresh = new_cnn.build()
    fresh.load_weights(out)
    for a, b in zip(fresh.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# --- bad checkpoints: one clear error, nothing loaded or written ---------------------------------


def copy_fixture(tmp_path, name="cnn_sgd"):
    folder = tmp_path / name
    shutil.copytree(fixture(name), str(folder))
    return folder


def _write_checkpoint(prefix, tensors):
    """A name-based checkpoint with these tensors, written by this TensorFlow's Saver."""
    with tf.Graph().as_default():
        variables = [v1.get_variable(name, initializer=tf.constant(value)) for name, value in tensors.items()]
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            v1.train.Saver(variables).save(session, prefix, write_meta_graph=False)
    return prefix


@needs_eager
@pytest.mark.parametrize("damage,words", [
    ("missing", r"checkpoint .*nowhere does not exist \(no .*nowhere.index"),
    ("no-data", r"model.ckpt-3.index has no data shard"),
    ("truncated", r"cannot be read"),
    ("corrupt-index", r"cannot be read"),
    ("empty-folder", r"is a folder without a checkpoint"),
])
def test_bad_checkpoint_files_are_one_clear_error(tmp_path, damage, words):
    from compat_init import checkpoint

    folder = copy_fixture(tmp_path)
    path = str(folder)
    if damage == "missing":
        path = str(tmp_path / "nowhere")
    elif damage == "no-data":
        os.remove(str(folder / "model.ckpt-3.data-00000-of-00001"))
    elif damage == "truncated":
        data = folder / "model.ckpt-3.data-00000-of-00001"
        data.write_bytes(data.read_bytes()[:1000])
    elif damage == "corrupt-index":
        (folder / "model.ckpt-3.index").write_bytes(b"not an index at all" * 10)
    elif damage == "empty-folder":
        path = str(tmp_path / "empty")
        os.mkdir(path)
    with pytest.raises(ValueError, match=words):
        checkpoint.convert(path, new_cnn.build)


@needs_eager
def test_shape_and_dtype_mismatches_name_both(tmp_path):
    from compat_init import checkpoint

    def port_of(dtype="float32"):
        return lambda: tf.keras.Sequential([tf.keras.layers.Dense(3, input_shape=(4,), dtype=dtype)])

    wide = _write_checkpoint(str(tmp_path / "wide" / "model.ckpt"), {
        "dense/kernel": np.ones((4, 5), np.float32), "dense/bias": np.zeros((5,), np.float32)})
    with pytest.raises(ValueError, match=r"unfilled|shape"):
        checkpoint.convert(wide, port_of(), mapping={"dense/kernel": "kernel", "dense/bias": "bias"})
    half = _write_checkpoint(str(tmp_path / "half" / "model.ckpt"), {
        "dense/kernel": np.ones((4, 3), np.float16), "dense/bias": np.zeros((3,), np.float16)})
    _, report = checkpoint.convert(half, port_of())
    assert report.ok and any("cast from float16 to float32 (lossless)" in n for n in report.notes), str(report)
    double = _write_checkpoint(str(tmp_path / "double" / "model.ckpt"), {
        "dense/kernel": np.ones((4, 3), np.float64), "dense/bias": np.zeros((3,), np.float64)})
    with pytest.raises(ValueError, match=r"dense/.* has dtype float64 and port weight .* has dtype float32: a "
                                         r"lossy cast is refused"):
        checkpoint.convert(double, port_of())


@needs_eager
def test_a_key_mapped_twice_is_refused():
    from compat_init import checkpoint

    def named():
        layers = tf.keras.layers
        return tf.keras.Sequential([layers.Conv2D(32, (3, 3), input_shape=(28, 28, 1), name="c"),
                                    layers.MaxPooling2D((2, 2)), layers.Flatten(), layers.Dense(10, name="d")])

    with pytest.raises(ValueError, match="mapping names .*c/kernel twice"):
        checkpoint.convert(fixture("cnn_sgd"), named, mapping={"conv/kernel": "c/kernel", "dense/kernel": "c/kernel"})


# --- the command line ------------------------------------------------------------------------------


def convert_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "compat_init", "convert"] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def out_name():
    return "port.weights.h5" if _runtime.keras_flavour() == "keras3" else "port.h5"


def ours(stderr):
    return [line for line in stderr.splitlines() if line.startswith("compat-init")]


@needs_eager
def test_cli_convert_with_the_proof_writes_only_when_it_passes(tmp_path):
    out = tmp_path / out_name()
    good = convert_cli("--migration", "examples_v1.cnn_pair:build", "examples_v2.cnn_pair:build", "--checkpoint",
                       fixture("cnn_sgd"), "--out", str(out), "--inputs", fixture("cnn_sgd", "batch.npy"),
                       "--steps", "2")
    assert good.returncode == 0, good.stderr[-3000:]
    assert out.exists() and "verdict: the port agrees" in good.stdout and "written to" in good.stdout
    bad_out = tmp_path / ("bad." + out_name())
    bad = convert_cli("--migration", "examples_v1.cnn_pair:build", "tests.test_checkpoint:no_relu_cnn",
                      "--checkpoint", fixture("cnn_sgd"), "--out", str(bad_out), "--inputs", "4x28x28x1")
    assert bad.returncode == 1, bad.stderr[-3000:]
    assert not bad_out.exists() and ours(bad.stderr)[-1].startswith("compat-init: nothing written")
    assert sorted(os.listdir(str(tmp_path))) == [out.name]  # no temporary file left


@needs_eager
def test_cli_convert_proves_by_default_on_a_batch_drawn_for_the_placeholders(tmp_path):
    common = ["--checkpoint", fixture("cnn_sgd")]
    good = convert_cli("--migration", "examples_v1.cnn_pair:build", "examples_v2.cnn_pair:build", *common,
                       "--out", str(tmp_path / out_name()))
    assert good.returncode == 0, good.stderr[-3000:]
    assert "verdict: the port agrees" in good.stdout, good.stdout[-3000:]
    assert "inputs drawn for the legacy placeholders' shapes: " in good.stdout  # (?x28x28x1: 2 rows)
    bad_out = tmp_path / ("bad." + out_name())
    bad = convert_cli("--migration", "examples_v1.cnn_pair:build", "tests.test_checkpoint:no_relu_cnn", *common,
                      "--out", str(bad_out))
    assert bad.returncode == 1 and not bad_out.exists(), bad.stderr[-3000:]
    assert ours(bad.stderr)[-1].startswith("compat-init: nothing written"), bad.stderr[-3000:]
    unproven = tmp_path / ("unproven." + out_name())
    skipped = convert_cli("--migration", "examples_v1.cnn_pair:build", "tests.test_checkpoint:no_relu_cnn",
                          *common, "--out", str(unproven), "--no-proof")
    assert skipped.returncode == 0 and unproven.exists(), skipped.stderr[-3000:]
    assert ours(skipped.stderr) == ["compat-init: not proven: the port's outputs were not compared with the legacy "
                                    "model's at the trained weights (prove=False, --no-proof); it may compute another "
                                    "function"]
    assert sorted(os.listdir(str(tmp_path))) == sorted([out_name(), unproven.name])


@pytest.fixture(scope="module")
def training_checkpoint(tmp_path_factory):
    """The tutorial CNN trained 3 Adam steps in a TF1 graph, saved by a
    ``Saver`` with its ``.meta`` (the training graph: labels, loss, slots)."""
    folder = tmp_path_factory.mktemp("trained")
    rng = np.random.RandomState(3)
    with tf.Graph().as_default():
        probabilities = old_cnn.build()
        labels = v1.placeholder(tf.float32, (None, 10), name="labels")
        loss = tf.reduce_mean(-tf.reduce_sum(labels * tf.math.log(probabilities + 1e-9), axis=1))
        train = v1.train.AdamOptimizer(1e-3).minimize(loss, global_step=v1.train.get_or_create_global_step())
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            for _ in range(3):
                session.run(train, {"images:0": rng.rand(4, 28, 28, 1), labels: np.eye(10)[rng.randint(0, 10, 4)]})
            v1.train.Saver().save(session, str(folder / "model.ckpt"), global_step=3)
    return str(folder)


@needs_eager
def test_cli_convert_port_proves_from_the_meta_graph_beside_the_checkpoint(training_checkpoint, tmp_path):
    good_out = tmp_path / out_name()
    good = convert_cli("--port", "examples_v2.cnn_pair:build", "--checkpoint", training_checkpoint, "--out",
                       str(good_out))
    assert good.returncode == 0 and good_out.exists(), good.stderr[-3000:]
    assert "the legacy outputs, found in the graph's dataflow" in good.stdout, good.stdout[-3000:]
    assert "verdict: the port agrees" in good.stdout and not ours(good.stderr), good.stderr[-3000:]
    bad_out = tmp_path / ("bad." + out_name())
    bad = convert_cli("--port", "tests.test_checkpoint:no_relu_cnn", "--checkpoint", training_checkpoint, "--out",
                      str(bad_out))
    assert bad.returncode == 1 and not bad_out.exists(), bad.stderr[-3000:]
    assert "activation missing?" in bad.stdout and "verdict: the port DIFFERS" in bad.stdout, bad.stdout[-3000:]
    last = ours(bad.stderr)[-1]  # the outputs compared were found, not named: how to name others
    assert "found in the graph's dataflow, " in last and "name them with --outputs" in last, last
    # The same checkpoint without its graph: converted, and said to be unproven.
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in os.listdir(training_checkpoint):
        if name.startswith("model.ckpt-3.") and not name.endswith(".meta"):
            shutil.copy(os.path.join(training_checkpoint, name), str(bare / name))
    unproven_out = tmp_path / ("unproven." + out_name())
    unproven = convert_cli("--port", "tests.test_checkpoint:no_relu_cnn", "--checkpoint",
                           str(bare / "model.ckpt-3"), "--out", str(unproven_out))
    assert unproven.returncode == 0 and unproven_out.exists(), unproven.stderr[-3000:]
    assert ours(unproven.stderr) == ["compat-init: not proven: the port's outputs were not compared with the legacy "
                                     "model's at the trained weights (no legacy graph: no legacy builder "
                                     "(v1_builder=, --migration LEGACY PORT) and no .meta beside the checkpoint); it "
                                     "may compute another function"], unproven.stderr[-3000:]


def biased_cnn():
    """A port whose convolution has a bias the legacy one lacks (as Keras'
    ResNet50 has conv biases TF-Slim's resnet_v1_50 does not)."""
    layers = tf.keras.layers
    return tf.keras.Sequential([tf.keras.Input((8, 8, 1)), layers.Conv2D(4, (3, 3), activation="relu"),
                                layers.Flatten(), layers.Dense(3, activation="softmax")])


@pytest.fixture(scope="module")
def unbiased_checkpoint(tmp_path_factory):
    """A TF1 convolution without a bias, then a dense layer, saved by a Saver
    (with its .meta), every variable random."""
    folder = tmp_path_factory.mktemp("unbiased")
    rng = np.random.RandomState(5)
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, (None, 8, 8, 1), name="images")
        with v1.variable_scope("conv"):
            kernel = v1.get_variable("kernel", (3, 3, 1, 4))
        hidden = tf.reshape(tf.nn.relu(tf.nn.conv2d(images, kernel, [1, 1, 1, 1], "VALID")), [-1, 6 * 6 * 4])
        with v1.variable_scope("dense"):
            dense = v1.get_variable("kernel", (6 * 6 * 4, 3))
            bias = v1.get_variable("bias", (3,))
        tf.nn.softmax(tf.matmul(hidden, dense) + bias)
        with v1.Session() as session:
            for variable in v1.global_variables():
                variable.load(rng.normal(0, 0.5, variable.shape.as_list()).astype(np.float32), session)
            v1.train.Saver().save(session, str(folder / "model.ckpt"))
    return str(folder / "model.ckpt")


@needs_eager
def test_port_weights_with_no_source_are_an_error_unless_kept_initial(unbiased_checkpoint, tmp_path):
    from compat_init import checkpoint

    with pytest.raises(ValueError, match=r"leaves 1 port weight\(s\) unfilled: .*conv2d.*bias.*keep_initial"):
        checkpoint.convert(unbiased_checkpoint, biased_cnn)
    model, report = checkpoint.convert(unbiased_checkpoint, biased_cnn, keep_initial=r".*conv2d.*/bias")
    assert report.ok and len(report.kept) == 1 and "bias" in report.kept[0], str(report)
    assert "kept as the port initialized it" in str(report)
    with pytest.raises(ValueError, match=r"keep_initial must be regular expressions .*received \(conv"):
        checkpoint.convert(unbiased_checkpoint, biased_cnn, keep_initial="(conv")
    out = tmp_path / out_name()
    done = convert_cli("--port", "tests.test_checkpoint:biased_cnn", "--checkpoint", unbiased_checkpoint, "--out",
                       str(out), "--keep-initial", ".*conv2d.*/bias")
    assert done.returncode == 0 and out.exists(), done.stderr[-3000:]
    assert "verdict: the port agrees" in done.stdout and "1 kept as initialized" in done.stdout, done.stdout[-3000:]
    refused = convert_cli("--port", "tests.test_checkpoint:biased_cnn", "--checkpoint", unbiased_checkpoint,
                          "--out", str(tmp_path / ("other." + out_name())))
    assert refused.returncode == 2 and "--keep-initial" in ours(refused.stderr)[-1], refused.stderr[-3000:]
    assert sorted(os.listdir(str(tmp_path))) == [out.name]


FUSED_RULES = """
attn/c_attn/w -> query/kernel split(2,3,0)
attn/c_attn/w -> key/kernel split(2,3,1)
attn/c_attn/w -> value/kernel split(2,3,2)
attn/c_attn/b -> query/bias split(0,3,0)
attn/c_attn/b -> key/bias split(0,3,1)
attn/c_attn/b -> value/bias split(0,3,2)
"""


def fused_legacy():
    """GPT-2's fused attention kernel (1 x E x 3E, cut by tf.split into
    query, key and value), in a TF1 graph."""
    x = v1.placeholder(tf.float32, (None, 8), name="x")
    with v1.variable_scope("attn/c_attn"):
        w = v1.get_variable("w", (1, 8, 24))
        b = v1.get_variable("b", (24,))
    query, key, value = tf.split(tf.matmul(x, w[0]) + b, 3, axis=1)
    return query * key + value


def fused_port():
    layers = tf.keras.layers
    x = tf.keras.Input((8,))
    parts = [layers.Dense(8, name=name)(x) for name in ("query", "key", "value")]
    return tf.keras.Model(x, layers.Add()([layers.Multiply()(parts[:2]), parts[2]]))


@needs_eager
def test_a_fused_kernel_converts_by_split_rules_and_back(tmp_path):
    from compat_init import checkpoint

    rules = tmp_path / "fused.rules"
    rules.write_text(FUSED_RULES)
    rng = np.random.RandomState(7)
    batch = rng.rand(3, 8).astype(np.float32)
    with tf.Graph().as_default():
        output = fused_legacy()
        with v1.Session() as session:
            for variable in v1.global_variables():
                variable.load(rng.normal(0, 0.5, variable.shape.as_list()).astype(np.float32), session)
            expected = session.run(output, {"x:0": batch})
            fused = session.run([v for v in v1.global_variables() if v.op.name == "attn/c_attn/w"][0])
            v1.train.Saver().save(session, str(tmp_path / "model.ckpt"))
    model, report = checkpoint.convert(str(tmp_path / "model.ckpt"), fused_port, mapping=str(rules))
    assert report.ok and report.counts()["loaded"] == 6, str(report)
    assert "split 1 of 3 along axis 2" in str(report)
    out = np.asarray(model(batch))
    assert np.max(np.abs(out - expected)) <= 1e-5 * float(np.max(np.abs(expected))), (out, expected)
    # The way back: the three kernels joined into the fused one.
    weights = str(tmp_path / out_name())
    checkpoint.save(model, weights)
    (tmp_path / "legacy").mkdir()
    back = checkpoint.reverse(fused_port, fused_legacy, str(tmp_path / "legacy" / "model.ckpt"), weights=weights,
                              mapping=str(rules))
    assert len(back.entries) == 6, str(back)
    assert np.array_equal(tf.train.load_variable(str(tmp_path / "legacy" / "model.ckpt"), "attn/c_attn/w"), fused)
    # On the command line, proven from the .meta beside the checkpoint; --emit-mapping writes the splits back.
    done = convert_cli("--port", "tests.test_checkpoint:fused_port", "--checkpoint", str(tmp_path / "model.ckpt"),
                       "--mapping", str(rules), "--out", str(tmp_path / ("cli." + out_name())))
    assert done.returncode == 0 and "verdict: the port agrees" in done.stdout, done.stderr[-3000:]
    plan = convert_cli("--port", "tests.test_checkpoint:fused_port", "--checkpoint", str(tmp_path / "model.ckpt"),
                       "--mapping", str(rules), "--plan", "--emit-mapping", str(tmp_path / "emitted.rules"))
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "attn/c_attn/w -> key/kernel split(2,3,1)" in (tmp_path / "emitted.rules").read_text()


def no_relu_cnn():
    layers = tf.keras.layers
    return tf.keras.Sequential([layers.Conv2D(32, (3, 3), input_shape=(28, 28, 1)), layers.MaxPooling2D((2, 2)),
                                layers.Flatten(), layers.Dense(10, activation="softmax")])


@needs_eager
@pytest.mark.parametrize("args,words", [
    (["--checkpoint", "nowhere"], "does not exist"),
    (["--checkpoint", fixture("cnn_sgd"), "--out", "/nonexistent-folder/port.weights.h5"],
     "--out must be in an existing folder"),
    (["--checkpoint", fixture("cnn_sgd"), "--steps", "2", "--inputs", "4x28x28x1"], "apply only to a proof: with --migration"),
])
def test_cli_convert_usage_errors_are_one_line_and_write_nothing(tmp_path, args, words):
    if "--out" not in args:
        args = args + ["--out", str(tmp_path / out_name())]
    result = convert_cli("--port", "examples_v2.cnn_pair:build", *args)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = ours(result.stderr)
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert os.listdir(str(tmp_path)) == []


def test_cli_convert_on_keras3_needs_a_weights_h5_name(tmp_path):
    if _runtime.keras_flavour() != "keras3":
        pytest.skip("Keras 3 writes weights only to .weights.h5")
    result = convert_cli("--port", "examples_v2.cnn_pair:build", "--checkpoint", fixture("cnn_sgd"),
                         "--out", str(tmp_path / "port.ckpt"))
    assert result.returncode == 2 and "--out must end in .weights.h5" in ours(result.stderr)[0]


# --- the way back: the port's weights restored by the legacy program's own Saver -----------------


def restore_legacy(build, prefix, feed_name=None, batch=None):
    """The legacy program: its graph, its Saver, restore; the variables' values (and outputs on batch)."""
    with tf.Graph().as_default():
        out = build()
        variables = v1.global_variables()
        with v1.Session() as session:
            v1.train.Saver(variables).restore(session, prefix)
            values = {v.op.name: session.run(v) for v in variables}
            outputs = None
            if batch is not None:
                placeholder = tf.compat.v1.get_default_graph().get_tensor_by_name(feed_name)
                outputs = session.run(out, feed_dict={placeholder: batch})
    return values, outputs


def test_reverse_writes_what_the_legacy_saver_restores(tmp_path):
    from compat_init import checkpoint

    prefix = str(tmp_path / "model.ckpt")
    report = checkpoint.reverse(new_cnn.build, old_cnn.build, prefix)
    assert report.counts() == {"loaded": 4, "skipped": 0, "error": 0} and report.written == prefix
    values, _ = restore_legacy(old_cnn.build, prefix)
    # the port's compat_init-seeded weights are the legacy's own initial values, bit for bit
    initial = {v.name: v.value for v in port._sides.legacy.LegacyModel(old_cnn.build, 0, need_outputs=False).vars}
    assert sorted(values) == sorted(initial)
    for name, value in values.items():
        np.testing.assert_array_equal(value, initial[name])
    assert sorted(os.listdir(str(tmp_path))) == ["model.ckpt.data-00000-of-00001", "model.ckpt.index"]


def test_a_checkpoint_reversed_on_tf221_restores_in_this_session_and_computes_the_port():
    # written by tests/fixtures/write_reverse_checkpoint.py on TF 2.21 + Keras 3 from the Keras 2 fixture
    keras2 = os.path.join(FIXTURES, "keras2", "attention")
    _, outputs = restore_legacy(old_attention.build, os.path.join(FIXTURES, "reverse", "attention", "model.ckpt"),
                                "tokens:0", np.load(os.path.join(keras2, "tokens.npy")))
    np.testing.assert_allclose(outputs, np.load(os.path.join(keras2, "outputs.npy")), rtol=1e-5, atol=1e-6)


@needs_eager
def test_cli_reverse_round_trip(tmp_path):
    weights = tmp_path / out_name()
    forward = convert_cli("--port", "examples_v2.cnn_pair:build", "--checkpoint", fixture("cnn_sgd"),
                          "--out", str(weights), "--quiet")
    assert forward.returncode == 0, forward.stderr[-2000:]
    back = convert_cli("--reverse", "--migration", "examples_v1.cnn_pair:build", "examples_v2.cnn_pair:build",
                       "--weights", str(weights), "--out", str(tmp_path / "legacy.ckpt"), "--quiet")
    assert back.returncode == 0, back.stderr[-2000:]
    values, _ = restore_legacy(old_cnn.build, str(tmp_path / "legacy.ckpt"))
    reader = tf.train.load_checkpoint(fixture("cnn_sgd"))
    for name, value in values.items():
        np.testing.assert_array_equal(value, reader.get_tensor(name))


@pytest.mark.parametrize("args,words", [
    (["--reverse", "--port", "examples_v2.cnn_pair:build"], "--reverse needs --migration"),
    (["--reverse", "--migration", "examples_v1.cnn_pair:build", "examples_v2.cnn_pair:build", "--checkpoint", "x"],
     "--reverse needs --migration (the legacy builder names the keys) and no --checkpoint"),
    (["--port", "examples_v2.cnn_pair:build", "--checkpoint", "x", "--weights", "w.h5"],
     "--weights applies only with --reverse"),
])
def test_cli_reverse_usage(tmp_path, args, words):
    result = convert_cli(*args, "--out", str(tmp_path / "legacy.ckpt"))
    assert result.returncode == 2 and words in ours(result.stderr)[0], result.stderr
    assert os.listdir(str(tmp_path)) == []


# --- training resumed where the legacy run stopped ---------------------------------------------------


@needs_eager
@needs_attention
def test_adam_resumes_in_the_port_where_the_legacy_run_stopped():
    from compat_init.checkpoint import resume

    batch = np.load(fixture("attention_adam", "batch.npy"))
    optimizer, steps, notes = resume(fixture("attention_adam"), old_attention.build, new_attention.build,
                                     inputs=batch, optimizer="adam", learning_rate=0.01, steps=5,
                                     dense_gradients=True)
    assert [s["passed"] for s in steps] == [True] * 5, steps
    assert int(optimizer.iterations.numpy()) == 2 + 5  # the fixture's 2 steps, then 5 more
    assert any("iterations = 2" in n for n in notes), notes
    # Keras 3 applies the embedding's IndexedSlices gradient its own way (scatter updates): without dense
    # gradients the embedding, and only it, differs after the first step; Keras 2's Adam does as TF 1's, and
    # on Keras 3's JAX and PyTorch backends every gradient is dense
    _, sparse, _ = resume(fixture("attention_adam"), old_attention.build, new_attention.build, inputs=batch,
                          optimizer="adam", learning_rate=0.01, steps=1)
    expected = ["embedding/embeddings"] if _runtime.keras_flavour() == "keras3" and \
        _runtime.keras_backend() == "tensorflow" else []
    assert sparse[0]["differ"] == expected, sparse


@needs_eager
def test_momentum_resumes_in_the_port():
    if not hasattr(v1, "layers") or _runtime.keras_flavour() == "keras3":
        pytest.skip("the fixture's legacy model is tf.compat.v1.layers (gone under Keras 3)")
    from compat_init.checkpoint import resume

    def legacy():
        from tests.fixtures.write_tf115_checkpoints import v1_layers_model

        return v1_layers_model()[2]

    _, steps, notes = resume(fixture("v1_layers"), legacy, v1_layers_port, inputs=np.load(
        fixture("v1_layers", "batch.npy")), optimizer="momentum", learning_rate=0.05, steps=5, loss="mse")
    assert [s["passed"] for s in steps] == [True] * 5, steps
    assert any("m = -lr" in n for n in notes)


@needs_eager
@needs_attention
def test_cli_optimizer_state_is_proven_then_written(tmp_path):
    out = tmp_path / out_name()
    result = convert_cli("--migration", "examples_v1.attention_pair:build", "examples_v2.attention_pair:build",
                         "--checkpoint", fixture("attention_adam"), "--out", str(out), "--inputs",
                         fixture("attention_adam", "batch.npy"), "--optimizer", "adam", "--learning-rate", "0.01",
                         "--optimizer-state", "--dense-gradients")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count(": agree") == 5 and "query/kernel/Adam_1" in result.stdout
    state = np.load(str(out) + ".optimizer.npz")
    assert len(state.files) > 20
    usage = convert_cli("--port", "examples_v2.attention_pair:build", "--checkpoint", fixture("attention_adam"),
                        "--out", str(tmp_path / ("x." + out_name())), "--optimizer-state")
    assert usage.returncode == 2 and "--optimizer-state needs --migration" in ours(usage.stderr)[0]


# --- formats: partitioned variables, the V1 format ---------------------------------------------------


def _saved(tmp_path, name, partitioned=False, version=None):
    prefix = str(tmp_path / name / "model.ckpt")
    os.makedirs(os.path.dirname(prefix))
    values = np.arange(40 * 3, dtype=np.float32).reshape(40, 3) / 100.0
    with tf.Graph().as_default():
        kernel = v1.get_variable("dense/kernel", initializer=tf.constant(values),
                                 partitioner=v1.fixed_size_partitioner(4) if partitioned else None)
        bias = v1.get_variable("dense/bias", initializer=tf.constant(np.ones(3, np.float32)))
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            kwargs = {} if version is None else {"write_version": version}
            v1.train.Saver(**kwargs).save(session, prefix, write_meta_graph=False)
    del kernel, bias
    return prefix, values


def dense_port():
    return tf.keras.Sequential([tf.keras.layers.Dense(3, input_shape=(40,), name="dense")])


@needs_eager
def test_a_partitioned_variable_comes_back_whole(tmp_path):
    from compat_init import checkpoint

    prefix, values = _saved(tmp_path, "partitioned", partitioned=True)
    model, report = checkpoint.convert(prefix, dense_port)
    assert report.ok and report.counts()["loaded"] == 2, str(report)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), values)


@needs_eager
def test_the_v1_format_is_read_where_this_tensorflow_reads_it(tmp_path):
    from compat_init import checkpoint

    prefix, values = _saved(tmp_path, "v1format", version=v1.train.SaverDef.V1)
    try:
        model, report = checkpoint.convert(prefix, dense_port)
    except ValueError as error:  # this TensorFlow cannot read it: a clear error naming the file, not a traceback
        assert "checkpoint {}".format(prefix) in str(error)
        return
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), values)


def test_cli_parity_migration_at_a_checkpoint():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-m", "compat_init", "parity", "--migration", "examples_v1.cnn_pair:build",
                             "examples_v2.cnn_pair:build", "--checkpoint", fixture("cnn_sgd"), "--inputs",
                             fixture("cnn_sgd", "batch.npy"), "--steps", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "both models start from the 4 tensors of checkpoint" in result.stdout
    refused = subprocess.run([sys.executable, "-m", "compat_init", "parity", "--checkpoint", fixture("cnn_sgd")],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
    assert refused.returncode == 2 and "--checkpoint apply only with --migration" in refused.stderr


# The weights file, written without copies (issue 25, row 6) ------------------------------------

KERAS3 = EAGER and _runtime.keras_flavour() == "keras3"
needs_keras3 = pytest.mark.skipif(not KERAS3, reason="the .weights.h5 writer of Keras 3")


def _mixed_model():
    """Weights of several kinds: trainable and not (batch-norm moments), an
    embedding, a bfloat16 layer (Keras stores it with a dtype attribute)."""
    keras = tf.keras
    inputs = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(11, 8, name="embed")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.Dense(5, name="dense")(x)
    x = keras.layers.Dense(3, dtype="bfloat16", name="half")(x)
    model = keras.Model(inputs, x)
    rng = np.random.RandomState(3)
    for weight in model.weights:
        weight.assign(rng.standard_normal(tuple(weight.shape)).astype(weight.dtype))
    return model


def _h5_tree(path):
    import h5py

    found = {}

    def visit(name, item):
        attrs = {k: str(v) for k, v in item.attrs.items()}
        found[name] = (attrs, item[()].tobytes() if isinstance(item, h5py.Dataset) else None,
                       str(item.dtype) if isinstance(item, h5py.Dataset) else None)

    with h5py.File(path, "r") as f:
        found["/"] = ({k: str(v) for k, v in f.attrs.items()}, None, None)
        f.visititems(visit)
    return found


@needs_keras3
def test_the_weights_file_is_the_one_keras_writes(tmp_path):
    from compat_init import checkpoint

    model = _mixed_model()
    ours, theirs = str(tmp_path / "ours.weights.h5"), str(tmp_path / "keras.weights.h5")
    checkpoint.save(model, ours)
    model.save_weights(theirs)
    assert _h5_tree(ours) == _h5_tree(theirs)
    again = _mixed_model()
    for weight in again.weights:
        weight.assign(tf.zeros_like(weight))
    again.load_weights(ours)
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@needs_keras3
def test_the_weights_file_is_written_from_views_not_copies(tmp_path):
    """numpy's allocations are traced: Keras' own writer copies a weight
    twice at its peak (``numpy()``, then ``np.array``; once on JAX, whose
    arrays convert outside numpy's allocator); ours hands h5py a view of the
    variable's buffer on every backend."""
    import tracemalloc

    from compat_init import checkpoint

    rows, columns = 1024, 4096  # a 16 MiB kernel
    model = tf.keras.Sequential([tf.keras.Input((rows,)), tf.keras.layers.Dense(columns)])
    size = rows * columns * 4

    def peak(write, path):
        tracemalloc.start()
        try:
            write(model, str(tmp_path / path))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    native = peak(lambda m, p: m.save_weights(p), "keras.weights.h5")
    ours = peak(checkpoint.save, "ours.weights.h5")
    copies = 0.9 if _runtime.keras_backend() == "jax" else 1.9
    assert native >= copies * size, "the measurement does not see Keras' copies: {} for {}".format(native, size)
    assert ours < 0.1 * size, "the writer copied the kernel: {} bytes traced for a {}-byte kernel".format(ours, size)


def test_python_callers_read_the_argument_they_passed():
    """The library names its own arguments (the command line passes its flags: --out, --mapping)."""
    from compat_init import checkpoint
    from compat_init._errors import UsageError

    missing = os.path.join("missing", "folder", "port.weights.h5")
    with pytest.raises(UsageError, match=re.escape("path must be a file path in an existing writable folder; "
                                                   "received path=" + missing)):
        checkpoint.check_output(missing)
    with pytest.raises(UsageError, match=re.escape("--out must be a file path in an existing writable folder; "
                                                   "received --out=" + missing)):
        checkpoint.check_output(missing, option="--out")
    with pytest.raises(UsageError, match=re.escape("mapping must be an existing regular file (a rules file); "
                                                   "received mapping=missing.rules")):
        port.read_rules("missing.rules")
