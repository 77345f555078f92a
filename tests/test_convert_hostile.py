"""Hostile input to the checkpoint commands (issue 25, rows 2 and 4), each in
a real process with a time limit: nothing blocks (a FIFO or a device where a
file is read or written is one line, exit 2, nothing written), stray shard
names and malformed optimizer state are one line, exit 2, never an internal
error."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from compat_init import _runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF115 = os.path.join(ROOT, "tests", "fixtures", "tf115")
PORT = "examples_v2.cnn_pair:build"
LEGACY = "examples_v1.cnn_pair:build"
KERAS3 = _runtime.keras_flavour() == "keras3"
EAGER = _runtime.can_evaluate_eagerly()
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")


def run(*args, timeout=240):
    """The command, in its own process; a hang is a failure (the time limit), never a wait."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        return subprocess.run([sys.executable, "-m", "compat_init"] + list(args), cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("compat-init {} hung (no answer in {} s)".format(" ".join(args), timeout))


def ours(stderr):
    return [line for line in stderr.splitlines() if line.startswith("compat-init")]


def refused(result, words):
    lines = ours(result.stderr)
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    assert len(lines) == 1 and words in lines[0], result.stderr[-3000:]


def out_name():
    return "port.weights.h5" if KERAS3 else "port.h5"


@pytest.fixture
def ckpt(tmp_path):
    shutil.copytree(os.path.join(TF115, "cnn_sgd"), str(tmp_path / "ckpt"))
    return tmp_path


@needs_fifo
@pytest.mark.parametrize("which,words", [
    ("model.ckpt-3.data-00000-of-00001", "must be a regular file; it is a FIFO"),
    ("model.ckpt-3.index", "model.ckpt-3.index must be a regular file; it is a FIFO"),
    ("checkpoint", "its `checkpoint` state file must be a regular file; it is a FIFO"),
])
def test_a_checkpoint_file_that_is_a_fifo_is_refused_not_read(ckpt, which, words):
    path = ckpt / "ckpt" / which
    path.unlink()
    os.mkfifo(str(path))
    target = str(ckpt / "ckpt") if which == "checkpoint" else str(ckpt / "ckpt" / "model.ckpt-3")
    refused(run("convert", "--port", PORT, "--checkpoint", target, "--out", str(ckpt / out_name())), words)
    assert not (ckpt / out_name()).exists()


@needs_fifo
def test_inputs_weights_and_outputs_that_are_fifos_or_devices_are_refused(ckpt):
    fifo = ckpt / "pipe.npy"
    os.mkfifo(str(fifo))
    prefix = str(ckpt / "ckpt" / "model.ckpt-3")
    out = str(ckpt / out_name())
    refused(run("convert", "--migration", LEGACY, PORT, "--checkpoint", prefix, "--out", out, "--inputs", str(fifo)),
            "--inputs must be a shape (positive integers joined by 'x'), an existing .npy or .npz file")
    refused(run("convert", "--port", PORT, "--checkpoint", prefix, "--out", out, "--json", str(fifo)),
            "--json must be a regular file or a new path; received --json={}".format(fifo))
    refused(run("convert", "--port", PORT, "--checkpoint", prefix, "--out", out, "--json", os.devnull),
            "is a character device")
    refused(run("parity", "--migration", LEGACY, PORT, "--json", os.devnull), "is a character device")
    refused(run("record", LEGACY, "--out", str(fifo)), "--out must be a regular file or a new path")
    assert sorted(os.listdir(str(ckpt))) == ["ckpt", "pipe.npy"]  # nothing written, no temporary left
    refused(run("convert", "--migration", LEGACY, PORT, "--reverse", "--weights", str(fifo), "--out",
                str(ckpt / "back" / "model.ckpt")), "must be")
    weights = ckpt / "pipe.weights.h5"  # h5py would block opening it
    os.mkfifo(str(weights))
    refused(run("convert", "--migration", LEGACY, PORT, "--reverse", "--weights", str(weights), "--out",
                str(ckpt / "model.ckpt")), "--weights must be regular files; received {}, which is a FIFO".format(
                    weights))


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
def test_a_meta_graph_too_large_or_a_fifo_is_refused_unread(ckpt):
    meta = ckpt / "ckpt" / "model.ckpt-3.meta"
    with open(str(meta), "wb") as f:
        f.truncate(200 << 20)  # sparse: 200 MiB said, none on disk; parsing it would take gigabytes
    prefix, out = str(ckpt / "ckpt" / "model.ckpt-3"), str(ckpt / out_name())
    refused(run("convert", "--port", PORT, "--checkpoint", prefix, "--out", out),
            "model.ckpt-3.meta is 200.0 MiB, over the 128 MiB a model's graph takes")
    if hasattr(os, "mkfifo"):
        meta.unlink()
        os.mkfifo(str(meta))
        refused(run("convert", "--port", PORT, "--checkpoint", prefix, "--out", out),
                "model.ckpt-3.meta must be a regular file; it is a FIFO")
    assert not os.path.exists(out)


