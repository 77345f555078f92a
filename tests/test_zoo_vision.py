"""A vision zoo (issue 23, "not tuned to one family"): TF-Slim's VGG-16
(``tf_slim.nets.vgg``, the public TF1 model zoo's code, run as legacy graph
code) into ``keras.applications.VGG16`` with no mapping: numbered scopes
(``conv3/conv3_2`` ~ ``block3_conv2``), ``weights``/``biases`` ~
``kernel``/``bias``, and a head whose layers are convolutions in TF-Slim and
``Dense`` layers in Keras (``7x7x512x4096`` ~ ``25088x4096``, ``1x1x4096x1000``
~ ``4096x1000``).  The checkpoint is written here by a ``Saver``, every tensor
set to random values (no zero bias hides a wrong pair)."""
import numpy as np
import pytest
import tensorflow as tf

from compat_init import _runtime

if not _runtime.can_evaluate_eagerly():
    pytest.skip("conversion loads a TF 2 (eager) port; TF 1.x runs graphs", allow_module_level=True)
vgg = pytest.importorskip("tf_slim.nets.vgg", reason="tf-slim (the test extra) builds TF-Slim's nets")
v1 = tf.compat.v1


def slim_vgg16():
    images = v1.placeholder(tf.float32, (None, 224, 224, 3), name="images")
    logits, _ = vgg.vgg_16(images, num_classes=1000, is_training=False)
    return logits


def keras_vgg16():
    return tf.keras.applications.VGG16(weights=None, classifier_activation=None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(checkpoint prefix, a batch, TF-Slim's logits on it at the checkpoint's values)."""
    prefix = str(tmp_path_factory.mktemp("slim") / "vgg_16.ckpt")
    rng = np.random.RandomState(16)
    batch = rng.rand(2, 224, 224, 3).astype(np.float32)
    with tf.Graph().as_default():
        logits = slim_vgg16()
        with v1.Session() as session:
            for variable in v1.global_variables():
                shape = variable.shape.as_list()
                fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
                variable.load(rng.normal(0.0, (2.0 / fan_in) ** 0.5, shape).astype(np.float32), session)
            expected = session.run(logits, {"images:0": batch})
            v1.train.Saver().save(session, prefix, write_meta_graph=False)
    return prefix, batch, expected


def test_slim_vgg16_converts_into_keras_applications_with_no_mapping(trained):
    from compat_init import checkpoint

    prefix, batch, expected = trained
    model, report = checkpoint.convert(prefix, keras_vgg16)
    assert report.counts() == {"loaded": 32, "skipped": 0, "error": 0} and not report.missing, str(report)
    made = {e.key: (e.weight, e.how) for e in report.entries}
    assert made["vgg_16/conv3/conv3_2/weights"][0].startswith("block3_conv2/")
    assert made["vgg_16/fc6/weights"] == (made["vgg_16/fc6/weights"][0], "structure (reshape 7x7x512x4096->25088x4096)")
    assert made["vgg_16/fc8/weights"][0].startswith("predictions/")
    out = np.asarray(model(batch, training=False))
    scale = float(np.max(np.abs(expected)))
    assert np.max(np.abs(out - expected)) <= 1e-4 * scale, (np.max(np.abs(out - expected)), scale)


def test_the_proof_runs_slim_code_against_keras_applications(trained):
    from compat_init import port

    prefix, batch, _ = trained
    report = port.check_migration(slim_vgg16, keras_vgg16, checkpoint=prefix, inputs=batch)
    assert report.exit_code == 0, str(report)
    assert {p["how"] for p in report.pairs} <= {"dataflow", "structure", "creation order"}, str(report)

