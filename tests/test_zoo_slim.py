"""TF-Slim's public nets into ``keras.applications`` with ``--port`` alone
(issue 32): the checkpoint's ``.meta`` graph is the legacy side, its outputs
found in its dataflow, its creation order pairs auto-named Keras layers
(``conv2d_94``, ``batch_normalization_94``), keys off the outputs' path drop
out, and the proof decides before anything is written.

* ``inception_v3`` (with its ``AuxLogits`` head) into ``InceptionV3``:
  converted and written; the port equals TF 1.15's logits.
* ``resnet_v1_50`` into the stock ``ResNet50``: every key loads (its 53 conv
  biases, which TF-Slim lacks, kept as initialized by ``--keep-initial``),
  and the proof refuses it at ``pool1_pad`` (Keras pads with zeros and pools
  VALID where TF-Slim pools SAME): exit 1, nothing written; into the same
  layers wired as TF-Slim computes (its pool1, each block's stride in its
  last unit): converted, equal to TF 1.15's logits.

The TF 1.15 leg writes the checkpoints into ``$COMPAT_INIT_RECORDINGS`` (nox:
reports/recordings); leg 3 converts them."""
import os
import subprocess
import sys

import numpy as np
import pytest

from compat_init import _runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from zoo import slim_nets  # noqa: E402

SHARED = os.environ.get("COMPAT_INIT_RECORDINGS")


def folder(name):
    return os.path.join(SHARED, "slim", name) if SHARED else None


@pytest.mark.skipif(not _runtime.is_tf1(), reason="TF-Slim 1.1's batch_norm runs on TF 1.x (and TF 2 up to 2.13)")
@pytest.mark.parametrize("name", sorted(slim_nets.NETS))
def test_slim_checkpoints_are_written_on_tf1(name, tmp_path):
    pytest.importorskip("tf_slim", reason="tf-slim is in the test extra")
    where = folder(name) or str(tmp_path / name)
    slim_nets.write(name, where)
    assert os.path.exists(os.path.join(where, "model.ckpt.meta"))


def cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.path.join(ROOT, "tests"))
    return subprocess.run([sys.executable, "-m", "compat_init", "convert"] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def written(name):
    """The TF 1.15 leg's checkpoint folder, or a skip where the matrix made none."""
    if _runtime.is_tf1() or _runtime.keras_flavour() != "keras3" or _runtime.keras_backend() != "tensorflow":
        pytest.skip("converted on leg 3 (TF 2.21, Keras 3 on TensorFlow)")
    where = folder(name)
    if not where or not os.path.exists(os.path.join(where, "model.ckpt.index")):
        pytest.skip("the TF 1.15 leg writes the TF-Slim checkpoints (nox: $COMPAT_INIT_RECORDINGS)")
    return where


def test_slim_inception_v3_converts_into_keras_applications_with_port_alone(tmp_path):
    where = written("inception_v3")
    out = tmp_path / "inception_v3.weights.h5"
    done = cli("--port", "zoo.slim_nets:inception_v3", "--checkpoint", where, "--out", str(out))
    assert done.returncode == 0 and "verdict: the port agrees" in done.stdout, done.stderr[-3000:]
    assert "InceptionV3/Logits/SpatialSqueeze:0" in done.stdout  # found in the dataflow: not the softmax
    assert "0 port weights missing" in done.stdout and done.stdout.count("(an auxiliary head)") >= 10
    model = slim_nets.inception_v3()
    model.load_weights(str(out))
    expected = np.load(os.path.join(where, "logits.npy"))
    got = np.asarray(model(np.load(os.path.join(where, "batch.npy")), training=False))
    assert np.max(np.abs(got - expected)) <= 1e-5 * float(np.max(np.abs(expected))), np.max(np.abs(got - expected))


def test_slim_resnet_v1_50_into_the_stock_resnet50_is_refused_at_pool1(tmp_path):
    where = written("resnet_v1_50")
    out = tmp_path / "resnet50.weights.h5"
    refused = cli("--port", "zoo.slim_nets:resnet50", "--checkpoint", where, "--out", str(out),
                  "--keep-initial", r"conv\d(_block\d_\d)?_conv/bias")
    assert refused.returncode == 1 and not out.exists(), refused.stderr[-3000:]
    assert "267 loaded, 0 skipped, 0 errors; 0 port weights missing, 53 kept as initialized" in refused.stdout
    assert "the first layer whose output differs is pool1_pad" in refused.stdout, refused.stdout[-3000:]
    assert os.listdir(str(tmp_path)) == []


def test_slim_resnet_v1_50_into_keras_resnet50_layers_wired_as_slim_converts(tmp_path):
    """The same keys into ``keras.applications``' ResNet50 layers wired as
    TF-Slim computes (its pool1 and strides): converted with --keep-initial
    for the conv biases TF-Slim lacks, proven, equal to TF 1.15's logits."""
    where = written("resnet_v1_50")
    out = tmp_path / "resnet50_slim.weights.h5"
    done = cli("--port", "zoo.slim_nets:resnet50_slim", "--checkpoint", where, "--out", str(out),
               "--keep-initial", r"conv\d(_block\d_\d)?_conv/bias")
    assert done.returncode == 0 and "verdict: the port agrees" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    assert "267 loaded, 0 skipped, 0 errors; 0 port weights missing, 53 kept as initialized" in done.stdout
    model = slim_nets.resnet50_slim()
    model.load_weights(str(out))
    expected = np.load(os.path.join(where, "logits.npy")).reshape(2, 1000)  # TF-Slim's 1x1 conv: N x 1 x 1 x 1000
    got = np.asarray(model(np.load(os.path.join(where, "batch.npy")), training=False))
    assert np.max(np.abs(got - expected)) <= 1e-5 * float(np.max(np.abs(expected))), np.max(np.abs(got - expected))

