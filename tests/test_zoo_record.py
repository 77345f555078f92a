"""A TF1 program that runs only on TF 1.x, recorded there and its Keras 3 port
proven on TF 2 from that recording (issue 24): google-research/bert's
``modeling.py`` (PyPI's bert-tensorflow 1.0.4, with ``tf.contrib`` in its model
code) at the fixture's checkpoint, into KerasHub's ``BertBackbone``.

On the TF 1.15 leg, ``compat-init record`` writes the recording into
``$COMPAT_INIT_RECORDINGS`` (nox sets it: reports/recordings, which the
TF 2.21 leg then reads).  Run alone, the TF 2 tests read the fixture's own
recording, made the same way on TF 1.15 (tests/fixtures/write_bert_checkpoint.py
says how)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from compat_init import _runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from zoo import bert_legacy  # noqa: E402

PREFIX = os.path.join(bert_legacy.FIXTURE, "bert_model.ckpt")
COMMITTED = os.path.join(bert_legacy.FIXTURE, "bert_tiny.rec")
SHARED = os.environ.get("COMPAT_INIT_RECORDINGS")
INPUT_MAP = ["--input-map", "input_ids=token_ids", "--input-map", "input_mask=padding_mask",
             "--input-map", "token_type_ids=segment_ids"]


def cli(command, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.path.join(ROOT, "tests"))
    return subprocess.run([sys.executable, "-m", "compat_init", command] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


# --- on TF 1.x: record -----------------------------------------------------------------------------


@pytest.mark.skipif(not _runtime.is_tf1(), reason="google-research/bert's modeling.py runs on TF 1.x only")
def test_bert_is_recorded_on_tf1(tmp_path):
    pytest.importorskip("bert.modeling", reason="bert-tensorflow is installed on the TF 1.15 leg (noxfile.py)")
    folder = SHARED or str(tmp_path)
    os.makedirs(folder, exist_ok=True)
    out = os.path.join(folder, "bert_tiny.rec")
    made = cli("record", "zoo.bert_legacy:build", "--checkpoint", PREFIX, "--inputs", bert_legacy.BATCH,
               "--out", out, "--force")  # a rerun of the leg writes over its own earlier recording
    assert made.returncode == 0, made.stderr[-3000:]
    assert "39 variable(s) (39 on the outputs' path), 2 output(s)" in made.stdout, made.stdout
    from compat_init import port

    recording = port.read_recording(out)
    assert recording.manifest["made_with"]["tensorflow"].startswith("1.")
    io = np.load(os.path.join(bert_legacy.FIXTURE, "io.npz"))
    outputs = dict(zip(recording.manifest["outputs"]["names"], recording.manifest["outputs"]["inference"]))
    for name in ("pooled_output", "sequence_output"):  # what TF 1.15 computed when the fixture was written
        value = recording.arrays[outputs[name]]
        allowed = 32 * np.finfo(np.float32).eps * float(np.max(np.abs(io[name])))
        assert np.max(np.abs(value - io[name])) <= allowed, name


# --- on TF 2 with KerasHub: prove the port from the recording -----------------------------------------


def recording_path():
    """The TF 1.15 leg's fresh recording where the matrix made one, else the fixture's."""
    fresh = os.path.join(SHARED, "bert_tiny.rec") if SHARED else None
    return fresh if fresh and os.path.exists(fresh) else COMMITTED


needs_keras_hub = pytest.mark.skipif(_runtime.is_tf1() or _runtime.keras_flavour() != "keras3",
                                     reason="KerasHub ports are Keras 3 models")


def _keras_hub():
    return pytest.importorskip("keras_hub", reason="KerasHub is installed on the tf221 leg (noxfile.py)")


@needs_keras_hub
@pytest.mark.parametrize("builder,code,where", [
    ("backbone", 0, None),
    ("swapped_inputs", 1, "where: the inputs are swapped: fed as "),
    ("exact_gelu", 1, "where: the first layer whose output differs is feedforward_intermediate_dense (Dense, "),
])
def test_the_keras_hub_port_is_proven_on_tf2_from_the_tf1_recording(builder, code, where):
    _keras_hub()
    path = recording_path()
    result = cli("parity", "--migration", path, "zoo.bert_ports:" + builder, "--checkpoint", PREFIX, *INPUT_MAP)
    assert result.returncode == code, result.stdout[-3000:] + result.stderr[-2000:]
    assert "(TensorFlow 1.15.0, Python 3.7" in result.stdout  # the legacy side ran on TF 1.15
    assert ("verdict: the port agrees" if code == 0 else "verdict: the port DIFFERS") in result.stdout
    if where:  # located by matched tensors (issue 24, row 3), not blamed on the position embedding
        assert where in result.stdout and "position_embedding" not in result.stdout, result.stdout[-3000:]


@needs_keras_hub
def test_convert_with_the_proof_from_the_recording_writes_only_when_it_passes(tmp_path):
    _keras_hub()
    path = recording_path()
    good = cli("convert", "--migration", path, "zoo.bert_ports:backbone", "--checkpoint", PREFIX, *INPUT_MAP,
               "--out", str(tmp_path / "good.weights.h5"))
    assert good.returncode == 0 and "verdict: the port agrees" in good.stdout, good.stdout[-3000:] + good.stderr
    bad = cli("convert", "--migration", path, "zoo.bert_ports:exact_gelu", "--checkpoint", PREFIX, *INPUT_MAP,
              "--out", str(tmp_path / "bad.weights.h5"))
    assert bad.returncode == 1 and "nothing written" in bad.stderr, bad.stderr[-3000:]
    assert sorted(os.listdir(str(tmp_path))) == ["good.weights.h5"]


@needs_keras_hub
def test_the_recording_refuses_another_checkpoint(tmp_path):
    _keras_hub()
    folder = tmp_path / "other"
    shutil.copytree(bert_legacy.FIXTURE, str(folder))
    data = folder / "bert_model.ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0x01  # one bit of one trained value
    data.write_bytes(bytes(raw))
    result = cli("parity", "--migration", recording_path(), "zoo.bert_ports:backbone", "--checkpoint",
                 str(folder / "bert_model.ckpt"), *INPUT_MAP)
    ours = [line for line in result.stderr.splitlines() if line.startswith("compat-init")]
    assert result.returncode == 2 and len(ours) == 1 and "made from another checkpoint" in ours[0], result.stderr
