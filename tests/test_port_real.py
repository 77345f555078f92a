"""The migration proof on the shapes real ports take (tests/port_pairs.py):
control flow, extra feeds, wrapper layers, unbuilt and raw-variable ports,
other creation orders, regularizers, logits, several inputs and outputs.
Each pattern has a correct port (pass) and a wrong one (fail, located), and
nothing that proves nothing passes (inconclusive)."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from compat_init import _runtime, port
from conftest import OTHER_BACKEND, TRACEABLE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests import port_pairs as P  # noqa: E402
MLP = (8, 20)
TF1 = _runtime.is_tf1()

# (id, legacy, port, arguments, status, decided by)
CASES = [
    # dropout under a training placeholder: control flow in the legacy graph
    ("dropout", P.legacy_dropout_mlp, P.port_dropout_mlp, dict(inputs=MLP, steps=2), "pass", "training"),
    ("dropout-other-rate", P.legacy_dropout_mlp, P.port_dropout_mlp_other_rate, dict(inputs=MLP), "fail",
     "dropout rates"),
    ("dropout-missing", P.legacy_dropout_mlp, P.port_dropout_mlp_no_dropout, dict(inputs=MLP), "fail",
     "dropout rates"),
    ("dropout-no-relu", P.legacy_dropout_mlp, P.port_dropout_mlp_no_relu, dict(inputs=MLP), "fail", "forward"),
    # batch norm: compared in training mode (outputs and moving statistics)
    ("batch-norm", P.legacy_batch_norm, P.port_batch_norm, dict(inputs=(8, 12), steps=3, loss="mse"), "pass",
     "training"),
    ("batch-norm-momentum", P.legacy_batch_norm, P.port_batch_norm_other_momentum,
     dict(inputs=(8, 12), steps=3, loss="mse"), "fail", "training"),
    # keep_prob fed
    ("keep-prob", P.legacy_keep_prob, P.port_dropout_mlp, dict(inputs=MLP, steps=2, feeds={"keep_prob": 1.0}),
     "pass", "training"),
    ("keep-prob-no-relu", P.legacy_keep_prob, P.port_dropout_mlp_no_relu, dict(inputs=MLP, feeds={"keep_prob": 1.0}),
     "fail", "forward"),
    # the port as one custom Layer; regularizers compared
    ("wrapper", P.legacy_conv, P.port_wrapper, dict(inputs=(4, 6, 6, 2), steps=2, loss="mse"), "pass", "training"),
    ("wrapper-no-relu", P.legacy_conv, P.port_wrapper_no_relu, dict(inputs=(4, 6, 6, 2)), "fail", "forward"),
    ("wrapper-no-regularizer", P.legacy_conv, P.port_wrapper_no_regularizer, dict(inputs=(4, 6, 6, 2)), "fail",
     "regularization"),
    # unbuilt subclassed model, another creation order, raw variables
    ("subclassed-unbuilt", P.legacy_mlp, P.port_subclassed, dict(inputs=MLP, steps=2), "pass", "training"),
    ("bias-first", P.legacy_mlp, P.port_bias_first, dict(inputs=MLP, steps=2), "pass", "training"),
    ("tf-module", P.legacy_mlp, P.port_module, dict(inputs=MLP, steps=2), "pass", "training"),
    ("tf-module-no-relu", P.legacy_mlp, P.port_module_no_relu, dict(inputs=MLP), "fail", "forward"),
    ("keras-raw-variables", P.legacy_mlp, P.port_raw_keras, dict(inputs=MLP, steps=2), "pass", "training"),
    # logits: inconclusive with the default loss, proven with from_logits
    ("logits", P.legacy_logits, P.port_logits, dict(inputs=(8, 28, 28), steps=2), "inconclusive", "training"),
    ("logits-from-logits", P.legacy_logits, P.port_logits, dict(inputs=(8, 28, 28), steps=2, from_logits=True),
     "pass", "training"),
    # two inputs, two outputs
    ("two-heads", P.legacy_two_heads, P.port_two_heads, dict(inputs=[(5, 6), (5, 3)], steps=2, loss="mse"), "pass",
     "training"),
    ("two-heads-wrong", P.legacy_two_heads, P.port_two_heads_wrong, dict(inputs=[(5, 6), (5, 3)]), "fail", "forward"),
    # raw tf.Variable legacy code: its distribution is read from the graph
    ("raw-normal", P.legacy_raw_normal, P.port_raw_normal, dict(), "pass", "initial distributions"),
    ("raw-normal-wrong", P.legacy_raw_normal, P.port_raw_normal_wrong_stddev, dict(), "fail",
     "initial distributions"),
    # nothing trains
    ("saturated", P.legacy_saturated, P.port_saturated, dict(inputs=MLP, steps=3), "inconclusive", "training"),
    ("frozen", P.legacy_frozen, P.port_frozen, dict(inputs=MLP, steps=3), "inconclusive", "training"),
]


@pytest.mark.parametrize("legacy,wrapped,kwargs,status,decided", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_real_port_patterns(legacy, wrapped, kwargs, status, decided):
    report = port.check_migration(legacy, wrapped, **kwargs)
    assert report.status == status, str(report)
    assert report.decided_by == decided, str(report)
    assert report.exit_code == {"pass": 0, "fail": 1, "inconclusive": 3}[status]
    assert report.passed == (status == "pass")
    if report.function is not None:
        json.dumps(report.to_dict())  # never a crash on the way out


def test_dropout_in_a_cond_is_located_without_fetching_inside_it():
    report = port.check_migration(P.legacy_dropout_mlp, P.port_dropout_mlp_no_relu, inputs=MLP)
    where = report.function.divergence
    assert "the legacy graph applies Relu to that tensor and the port does not" in where, where
    assert "activation missing?" in where
    # control-flow tensors are never candidates: none had to be tried and skipped
    assert "could not be read" not in where, where


def test_the_wrapper_layer_is_located_at_its_inner_leaf():
    report = port.check_migration(P.legacy_conv, P.port_wrapper_no_relu, inputs=(4, 6, 6, 2))
    where = report.function.divergence
    assert "is conv2d" in where and "activation missing?" in where, where
    # the names in the message are the names of the table: the port was built once
    conv = [p["port"] for p in report.pairs if p["port"].endswith("kernel")][0]
    assert where.split("is ")[-1].split("'s activation")[0] in conv, (where, conv)


def test_regularization_losses_are_compared_on_their_own():
    report = port.check_migration(P.legacy_conv, P.port_wrapper_no_regularizer, inputs=(4, 6, 6, 2))
    reg = report.function.regularization
    assert not reg.passed and all(o.passed for o in report.function.outputs), str(report)
    assert "regularization loss total" in str(report)


def test_batch_norm_moving_statistics_are_compared_in_training_mode():
    report = port.check_migration(P.legacy_batch_norm, P.port_batch_norm_other_momentum, inputs=(8, 12), steps=2,
                                  loss="mse")
    assert "training mode" in report.function.training_mode
    assert "moving_mean" in report.function.divergence, report.function.divergence


def test_dropout_rates_are_named_in_the_report():
    report = port.check_migration(P.legacy_dropout_mlp, P.port_dropout_mlp_other_rate, inputs=MLP)
    assert report.function.dropout_rates == ([0.5], [0.2])
    assert "dropout rates: legacy [0.5] vs port [0.2]: DIFFER" in str(report)


def test_pairs_say_how_they_were_made():
    # The port creates each bias before its kernel: creation order cannot pair
    # it; the dataflow can (a TensorFlow trace), names too.
    report = port.check_migration(P.legacy_mlp, P.port_bias_first)
    how = "dataflow" if TRACEABLE else "name"
    assert [p["how"] for p in report.pairs] == [how] * 4
    assert "pairs made by {} (4)".format(how) in str(report)


def test_feeds_are_needed_for_extra_placeholders():
    with pytest.raises(ValueError, match=r"keep_prob \(float32 \(\)\); give each a value with feeds="):
        port.check_migration(P.legacy_keep_prob, P.port_dropout_mlp, inputs=MLP)
    with pytest.raises(ValueError, match="feeds must name placeholders of the legacy graph"):
        port.check_migration(P.legacy_keep_prob, P.port_dropout_mlp, inputs=MLP, feeds={"nope": 1.0})


def test_an_unbuilt_port_without_inputs_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match=r"not built.*pass inputs="):
        port.check_migration(P.legacy_mlp, P.port_subclassed)


def test_gradients_that_are_all_zero_are_inconclusive():
    report = port.check_migration(P.legacy_frozen, P.port_frozen, inputs=MLP, steps=2)
    assert report.function.reasons == [
        "no gradient reached any paired weight in 2 step(s): nothing trained, so equal weights prove nothing"]


def test_nothing_trained_is_inconclusive_with_a_hint():
    report = port.check_migration(P.legacy_saturated, P.port_saturated, inputs=MLP, steps=3)
    text = str(report)
    assert "nothing trained" in text and "hint:" in text and "INCONCLUSIVE" in text


# --- the command line --------------------------------------------------------


def cli(*args, cwd=ROOT):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "compat_init", "parity"] + list(args), cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def our_stderr(text):
    """Our lines, without TensorFlow's own start-up lines."""
    return [line for line in text.splitlines() if line.startswith("compat-init")]


