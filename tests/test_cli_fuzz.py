"""A small fuzz harness for the command line (issue 19, row 10): random
argument lists built from the parser's own subcommands and options, each run
as a user runs it.  No run may end in a traceback, an internal error (exit 4)
or a hang; each ends 0-3 (usage errors are one line on stderr, exit 2).

The cases are drawn from a fixed seed (``COMPAT_INIT_FUZZ_SEED`` changes it,
``COMPAT_INIT_FUZZ_RUNS`` their number), so a failure is reproduced by its id.
"""
import argparse
import os
import random
import subprocess
import sys

import pytest

from compat_init import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = int(os.environ.get("COMPAT_INIT_FUZZ_SEED", "19"))
RUNS = int(os.environ.get("COMPAT_INIT_FUZZ_RUNS", "24"))
LEGACY = "import tensorflow as tf\nw = tf.glorot_uniform_initializer(seed=1)\n"

#: Values an option may get: numbers at and past every edge, shapes, words,
#: paths that exist and do not, builders that exist and do not.
VALUES = ["0", "1", "-1", "3", "0.5", "1e309", "-0", "nan", "inf", "2147483647", "99999999999999999999", "",
          "x", "3x3", "4x10", "0x3", "3x", "x3", "1x" * 300 + "1", "3000000x1000000", "a=1", "a=b", "=1",
          "glorot_uniform", "orthogonal", "no_such_initializer", "-", "{TMP}", "{TMP}/legacy.py",
          "{TMP}/missing", "{TMP}/out.weights.h5", "{TMP}/empty.npy", "{TMP}/mapping.json", "/dev/null",
          "os:getcwd", "nope:nothing", "compat_init:__version__", "tests.port_pairs:legacy_dropout_mlp",
          "tests.port_pairs:port_dropout_mlp", "\u00e9\x01"]
#: Well-formed values, taken more often than not, so that runs get past the
#: usage checks and into the work (a real legacy builder and its port).
WELL_FORMED = {
    "--migration": ["tests.port_pairs:legacy_dropout_mlp", "tests.port_pairs:port_dropout_mlp"],
    "--port": ["tests.port_pairs:port_dropout_mlp"],
    "--inputs": ["8x20"],
    "--shape": ["3x4"],
    "--initializer": ["glorot_uniform"],
    "--steps": ["2"],
    "--out": ["{TMP}/out.weights.h5"],
    "--checkpoint": ["{TMP}/missing"],
    "--feed": ["is_training=false"],
    "--mapping": ["hidden/kernel=dense/kernel"],
    "--json": ["-"],
}


def _commands():
    parser = cli.main_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: [a for a in sub._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
            for name, sub in subparsers.choices.items()}


def _case(rng, commands):
    name = rng.choice(sorted(commands))
    argv = [name]
    for action in rng.sample(commands[name], rng.randint(0, min(4, len(commands[name])))):
        argv.append(rng.choice(action.option_strings))
        count = action.nargs if isinstance(action.nargs, int) else 0 if action.nargs == 0 else 1
        option = action.option_strings[-1]
        if action.choices and rng.random() < 0.7:
            argv += [rng.choice(sorted(action.choices)) for _ in range(count)]
        elif option in WELL_FORMED and rng.random() < 0.6:
            argv += WELL_FORMED[option][:count] if count > 1 else [rng.choice(WELL_FORMED[option])]
        else:
            argv += [rng.choice(VALUES) for _ in range(count)]
    if name == "record" and rng.random() < 0.6:
        argv.append(rng.choice(WELL_FORMED["--migration"][:1] + ["{TMP}/legacy.rec"]))  # its legacy model
        if "--out" not in argv:
            argv += ["--out", "{TMP}/made.rec"]
    elif name == "migrate" or rng.random() < 0.3:
        argv.append(rng.choice(VALUES))  # a positional argument (migrate's PATH), or a stray one
    if name in ("parity", "convert") and rng.random() < 0.5:
        for option in ("--migration", "--inputs"):  # the migration proof and the conversion, reached
            if option not in argv and option in [o for a in commands[name] for o in a.option_strings]:
                argv += [option] + WELL_FORMED[option]
    if name == "parity" and "--samples" not in argv:
        argv += ["--samples", "1000"]  # keeps a run that starts a report short
    return argv


