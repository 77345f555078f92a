"""A recording is the legacy side of the proof (issue 24, row 1): made once
where the legacy code runs, replayed with the same verdicts, reports and exit
codes as the live legacy builder; refused with one line when damaged, made
from another checkpoint or asked for another run; written whole, never over
an input.  Every leg records and replays its own (the TF 1.15 to TF 2 case is
tests/test_zoo_record.py)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from compat_init import _runtime, port
from compat_init._errors import UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.test_port_real import CASES  # noqa: E402

RUN = ("inputs", "steps", "loss", "optimizer", "learning_rate", "from_logits", "seed", "placeholders", "feeds")


def summary(report):
    """What a verdict rests on: status, the part that decided it, every
    kernel's verdict, every output's and step's figures, the locator's words."""
    function = report.function
    return {
        "status": report.status, "decided_by": report.decided_by,
        "kernels": [(k.kernel, k.verdict) for k in report.kernels],
        "pairs": report.pairs, "unpaired": report.unpaired,
        "outputs": [(o.name, o.max_abs, o.passed) for o in function.outputs] if function else None,
        "steps": [(s.loss_v1, s.loss_v2, [(w.name, w.max_abs) for w in s.weights]) for s in function.steps]
        if function else None,
        "divergence": function.divergence if function else None,
        "dropout": function.dropout_rates if function else None,
        "reasons": function.reasons if function else None,
    }


@pytest.mark.parametrize("legacy,wrapped,kwargs", [c[1:4] for c in CASES], ids=[c[0] for c in CASES])
def test_a_recording_gives_the_live_proof_verdict_and_figures(tmp_path, legacy, wrapped, kwargs):
    keras = _runtime.tf().keras
    keras.backend.clear_session()  # the same layer names in both runs
    live = port.check_migration(legacy, wrapped, **kwargs)
    out = str(tmp_path / "legacy.rec")
    port.record(legacy, out, **{k: v for k, v in kwargs.items() if k in RUN})
    keras.backend.clear_session()
    replayed = port.check_migration(port.read_recording(out), wrapped,
                                    **{k: v for k, v in kwargs.items() if k not in RUN})
    assert summary(replayed) == summary(live), "live:\n{}\n\nreplayed:\n{}".format(live, replayed)
    if replayed.function is not None:
        assert any("the legacy side is the recording " + out in n for n in replayed.function.notes)


def test_the_recording_holds_what_the_issue_lists(tmp_path):
    from tests import port_pairs as P

    out = str(tmp_path / "bn.rec")
    recording = port.record(P.legacy_batch_norm, out, inputs=(8, 12), steps=2, loss="mse")
    m = port.read_recording(out).manifest
    assert m["made_with"]["tensorflow"] == str(_runtime.tf_version()) and m["made_with"]["python"]
    assert [v["name"] for v in m["variables"]][:2] == ["dense/kernel", "dense/bias"]
    assert {v["theory"]["distribution"] for v in m["variables"] if v["name"].endswith("kernel")} == {"uniform"}
    assert m["switch"] == "training" and m["outputs"]["training"] is not None  # batch norm in training mode
    assert set(m["trajectories"]) == {"inference", "training"} and len(m["trajectories"]["training"]) == 2
    state = m["trajectories"]["training"][0]["state"]  # the moving statistics after the step
    assert sorted(m["variables"][int(i)]["name"] for i in state) == [
        "batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    assert m["candidates"]["tensors"] and recording.path == out
    assert oct(os.stat(out).st_mode & 0o777) == oct(0o666 & ~_umask())  # a new file's mode, not a temporary's


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _recorded(tmp_path, **options):
    from tests import port_pairs as P

    out = str(tmp_path / "mlp.rec")
    port.record(P.legacy_mlp, out, inputs=(8, 20), steps=3, **options)
    return out


def test_options_left_out_take_the_recording_and_others_must_equal_it(tmp_path):
    from tests import port_pairs as P

    recording = port.read_recording(_recorded(tmp_path, optimizer="momentum"))
    assert port.check_migration(recording, P.port_module).status == "pass"
    shorter = port.check_migration(recording, P.port_module, steps=1)
    assert len(shorter.function.steps) == 1 and any("first 1 of its 3" in n for n in shorter.function.notes)
    for options, words in ((dict(optimizer="adam"), "optimizer must be the recording's ('momentum'"),
                           (dict(steps=4), "steps must be the recording's (3"),
                           (dict(seed=5), "seed must be the recording's (0"),
                           (dict(inputs=(4, 20)), "inputs must be the recording's batch (x float32 8x20)"),
                           (dict(feeds={"x": 1.0}), "feeds were fixed when the recording"),
                           (dict(placeholders=["y"]), "placeholders must be the recording's inputs (x)")):
        with pytest.raises(UsageError) as caught:
            port.check_migration(recording, P.port_module, **options)
        assert words in str(caught.value), str(caught.value)


def test_the_same_batch_given_again_is_accepted(tmp_path):
    from tests import port_pairs as P

    recording = port.read_recording(_recorded(tmp_path))
    batch = recording.arrays[recording.manifest["inputs"][0]["array"]]
    assert port.check_migration(recording, P.port_module, inputs=batch.copy()).status == "pass"
    assert port.check_migration(recording, P.port_module, inputs={"x": batch.copy()}).status == "pass"


def _rewrite(path, out, change):
    """A copy of the recording at ``path`` with its manifest changed."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.namelist():
            data = source.read(item)
            if item == "recording.json":
                manifest = json.loads(data.decode("utf-8"))
                change(manifest)
                data = json.dumps(manifest).encode("utf-8")
            target.writestr(item, data)
    return out


