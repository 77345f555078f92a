"""Parity engine, CLI and pytest plugin, on real draws."""
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci
from compat_init import cli, parity, port
from conftest import OTHER_BACKEND, missing_dtype


SMALL = 20000  # values per side: the faults below are caught far beyond alpha


@pytest.mark.parametrize("name", sorted(parity.NAMES))
def test_check_passes_for_every_initializer(name):
    report = parity.check(name, (3, 3, 4, 8), samples=SMALL)
    assert report.passed, str(report)
    kernel = report.kernels[0]
    assert kernel.reference.n == kernel.candidate.n == SMALL
    checks = ["orthogonality_reference", "orthogonality_candidate"] if name == "orthogonal" else []
    assert [t.name for t in kernel.tests] == checks + [
        "ks_theory_reference", "ks_theory_candidate", "ks_2samp",
        "variance_reference", "variance_candidate"]


def test_same_seed_same_verdict_and_numbers():
    a = parity.check("he_uniform", (64, 32), seed=5, samples=SMALL).to_dict()
    b = parity.check("he_uniform", (64, 32), seed=5, samples=SMALL).to_dict()
    assert a == b


# Faults injected as candidates into compare(): each must be caught.
FAULTS = [
    ("uniform limit 3% too wide", ci.glorot_uniform, lambda: ci.variance_scaling(1.03 ** 2, "fan_avg", "uniform"), (5408, 10)),
    ("he_uniform fans swapped", ci.he_uniform, lambda: ci.variance_scaling(2.0, "fan_out", "uniform"), (3, 3, 64, 8)),
    ("uniform instead of truncated normal", ci.glorot_normal, lambda: ci.variance_scaling(1.0, "fan_avg", "uniform"), (256, 128)),
    ("untruncated normal instead of truncated", ci.glorot_normal, lambda: ci.variance_scaling(1.0, "fan_avg", "untruncated_normal"), (256, 128)),
    ("scale off by 2", ci.he_normal, lambda: ci.variance_scaling(4.0, "fan_in", "truncated_normal"), (3, 3, 16, 32)),
    ("fans from one shard of 4", ci.glorot_uniform, lambda: ci.glorot_uniform(), (1000, 50)),
    # the rest of the random family
    ("stddev 5% off", lambda: ci.truncated_normal(stddev=0.02), lambda: ci.truncated_normal(stddev=0.021), (768, 768)),
    ("untruncated instead of truncated normal", lambda: ci.truncated_normal(stddev=0.02),
     lambda: ci.random_normal(stddev=0.02), (768, 768)),
    ("uniform bounds shifted 5%", lambda: ci.random_uniform(-0.05, 0.05),
     lambda: ci.random_uniform(-0.045, 0.055), (256, 128)),
    ("orthogonal gain 1% off", lambda: ci.orthogonal(gain=1.0), lambda: ci.orthogonal(gain=1.01), (256, 128)),
    ("a normal matrix of the orthogonal's std", lambda: ci.orthogonal(gain=1.0),
     lambda: ci.random_normal(stddev=1.0 / 256 ** 0.5), (256, 128)),
]


