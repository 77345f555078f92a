"""compat-init migrate: rewrite rules, aliases, safety, CLI, and numeric equivalence."""
import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci
from compat_init import parity
from compat_init.migrate import migrate_source

from conftest import OTHER_BACKEND, TF1, native_keras, to_numpy

# AddImportsVisitor leaves a blank line after the import block it extends.
REWRITES = [
    # tf.contrib (TF 1.x), through the usual aliases
    ("import tensorflow as tf\nw = tf.contrib.layers.xavier_initializer()\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.xavier_initializer()\n"),
    ("from tensorflow.contrib import layers\nw = layers.xavier_initializer(uniform=False, seed=3)\n",
     "from tensorflow.contrib import layers\nimport compat_init\n\nw = compat_init.xavier_initializer(uniform=False, seed=3)\n"),
    ("import tensorflow as tf\nslim = tf.contrib.slim\nw = slim.xavier_initializer(seed=1)\n",
     "import tensorflow as tf\nimport compat_init\n\nslim = tf.contrib.slim\nw = compat_init.xavier_initializer(seed=1)\n"),
    ("import tensorflow as tf\nw = tf.contrib.layers.variance_scaling_initializer(factor=1.0, mode='FAN_AVG', uniform=True)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.variance_scaling(scale=1.0, mode='fan_avg', distribution='uniform')\n"),
    ("import tensorflow as tf\nw = tf.contrib.layers.variance_scaling_initializer()\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.variance_scaling(scale=2.0, mode='fan_in', distribution='truncated_normal')\n"),
    # tf_upgrade_v2's `import tensorflow.compat.v1 as tf` keeps tf.contrib calls (failing on TF 2)
    ("import tensorflow.compat.v1 as tf\nw = tf.contrib.layers.xavier_initializer(seed=1)\n",
     "import tensorflow.compat.v1 as tf\nimport compat_init\n\nw = compat_init.xavier_initializer(seed=1)\n"),
    ("import tensorflow.compat.v1 as tf\nw = tf.contrib.slim.variance_scaling_initializer()\n",
     "import tensorflow.compat.v1 as tf\nimport compat_init\n\nw = compat_init.variance_scaling(scale=2.0, "
     "mode='fan_in', distribution='truncated_normal')\n"),
    # TF 1 / compat.v1 names
    ("import tensorflow as tf\nw = tf.glorot_uniform_initializer(seed=1)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.glorot_uniform(seed=1)\n"),
    ("import tensorflow.compat.v1 as tf\nw = tf.glorot_normal_initializer(seed=2, dtype=tf.float32)\n",
     "import tensorflow.compat.v1 as tf\nimport compat_init\n\nw = compat_init.glorot_normal(seed=2)\n"),
    ("import tensorflow as tf\nw = tf.initializers.he_normal()\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.he_normal()\n"),
    ("import tensorflow as tf\nw = tf.variance_scaling_initializer(2.0, 'fan_out', seed=7)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.variance_scaling(scale=2.0, mode='fan_out', seed=7)\n"),
    # Keras
    ("from tensorflow.keras import initializers\nk = initializers.GlorotUniform(seed=4)\n",
     "from tensorflow.keras import initializers\nimport compat_init\n\nk = compat_init.glorot_uniform(seed=4)\n"),
    ("import tensorflow as tf\nk = tf.keras.initializers.LecunNormal(5)\n",
     "import tensorflow as tf\nimport compat_init\n\nk = compat_init.lecun_normal(seed=5)\n"),
    ("import tensorflow as tf\nk = tf.keras.initializers.VarianceScaling(scale=0.5, distribution='uniform')\n",
     "import tensorflow as tf\nimport compat_init\n\nk = compat_init.variance_scaling(scale=0.5, distribution='uniform')\n"),
]