def test_cli_exit_codes_pass_fail_inconclusive(tmp_path):
    base = ["--migration", "tests.port_pairs:legacy_logits"]
    ok = cli(*base, "tests.port_pairs:port_logits", "--inputs", "8x28x28", "--steps", "2", "--from-logits",
             "--json", str(tmp_path / "r.json"))
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "verdict: the port agrees (decided by the training)" in ok.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["status"] == "pass" and data["exit_code"] == 0
    vague = cli(*base, "tests.port_pairs:port_logits", "--inputs", "8x28x28", "--steps", "2")
    assert vague.returncode == 3, vague.stdout[-2000:] + vague.stderr[-2000:]
    assert "INCONCLUSIVE" in vague.stdout and "--from-logits" in vague.stdout
    assert vague.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed, 1 inconclusive")  # not "1 failed"
    wrong = cli("--migration", "tests.port_pairs:legacy_mlp", "tests.port_pairs:port_module_no_relu",
                "--inputs", "8x20")
    assert wrong.returncode == 1, wrong.stderr[-2000:]


def test_cli_feed_and_mapping(tmp_path):
    fed = cli("--migration", "tests.port_pairs:legacy_keep_prob", "tests.port_pairs:port_dropout_mlp",
              "--inputs", "8x20", "--feed", "keep_prob=1.0", "--steps", "1")
    assert fed.returncode == 0, fed.stderr[-2000:]
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"hidden/kernel": "hidden/kernel", "hidden/bias": "hidden/bias"}))
    mapped = cli("--migration", "tests.port_pairs:legacy_mlp", "tests.port_pairs:port_bias_first",
                 "--mapping", str(mapping), "--mapping", "out/kernel=out/kernel", "--mapping", "out/bias=out/bias")
    assert mapped.returncode == 0, mapped.stderr[-2000:]
    assert "pairs made by mapping (4)" in mapped.stdout
    for bad, words in ((["--feed", "keep_prob"], "--feed must be NAME=VALUE"),
                       (["--mapping", "a"], "--mapping must be LEGACY=PORT"),
                       (["--mapping", str(tmp_path / "missing.json")], "--mapping must be LEGACY=PORT")):
        result = cli("--migration", "tests.port_pairs:legacy_mlp", "tests.port_pairs:port_bias_first", *bad)
        assert result.returncode == 2
        assert our_stderr(result.stderr)[-1].startswith("compat-init: error: " + words), result.stderr


