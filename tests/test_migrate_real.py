"""compat-init migrate on what real TF1 code holds: every spelling, nothing
silent, nothing damaged (one test per damage case found on public repos)."""
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from compat_init import cli
from compat_init.migrate import migrate_source

# (legacy source, rewritten source): the spellings real TF1 repositories use.
SPELLINGS = [
    # TF 2's CamelCase under tf.initializers
    ("import tensorflow as tf\nw = tf.initializers.GlorotUniform()\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.glorot_uniform()\n"),
    ("import tensorflow as tf\nw = tf.initializers.GlorotNormal(seed=2)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.glorot_normal(seed=2)\n"),
    # tf-slim, contrib's internals, contrib's conv2d alias
    ("from tf_slim.layers import initializers\nw = initializers.xavier_initializer()\n",
     "from tf_slim.layers import initializers\nimport compat_init\n\nw = compat_init.xavier_initializer()\n"),
    ("from tf_slim.layers import initializers\nw = initializers.variance_scaling_initializer()\n",
     "from tf_slim.layers import initializers\nimport compat_init\n\n"
     "w = compat_init.variance_scaling(scale=2.0, mode='fan_in', distribution='truncated_normal')\n"),
    ("import tf_slim\nw = tf_slim.xavier_initializer(seed=4)\n",
     "import tf_slim\nimport compat_init\n\nw = compat_init.xavier_initializer(seed=4)\n"),
    ("import tensorflow as tf\nslim = tf.contrib.slim\nw = slim.xavier_initializer_conv2d(uniform=True)\n",
     "import tensorflow as tf\nimport compat_init\n\nslim = tf.contrib.slim\n"
     "w = compat_init.xavier_initializer(uniform=True)\n"),
    ("from tensorflow.contrib.layers.python.layers import initializers\nw = initializers.xavier_initializer()\n",
     "from tensorflow.contrib.layers.python.layers import initializers\nimport compat_init\n\n"
     "w = compat_init.xavier_initializer()\n"),
    # contrib tested `uniform` for truth; compat_init takes a bool
    ("import tensorflow as tf\nw = tf.contrib.layers.xavier_initializer(uniform=flag)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.xavier_initializer(uniform=bool(flag))\n"),
    ("import tensorflow as tf\nw = tf.contrib.layers.xavier_initializer(uniform=1)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.xavier_initializer(uniform=True)\n"),
    # the rest of the random family; v1 defaults written out
    ("import tensorflow as tf\nw = tf.truncated_normal_initializer(stddev=0.02)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.truncated_normal(mean=0.0, stddev=0.02)\n"),
    ("import tensorflow as tf\nw = tf.random_normal_initializer()\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.random_normal(mean=0.0, stddev=1.0)\n"),
    ("import tensorflow as tf\nw = tf.random_uniform_initializer(-0.1, 0.1)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.random_uniform(minval=-0.1, maxval=0.1)\n"),
    ("import tensorflow as tf\nw = tf.random_uniform_initializer()\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.random_uniform(minval=0.0, maxval=1.0)\n"),
    ("import tensorflow as tf\nw = tf.random_uniform_initializer(maxval=None)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.random_uniform(minval=0.0, maxval=1.0)\n"),
    ("import tensorflow as tf\nw = tf.orthogonal_initializer(gain=2.0)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.orthogonal(gain=2.0)\n"),
    ("import tensorflow as tf\nw = tf.uniform_unit_scaling_initializer(1.43)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.uniform_unit_scaling(factor=1.43)\n"),
    ("import tensorflow as tf\nw = tf.compat.v1.truncated_normal_initializer(0.1, 0.2, seed=3)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.truncated_normal(mean=0.1, stddev=0.2, seed=3)\n"),
    ("import tensorflow as tf\nw = tf.initializers.truncated_normal(stddev=0.5)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.truncated_normal(mean=0.0, stddev=0.5)\n"),
    ("import tensorflow.compat.v1 as tf\nw = tf.initializers.orthogonal()\n",
     "import tensorflow.compat.v1 as tf\nimport compat_init\n\nw = compat_init.orthogonal()\n"),
    ("from tensorflow.python.ops import init_ops\nw = init_ops.truncated_normal_initializer(stddev=0.1)\n",
     "from tensorflow.python.ops import init_ops\nimport compat_init\n\n"
     "w = compat_init.truncated_normal(mean=0.0, stddev=0.1)\n"),
    # Keras spellings keep Keras' defaults (compat_init's own)
    ("import tensorflow as tf\nw = tf.keras.initializers.TruncatedNormal(stddev=0.02)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.truncated_normal(stddev=0.02)\n"),
    ("import keras\nw = keras.initializers.RandomNormal()\n",
     "import keras\nimport compat_init\n\nw = compat_init.random_normal()\n"),
    ("import tensorflow as tf\nw = tf.keras.initializers.Orthogonal(seed=1)\n",
     "import tensorflow as tf\nimport compat_init\n\nw = compat_init.orthogonal(seed=1)\n"),
    ("from tensorflow.keras import initializers\nw = initializers.random_uniform(-1.0, 1.0)\n",
     "from tensorflow.keras import initializers\nimport compat_init\n\n"
     "w = compat_init.random_uniform(minval=-1.0, maxval=1.0)\n"),
]


