"""Bad usage on the command line: one line on stderr, exit 2, before any work or write."""
import os
import subprocess
import sys
import textwrap

import pytest

from compat_init import cli
from conftest import BACKEND, OTHER_BACKEND

# (arguments, the one line's start): each refused before anything is drawn.
BAD = [
    (["parity", "--seed", "-1"], "--seed must be an integer in [0, 2**31 - 3]; received --seed=-1"),
    (["parity", "--seed", "2147483646"], "--seed must be an integer in [0, 2**31 - 3]; received --seed=2147483646"),
    (["parity", "--seed", "99999999999999999999"],
     "--seed must be an integer in [0, 2**31 - 3]; received --seed=99999999999999999999"),
    (["parity", "--alpha", "2"], "--alpha must be a number in (0, 1); received --alpha=2"),
    (["parity", "--alpha", "nan"], "--alpha must be a number in (0, 1); received --alpha=nan"),
    (["parity", "--samples", "10"], "--samples must be an integer >= 100; received --samples=10"),
    (["parity", "--shape", "3by3"], "--shape must be positive integers joined by 'x'"),
    (["parity", "--shape", "0x3"], "--shape must be positive integers joined by 'x'"),
    (["parity", "--shape", "8589934592x8589934592"], "--shape must be positive integers joined by 'x'"),
    (["parity", "--initializer", "xavier"], "--initializer must be one of glorot_uniform,"),
    (["parity", "--samples", "1000000000"], "--shape 3x3x1x32 with --samples 1000000000 needs about 52.2 GiB"),
    (["parity", "--shape", "100000x100000"], "--shape 100000x100000 with --samples 30000 needs about 224 GiB"),
    (["parity", "--json", "missing/dir/r.json"], "--json must be in an existing folder; received --json=missing/dir/r.json"),
    (["parity", "--plot", "missing/dir/p.png"], "--plot must be in an existing folder; received --plot=missing/dir/p.png"),
    (["parity", "--json", "."], "--json must be a file path, not a directory; received --json=."),
    (["parity", "--model", "m:build", "--initializer", "he_normal"],
     "--initializer/--shape do not apply with --model; received --initializer=he_normal"),
    (["parity", "--migration", "a:b", "c:d", "--shape", "4x4"],
     "--initializer/--shape do not apply with --migration; received --shape=4x4"),
    (["parity", "--model", "m:build", "--migration", "a:b", "c:d"],
     "argument --migration: not allowed with argument --model"),
    (["parity", "--migration", "a:b", "c:d", "--plot", "p.png"],
     "--plot with --migration draws the training curves: it needs --inputs and --steps"),
    (["parity", "--inputs", "4x3"], "--inputs apply only with --migration; received --inputs"),
    (["parity", "--migration", "a:b", "c:d", "--steps", "2"], "--steps needs --inputs"),
    (["parity", "--migration", "a:b", "c:d", "--inputs", "4x3", "--placeholders", "x,y"],
     "--placeholders must name one placeholder per --inputs; received --placeholders=x,y for 1 --inputs"),
    (["parity", "--migration", "a:b", "c:d", "--inputs", "missing.npy"],
     "--inputs must be a shape (positive integers joined by 'x'), an existing .npy or .npz file, or NAME= either of the first two"),
    (["parity", "--migration", "a:b", "c:d", "--inputs", "4x3", "--learning-rate", "-1"],
     "--learning-rate must be a positive number; received --learning-rate=-1"),
    (["parity", "--model", "nocolon"], "--model must be module:function; received --model=nocolon"),
    (["migrate", "--jobs", "0", "."], "--jobs must be an integer in [1, 4096]; received --jobs=0"),
    (["migrate", "no/such/path.py"], "PATH must be an existing file or directory; received no/such/path.py"),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize("argv,start", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_usage_is_one_line_and_exit_2(argv, start, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("compat-init: error: " + start), lines[0]
    assert os.listdir(str(tmp_path)) == []  # nothing written


USER_MODULES = {
    "raises_on_import": ("raise RuntimeError('boom at import')\n",
                         "--model raises_on_import:build cannot be imported: RuntimeError: boom at import"),
    "bad_syntax": ("def build(:\n", "--model bad_syntax:build cannot be imported: SyntaxError: "),
    "not_callable": ("build = 3\n", "--model not_callable:build must name a callable; received a int"),
    "no_build": ("x = 1\n", "--model no_build:build cannot be imported: module 'no_build' has no attribute 'build'"),
    "raises_when_called": ("def build():\n    raise ValueError('bad layer')\n",
                           "--model raises_when_called:build raised ValueError: bad layer"),
}


@pytest.mark.parametrize("module", sorted(USER_MODULES))
def test_a_broken_model_module_is_one_line(module, capsys, tmp_path, monkeypatch):
    source, start = USER_MODULES[module]
    (tmp_path / (module + ".py")).write_text(source)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["parity", "--model", module + ":build"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("compat-init: error: " + start), err


def test_a_raising_migration_builder_is_one_line(capsys, tmp_path, monkeypatch):
    (tmp_path / "port.py").write_text("def build():\n    raise KeyError('w')\n")
    (tmp_path / "legacy.py").write_text("import tensorflow as tf\ndef build():\n"
                                        "    tf.compat.v1.get_variable('w', [2, 2])\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["parity", "--migration", "legacy:build", "port:build"]) == 2
    err = capsys.readouterr().err
    expected = "compat-init: error: --migration port:build raised KeyError: 'w'"
    if OTHER_BACKEND:  # a builder that raises there may be calling tf.*: the line says where it runs
        expected += (" (the port runs on Keras' {} backend: if its layers call tf.*, it runs on the TensorFlow "
                     "backend only (KERAS_BACKEND=tensorflow))".format(BACKEND))
    assert err.strip() == expected


def run(code, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env))


@pytest.mark.parametrize("command", ["info", "parity"])
def test_without_tensorflow_is_one_line(command):
    result = run("""
        import sys
        sys.modules["tensorflow"] = None  # as if TensorFlow were not installed
        from compat_init.cli import main
        sys.exit(main([{!r}]))
    """.format(command))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "compat-init: error: compat_init needs TensorFlow, which could not be imported"), lines


def test_bad_environment_api_is_one_line():
    result = run("import sys\nfrom compat_init.cli import main\nsys.exit(main(['info']))\n",
                 COMPAT_INIT_API="v9")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "compat-init: error: COMPAT_INIT_API must be one of 'auto', 'v1', 'v2'; received COMPAT_INIT_API='v9'")


def test_migrate_with_a_bad_report_path_writes_nothing(tmp_path, capsys):
    legacy = tmp_path / "model.py"
    legacy.write_text("import tensorflow as tf\ninit = tf.glorot_uniform_initializer(seed=1)\n")
    before = legacy.read_text()
    assert cli.main(["migrate", "--write", "--report", str(tmp_path / "missing" / "r.json"), str(legacy)]) == 2
    assert legacy.read_text() == before
    assert "--report must be in an existing folder" in capsys.readouterr().err
