"""Creation order where names cannot pair (issue 23 row 2): a port of
auto-numbered layers (``dense``, ``dense_1``, as keras.applications'
InceptionV3 names its ``conv2d_N``) pairs with a legacy checkpoint by the order
each side created its variables.  The checkpoint's keys sort by name, so with
the port alone the order comes from the ``.meta`` graph the ``Saver`` wrote
beside it; the port's comes from its variables' creation (Keras lists a
functional model's weights in its layers' call order); a 1x1 "convolution"
head pairs with a Dense kernel by a merge of axes; legacy variables the
builder's outputs never read are skipped, with that reason.  Every TF 2 leg."""
import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci
from compat_init import _runtime, checkpoint
from conftest import TRACEABLE, to_numpy

if not _runtime.can_evaluate_eagerly():
    pytest.skip("conversion loads a TF 2 (eager) port; TF 1.x runs graphs", allow_module_level=True)
v1 = tf.compat.v1


def legacy(aux=False):
    """An Inception-like block in TF1 style: each variable created where it is used (stem, then the
    branches 1, 2 and 3 deep); names that sort otherwise (branch_x before branch_z); a 1x1 "convolution"
    head; with ``aux``, an auxiliary variable created mid-way that no output reads."""
    x = v1.placeholder(tf.float32, (None, 4), name="x")

    def dense(name, inputs, units):
        kernel = v1.get_variable(name, (int(inputs.shape[-1]), units), initializer=ci.glorot_uniform(seed=len(name)))
        return tf.tanh(tf.matmul(inputs, kernel))

    stem = dense("stem/weights", x, 4)
    short = dense("branch_z/conv/weights", stem, 3)
    middle = dense("branch_y/b/weights", dense("branch_y/a/weights", stem, 3), 3)
    if aux:
        v1.get_variable("aux_logits/weights", (3, 3), initializer=ci.glorot_uniform(seed=9))
    deep = dense("branch_x/c/weights", dense("branch_x/b/weights", dense("branch_x/a/weights", stem, 3), 3), 3)
    head = v1.get_variable("logits/weights", (1, 1, 9, 2), initializer=ci.glorot_uniform(seed=3))
    return tf.matmul(tf.concat([short, middle, deep], axis=1), tf.reshape(head, (9, 2)))


def legacy_with_aux():
    return legacy(aux=True)


def keras_port():
    """The same block with Keras' auto-numbered layers, built in the same order; Keras 3 lists its weights
    in another (stem, the deep branch's first, the middle's first, ...)."""
    layers = tf.keras.layers
    x = tf.keras.Input((4,))

    def dense(inputs, units):
        return layers.Dense(units, use_bias=False, activation="tanh")(inputs)

    stem = dense(x, 4)
    short = dense(stem, 3)
    middle = dense(dense(stem, 3), 3)
    deep = dense(dense(dense(stem, 3), 3), 3)
    return tf.keras.Model(x, layers.Dense(2, use_bias=False)(layers.Concatenate()([short, middle, deep])))


def write(tmp_path, build):
    prefix = str(tmp_path / "model.ckpt")
    batch = np.random.RandomState(0).rand(5, 4).astype(np.float32)
    rng = np.random.RandomState(1)
    with tf.Graph().as_default():
        out = build()
        with v1.Session() as session:
            for variable in v1.global_variables():
                variable.load(rng.normal(0, 1, variable.shape.as_list()).astype(np.float32), session)
            expected = session.run(out, {"x:0": batch})
            v1.train.Saver().save(session, prefix)
    return prefix, batch, expected


def test_the_port_alone_pairs_by_the_meta_graphs_creation_order(tmp_path):
    prefix, batch, expected = write(tmp_path, legacy)
    # Unproven (prove=False): the .meta gives the keys their order, not a legacy side.
    model, report = checkpoint.convert(prefix, keras_port, prove=False)
    assert report.format == "name-based, in the creation order of its .meta graph"
    hows = {e.how for e in report.entries if e.status == "loaded"}
    assert hows == {"creation order", "creation order (reshape 1x1x9x2->9x2)"}, str(report)
    assert report.notes[-1].startswith("not proven: ") and "prove=False" in report.notes[-1]
    np.testing.assert_allclose(to_numpy(model(batch)), expected, rtol=1e-5, atol=1e-6)
    # By default the .meta is the legacy side: paired through its graph (by its dataflow where the
    # port's call traces as a TensorFlow function), and proven.
    model, report = checkpoint.convert(prefix, keras_port)
    assert report.proof is not None and report.proof.passed, str(report)
    hows = {e.how.split(" (")[0] for e in report.entries if e.status == "loaded"}
    assert hows <= ({"dataflow"} if TRACEABLE else {"creation order"}), str(report)
    np.testing.assert_allclose(to_numpy(model(batch)), expected, rtol=1e-5, atol=1e-6)


def test_the_legacy_builder_skips_what_its_outputs_never_read(tmp_path):
    prefix, batch, expected = write(tmp_path, legacy_with_aux)
    model, report = checkpoint.convert(prefix, keras_port, legacy_with_aux)
    (skipped,) = [e for e in report.entries if e.status == "skipped"]
    assert skipped.key == "aux_logits/weights" and "not on the path to the legacy builder's outputs" in \
        skipped.reason
    np.testing.assert_allclose(to_numpy(model(batch)), expected, rtol=1e-5, atol=1e-6)