def _cases():
    rng = random.Random(SEED)
    commands = _commands()
    return [_case(rng, commands) for _ in range(RUNS)]


@pytest.fixture(scope="module")
def playground(tmp_path_factory):
    import numpy as np

    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "legacy.py").write_text(LEGACY)
    np.save(str(tmp / "empty.npy"), np.zeros((0, 3), np.float32))
    (tmp / "mapping.json").write_text('{"a": "b"}')
    return tmp


@pytest.mark.parametrize("argv", _cases(), ids=lambda argv: " ".join(argv)[:80])
def test_no_argument_list_ends_in_a_traceback_or_a_hang(playground, argv):
    argv = [a.replace("{TMP}", str(playground)) for a in argv]
    try:
        result = subprocess.run([sys.executable, "-m", "compat_init"] + argv, cwd=str(playground),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg",
                                         PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])))
    except subprocess.TimeoutExpired:
        pytest.fail("compat-init {} did not end within 300 s".format(argv))
    err = result.stderr.decode("utf-8", "backslashreplace")
    assert "Traceback" not in err, err[-3000:]
    assert result.returncode in (0, 1, 2, 3), (result.returncode, err[-3000:])
    if result.returncode == 2:
        ours = [line for line in err.splitlines() if line.startswith("compat-init")]
        assert len(ours) == 1, err[-3000:]


# `convert` and `--reverse` on a real checkpoint (issue 25) --------------------------------------
#
# The same rule, with the values a conversion meets: a real TF 1.15 checkpoint
# and paths to every kind of file where one is read or written (FIFOs,
# devices, folders, the checkpoint's own files as outputs).  And one more:
# whatever a run does, the checkpoint and the port weights it reads are
# byte-identical afterwards, and no temporary is left behind.

CONVERT_RUNS = int(os.environ.get("COMPAT_INIT_FUZZ_CONVERT_RUNS", "12"))
CNN_CKPT = os.path.join(ROOT, "tests", "fixtures", "tf115", "cnn_sgd")
PORT, LEGACY_CNN = "examples_v2.cnn_pair:build", "examples_v1.cnn_pair:build"
PREFIX = "{TMP}/ckpt/model.ckpt-3"
CONVERT_VALUES = {
    "side": [["--port", PORT], ["--migration", LEGACY_CNN, PORT], ["--migration", LEGACY_CNN, "nope:nothing"],
             ["--migration", "{TMP}/legacy.py", PORT]],
    "--checkpoint": [PREFIX, "{TMP}/ckpt", "{TMP}/ckpt/checkpoint", PREFIX + ".index", "{TMP}/missing",
                     "{TMP}/pipe", "/dev/null", "{TMP}/ckpt/model.ckpt-[3"],
    "--out": ["{TMP}/new.weights.h5", "{TMP}/new.h5", "{WEIGHTS}", "{TMP}/new/model.ckpt", PREFIX, PREFIX + ".index",
              "{TMP}/ckpt/checkpoint", "/dev/full", "/dev/null", "{TMP}/pipe", "{TMP}", "{TMP}/port.weights.h5x"],
    "--json": ["-", "/dev/full", "/dev/null", "{TMP}/pipe", "{TMP}/report.json", PREFIX + ".index", "{TMP}"],
    "--mapping": ["conv/kernel=conv2d/kernel", "{TMP}/mapping.json", "/dev/zero", "{TMP}/pipe", "{TMP}/missing",
                  "a=b=c", "="],
    "--weights": ["{WEIGHTS}", "{TMP}/missing.weights.h5", "{TMP}/pipe", "/dev/zero", PREFIX + ".index"],
    "--inputs": ["{TMP}/ckpt/batch.npy", "4x28x28x1", "0x3", "{TMP}/pipe", "{TMP}/empty.npy"],
    "--steps": ["1", "0", "-1", "nan"],
    "--seed": ["0", "-1", "99999999999999999999"],
    "--emit-mapping": ["{TMP}/rules.txt", "{TMP}/ckpt/checkpoint", "{TMP}/pipe"],
}
CONVERT_FLAGS = ["--reverse", "--optimizer-state", "--plan", "--dense-gradients", "--forward-only", "--quiet"]