LEFT_ALONE = [
    ("import tensorflow as tf\nw = tf.contrib.layers.variance_scaling_initializer(mode=m)\n",
     "mode=m is not a literal; cannot map it safely"),
    ("import tensorflow as tf\nw = tf.glorot_uniform_initializer(dtype=tf.float16)\n",
     "dtype=tf.float16 cannot be moved onto compat_init (its factories take the dtype at call time)"),
    ("import tensorflow as tf\nw = tf.initializers.he_normal(**kw)\n",
     "*args/**kwargs cannot be mapped safely"),
    ("import tensorflow as tf\nw = tf.contrib.layers.variance_scaling_initializer(uniform=flag)\n",
     "uniform=flag is not a literal; cannot map it safely"),
]


@pytest.mark.parametrize("source,expected", REWRITES)
def test_rewrite(source, expected):
    result = migrate_source(source)
    assert result.new_source == expected
    assert len(result.rewrites) == 1 and result.rewrites[0].line == source.count("\n")


def test_a_random_initializer_name_in_an_unknown_tensorflow_namespace_is_reported():
    """Was silent: a TensorFlow name was taken for a non-random initializer."""
    result = migrate_source("import tensorflow as tf\nu = tf.foo.glorot_uniform_initializer()\n"
                            "z = tf.keras.initializers.Zeros()\n")
    assert [(u.line, u.spelling, u.reason) for u in result.unresolved] == [
        (2, "tf.foo.glorot_uniform_initializer", "it resolves to tensorflow.foo.glorot_uniform_initializer, "
         "a namespace compat-init migrate has no rule for")]


@pytest.mark.parametrize("source,reason", LEFT_ALONE)
def test_left_alone_with_a_reason(source, reason):
    result = migrate_source(source)
    assert result.new_source == source
    assert [s.reason for s in result.skipped_calls] == [reason]
    assert result.skipped_calls[0].line == 2


def test_formatting_comments_and_one_import():
    source = textwrap.dedent('''\
        """Docstring."""
        from __future__ import division

        import compat_init
        import tensorflow as tf  # the framework


        def model():
            # two initializers
            a = tf.get_variable("a", [2],
                                initializer=tf.glorot_uniform_initializer(seed=1))  # keep me
            b = tf.keras.initializers.HeUniform(seed=2)
            c = some.other.call(tf.random_uniform)  # untouched
            return a, b, c
        ''')
    result = migrate_source(source)
    assert result.new_source == source.replace(
        "tf.glorot_uniform_initializer(seed=1)", "compat_init.glorot_uniform(seed=1)").replace(
        "tf.keras.initializers.HeUniform(seed=2)", "compat_init.he_uniform(seed=2)")
    assert migrate_source(result.new_source).new_source == result.new_source  # idempotent


SCOPES = [
    # a parameter shadows the module alias: only the module-level call is legacy
    ("import tensorflow as tf\na = tf.glorot_uniform_initializer()\n"
     "def f(tf):\n    return tf.glorot_uniform_initializer()\n", 1),
    # a function-level import
    ("def f():\n    import tensorflow as tf\n    return tf.initializers.he_normal()\n", 1),
    # a name that is not TensorFlow at all
    ("import mylib as tf\nw = tf.glorot_uniform_initializer()\n", 0),
    # star imports: resolved by scope analysis
    ("from tensorflow.keras.initializers import *\nimport tensorflow as tf\n"
     "w = tf.keras.initializers.HeUniform(seed=1)\n", 1),
    # re-bound alias
    ("import tensorflow as tf\nimport mylib as tf\nw = tf.glorot_uniform_initializer()\n", 0),
]


@pytest.mark.parametrize("source,rewrites", SCOPES)
def test_names_are_resolved_by_scope(source, rewrites):
    assert len(migrate_source(source).rewrites) == rewrites


def test_python2_file_is_skipped_untouched():
    result = migrate_source('print "hello"\nw = tf.glorot_uniform_initializer()\n')
    assert result.error.startswith("cannot parse")
    assert not result.changed