@pytest.mark.parametrize("old,new", SPELLINGS, ids=[s[0].splitlines()[-1] for s in SPELLINGS])
def test_every_spelling_is_rewritten(old, new):
    result = migrate_source(old)
    assert result.error is None and not result.skipped_calls and not result.unresolved
    assert result.new_source == new
    assert migrate_source(result.new_source).new_source == result.new_source  # a second run: nothing


def test_a_relied_on_default_that_differs_on_tf2_is_noted():
    notes = migrate_source("import tensorflow as tf\nw = tf.random_normal_initializer()\n").notes
    assert [n.message for n in notes] == [
        "tf.random_normal_initializer relied on its defaults (mean=0.0, stddev=1.0): the TF 1.x ones were "
        "written out; on TF 2.x this spelling defaults to Keras' (mean=0.0, stddev=0.05): check which "
        "TensorFlow the code ran on"]
    assert not migrate_source("import tensorflow as tf\nw = tf.random_normal_initializer(0.0, 0.1)\n").notes


# --- nothing silent ----------------------------------------------------------

UNRESOLVED = [
    ("from tensorflow.contrib.layers import *\nw = xavier_initializer()\n",
     "xavier_initializer", "a star import may define it"),
    ("from tensorpack.compat import tfv1\nw = tfv1.truncated_normal_initializer(stddev=0.1)\n",
     "tfv1.truncated_normal_initializer",
     "it resolves to tensorpack.compat.tfv1.truncated_normal_initializer, not to TensorFlow or Keras"),
    ("from .utils import initializers\nw = initializers.he_normal()\n",
     "initializers.he_normal", "initializers comes from a relative import (a wrapper?)"),
]


@pytest.mark.parametrize("source,spelling,why", UNRESOLVED)
def test_a_call_that_cannot_be_resolved_is_listed(source, spelling, why):
    result = migrate_source(source)
    assert [(u.line, u.spelling) for u in result.unresolved] == [(2, spelling)]
    assert result.unresolved[0].reason.startswith(why)
    assert not result.changed


def test_the_files_own_functions_are_not_flagged():
    source = "def xavier_initializer():\n    return 1\n\nw = xavier_initializer()\n"
    result = migrate_source(source)
    assert not result.unresolved and not result.changed


def test_a_literal_seed_out_of_range_is_left_alone():
    result = migrate_source("import tensorflow as tf\nw = tf.glorot_uniform_initializer(seed=-1)\n")
    assert [s.reason for s in result.skipped_calls] == [
        "seed=-1 is outside compat_init's seed range [0, 2**31 - 3] (where Keras 2 and Keras 3 draw the same "
        "tensor)"]


def test_tf_layers_calls_get_a_keras3_note():
    result = migrate_source("import tensorflow as tf\nx = tf.compat.v1.layers.conv2d(x, 32, 3)\n"
                            "y = tf.layers.dense(x, 10)\n")
    assert [(n.line, n.kind) for n in result.notes] == [(2, "keras3"), (3, "keras3")]
    assert result.notes[0].message == (
        "tf.compat.v1.layers.conv2d is not available with Keras 3 (TF >= 2.16): install tf-keras and set "
        "TF_USE_LEGACY_KERAS=1, or port the layer to Keras")


