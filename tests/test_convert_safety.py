"""No output ever replaces an input (issue 25, row 1): ``--out``, ``--json``,
``--report`` and the optimizer-state file are refused, one line and exit 2
with nothing written, when they are (or would overwrite) a file the run reads
or another output; paths compared resolved and by inode, links included.
Every leg: the refusal comes before any work, so TF 1.15 gives it too."""
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from compat_init import _runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN = os.path.join(ROOT, "tests", "fixtures", "tf115", "cnn_sgd")
KERAS3 = _runtime.keras_flavour() == "keras3"
PORT = "examples_v2.cnn_pair:build"
LEGACY = "examples_v1.cnn_pair:build"


def run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "compat_init"] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def snapshot(folder):
    """Every file below ``folder`` with its digest (what a refused run must leave as it was)."""
    found = {}
    for parent, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(parent, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.fixture
def work(tmp_path):
    """A copy of the TF 1.15 CNN checkpoint (prefix ``ckpt/model.ckpt-3``) and a mapping file."""
    shutil.copytree(CNN, str(tmp_path / "ckpt"))
    (tmp_path / "mapping.json").write_text('{"dense/kernel": "dense/kernel"}')
    return tmp_path


def weights_name():
    return "port.weights.h5" if KERAS3 else "port.h5"


# (case, the arguments after `convert` or the subcommand, made from the scratch folder; the words of the error)
CASES = [
    ("out-is-a-link-to-the-index",
     lambda w: ["convert", "--port", PORT, "--checkpoint", str(w / "ckpt"), "--out", link(w, "ckpt/model.ckpt-3.index")],
     "--out must not overwrite a file this run reads"),
    ("json-is-the-index",
     lambda w: ["convert", "--port", PORT, "--checkpoint", str(w / "ckpt"), "--out", str(w / weights_name()),
                "--json", str(w / "ckpt" / "model.ckpt-3.index")],
     "--json must not overwrite a file this run reads"),
    ("json-is-the-state-file",
     lambda w: ["convert", "--port", PORT, "--checkpoint", str(w / "ckpt"), "--out", str(w / weights_name()),
                "--json", str(w / "ckpt" / "checkpoint")],
     "--json must not overwrite a file this run reads"),
    ("json-is-out",
     lambda w: ["convert", "--port", PORT, "--checkpoint", str(w / "ckpt"), "--out", str(w / weights_name()),
                "--json", str(w / weights_name())],
     "--out and --json must not write the same file"),
    ("json-is-the-mapping",
     lambda w: ["convert", "--port", PORT, "--checkpoint", str(w / "ckpt"), "--out", str(w / weights_name()),
                "--mapping", str(w / "mapping.json"), "--json", str(w / "mapping.json")],
     "--json must not overwrite a file this run reads"),
    ("json-is-a-hard-link-of-the-inputs",
     lambda w: ["convert", "--migration", LEGACY, PORT, "--checkpoint", str(w / "ckpt"), "--out",
                str(w / weights_name()), "--inputs", str(w / "ckpt" / "batch.npy"), "--json",
                hard_link(w, "ckpt/batch.npy")],
     "--json must not overwrite a file this run reads"),
    ("parity-json-is-the-index",
     lambda w: ["parity", "--migration", LEGACY, PORT, "--checkpoint", str(w / "ckpt"), "--json",
                str(w / "ckpt" / "model.ckpt-3.index")],
     "--json must not overwrite a file this run reads"),
    ("parity-plot-is-the-inputs",
     lambda w: ["parity", "--migration", LEGACY, PORT, "--inputs", str(w / "ckpt" / "batch.npy"), "--steps", "1",
                "--plot", link(w, "ckpt/batch.npy", "plot.png")],
     "--plot must not overwrite a file this run reads"),
]


def link(work, target, name="link.weights.h5"):
    path = work / name
    os.symlink(str(work / target), str(path))
    return str(path)


def hard_link(work, target):
    path = work / "report.json"
    os.link(str(work / target), str(path))
    return str(path)


def refused_untouched(folder, make, words):
    """The run ``make(folder)`` gives is refused in one line holding ``words``, exit 2, every file of ``folder``
    as it was."""
    args = make(folder)
    before = snapshot(str(folder))
    result = run(*args)
    ours = [line for line in result.stderr.splitlines() if line.startswith("compat-init")]
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(ours) == 1 and words in ours[0], result.stderr[-3000:]
    assert snapshot(str(folder)) == before  # nothing written, nothing replaced


@pytest.mark.parametrize("case,make,words", CASES, ids=[c[0] for c in CASES])
def test_an_output_that_would_replace_an_input_is_refused(work, case, make, words):
    refused_untouched(work, make, words)


@pytest.mark.skipif(KERAS3, reason="Keras 3 writes .weights.h5 only; a TF-checkpoint --out is Keras 2's")
def test_out_equal_to_the_source_prefix_is_refused_on_keras2(work):
    before = snapshot(str(work))
    result = run("convert", "--port", PORT, "--checkpoint", str(work / "ckpt"), "--out",
                 str(work / "ckpt" / "model.ckpt-3"))
    assert result.returncode == 2 and "--out must not overwrite a file this run reads" in result.stderr
    assert snapshot(str(work)) == before


@pytest.mark.skipif(KERAS3 or not _runtime.can_evaluate_eagerly(),
                    reason="a TF-checkpoint --out is Keras 2's (TF 2, eager)")
def test_out_beside_the_source_keeps_its_state_file(work):
    state = (work / "ckpt" / "checkpoint").read_bytes()
    result = run("convert", "--port", PORT, "--checkpoint", str(work / "ckpt"), "--out",
                 str(work / "ckpt" / "port"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work / "ckpt" / "port.index").exists()
    assert (work / "ckpt" / "checkpoint").read_bytes() == state  # still names the legacy checkpoint


def test_reverse_out_equal_to_its_weights_is_refused(work):
    weights = work / "port.ckpt"
    for suffix in (".index", ".data-00000-of-00001"):
        (work / ("port.ckpt" + suffix)).write_bytes(b"stand-in")
    before = snapshot(str(work))
    result = run("convert", "--migration", LEGACY, PORT, "--reverse", "--weights", str(weights), "--out",
                 str(weights))
    assert result.returncode == 2 and "--out must not overwrite a file this run reads" in result.stderr, \
        result.stderr[-3000:]
    assert snapshot(str(work)) == before


def test_migrate_report_onto_a_file_it_migrates_is_refused(tmp_path):
    pytest.importorskip("libcst")
    source = tmp_path / "model.py"
    source.write_text("import tensorflow as tf\ninit = tf.contrib.layers.xavier_initializer()\n")
    before = source.read_bytes()
    for report in (str(source), str(tmp_path / "model.py")):
        result = run("migrate", str(tmp_path), "--report", report)
        assert result.returncode == 2 and "--report must not overwrite a file this run reads" in result.stderr, \
            result.stderr[-2000:]
    assert source.read_bytes() == before


@pytest.fixture
def copied(tmp_path):
    """A checkpoint folder and its copy (``cp -r``): TensorFlow's state file
    holds the original's absolute path, so ``--checkpoint copy`` reads the
    original's files; the copy's are the user's all the same (issue 33)."""
    original = tmp_path / "original"
    shutil.copytree(CNN, str(original))
    (original / "checkpoint").write_text('model_checkpoint_path: "{0}"\nall_model_checkpoint_paths: "{0}"\n'.format(
        original / "model.ckpt-3"))
    shutil.copytree(str(original), str(tmp_path / "copy"))
    return tmp_path


# (case, the arguments, made from the scratch folder; the words of the error)
COPIED = [
    ("emit-mapping-over-the-copy's-index",
     lambda w: ["convert", "--port", PORT, "--checkpoint", str(w / "copy"), "--plan", "--emit-mapping",
                str(w / "copy" / "model.ckpt-3.index")],
     "--emit-mapping must not replace a file of the checkpoint's folder"),
    ("json-over-the-copy's-state-file",
     lambda w: ["convert", "--port", PORT, "--checkpoint", str(w / "copy"), "--plan", "--json",
                str(w / "copy" / "checkpoint")],
     "--json must not replace a file of the checkpoint's folder"),
    ("record-over-the-copy's-index",
     lambda w: ["record", LEGACY, "--checkpoint", str(w / "copy"), "--out", str(w / "copy" / "model.ckpt-3.index")],
     "--out must not replace a file of the checkpoint's folder"),
    ("parity-json-over-the-copy's-data",
     lambda w: ["parity", "--migration", LEGACY, PORT, "--checkpoint", str(w / "copy"), "--json",
                str(w / "copy" / "model.ckpt-3.data-00000-of-00001")],
     "--json must not replace a file of the checkpoint's folder"),
    ("out-over-an-existing-recording",
     lambda w: ["convert", "--port", PORT, "--checkpoint", str(w / "original"), "--plan", "--emit-mapping",
                existing(w, "old.rec")],
     "--emit-mapping must not replace an existing file that holds a checkpoint's, a recording's or weights"),
    ("out-named-after-the-state-file",
     lambda w: ["convert", "--port", PORT, "--checkpoint", str(w / "copy" / "model.ckpt-3"), "--plan",
                "--emit-mapping", without_state(w / "copy")],
     "--emit-mapping must not take the checkpoint folder's state file name"),
]


def existing(work, name):
    (work / name).write_bytes(b"a user's file")
    return str(work / name)


def without_state(folder):
    os.remove(str(folder / "checkpoint"))
    return str(folder / "checkpoint")


@pytest.mark.parametrize("case,make,words", COPIED, ids=[c[0] for c in COPIED])
def test_no_output_replaces_a_file_of_a_copied_checkpoint_folder(copied, case, make, words):
    refused_untouched(copied, make, words)


def test_force_lets_an_output_replace_a_file_of_the_folder_and_the_report_says_where_it_read(copied):
    notes = copied / "copy" / "notes.json"
    notes.write_text("{}")
    refused = run("convert", "--port", PORT, "--checkpoint", str(copied / "copy"), "--plan", "--json", str(notes))
    assert refused.returncode == 2 and "--force writes over it" in refused.stderr, refused.stderr[-2000:]
    assert notes.read_text() == "{}"
    done = run("convert", "--port", PORT, "--checkpoint", str(copied / "copy"), "--plan", "--json", str(notes),
               "--force")
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"entries"' in notes.read_text()
    # The copy's state file sends the run to the original's files: said.
    assert "in another folder than the one named ({})".format(copied / "copy") in done.stdout, done.stdout[-3000:]