# Numeric equivalence of every rule: build the initializer from the old
# expression and from the rewritten one, on the legs where the old API exists.
EQUIVALENCE = [
    "tf.contrib.layers.xavier_initializer(seed=3)",
    "tf.contrib.layers.xavier_initializer(uniform=False, seed=3)",
    "tf.contrib.layers.variance_scaling_initializer(factor=1.0, mode='FAN_AVG', uniform=True, seed=3)",
    "tf.contrib.layers.variance_scaling_initializer(seed=3)",
    "tf.contrib.slim.xavier_initializer(seed=3)",
    "tf.compat.v1.glorot_uniform_initializer(seed=3)",
    "tf.compat.v1.glorot_normal_initializer(seed=3)",
    "tf.compat.v1.variance_scaling_initializer(2.0, 'fan_out', 'uniform', seed=3)",
    "tf.compat.v1.initializers.he_normal(seed=3)",
    "tf.compat.v1.initializers.lecun_uniform(seed=3)",
    "tf.keras.initializers.GlorotUniform(seed=3)",
    "tf.keras.initializers.HeNormal(seed=3)",
    "tf.keras.initializers.LecunNormal(seed=3)",
    "tf.keras.initializers.VarianceScaling(0.5, 'fan_avg', 'untruncated_normal', seed=3)",
    # the rest of the random family: v1 defaults written out, Keras' kept
    "tf.contrib.layers.xavier_initializer_conv2d(seed=3)",
    "tf.compat.v1.truncated_normal_initializer(seed=3)",
    "tf.compat.v1.truncated_normal_initializer(0.1, 0.02, seed=3)",
    "tf.compat.v1.random_normal_initializer(seed=3)",
    "tf.compat.v1.random_uniform_initializer(seed=3)",
    "tf.compat.v1.random_uniform_initializer(-0.3, 0.2, seed=3)",
    "tf.compat.v1.orthogonal_initializer(gain=1.5, seed=3)",
    "tf.compat.v1.uniform_unit_scaling_initializer(1.5, seed=3)",
    "tf.compat.v1.initializers.truncated_normal(seed=3)",
    "tf.keras.initializers.TruncatedNormal(stddev=0.02, seed=3)",
    "tf.keras.initializers.RandomNormal(seed=3)",
    "tf.keras.initializers.RandomUniform(seed=3)",
    "tf.keras.initializers.Orthogonal(seed=3)",
]


@pytest.mark.parametrize("old", EQUIVALENCE)
def test_rewritten_initializer_draws_the_same(old):
    source = "import tensorflow as tf\nw = {}\n".format(old)
    result = migrate_source(source)
    assert result.changed, result.skipped_calls
    namespace = {"tf": tf, "compat_init": ci}
    try:
        old_init = eval(old, namespace)
    except (AttributeError, ImportError, ValueError) as error:
        pytest.skip("the old API is not on this leg: {}".format(error))
    new_expr = result.new_source.splitlines()[-1].split("=", 1)[1].strip()
    new_init = eval(new_expr, namespace)
    shape = (64, 32)
    keras_stateless = not TF1 and not isinstance(old_init, type(tf.compat.v1.zeros_initializer()).__mro__[1])
    if keras_stateless:
        # Keras draws stateless values: the rewrite keeps the very tensor (the TensorFlow backend's, the one
        # tf.keras code draws, on Keras 3's other backends too).
        if OTHER_BACKEND:
            old_init = native_keras(type(old_init).__name__, **old_init.get_config())
        np.testing.assert_array_equal(to_numpy(old_init(shape)), to_numpy(new_init(shape)))
    else:
        # v1 initializers are stateful: the rewrite keeps the distribution.
        report = parity.compare(old_init, new_init, shape, samples=50000, distribution=new_init)
        assert report.passed, str(report)


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "compat_init", "migrate"] + list(args), cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "pkg").mkdir()
    legacy = tmp_path / "pkg" / "model.py"
    legacy.write_text("import tensorflow as tf\nw = tf.glorot_uniform_initializer(seed=1)\n"
                      "v = tf.contrib.layers.variance_scaling_initializer(mode=m)\n")
    os.chmod(str(legacy), 0o750)
    (tmp_path / "pkg" / "old.py").write_text('print "py2"\nw = tf.glorot_uniform_initializer()\n')
    (tmp_path / "pkg" / "clean.py").write_text("x = 1\n")
    return tmp_path