@pytest.mark.parametrize("label,reference,candidate,shape", FAULTS, ids=[f[0] for f in FAULTS])
def test_injected_faults_are_caught(label, reference, candidate, shape):
    if label.startswith("fans from one shard"):
        # the candidate draws a (250, 50) shard with its own fans, 4 times
        shard = candidate()
        fault = lambda s, dtype=None: tf.concat([shard((s[0] // 4, s[1]), dtype="float32") for _ in range(4)], 0)  # noqa: E731
        report = parity.compare(reference(), fault, shape, samples=SMALL * 5)
    else:
        report = parity.compare(reference(), candidate(), shape, samples=SMALL * 5)
    assert not report.passed, str(report)


def test_check_model_covers_every_kernel():
    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(8, 3, input_shape=(12, 12, 1), kernel_initializer=ci.he_normal(seed=1)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(4, kernel_initializer=ci.glorot_uniform(seed=2)),
    ])
    report = parity.check_model(model, samples=SMALL)
    assert [k.shape for k in report.kernels] == [(3, 3, 1, 8), (800, 4)]
    assert report.passed, str(report)
    assert report.threshold == pytest.approx(1e-4 / 10)


@pytest.mark.skipif(not hasattr(tf.keras.layers, "MultiHeadAttention"), reason="TF 1.15 has no MultiHeadAttention")
def test_check_model_tests_sublayers_and_lists_what_it_cannot_test():
    tokens = tf.keras.Input((6,), dtype="int32")
    x = tf.keras.layers.Embedding(64, 16, embeddings_initializer=ci.truncated_normal(stddev=0.02))(tokens)
    x = tf.keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, kernel_initializer=ci.glorot_uniform())(x, x)
    x = tf.keras.layers.LSTM(8, recurrent_initializer=ci.orthogonal())(x)
    x = tf.keras.layers.Dense(4, kernel_initializer="zeros")(x)
    model = tf.keras.Model(tokens, x)
    report = parity.check_model(model, samples=SMALL)
    assert report.passed, str(report)
    shapes = sorted(k.shape for k in report.kernels)
    # embeddings; query, key, value, output projections; LSTM kernel and recurrent kernel
    assert shapes == sorted([(64, 16), (16, 2, 8), (16, 2, 8), (16, 2, 8), (2, 8, 16), (16, 32), (8, 32)])
    assert [u["shape"] for u in report.untested] == [(8, 4)]
    assert "Zeros is not a random initializer compat_init knows" in report.untested[0]["reason"]
    assert "not tested: Zeros is not a random initializer" in str(report)
    assert report.to_dict()["summary"]["untested"] == 1


def test_report_is_json_safe_and_readable():
    report = parity.check("variance_scaling", (30, 20), samples=SMALL, distribution="untruncated_normal")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["kernels"][0]["reference"]["bound"] == "inf"
    assert "agree" in str(report)


@pytest.mark.parametrize("kwargs,message", [
    ({"alpha": 0}, "alpha must be a number in (0, 1); received alpha=0"),
    ({"samples": 10}, "samples must be an integer >= 100; received samples=10"),
])
def test_bad_engine_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parity.check("glorot_uniform", (4, 4), **kwargs)


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match="name must be one of .*; received name='xavier'"):
        parity.check("xavier", (4, 4))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "compat_init"] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def test_cli_default_run_passes_and_ends_with_the_count(tmp_path):
    plot = str(tmp_path / "parity.png")
    result = run_cli("parity", "--samples", "20000", "--plot", plot, "--json", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "6 passed, 0 failed"
    assert os.path.getsize(plot) > 10000
    assert len(json.load(open(str(tmp_path / "r.json")))["kernels"]) == 6


def test_cli_json_to_stdout_is_only_json():
    result = run_cli("parity", "--initializer", "he_normal", "--shape", "16x8", "--samples", "5000", "--json", "-")
    assert result.returncode == 0
    assert json.loads(result.stdout)["summary"] == {"passed": 1, "failed": 0, "untested": 0}


def test_cli_model_option(tmp_path):
    (tmp_path / "mymodel.py").write_text(textwrap.dedent("""
        import tensorflow as tf, compat_init as ci
        def build():
            return tf.keras.Sequential([tf.keras.layers.Dense(
                3, input_shape=(10,), kernel_initializer=ci.lecun_uniform())])
    """))
    result = subprocess.run([sys.executable, "-m", "compat_init", "parity", "--model", "mymodel:build",
                             "--samples", "5000"], cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("1 passed, 0 failed")


@pytest.mark.parametrize("args,message", [
    (["--initializer", "xavier"], "--initializer must be one of"),
    (["--shape", "3by3"], "--shape must be positive integers joined by 'x'"),
    (["--model", "no_such_module:build"], "--model no_such_module:build cannot be imported"),
    (["--alpha", "2"], "--alpha must be a number in (0, 1)"),
])
def test_cli_usage_errors_exit_2_with_one_line(args, message, capsys):
    assert cli.main(["parity"] + args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_pytest_plugin_in_a_user_project(tmp_path):
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        import compat_init as ci

        def test_paths_agree(initializer_parity):
            initializer_parity.check("glorot_uniform", (3, 3, 1, 32), samples=5000)

        def test_fault_fails(initializer_parity):
            initializer_parity.compare(ci.glorot_uniform(), ci.variance_scaling(4.0, "fan_avg", "uniform"),
                                       (64, 32), samples=5000)
    """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            cwd=str(tmp_path), stdout=subprocess.PIPE, universal_newlines=True)
    assert "1 failed, 1 passed" in result.stdout, result.stdout
    assert "initializer parity failed:" in result.stdout and "DISAGREE" in result.stdout


def test_a_seeded_initializer_that_cannot_be_reseeded_is_counted_once():
    """A plain seeded function repeats its values; they are not new samples."""
    seeded = lambda shape, dtype=None: ci.glorot_uniform(seed=3)(shape, dtype=dtype)  # noqa: E731
    report = parity.compare(ci.glorot_uniform(), seeded, (64, 32), samples=SMALL)
    assert report.kernels[0].reference.n == SMALL
    assert report.kernels[0].candidate.n == 64 * 32
    assert report.passed, str(report)


def test_float64_check_and_low_precision_refused():
    if missing_dtype("float64"):
        with pytest.raises(parity.DrawError, match=re.escape("received dtype=float32 (JAX without x64 has no "
                                                             "float64, for Keras' own initializers too")):
            parity.check("lecun_normal", (32, 16), samples=SMALL, dtype=tf.float64)
    else:
        report = parity.check("lecun_normal", (32, 16), samples=SMALL, dtype=tf.float64)
        assert report.passed, str(report)
    with pytest.raises(ValueError, match="dtype must be float32 or float64 for a parity check"):
        parity.check("lecun_normal", (32, 16), dtype="float16")


def test_cli_exit_1_on_a_disagreement(tmp_path):
    """A user initializer whose declared distribution does not match its draws."""
    (tmp_path / "liar.py").write_text(textwrap.dedent("""
        import tensorflow as tf, compat_init as ci

        class Liar(type(ci.glorot_uniform(api="v2"))):
            # says glorot_uniform, draws twice as wide
            def __call__(self, shape, dtype=None, **kwargs):
                return 2.0 * super().__call__(shape, dtype=dtype, **kwargs)

        def build():
            return tf.keras.Sequential([tf.keras.layers.Dense(
                50, input_shape=(200,), kernel_initializer=Liar())])
    """))
    result = subprocess.run([sys.executable, "-m", "compat_init", "parity", "--model", "liar:build",
                             "--samples", "10000"], cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DISAGREE" in result.stdout
    assert result.stdout.strip().endswith("0 passed, 1 failed")


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal"])
def test_fed_seed_reruns_equal_fresh_clones(name):
    """The engine re-runs one v1 op feeding seeds; that must equal building each clone."""
    from compat_init.parity import _engine

    init = getattr(ci, name)(seed=1, api="v1")
    seeds = [5, 77, 123456]
    job = {"obj": init, "seeded": True, "seeds": seeds,
           "makers": _engine._makers(init, (9, 4), len(seeds), seeds, "float32", True)}
    with tf.Graph().as_default():
        tensor, feeds = _engine._graph_runs(job)
        clones = [getattr(ci, name)(seed=s, api="v1")((9, 4)) for s in seeds]
        with tf.compat.v1.Session() as session:
            fed = [session.run(tensor, feed_dict=f) for f in feeds]
            built = session.run(clones)
    for a, b in zip(fed, built):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(fed[0], fed[1])


def test_many_kernels_each_get_their_own_draws():
    """v1 sides are drawn in a Session on one thread while v2 sides are drawn
    eagerly on another and kernels are tested as they complete: a kernel that
    received another kernel's draws would fail (scales differ by >= 25 %)."""
    scales = [1.0, 1.25 ** 2, 1.25 ** 4, 1.25 ** 6, 1.25 ** 8, 1.25 ** 10]
    model = tf.keras.Sequential(
        [tf.keras.Input((16,))]
        + [tf.keras.layers.Dense(16, kernel_initializer=ci.variance_scaling(s, "fan_in", "uniform"))
           for s in scales])
    report = parity.check_model(model, samples=SMALL, seed=11)
    assert report.passed, str(report)
    assert len(report.kernels) == len(scales)
    for kernel, scale in zip(report.kernels, scales):
        for side in (kernel.reference, kernel.candidate):
            assert side.n == SMALL
            # the sample std of SMALL uniforms has a relative SE of
            # sqrt((kurtosis - 1) / n) / 2 = 0.3 %: 3 % is 10 SEs, a
            # neighbour's 25 % is 80
            assert side.std == pytest.approx((scale / 16.0) ** 0.5, rel=0.03)


@pytest.mark.skipif(OTHER_BACKEND, reason="a program that switches TensorFlow's eager execution off builds its "
                    "initializers for TF1 graphs, which Keras 3 on another backend cannot take (docs: known gaps)")
def test_parity_without_eager_execution(tmp_path):
    """Legacy programs switch eager off for the whole process (or build inside
    a Graph); every side is then drawn in the Session, never crashing on a
    symbolic tensor."""
    script = tmp_path / "graph_mode.py"
    script.write_text(textwrap.dedent("""
        import tensorflow as tf
        tf.compat.v1.disable_eager_execution()
        from compat_init import parity, port
        print(parity.check("glorot_uniform", (3, 3, 1, 32), samples=5000).passed)
        print(parity.compare(tf.compat.v1.glorot_uniform_initializer(),
                             tf.keras.initializers.glorot_uniform(), (64, 32), samples=5000).passed)
        from examples_v1 import cnn_pair as old
        from examples_v2 import cnn_pair as new
        report = port.check_migration(old.build, new.build)
        print(report.passed and all(k.bit_equal for k in report.kernels))
    """))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["True", "True", "True"], result.stdout


def test_parity_inside_a_user_graph():
    with tf.Graph().as_default():
        report = parity.check("he_normal", (16, 8), samples=5000)
    assert report.passed, str(report)


@pytest.mark.parametrize("drawn,message", [
    (lambda s, dtype=None: np.zeros((10,), np.float32),
     "kernel 'compare': the candidate initializer must return floating-point values of "
     "shape=(30, 20); received shape=(10,), dtype=float32"),
    (lambda s, dtype=None: None,
     "kernel 'compare': the candidate initializer must return floating-point values of "
     "shape=(30, 20); received shape=(), dtype=object"),
    (lambda s, dtype=None: np.ones(s, np.int32),
     "kernel 'compare': the candidate initializer must return floating-point values of "
     "shape=(30, 20); received shape=(30, 20), dtype=int32"),
    (lambda s, dtype=None: np.full(s, np.inf, np.float32),
     "kernel 'compare': the candidate initializer must draw finite values; received 600 NaN "
     "or infinite among the 600 values tested (shape=(30, 20))"),
])
def test_untestable_draws_are_a_clear_error(drawn, message):
    with pytest.raises(ValueError) as error:
        parity.compare(ci.glorot_uniform(), drawn, (30, 20), samples=5000)
    assert str(error.value) == message


def test_cli_reports_an_untestable_model_in_one_line(tmp_path):
    (tmp_path / "broken.py").write_text(textwrap.dedent("""
        import numpy as np, tensorflow as tf, compat_init as ci

        class Broken(type(ci.glorot_uniform(api="v2"))):
            def __call__(self, shape, dtype=None, **kwargs):
                return np.full(shape, np.nan, np.float32)

        def build():
            return tf.keras.Sequential([tf.keras.Input((20,)), tf.keras.layers.Dense(
                5, kernel_initializer=Broken())])
    """))
    result = subprocess.run([sys.executable, "-m", "compat_init", "parity", "--model", "broken:build",
                             "--samples", "1000"], cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.match(r"compat-init: error: kernel '(sequential/)?dense/kernel': the model "
                    r"initializer must draw finite values", last), last


def test_a_failing_row_names_both_initializers_and_says_what_differs():
    legacy = tf.compat.v1.glorot_uniform_initializer()
    ported = tf.keras.initializers.HeUniform() if hasattr(tf.keras.initializers, "HeUniform") else \
        tf.keras.initializers.he_uniform()
    report = parity.compare(legacy, ported, (256, 128))
    assert not report.passed
    text = str(report)
    assert re.search(r"compare: reference GlorotUniform\(scale=1.0, mode='fan_avg', distribution='uniform', "
                     r"seed=None\) \[v1\] vs candidate \w+\(scale=2.0, mode='fan_in', "
                     r"distribution='uniform', seed=.*\) \[(Keras|v1)\]", text), text
    # He's limit sqrt(6/256) against Glorot's sqrt(6/384): a std 22.5 % above theory
    assert re.search(r"the candidate std 0.0[89]\d+ is 2[0-5].\d % above theory's 0.0722 \(variance z = \d+", text), text
    assert "the two samples differ (KS D = " in text
    kernel = report.to_dict()["kernels"][0]
    assert any("% above theory" in words for words in kernel["diagnosis"])


def test_a_migration_that_checked_nothing_does_not_pass():
    report = port.check_migration(lambda: None, lambda: tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(2,))]))
    assert report.kernels == [] and not report.passed and report.status == "inconclusive"
    assert "nothing was checked" in str(report)


@pytest.mark.parametrize("alpha", [0, 1, 1.5, "0.1", True])
def test_migration_alpha_is_validated(alpha):
    with pytest.raises(ValueError, match=re.escape("alpha must be a number in (0, 1); received alpha=")):
        port.check_migration(lambda: None, lambda: tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(2,))]), alpha=alpha)


def test_a_draw_is_never_retried_in_another_dtype():
    if missing_dtype("float64"):
        pytest.skip(missing_dtype("float64"))
    def float32_only(shape):  # no dtype parameter: called with the shape alone
        return np.random.RandomState(0).uniform(-0.1, 0.1, shape).astype(np.float32)

    with pytest.raises(parity.DrawError, match=re.escape(
            "kernel 'compare': the candidate initializer must return float64 values, the dtype the "
            "check asked for; received dtype=float32")):
        parity.compare(ci.glorot_uniform(), float32_only, (30, 20), dtype="float64", samples=1000)

    def refuses_dtype(shape, dtype=None):
        raise TypeError("no float64 here")

    with pytest.raises(TypeError, match="no float64 here"):  # surfaced, not retried without dtype
        parity.compare(ci.glorot_uniform(), refuses_dtype, (30, 20), dtype="float64", samples=1000)


def test_memory_budget_is_checked_before_drawing():
    with pytest.raises(parity.UsageError, match=r"kernel 'compare': a parity check of shape=\(100000, 100000\) "
                                                r"with samples=30000 needs about 224 GiB"):
        parity.compare(ci.glorot_uniform(), ci.glorot_uniform(), (100000, 100000))