def test_control_characters_from_a_path_reach_the_terminal_escaped(ckpt):
    folder = ckpt / "\x1b[31mred\nline"
    result = run("convert", "--port", PORT, "--checkpoint", str(folder / "model.ckpt-3"), "--out",
                 str(ckpt / out_name()))
    refused(result, "\\x1b[31mred\\x0aline")  # one line, the escape sequence shown, not run
    assert "\x1b" not in result.stderr.split("compat-init:", 1)[1]


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
def test_stray_files_that_look_like_shards(ckpt):
    folder = ckpt / "ckpt"
    (folder / "model.ckpt-3.data-0000x-of-0000y").write_text("not a shard")
    done = run("convert", "--port", PORT, "--checkpoint", str(folder / "model.ckpt-3"), "--out",
               str(ckpt / out_name()))
    assert done.returncode == 0, done.stderr[-3000:]  # not a shard's name: not one
    (folder / "model.ckpt-3.data-00000-of-00002").write_text("another run's shard")
    refused(run("convert", "--port", PORT, "--checkpoint", str(folder / "model.ckpt-3"), "--out",
                str(ckpt / ("again." + out_name()))), "data shards of 2 different counts lie beside it")


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
def test_a_prefix_tensorflow_reads_as_a_glob_pattern_is_named_as_such(tmp_path):
    folder = tmp_path / "run[1]"
    shutil.copytree(os.path.join(TF115, "cnn_sgd"), str(folder))
    result = run("convert", "--port", PORT, "--checkpoint", str(folder / "model.ckpt-3"), "--out",
                 str(tmp_path / out_name()))
    if result.returncode == 0:
        pytest.skip("this TensorFlow reads the prefix literally")
    refused(result, "TensorFlow reads a checkpoint prefix as a glob pattern, and this one holds [ ]")


# --- malformed optimizer state ---------------------------------------------------------------------


def rewrite(source, target, change):
    """A copy of the name-based checkpoint ``source`` at ``target`` with
    ``change`` applied: {key: new value, or None to drop the key}."""
    tf = _runtime.tf()
    reader = tf.train.load_checkpoint(source)
    with tf.Graph().as_default():
        variables = {}
        for key in reader.get_variable_to_shape_map():
            if key in change and change[key] is None:
                continue
            value = change[key] if key in change else reader.get_tensor(key)
            variables[key] = tf.compat.v1.Variable(np.asarray(value), name=key.replace("/", "_"))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, target, write_meta_graph=False, write_state=False)


ATTENTION = os.path.join(TF115, "attention_adam")


@pytest.mark.skipif(not EAGER or not hasattr(_runtime.tf().keras.layers, "MultiHeadAttention"),
                    reason="resuming loads a TF 2 port; MultiHeadAttention exists from TF 2.4")
