"""The test matrix: four legs, each running the whole suite and both examples,
plus the lint and package checks.

    nox                      # the four legs, lint and package (what CI runs)
    nox -s tf221             # one leg
    nox -s tf115 -- -k seeds # pass arguments to pytest
    nox -s lint              # ruff and mypy on compat_init/
    nox -s package           # sdist + wheel, twine check, the unpacked sdist's tests

Interpreters come from pyenv (`pyenv root`) when it is there, else from PATH.
Each leg writes a JUnit report to reports/<leg>.xml (read by .ci/run).
"""
import glob
import os
import shutil
import subprocess
import tarfile

import nox

nox.options.default_venv_backend = "venv"  # virtualenv no longer creates 3.7 envs
nox.options.reuse_venv = "yes"
if hasattr(nox.options, "download_python"):
    nox.options.download_python = "never"


def _python(version):
    """The pyenv interpreter for ``version`` (e.g. "3.7.16"), or "3.7" from PATH."""
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], stdout=subprocess.PIPE,
                              universal_newlines=True).stdout.strip()
        path = os.path.join(root, "versions", version, "bin", "python")
        if os.path.exists(path):
            return path
    return ".".join(version.split(".")[:2])


PY37 = _python("3.7.16")
PY311 = _python("3.11.7")
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}

#: leg -> (interpreter, TensorFlow requirements, extra environment)
LEGS = {
    # (1) real TF 1: graph mode by default, tf.contrib present.  TF 1.15
    # needs protobuf < 3.21 and reads HDF5 model files only with h5py < 3.
    "tf115": (PY37, ["tensorflow-cpu==1.15.0", "protobuf<3.21", "h5py<3"], {}),
    # (2) the last TF with Keras 2 built in.
    "tf215": (PY311, ["tensorflow-cpu==2.15.1"], {}),
    # (3) the newest TF, Keras 3 (also what `make test` runs).
    "tf221": (PY311, ["tensorflow-cpu==2.21.0"], {}),
    # (4) leg 3 with tf_keras (Keras 2) as tf.keras.
    "tf221_tf_keras": (
        PY311, ["tensorflow-cpu==2.21.0", "tf-keras==2.21.0"], {"TF_USE_LEGACY_KERAS": "1"}
    ),
}


def _leg(name, python, requirements, extra_env):
    @nox.session(name=name, python=python)
    def leg(session):
        env = dict(ENV, **extra_env)
        session.install(*requirements)
        session.install("-e", ".[test]")
        os.makedirs("reports", exist_ok=True)
        session.run(
            "python", "-m", "pytest", "--junitxml=reports/{}.xml".format(name),
            *session.posargs, env=env,
        )
        session.run("python", "examples_v1/cnn_session.py", env=env)
        session.run("python", "examples_v2/cnn_keras.py", env=env)

    leg.__doc__ = "Leg {}: {}".format(name, ", ".join(requirements))
    return leg


for _name, (_py, _reqs, _env) in LEGS.items():
    globals()[_name] = _leg(_name, _py, _reqs, _env)


@nox.session(python=PY311)
def lint(session):
    """ruff and mypy on compat_init/ (settings in pyproject.toml)."""
    session.install("ruff", "mypy", "-e", ".[test]")
    session.run("ruff", "check", "compat_init")
    session.run("mypy")


@nox.session(python=PY311)
def package(session):
    """Builds the sdist and the wheel, checks them with twine, and runs the
    unpacked sdist's own tests against the installed sdist (TF 2.21)."""
    session.install("build", "twine")
    tmp = session.create_tmp()
    dist = os.path.join(tmp, "dist")
    unpacked = os.path.join(tmp, "sdist")
    for folder in (dist, unpacked):
        shutil.rmtree(folder, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", dist)
    files = sorted(glob.glob(os.path.join(dist, "*")))
    session.run("twine", "check", "--strict", *files)
    sdist = [f for f in files if f.endswith(".tar.gz")][0]
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked)
    (root,) = glob.glob(os.path.join(unpacked, "*"))
    for required in ("LICENSE", "CHANGELOG.md", "tests/conftest.py", "tests/golden_digests.json"):
        if not os.path.exists(os.path.join(root, required)):
            session.error("the sdist lacks {}".format(required))
    session.install("tensorflow-cpu==2.21.0", sdist + "[test]")
    session.chdir(root)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", env=ENV)


# `nox` alone (make matrix, CI) runs these; the version sweep is run by name.
nox.options.sessions = list(LEGS) + ["lint", "package"]