def test_a_damaged_or_foreign_recording_is_refused_with_the_reason(tmp_path):
    good = _recorded(tmp_path)
    text = tmp_path / "notes.rec"
    text.write_text("not a recording")
    truncated = tmp_path / "truncated.rec"
    truncated.write_bytes(open(good, "rb").read()[:-4000])
    newer = _rewrite(good, str(tmp_path / "newer.rec"), lambda m: m.update(version=99))
    foreign = _rewrite(good, str(tmp_path / "foreign.rec"), lambda m: m.update(format="something else"))
    missing = _rewrite(good, str(tmp_path / "missing.rec"), lambda m: m["arrays"].append("extra"))
    for path, words in ((str(text), "not a zip archive"), (str(truncated), "not a zip archive"),
                        (newer, "format version 99, newer than this compat_init reads"),
                        (foreign, "not a compat_init recording's"), (missing, "the array extra is missing"),
                        (str(tmp_path / "absent.rec"), "must be an existing file")):
        with pytest.raises(UsageError) as caught:
            port.read_recording(path)
        assert words in str(caught.value), (path, str(caught.value))


def cli(command, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "compat_init", command] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def ours(text):
    return [line for line in text.splitlines() if line.startswith("compat-init")]


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_cli_record_then_prove_pass_and_fail(tmp_path):
    out = str(tmp_path / "bn.rec")
    made = cli("record", "tests.port_pairs:legacy_batch_norm", "--inputs", "8x12", "--steps", "3", "--loss", "mse",
               "--out", out)
    assert made.returncode == 0, made.stderr[-3000:]
    assert "written: recording " + out in made.stdout and "8 variable(s)" in made.stdout
    assert "compat-init record: training-mode training step 3 of 3" in made.stderr  # progress, on stderr
    good = cli("parity", "--migration", out, "tests.port_pairs:port_batch_norm")
    assert good.returncode == 0 and "verdict: the port agrees (decided by the training)" in good.stdout, good.stdout
    bad = cli("parity", "--migration", out, "tests.port_pairs:port_batch_norm_other_momentum")
    assert bad.returncode == 1 and "the port DIFFERS" in bad.stdout, bad.stdout[-2000:]
    other = cli("parity", "--migration", out, "tests.port_pairs:port_batch_norm", "--optimizer", "adam")
    assert other.returncode == 2 and ours(other.stderr) == [
        "compat-init: error: optimizer must be the recording's ('sgd', as {} was made) or left out; received "
        "optimizer='adam'; record again with the options you want".format(out)], other.stderr