def test_cli_an_internal_error_is_one_line_and_not_a_verdict():
    result = cli("--migration", "tests.port_pairs:legacy_mlp", "tests.port_pairs:port_crashing", "--inputs", "8x20")
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    ours = our_stderr(result.stderr)
    assert len(ours) == 1 and ours[0].startswith("compat-init: internal error: RuntimeError: the port broke")
    assert "not a verdict" in ours[0] and "Traceback" not in result.stderr
    full = cli("--migration", "tests.port_pairs:legacy_mlp", "tests.port_pairs:port_crashing", "--inputs", "8x20",
               "--traceback")
    assert full.returncode == 4 and "Traceback" in full.stderr


def test_json_is_valid_when_values_are_not_finite(tmp_path):
    np.save(str(tmp_path / "x.npy"), np.full((4, 20), 1e30, np.float32))
    result = cli("--migration", "tests.port_pairs:legacy_mlp", "tests.port_pairs:port_module",
                 "--inputs", str(tmp_path / "x.npy"), "--json", "-")
    assert result.returncode in (0, 1, 3), result.stderr[-2000:]
    json.loads(result.stdout)  # strict JSON: no NaN
    assert "NaN" not in result.stdout


def test_one_informative_output_is_enough():
    # an argmax that is the same for every row beside probabilities that are not: not vacuous
    from compat_init.port._proof.function import _vacuous_outputs

    probabilities = np.array([[0.7, 0.3], [0.6, 0.4]])
    assert _vacuous_outputs(["label", "p"], [np.array([0, 0]), probabilities]) is None
    assert "label is the same for every row" in _vacuous_outputs(["label"], [np.array([0, 0])])