def test_summary_and_report_count_everything(tmp_path, capsys):
    (tmp_path / "a.py").write_text(
        "import tensorflow as tf\nfrom tensorpack.compat import tfv1\n"
        "w = tf.glorot_uniform_initializer(seed=1)\n"
        "v = tf.glorot_uniform_initializer(dtype=tf.float16)\n"
        "u = tfv1.truncated_normal_initializer(stddev=0.1)\n"
        "x = tf.compat.v1.layers.dense(x, 3)\n")
    report = tmp_path / "r.json"
    assert cli.main(["migrate", str(tmp_path), "--report", str(report)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "1 files changed, 3 legacy calls found: 1 rewritten, 1 left alone, 1 not resolved"
    assert "1 tf.compat.v1.layers calls noted: not available with Keras 3 (TF >= 2.16)" in err
    import json

    calls = json.loads(report.read_text())["calls"]
    assert [(c["line"], c["status"], c["spelling"]) for c in calls] == [
        (3, "rewritten", "tf.glorot_uniform_initializer"), (4, "left alone", "tf.glorot_uniform_initializer"),
        (5, "not resolved", "tfv1.truncated_normal_initializer"), (6, "note", "tf.compat.v1.layers.dense")]


# --- nothing damaged ---------------------------------------------------------

def test_an_argument_spanning_lines_without_parentheses_is_kept():
    source = ("import tensorflow as tf\nw = tf.contrib.layers.variance_scaling_initializer(factor=2.0 *\n"
              "    factor, mode='FAN_AVG')\n")
    result = migrate_source(source)
    assert result.error is None
    assert "compat_init.variance_scaling(scale=2.0 *\n    factor, mode='fan_avg', distribution=" in result.new_source


def test_comments_inside_the_arguments_are_kept():
    source = ("import tensorflow as tf\n"
              "w = tf.truncated_normal_initializer(  # BERT's range\n"
              "    stddev=0.02,  # from the config\n"
              "    seed=7)\n")
    new = migrate_source(source).new_source
    assert "# BERT's range" in new and "# from the config" in new
    assert new.endswith("w = compat_init.truncated_normal(  # BERT's range\n"
                        "    mean=0.0, stddev=0.02,  # from the config\n"
                        "    seed=7)\n")


def test_nested_legacy_calls_are_all_rewritten_in_one_run():
    source = ("import tensorflow as tf\n"
              "w = tf.contrib.layers.xavier_initializer(seed=tf.glorot_uniform_initializer(seed=1).seed)\n")
    result = migrate_source(source)
    assert len(result.rewrites) == 2
    assert "compat_init.xavier_initializer(seed=compat_init.glorot_uniform(seed=1).seed)" in result.new_source
    assert migrate_source(result.new_source).new_source == result.new_source


def test_a_file_that_binds_compat_init_gets_a_free_alias():
    source = textwrap.dedent("""\
        import tensorflow as tf


        def build(compat_init=True):
            return tf.glorot_uniform_initializer(seed=1)
    """)
    new = migrate_source(source).new_source
    assert "import compat_init as compat_init_1\n" in new
    assert "return compat_init_1.glorot_uniform(seed=1)" in new
    namespace = {}
    exec(compile(new, "<migrated>", "exec"), namespace)  # noqa: S102 - our own rewritten code
    init = namespace["build"]()
    assert type(init).__name__ in ("GlorotUniform", "VarianceScaling")


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "compat_init", "migrate"] + list(args), cwd=str(cwd),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


LEGACY = "import tensorflow as tf\nw = tf.glorot_uniform_initializer(seed=1)\n"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
def test_symlinks(tmp_path):
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    tree.mkdir()
    outside.mkdir()
    (tree / "real.py").write_text(LEGACY)
    (outside / "other.py").write_text(LEGACY)
    os.symlink("real.py", str(tree / "link.py"))
    os.symlink(str(outside / "other.py"), str(tree / "out.py"))
    os.symlink("missing.py", str(tree / "dangling.py"))
    result = run("--write", "tree", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert os.path.islink(str(tree / "link.py")) and "compat_init.glorot_uniform" in (tree / "real.py").read_text()
    assert (outside / "other.py").read_text() == LEGACY  # outside the given paths: left alone
    err = result.stderr
    assert "tree/out.py: skipped: symlink to {}, outside the given paths".format(outside / "other.py") in err
    assert "tree/dangling.py: skipped: dangling symlink (to missing.py)" in err
    assert err.splitlines()[-1].startswith("1 files changed, 1 legacy calls found: 1 rewritten")


def test_hard_links_owner_group_and_mode_are_kept(tmp_path):
    path, twin = tmp_path / "model.py", tmp_path / "twin.py"
    path.write_text(LEGACY)
    os.link(str(path), str(twin))
    os.chmod(str(path), 0o640)
    owner = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        owner = (12345, 23456)
        os.chown(str(path), *owner)
    single = tmp_path / "single.py"
    single.write_text(LEGACY)
    os.chmod(str(single), 0o604)
    if owner:
        os.chown(str(single), *owner)
    assert run("--write", "model.py", "single.py", cwd=tmp_path).returncode == 0
    assert os.path.samefile(str(path), str(twin)) and "compat_init" in twin.read_text()
    for f, mode in ((path, 0o640), (single, 0o604)):
        info = os.stat(str(f))
        assert stat.S_IMODE(info.st_mode) == mode
        if owner:
            assert (info.st_uid, info.st_gid) == owner


def test_read_only_files_need_force(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(LEGACY)
    os.chmod(str(path), 0o444)
    result = run("--write", "model.py", cwd=tmp_path)
    assert result.returncode == 0 and path.read_text() == LEGACY
    assert "model.py: skipped: read-only; left alone (--force rewrites it, keeping the mode)" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "0 files changed, 1 legacy calls found: 0 rewritten, 1 left alone, 0 not resolved")
    assert run("--write", "--force", "model.py", cwd=tmp_path).returncode == 0
    assert "compat_init.glorot_uniform" in path.read_text()
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o444


@pytest.mark.parametrize("prefix,encoding", [
    (b"# -*- coding: latin-1 -*-\n", "latin-1"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
])
def test_the_files_encoding_and_every_other_byte_are_kept(tmp_path, prefix, encoding):
    body = "import tensorflow as tf\n# caf\u00e9 \u00bd\nw = tf.glorot_uniform_initializer(seed=1)\n"
    data = prefix + body.encode("latin-1" if encoding == "latin-1" else "utf-8")
    path = tmp_path / "model.py"
    path.write_bytes(data)
    assert run("--write", "model.py", cwd=tmp_path).returncode == 0
    new = path.read_bytes()
    assert new.startswith(prefix)
    expected = body.replace("tf.glorot_uniform_initializer", "compat_init.glorot_uniform").replace(
        "import tensorflow as tf\n", "import tensorflow as tf\nimport compat_init\n", 1)
    assert new == prefix + expected.encode("latin-1" if encoding == "latin-1" else "utf-8")


def test_temporaries_of_an_interrupted_run_are_not_sources_and_are_removed(tmp_path):
    (tmp_path / "model.py").write_text(LEGACY)
    killed = subprocess.run([sys.executable, "-c", "import os, sys; from compat_init._files import Temporary; "
                             "t = Temporary(sys.argv[1], '.py'); open(t.path, 'w').write(sys.argv[2]); "
                             "print(os.path.basename(t.holder)); os._exit(9)", str(tmp_path), LEGACY],
                            stdout=subprocess.PIPE, universal_newlines=True)
    holder = killed.stdout.strip()
    assert killed.returncode == 9 and (tmp_path / holder).is_dir()
    (tmp_path / ".compat-init-999999-notes.txt").write_text("a user's file named like ours")
    dry = run(".", cwd=tmp_path)
    assert dry.stderr.count("the temporaries folder of an interrupted run (--write removes it)") == 1
    assert dry.stderr.splitlines()[-1].startswith("1 files changed, 1 legacy calls found")
    result = run("--write", ".", cwd=tmp_path)
    assert result.stderr.count("removed: the temporaries folder of an interrupted run") == 1
    assert sorted(os.listdir(str(tmp_path))) == [".compat-init-999999-notes.txt", "model.py"]


def test_no_input_crashes_the_run(tmp_path):
    (tmp_path / "bad_coding.py").write_bytes(b"# -*- coding: no-such-codec -*-\nx = 1\n")
    (tmp_path / "py2.py").write_text('print "hello"\nw = tf.glorot_uniform_initializer()\n')
    (tmp_path / "nul.py").write_bytes(b"w = tf.glorot_uniform_initializer()\x00\n")
    (tmp_path / "good.py").write_text(LEGACY)
    result = run("--write", "--jobs", "2", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "bad_coding.py: skipped: cannot decode" in result.stderr
    assert "py2.py: skipped: cannot parse" in result.stderr
    assert "nul.py: skipped:" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("1 files changed")
    assert "compat_init.glorot_uniform" in (tmp_path / "good.py").read_text()