def test_cli_a_damaged_recording_is_one_line_exit_2(tmp_path):
    broken = tmp_path / "broken.rec"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    result = cli("parity", "--migration", str(broken), "tests.port_pairs:port_module")
    assert result.returncode == 2 and len(ours(result.stderr)) == 1, result.stderr
    assert "is not a usable recording" in result.stderr and "Traceback" not in result.stderr


def test_a_recording_from_another_checkpoint_is_refused(tmp_path):
    tf = _runtime.tf()
    prefix = str(tmp_path / "trained" / "model.ckpt")
    os.makedirs(os.path.dirname(prefix))
    _save_legacy_checkpoint(tf, prefix)
    out = str(tmp_path / "at_checkpoint.rec")
    made = cli("record", "tests.port_pairs:legacy_mlp", "--checkpoint", prefix, "--inputs", "8x20", "--out", out)
    assert made.returncode == 0, made.stderr[-3000:]
    good = cli("parity", "--migration", out, "tests.port_pairs:port_module", "--checkpoint", prefix)
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-2000:]
    other = str(tmp_path / "other" / "model.ckpt")
    shutil.copytree(os.path.dirname(prefix), os.path.dirname(other))
    _save_legacy_checkpoint(tf, other, scale=2.0)
    refused = cli("parity", "--migration", out, "tests.port_pairs:port_module", "--checkpoint", other)
    assert refused.returncode == 2 and len(ours(refused.stderr)) == 1, refused.stderr
    assert "was made from another checkpoint" in refused.stderr
    fresh = str(tmp_path / "fresh.rec")
    assert cli("record", "tests.port_pairs:legacy_mlp", "--inputs", "8x20", "--out", fresh).returncode == 0
    unasked = cli("parity", "--migration", fresh, "tests.port_pairs:port_module", "--checkpoint", prefix)
    assert unasked.returncode == 2 and "made from the legacy model's initial values" in unasked.stderr


def test_a_stray_file_beside_the_shards_keeps_the_checkpoints_identity(tmp_path):
    """The digest a recording keeps hashes the files the reader reads: a
    shard's backup (model.ckpt.data-00000-of-00001.bak) is not one of them
    (it changed the digest, and so refused the very checkpoint recorded)."""
    from tests import port_pairs as P

    prefix = str(tmp_path / "model.ckpt")
    _save_legacy_checkpoint(_runtime.tf(), prefix)
    recording = port.record(P.legacy_mlp, str(tmp_path / "at_checkpoint.rec"), checkpoint=prefix, inputs=(8, 20))
    shard = prefix + ".data-00000-of-00001"
    shutil.copy(shard, shard + ".bak")
    assert recording.check_checkpoint(prefix) == prefix


def _save_legacy_checkpoint(tf, prefix, scale=1.0):
    from tests import port_pairs as P

    P.write_mlp_checkpoint(prefix, scale=scale)


def test_cli_record_never_writes_over_an_input_and_is_all_or_nothing(tmp_path):
    batch = tmp_path / "batch.npy"
    np.save(str(batch), np.ones((4, 20), np.float32))
    before = digest(str(batch))
    refused = cli("record", "tests.port_pairs:legacy_mlp", "--inputs", str(batch), "--out", str(batch))
    assert refused.returncode == 2 and "--out must not overwrite a file this run reads" in refused.stderr
    assert digest(str(batch)) == before
    old = tmp_path / "old.rec"
    old.write_bytes(b"the user's earlier file")
    kept = cli("record", "tests.port_pairs:legacy_mlp", "--inputs", "8x20", "--out", str(old))
    assert kept.returncode == 2 and "--out must not replace an existing file that holds a checkpoint's, a " \
        "recording's or weights" in kept.stderr and "--force writes over it" in kept.stderr, kept.stderr
    failed = cli("record", "tests.port_pairs:legacy_mlp", "--inputs", "8x7", "--out", str(old), "--force")
    assert failed.returncode == 2 and "inputs for placeholder x must have shape" in failed.stderr, failed.stderr
    assert old.read_bytes() == b"the user's earlier file"
    assert sorted(os.listdir(str(tmp_path))) == ["batch.npy", "old.rec"]  # no temporary left behind
    for args, words in ((["--out", str(tmp_path / "x.rec")], "the following arguments are required: V1MODULE:BUILD"),
                        (["tests.port_pairs:legacy_mlp", "--steps", "2", "--out", str(tmp_path / "x.rec")],
                         "--steps needs --inputs"),
                        (["tests.port_pairs:legacy_mlp", "--out", str(tmp_path / "no" / "x.rec")],
                         "--out must be in an existing folder")):
        result = cli("record", *args)
        assert result.returncode == 2 and words in result.stderr, (args, result.stderr)