@pytest.mark.parametrize("change,words", [
    ({"beta1_power": np.float32(0.0)}, "beta1_power must be beta_1 ** (step + 1), in (0, 0.9]; it is 0.0"),
    ({"beta1_power": np.float32(np.nan)}, "beta1_power must be beta_1 ** (step + 1), in (0, 0.9]; it is nan"),
    ({"beta1_power": np.float32(2.0)}, "it is 2.0, which gives no step count"),
    ({"beta1_power": None}, "has Adam slots but no beta1_power"),
    ({"query/kernel/Adam": np.zeros((3, 3), np.float32)}, "the optimizer slot query/kernel/Adam has shape (3, 3)"),
    ({"query/kernel/Adam_1": "nan"}, "the optimizer slot query/kernel/Adam_1 holds"),
])
def test_malformed_adam_state_is_one_line_exit_2(tmp_path, change, words):
    tf = _runtime.tf()
    source = os.path.join(ATTENTION, "model.ckpt-2")
    if "query/kernel/Adam_1" in change:
        value = np.array(tf.train.load_checkpoint(source).get_tensor("query/kernel/Adam_1"))
        value.flat[0] = np.nan
        change = {"query/kernel/Adam_1": value}
    target = str(tmp_path / "model.ckpt-2")
    rewrite(source, target, change)
    result = run("convert", "--migration", "examples_v1.attention_pair:build", "examples_v2.attention_pair:build",
                 "--checkpoint", target, "--out", str(tmp_path / out_name()), "--inputs",
                 os.path.join(ATTENTION, "batch.npy"), "--optimizer", "adam", "--learning-rate", "0.01",
                 "--optimizer-state", "--dense-gradients")
    refused(result, words)
    assert not (tmp_path / out_name()).exists()


# --- verdicts (row 5) -----------------------------------------------------------------------------------


def mlp_checkpoint(folder, poison=None):
    sys.path.insert(0, ROOT)
    from tests import port_pairs as P

    return P.write_mlp_checkpoint(os.path.join(str(folder), "model.ckpt"), poison=poison)


def test_a_pair_without_weights_is_inconclusive():
    sys.path.insert(0, ROOT)
    from compat_init import port
    from tests import port_pairs as P

    report = port.check_migration(P.legacy_stateless, P.port_stateless, inputs=(4, 3))
    assert report.status == "inconclusive" and report.exit_code == 3, str(report)
    assert "neither model has a weight" in str(report) and "does not pass" not in str(report)