def test_cli_dry_run_prints_a_diff_and_touches_nothing(tree):
    before = (tree / "pkg" / "model.py").read_text()
    result = run_cli("pkg", cwd=str(tree))
    assert result.returncode == 0
    assert result.stdout.startswith("--- a/pkg/model.py\n+++ b/pkg/model.py\n")
    assert "+w = compat_init.glorot_uniform(seed=1)" in result.stdout
    assert (tree / "pkg" / "model.py").read_text() == before
    err = result.stderr.splitlines()
    assert "pkg/model.py:3: left alone: mode=m is not a literal; cannot map it safely" in err
    assert any(line.startswith("pkg/old.py: skipped: cannot parse") for line in err)
    assert err[-3:] == ["1 files skipped (see above)",
                        "1 files could not be parsed and hold legacy-looking spellings (see above)",
                        "1 files changed, 2 legacy calls found: 1 rewritten, 1 left alone, 0 not resolved"]


def test_cli_write_check_report_and_idempotence(tree):
    assert run_cli("pkg", "--check", cwd=str(tree)).returncode == 1
    result = run_cli("pkg", "--write", "--report", "r.json", "--jobs", "2", cwd=str(tree))
    assert result.returncode == 0, result.stderr
    text = (tree / "pkg" / "model.py").read_text()
    assert "import compat_init\n" in text and "compat_init.glorot_uniform(seed=1)" in text
    assert stat.S_IMODE(os.stat(str(tree / "pkg" / "model.py")).st_mode) == 0o750
    assert (tree / "pkg" / "old.py").read_text().startswith('print "py2"')
    report = json.loads((tree / "r.json").read_text())
    summary = report["summary"]
    assert (summary["changed"], summary["rewritten"], summary["left_alone"], summary["unresolved"],
            summary["files_skipped"], summary["files"], summary["legacy_calls_found"]) == (1, 1, 1, 0, 1, 3, 2)
    statuses = sorted((c["file"], c["line"], c["status"]) for c in report["calls"])
    assert statuses == [("pkg/model.py", 2, "rewritten"), ("pkg/model.py", 3, "left alone")]
    assert not [p for p in os.listdir(str(tree / "pkg")) if p.startswith(".compat-init-")]
    again = run_cli("pkg", "--check", cwd=str(tree))
    # old.py cannot be parsed and still holds a legacy call: --check (and so pre-commit) must not pass it
    assert again.returncode == 1
    assert any(line.startswith("pkg/old.py: skipped: cannot parse") and "migrate it by hand" in line
               for line in again.stderr.splitlines()), again.stderr
    (tree / "pkg" / "old.py").unlink()
    again = run_cli("pkg", "--check", cwd=str(tree))
    assert again.returncode == 0
    assert again.stderr.splitlines()[-1] == (
        "0 files changed, 1 legacy calls found: 0 rewritten, 1 left alone, 0 not resolved")


def test_cli_bad_path_is_usage_error(tmp_path):
    result = run_cli(str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "PATH must be an existing file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_diff_headers_of_an_absolute_path_are_clean(tmp_path, capsys):
    import os

    from compat_init import cli

    legacy = tmp_path / "model.py"
    legacy.write_text("import tensorflow as tf\ninit = tf.glorot_uniform_initializer(seed=1)\n")
    assert cli.main(["migrate", str(legacy)]) == 0
    out = capsys.readouterr().out
    expected = str(legacy).replace(os.sep, "/").lstrip("/")
    assert "--- a/{}\n".format(expected) in out and "+++ b/{}\n".format(expected) in out
    assert "a//" not in out