@pytest.mark.skipif(not _runtime.can_evaluate_eagerly(), reason="conversion loads a TF 2 port")
def test_cli_convert_refuses_what_needs_the_legacy_graph(tmp_path):
    out = str(tmp_path / "mlp.rec")
    assert cli("record", "tests.port_pairs:legacy_mlp", "--inputs", "8x20", "--out", out).returncode == 0
    result = cli("convert", "--migration", out, "tests.port_pairs:port_module", "--reverse", "--out",
                 str(tmp_path / "back.ckpt"))
    assert result.returncode == 2 and "--reverse runs the legacy graph itself" in result.stderr, result.stderr


@pytest.mark.skipif(_runtime.is_tf1(), reason="a graph TF 2 cannot import: the case a recording is for")
def test_a_meta_graph_with_an_op_this_tensorflow_lacks_points_to_record(tmp_path):
    tf = _runtime.tf()
    meta = tf.compat.v1.MetaGraphDef()
    node = meta.graph_def.node.add()
    node.name, node.op = "layer_norm", "ContribOnlyLayerNorm"  # as a tf.contrib kernel appears to TF 2
    path = tmp_path / "model.ckpt.meta"
    path.write_bytes(meta.SerializeToString())
    result = cli("parity", "--migration", str(path), "tests.port_pairs:port_module", "--outputs", "layer_norm:0",
                 "--inputs", "8x20")
    assert result.returncode == 2 and len(ours(result.stderr)) == 1, result.stderr
    assert "uses the op ContribOnlyLayerNorm, which this TensorFlow" in result.stderr
    assert "compat-init record" in result.stderr and "--migration LEGACY.rec" in result.stderr


def test_the_recorded_dataflow_pairs_as_the_live_graph_and_a_bad_one_is_refused(tmp_path):
    """The recording keeps the legacy graph's dataflow (issue 32): replayed, a
    port whose variables are created in another order pairs as live (the
    first test compares them); a flow naming a variable the recording does
    not hold, or a split into one part, is refused with the reason."""
    from tests import port_pairs as P

    good = _recorded(tmp_path)
    flow = port.read_recording(good).manifest["flow"]
    assert flow["deps"]["hidden/bias"] == ["hidden/kernel"] and flow["splits"] == {}, flow
    assert set(flow["deps"]["out/kernel"]) == {"hidden/kernel", "hidden/bias"}, flow
    stranger = _rewrite(good, str(tmp_path / "stranger.rec"), lambda m: m["flow"]["deps"].update(
        {"hidden/bias": ["elsewhere/kernel"]}))
    one_part = _rewrite(good, str(tmp_path / "one.rec"), lambda m: m["flow"]["splits"].update(
        {"hidden/kernel": ["split", 1]}))
    nested = _rewrite(good, str(tmp_path / "nested.rec"), lambda m: m.update(flow=[1, 2]))
    for path, words in ((stranger, "names a variable the recording does not hold, at 'hidden/bias'"),
                        (one_part, "splits 'hidden/kernel' must be [split, parts] with 2 <= parts"),
                        (nested, "must be {\"deps\"")):
        with pytest.raises(UsageError) as caught:
            port.check_migration(port.read_recording(path), P.port_bias_first)
        assert words in str(caught.value) and "make it again" in str(caught.value), str(caught.value)
    # A recording made before the flow was kept (none in it) pairs without it, as before.
    older = _rewrite(good, str(tmp_path / "older.rec"), lambda m: m.pop("flow"))
    assert {p["how"] for p in port.check_migration(port.read_recording(older), P.port_bias_first).pairs} == {"name"}