def test_an_initializer_nobody_can_read_is_not_tested_never_disagree():
    report = port.check_migration(P.legacy_orthogonal, P.port_orthogonal)
    assert all(k.verdict != "DISAGREE" for k in report.kernels), str(report)
    (untested,) = report.untested
    assert untested["kernel"].startswith("hidden/kernel") and "not a plain random draw" in untested["reason"]
    assert "not tested: initial values differ and" in str(report)


def test_a_shape_mismatch_prints_both_shapes():
    report = port.check_migration(P.legacy_orthogonal, P.port_orthogonal_transposed, inputs=MLP)
    assert report.status == "fail" and report.decided_by == "forward"
    assert "shapes differ: legacy 8x16 vs port 16x8: DIFFER" in str(report), str(report)


def test_placeholders_the_outputs_do_not_read_are_neither_demanded_nor_fed():
    """Issue 24, row 4: the labels ``Y`` only the loss reads."""
    named = port.check_migration(P.legacy_with_labels, P.port_dropout_mlp, inputs=MLP, placeholders=["X"],
                                 feeds={"keep_prob": 1.0}, steps=1)
    assert named.status == "pass", str(named)
    assert any("do not read, neither demanded nor fed: Y (float32 ?x4)" in n for n in named.function.notes), \
        str(named)
    found = port.check_migration(P.legacy_with_labels, P.port_dropout_mlp, inputs=MLP, feeds={"keep_prob": 1.0})
    assert found.status == "pass" and found.function.inputs == {"X": MLP}, str(found)
    with pytest.raises(ValueError) as caught:  # keep_prob is read: demanded as before
        port.check_migration(P.legacy_with_labels, P.port_dropout_mlp, inputs=MLP, placeholders=["X"])
    assert "keep_prob" in str(caught.value) and "Y" not in str(caught.value).split("placeholders that")[1]


def test_a_dropout_the_call_never_activates_is_described_with_the_argument_to_pass():
    """Issue 24, row 5: the port's call takes ``is_training``."""
    report = port.check_migration(P.legacy_dropout_mlp, P.port_is_training, inputs=MLP)
    assert report.status == "fail" and report.decided_by == "dropout rates", str(report)
    assert re.search(r"^the port holds Dropout\(0\.5\) \(dropout(_\d+)?\) that the call the proof makes "
                     r"\(training=True\) never activates: its call takes is_training; pass "
                     r"training_argument='is_training' \(--training-arg is_training\) to switch it$",
                     report.function.divergence), str(report)
    switched = port.check_migration(P.legacy_dropout_mlp, P.port_is_training, inputs=MLP, steps=2,
                                    training_argument="is_training")
    assert switched.status == "pass" and switched.function.dropout_rates == ([0.5], [0.5]), str(switched)
    with pytest.raises(ValueError) as caught:
        port.check_migration(P.legacy_dropout_mlp, P.port_is_training, inputs=MLP, training_argument="train")
    assert "training_argument must name an argument of the port's call (inputs, is_training)" in str(caught.value)


def test_an_inference_graph_makes_regularization_not_comparable():
    """Issue 24, row 5: a legacy graph built for inference (no dropout op, no
    switch, no regularization loss) says nothing of the port's training parts."""
    report = port.check_migration(P.legacy_mlp, P.port_serving_mlp, inputs=MLP)
    assert report.status == "pass" and report.function.regularization is None, str(report)
    notes = " ".join(report.function.notes)
    assert "regularization not comparable: the legacy graph was built for inference" in notes
    assert "dropout rates not comparable" in notes or (OTHER_BACKEND and "dropout rates not compared" in notes)
    assert port.check_migration(P.legacy_conv, P.port_wrapper_no_regularizer, inputs=(4, 6, 6, 2)).status == "fail"


@pytest.mark.parametrize("wrong,what", [(P.port_dropout_mlp_no_dropout, "the dropout rates differ"),
                                        (P.port_dropout_mlp_other_rate, "the dropout rates differ")])