def _convert_case(rng):
    """Mostly well-formed (so that runs reach the reading, the proof and the
    writing), with one or two hostile values among them."""
    def pick(option, good):
        return rng.choice(good) if rng.random() < 0.6 else rng.choice(CONVERT_VALUES[option])

    if rng.random() < 0.85:
        side = rng.choice([["--port", PORT], ["--migration", LEGACY_CNN, PORT]])
    else:
        side = rng.choice(CONVERT_VALUES["side"])
    argv = ["convert"] + side
    if rng.random() < 0.3:
        argv += ["--reverse", "--weights", pick("--weights", ["{WEIGHTS}"]),
                 "--out", pick("--out", ["{TMP}/back/model.ckpt"])]
    else:
        if rng.random() < 0.95:
            argv += ["--checkpoint", pick("--checkpoint", [PREFIX, "{TMP}/ckpt"])]
        if rng.random() < 0.9:
            argv += ["--out", pick("--out", ["{OUT}"])]
    good = {"--json": ["-", "{TMP}/report.json"], "--inputs": ["{TMP}/ckpt/batch.npy"], "--steps": ["1"],
            "--seed": ["0", "7"], "--mapping": ["{TMP}/mapping.json"], "--emit-mapping": ["{TMP}/rules.txt"]}
    for option in rng.sample(sorted(good), rng.randint(0, 2)):
        argv += [option, pick(option, good[option])]
    argv += [flag for flag in CONVERT_FLAGS if flag != "--reverse" and rng.random() < 0.1]
    return argv


def _digest(paths):
    import hashlib

    found = {}
    for path in paths:
        for folder, _, files in os.walk(path) if os.path.isdir(path) else [(os.path.dirname(path), [],
                                                                              [os.path.basename(path)])]:
            for name in files:
                full = os.path.join(folder, name)
                with open(full, "rb") as f:
                    found[full] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.fixture(scope="module")
def conversions(tmp_path_factory):
    import shutil

    import numpy as np

    from compat_init import _runtime

    tmp = tmp_path_factory.mktemp("fuzz_convert")
    shutil.copytree(CNN_CKPT, str(tmp / "ckpt"))
    (tmp / "legacy.py").write_text(LEGACY)
    (tmp / "mapping.json").write_text('{"conv/kernel": "conv2d/kernel"}')
    np.save(str(tmp / "empty.npy"), np.zeros((0, 3), np.float32))
    os.mkfifo(str(tmp / "pipe"))
    # The port's own weights for --reverse, written by a conversion (TF 2 only).
    weights = str(tmp / ("port.weights.h5" if _runtime.keras_flavour() == "keras3" else "port.h5"))
    if _runtime.can_evaluate_eagerly():
        subprocess.run([sys.executable, "-m", "compat_init", "convert", "--port", PORT, "--checkpoint",
                        str(tmp / "ckpt" / "model.ckpt-3"), "--out", weights, "--quiet"], cwd=ROOT, check=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=300)
    return tmp, weights


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("argv", [_convert_case(random.Random(SEED * 1000 + i)) for i in range(CONVERT_RUNS)],
                         ids=lambda argv: " ".join(argv)[:100])
def test_no_conversion_ends_in_a_traceback_a_hang_or_a_changed_input(conversions, argv):
    tmp, weights = conversions
    out = "{TMP}/new" + weights[len(str(tmp / "port")):]  # the suffix this Keras writes
    argv = [a.replace("{WEIGHTS}", weights).replace("{OUT}", out).replace("{TMP}", str(tmp)) for a in argv]
    owned = [str(tmp / "ckpt"), str(tmp / "mapping.json")] + ([weights] if os.path.exists(weights) else [])
    before = _digest(owned)
    try:
        result = subprocess.run([sys.executable, "-m", "compat_init"] + argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    except subprocess.TimeoutExpired:
        pytest.fail("compat-init {} did not end within 300 s".format(" ".join(argv)))
    err = result.stderr.decode("utf-8", "backslashreplace")
    assert "Traceback" not in err, err[-3000:]
    assert result.returncode in (0, 1, 2, 3), (result.returncode, err[-3000:])
    if result.returncode == 2:
        assert len([line for line in err.splitlines() if line.startswith("compat-init")]) == 1, err[-3000:]
    assert _digest(owned) == before, "an input changed: compat-init {}".format(" ".join(argv))
    leftovers = [os.path.join(folder, name) for folder, _, names in os.walk(str(tmp)) for name in names
                 if name.startswith(".compat-init-")]
    assert not leftovers, leftovers