def _with_member(path, out, name, write):
    """A copy of the recording at ``path`` whose member ``name`` is written by ``write(zip file)``."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.namelist():
            if item != name:
                target.writestr(item, source.read(item))
        write(target)
    return out


def _flagged(path, out, offset_local, offset_central, value):
    """A copy of the recording with a 2-byte field of every member's headers set (raw bytes)."""
    import struct

    data = bytearray(open(path, "rb").read())
    for signature, offset in ((b"PK\x03\x04", offset_local), (b"PK\x01\x02", offset_central)):
        start = data.find(signature)
        while start >= 0:
            data[start + offset:start + offset + 2] = struct.pack("<H", value)
            start = data.find(signature, start + 4)
    open(out, "wb").write(bytes(data))
    return out


def test_a_hostile_recording_is_refused_in_bounded_memory(tmp_path):
    """Issue 33: a recording is data, read within bounds: its arrays are not
    inflated past what recorded arrays compress to, an array header is checked
    against its member's size, the manifest's depth and size are bounded, an
    encrypted or unknown compression is refused; each one UsageError."""
    good = _recorded(tmp_path)
    manifest = json.loads(zipfile.ZipFile(good).read("recording.json").decode("utf-8"))
    first = "arrays/{}.npy".format(manifest["arrays"][0])

    def zeros(target):  # 512 MiB of zeros, a few hundred KiB deflated
        with target.open(first, "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                     "shape": (128 * 2 ** 20,)})
            block = bytes(2 ** 24)
            for _ in range(32):
                f.write(block)

    def claims(target):  # a header claiming 2**40 floats in a few bytes
        with target.open(first, "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (2 ** 40,)})
            f.write(bytes(16))

    def nested(target):
        target.writestr("recording.json", "[" * 100000 + "]" * 100000)

    cases = [
        (_with_member(good, str(tmp_path / "bomb.rec"), first, zeros), "inflate to 512.0 MiB from a"),  # unread
        (_with_member(good, str(tmp_path / "claims.rec"), first, claims), "claims 1099511627776 values of float32"),
        (_with_member(good, str(tmp_path / "nested.rec"), "recording.json", nested), "nested deeper than Python"),
        (_flagged(good, str(tmp_path / "method.rec"), 8, 10, 99), "NotImplementedError"),
        (_flagged(good, str(tmp_path / "encrypted.rec"), 6, 8, 1), "encrypted"),
    ]
    for path, words in cases:
        with pytest.raises(UsageError) as caught:
            port.read_recording(path)
        assert words in str(caught.value) and "is not a usable recording" in str(caught.value), (path, caught.value)


def test_fuzzed_recordings_read_or_are_one_usage_error(tmp_path):
    """Issue 33: 300 damaged copies of a real recording (seeded: bytes flipped,
    cut short, members' headers changed, manifests rewritten with values of
    other types): each reads, or raises one UsageError naming the file; never
    another exception, and the file is left as it was."""
    import random

    good = _recorded(tmp_path)
    data = open(good, "rb").read()
    rng = random.Random(33)
    others = [5, "2", None, [], {}, -1, 1.5, "x" * 300, {"a": [1, {"b": None}]}]

    def rewritten(manifest):
        key = rng.choice(sorted(manifest))
        manifest[key] = rng.choice(others)

    for number in range(300):
        path = tmp_path / "fuzz{}.rec".format(number)
        kind = number % 3
        if kind == 0:
            damaged = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            path.write_bytes(bytes(damaged))
        elif kind == 1:
            path.write_bytes(data[:rng.randrange(len(data))])
        else:
            _rewrite(good, str(path), rewritten)
        before = path.read_bytes()
        try:
            port.read_recording(str(path))
        except UsageError as error:
            assert str(path) in str(error), str(error)
        assert path.read_bytes() == before