def test_non_finite_checkpoint_values_are_named_and_make_the_proof_inconclusive(tmp_path):
    sys.path.insert(0, ROOT)
    from compat_init import port
    from tests import port_pairs as P

    prefix = mlp_checkpoint(tmp_path, poison="hidden/kernel")
    report = port.check_migration(P.legacy_mlp, P.port_module, checkpoint=prefix, inputs=(8, 20))
    assert report.status == "inconclusive" and report.decided_by == "checkpoint (non-finite values)", str(report)
    assert "hidden/kernel (2 NaN or infinite of 320)" in str(report) and "DIFFERS" not in str(report)
    if EAGER:
        from compat_init import checkpoint

        _, converted = checkpoint.convert(prefix, P.port_module)
        assert any("hidden/kernel (2 NaN or infinite of 320)" in n for n in converted.notes), converted.notes


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
def test_a_shape_mismatch_with_port_alone_names_both_shapes(tmp_path):
    sys.path.insert(0, ROOT)
    from compat_init import checkpoint
    from compat_init._errors import UsageError
    from tests import port_pairs as P

    prefix = mlp_checkpoint(tmp_path)
    with pytest.raises(UsageError) as caught:
        checkpoint.convert(prefix, P.port_mlp_narrow)
    message = str(caught.value)
    assert "kernel (20x8)" in message and "hidden/kernel (20x16)" in message, message


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
def test_a_state_file_naming_a_missing_prefix_says_so_once(ckpt):
    folder = ckpt / "ckpt"
    (folder / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-9"\n')
    result = run("convert", "--port", PORT, "--checkpoint", str(folder), "--out", str(ckpt / out_name()))
    refused(result, "its `checkpoint` state file names ")
    assert "model.ckpt-9, which does not exist" in result.stderr and "without a checkpoint" not in result.stderr


# --- all or nothing (row 3) -------------------------------------------------------------------------------


def leftovers(folder):
    return sorted(n for n in os.listdir(str(folder)) if n.startswith(".compat-init-"))


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs (root only): a full disk for real."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if made.returncode != 0:
        pytest.skip("a tmpfs needs root: {}".format(made.stderr.strip()))
    yield mount
    subprocess.run(["umount", str(mount)])


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
def test_a_full_disk_is_one_line_and_leaves_nothing(ckpt, small_disk):
    (small_disk / "old.weights.h5").write_bytes(b"x" * 1000)
    out = small_disk / out_name()
    result = run("convert", "--port", PORT, "--checkpoint", str(ckpt / "ckpt" / "model.ckpt-3"), "--out", str(out))
    refused(result, "not enough space")  # the CNN's weights are about 215 KiB
    assert sorted(os.listdir(str(small_disk))) == ["old.weights.h5"]


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
def test_only_our_abandoned_temporaries_are_removed_by_the_next_run(ckpt):
    from compat_init._files import Temporary

    # A run killed mid-write: its private folder stays, its lock goes with the process.
    killed = subprocess.run([sys.executable, "-c", "import os, sys; from compat_init._files import Temporary; "
                             "t = Temporary(sys.argv[1], '.weights.h5'); open(t.path, 'wb').write(b'half'); "
                             "print(os.path.basename(t.holder)); os._exit(9)", str(ckpt)],
                            stdout=subprocess.PIPE, universal_newlines=True, cwd=ROOT)
    abandoned = killed.stdout.strip()
    assert killed.returncode == 9 and abandoned in leftovers(ckpt)
    live = Temporary(str(ckpt), ".weights.h5")  # a live run's (here, another pid namespace's alike): held, kept
    users = [ckpt / ".compat-init-999999999-notes.txt", ckpt / ".compat-init-999999999-abc.tmpd"]
    users[0].write_text("a user's notes")  # named like our temporaries, a dead pid: the user's all the same
    users[1].mkdir()
    (users[1] / "lock").write_text("not our mark")
    try:
        done = run("convert", "--port", PORT, "--checkpoint", str(ckpt / "ckpt" / "model.ckpt-3"), "--out",
                   str(ckpt / out_name()))
        assert done.returncode == 0, done.stderr[-3000:]
        assert leftovers(ckpt) == sorted([os.path.basename(live.holder)] + [u.name for u in users])
        assert users[0].read_text() == "a user's notes" and (users[1] / "lock").read_text() == "not our mark"
    finally:
        live.close()
    assert leftovers(ckpt) == sorted(u.name for u in users)


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
@pytest.mark.parametrize("delay", [2.0, 4.0, 6.0, 8.0])
def test_a_terminated_run_leaves_no_partial_output(ckpt, delay):
    """SIGTERM at several moments of a run: it ends in time, either whole
    (exit 0, a loadable --out) or interrupted (exit 130, one line, no --out),
    and never leaves a temporary."""
    import signal
    import time

    out = ckpt / out_name()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen([sys.executable, "-m", "compat_init", "convert", "--migration", LEGACY, PORT,
                                "--checkpoint", str(ckpt / "ckpt" / "model.ckpt-3"), "--inputs", "4x28x28x1",
                                "--out", str(out), "--json", str(ckpt / "report.json")],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True)
    time.sleep(delay)
    process.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the run did not end after SIGTERM")
    assert leftovers(ckpt) == [], leftovers(ckpt)
    if process.returncode == 0:
        assert out.exists() and (ckpt / "report.json").exists()
    else:
        assert process.returncode in (130, -signal.SIGTERM), (process.returncode, stderr[-2000:])
        assert not out.exists() and not (ckpt / "report.json").exists()
        if process.returncode == 130:
            assert ours(stderr)[-1].startswith("compat-init: interrupted"), stderr[-2000:]


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
def test_json_to_a_closed_pipe_writes_nothing(ckpt):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = ckpt / out_name()
    process = subprocess.Popen([sys.executable, "-m", "compat_init", "convert", "--port", PORT, "--checkpoint",
                                str(ckpt / "ckpt" / "model.ckpt-3"), "--out", str(out), "--json", "-"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True)
    process.stdout.close()  # the reader goes away before the run writes anything
    stderr = process.stderr.read()
    process.wait(timeout=240)
    assert process.returncode == 2, stderr[-2000:]
    assert "stdout, whose reader has closed the pipe" in stderr and not out.exists()


def test_an_optimizer_state_target_that_is_a_folder_is_refused_first(ckpt):
    (ckpt / (out_name() + ".optimizer.npz")).mkdir()
    result = run("convert", "--migration", "examples_v1.attention_pair:build", "examples_v2.attention_pair:build",
                 "--checkpoint", os.path.join(ATTENTION, "model.ckpt-2"), "--out", str(ckpt / out_name()),
                 "--inputs", os.path.join(ATTENTION, "batch.npy"), "--optimizer", "adam", "--optimizer-state")
    refused(result, "must be a regular file or a new path")
    assert not (ckpt / out_name()).exists() and leftovers(ckpt) == []


# --- the project's own examples (row 8) --------------------------------------------------------------------


@pytest.mark.parametrize("module", ["examples_v2.cnn_pair", "examples_v2.attention_pair"])
def test_the_example_ports_build_without_warnings(module):
    """Keras 3 warns about ``input_shape=`` on a layer; the examples a user
    copies must not teach it."""
    import importlib
    import warnings

    sys.path.insert(0, ROOT)
    if module.endswith("attention_pair") and not hasattr(_runtime.tf().keras.layers, "MultiHeadAttention"):
        pytest.skip("MultiHeadAttention exists from TF 2.4")
    build = importlib.import_module(module).build
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build()
    ours = [str(w.message) for w in caught if "keras" in str(w.filename).lower() or "input_shape" in str(w.message)]
    assert ours == [], ours


def test_an_array_in_an_error_is_summarized_on_one_line():
    """Row 4: a legacy builder that returns a numpy array."""
    sys.path.insert(0, ROOT)
    from compat_init import port
    from compat_init._errors import UsageError
    from tests import port_pairs as P

    with pytest.raises(UsageError) as caught:
        port.check_migration(lambda: np.zeros((30, 30), np.float32), P.port_module, inputs=(8, 20))
    message = str(caught.value)
    assert "received a ndarray of shape (30, 30) and dtype float32" in message and "\n" not in message, message


# --- memory (row 6) ----------------------------------------------------------------------------------------


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
def test_conversion_builds_the_port_without_drawing_its_initializers(tmp_path):
    """The checkpoint fills every weight: the port's own draws (3.1x a 2 GiB
    kernel's memory with glorot_uniform, measured) are never made
    (benchmarks/bench_convert_memory.py measures the peak)."""
    sys.path.insert(0, ROOT)
    from compat_init import checkpoint
    from tests import port_pairs as P

    prefix = mlp_checkpoint(tmp_path)
    # The conversion alone (finding the outputs in the .meta runs the port at its initial weights).
    model, report = checkpoint.convert(prefix, P.port_mlp_refusing_initializers, prove=False)
    assert report.counts()["loaded"] == 4, str(report)
    kernel = _runtime.tf().train.load_checkpoint(prefix).get_tensor("hidden/kernel")
    assert np.array_equal(np.asarray(model.weights[0].numpy()), kernel)
    with pytest.raises(RuntimeError, match="asked to draw"):
        P.port_mlp_refusing_initializers()  # built anywhere else, it draws


@pytest.mark.skipif(not EAGER, reason="conversion loads a TF 2 (eager) port")
@pytest.mark.parametrize("where", ["output", "initializer"])
def test_a_meta_graph_beside_the_checkpoint_never_runs_an_op_that_reaches_outside(tmp_path, where):
    """A .meta graph is a program: convert --port runs the one beside the
    checkpoint on its own, so none of its ops that write a file (print, call
    Python, read a reader...) may run: an output that depends on one is not
    a candidate, and a graph whose variables' initializers run one is not run
    at all (written "not proven")."""
    import tensorflow as tf

    sys.path.insert(0, ROOT)
    from examples_v1 import cnn_pair

    v1 = tf.compat.v1
    target = tmp_path / "owned.txt"
    with tf.Graph().as_default():
        probabilities = cnn_pair.build()
        write = tf.io.write_file(str(target), "owned")
        if where == "output":
            with tf.control_dependencies([write]):
                tf.identity(probabilities, name="output")
        else:
            with tf.control_dependencies([write]):
                start = tf.zeros(2) + 1.0  # a variable's initial value computed after the write
            v1.Variable(start, name="extra")
        with v1.Session() as session:
            session.run([v.initializer for v in v1.global_variables() if v.op.name != "extra"])
            if where == "initializer":
                session.run(v1.global_variables()[-1].assign(np.zeros(2, np.float32)))
            v1.train.Saver().save(session, str(tmp_path / "model.ckpt"))
    assert not target.exists()
    out = tmp_path / out_name()
    result = run("convert", "--port", PORT, "--checkpoint", str(tmp_path / "model.ckpt"), "--out", str(out))
    assert not target.exists(), "the graph's WriteFile ran"
    assert result.returncode == 0 and out.exists(), result.stderr[-3000:]
    if where == "output":
        assert "verdict: the port agrees" in result.stdout and "Softmax:0" in result.stdout, result.stdout[-3000:]
    else:
        assert "not proven" in ours(result.stderr)[-1] and "WriteFile" in ours(result.stderr)[-1], result.stderr


def test_a_meta_graph_that_writes_files_is_refused_unless_allowed(tmp_path):
    """Issue 33: a .meta graph is a program. Outputs named in one whose value
    needs a WriteFile are refused before anything runs (the file is not
    written), one UsageError naming the op; allow_io_ops=True runs it."""
    import tensorflow as tf

    from compat_init import port
    from compat_init._errors import UsageError

    v1 = tf.compat.v1
    written = tmp_path / "written.txt"
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, (None, 4), name="x")
        w = v1.get_variable("w", (4, 2))
        with tf.control_dependencies([tf.io.write_file(str(written), "from the graph")]):
            tf.identity(tf.matmul(x, w), name="y")
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            v1.train.Saver().save(session, str(tmp_path / "model.ckpt"))
    assert not written.exists()
    meta = str(tmp_path / "model.ckpt.meta")
    with tf.Graph().as_default():
        with pytest.raises(UsageError, match=r"would run 1 op\(s\) that read or write files or run Python .*: "
                                             r"WriteFile \(WriteFile\); .*\(--allow-io-ops\)"):
            port.meta_graph(meta, ["y:0"])()
    with tf.Graph().as_default():
        (y,) = port.meta_graph(meta, ["y:0"], allow_io_ops=True)()
        assert y.name == "y:0"
    assert not written.exists()  # importing runs nothing; refusing ran nothing
    result = run("record", meta, "--outputs", "y:0", "--inputs", "2x4", "--out", str(tmp_path / "y.rec"), "--quiet")
    refused(result, "would run 1 op(s) that read or write files or run Python")
    assert not written.exists() and not (tmp_path / "y.rec").exists()