def test_forward_only_notes_training_time_differences(wrong, what):
    """Issue 24, row 6: a port converted to serve."""
    strict = port.check_migration(P.legacy_dropout_mlp, wrong, inputs=MLP)
    assert strict.status == "fail", str(strict)
    served = port.check_migration(P.legacy_dropout_mlp, wrong, inputs=MLP, forward_only=True)
    assert served.status == "pass" and served.decided_by == "forward", str(served)
    assert any(n.startswith("forward-only: " + what) for n in served.function.notes), str(served)
    wrong_forward = port.check_migration(P.legacy_dropout_mlp, P.port_dropout_mlp_no_relu, inputs=MLP,
                                         forward_only=True)
    assert wrong_forward.status == "fail" and wrong_forward.decided_by == "forward"
    with pytest.raises(ValueError) as caught:
        port.check_migration(P.legacy_dropout_mlp, wrong, inputs=MLP, forward_only=True, steps=2)
    assert "forward_only proves no training: leave steps out" in str(caught.value)


def test_forward_only_regularization_and_cli(tmp_path):
    served = port.check_migration(P.legacy_conv, P.port_wrapper_no_regularizer, inputs=(4, 6, 6, 2),
                                  forward_only=True)
    assert served.status == "pass", str(served)
    assert any(n.startswith("forward-only: the regularization losses differ") for n in served.function.notes)
    result = cli("--migration", "tests.port_pairs:legacy_dropout_mlp", "tests.port_pairs:port_dropout_mlp_no_dropout",
                 "--inputs", "8x20", "--forward-only")
    assert result.returncode == 0 and "note: forward-only: the dropout rates differ" in result.stdout, result.stdout
    refused = cli("--migration", "tests.port_pairs:legacy_dropout_mlp", "tests.port_pairs:port_dropout_mlp",
                  "--inputs", "8x20", "--forward-only", "--steps", "2")
    assert refused.returncode == 2 and "forward_only proves no training" in refused.stderr


@pytest.mark.skipif(TF1, reason="mixed precision ports are TF 2 Keras")
@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_a_lower_precision_port_fails_a_float32_proof_unless_asked_for(precision):
    """Issue 24, row 2: the allowance is float32 rounding of this model, measured."""
    report = port.check_migration(P.legacy_mlp, P.port_mlp_in(precision), inputs=MLP)
    assert report.status == "fail" and report.decided_by == "forward", str(report)
    assert report.function.noise and all(0 < x < 1e-5 for x in report.function.noise.values()), str(report)
    asked = port.check_migration(P.legacy_mlp, P.port_mlp_in(precision), inputs=MLP, precision=precision)
    assert asked.status == "pass", str(asked)
    with pytest.raises(ValueError) as caught:
        port.check_migration(P.legacy_mlp, P.port_mlp_in(precision), inputs=MLP, precision="float8")
    assert "precision must be one of float32, float16, bfloat16; received precision='float8'" in str(caught.value)


def test_the_allowance_is_the_measured_noise_times_its_factor():
    """A port off by a few ulps passes; one off by 64 ulps fails, which the
    formula it replaces (1e-4 relative: 840 ulps) let through."""
    from compat_init.port._core.numerics import NOISE_FACTOR

    close = port.check_migration(P.legacy_mlp, P.port_mlp_scaled(2), inputs=MLP)
    assert close.status == "pass", str(close)
    (noise,) = close.function.noise.values()
    assert close.function.outputs[0].tolerance >= NOISE_FACTOR * noise > 0
    far = port.check_migration(P.legacy_mlp, P.port_mlp_scaled(64), inputs=MLP)
    assert far.status == "fail" and far.decided_by == "forward", str(far)
    assert far.function.outputs[0].max_abs < 1e-4 * 0.5  # the old allowance at these outputs (< 1)
    assert "8 x the measured rounding noise" in far.function.tolerance


def test_inputs_fed_in_another_order_are_named_as_inputs():
    """Issue 24, row 3: a swap is named as one, not blamed on a layer."""
    good = port.check_migration(P.legacy_query_key, P.port_query_key, inputs=[(8, 5), (8, 5)])
    assert good.status == "pass", str(good)
    bad = port.check_migration(P.legacy_query_key, P.port_query_key_swapped, inputs=[(8, 5), (8, 5)])
    assert bad.status == "fail" and bad.decided_by == "forward", str(bad)
    assert bad.function.divergence.startswith("the inputs are swapped: fed as key -> "), str(bad)
