"""The test matrix: five legs, each running the whole suite and both examples,
plus the lint and package checks.

    nox                      # the five legs, docs, lint and package (what CI runs)
    nox -s tf221             # one leg
    nox -s tf115 -- -k seeds # pass arguments to pytest
    nox -s docs              # the documentation site, mkdocs build --strict (-- serve: serve it)
    nox -s lint              # ruff, mypy and lint-imports (the layers of port/) on compat_init/
    nox -s package           # sdist + wheel, twine check, the unpacked sdist's tests
    nox -s sweep             # every TF minor that installs here (long; not in CI)
    python sweep/table.py    # the compatibility table from sweep/results/ (the docs render it)

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
PY313 = _python("3.13.0")
#: COMPAT_INIT_RECORDINGS: where the TF 1.15 leg writes its recordings and leg 3
#: proves ports from them (tests/test_zoo_record.py); the legs run in order.
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0",
       "COMPAT_INIT_RECORDINGS": os.path.abspath(os.path.join("reports", "recordings"))}

#: leg -> (interpreter, TensorFlow requirements, extra environment)
LEGS = {
    # (1) real TF 1: graph mode by default, tf.contrib present.  TF 1.15
    # needs protobuf < 3.21 and reads HDF5 model files only with h5py < 3.
    # google-research/bert's modeling.py (bert-tensorflow) is the TF1-only
    # program recorded here and proven on leg 3 (tests/test_zoo_record.py).
    "tf115": (PY37, ["tensorflow-cpu==1.15.0", "protobuf<3.21", "h5py<3", "bert-tensorflow==1.0.4"], {}),
    # (2) the last TF with Keras 2 built in.
    "tf215": (PY311, ["tensorflow-cpu==2.15.1"], {}),
    # (3) the newest TF, Keras 3 (also what `make test` runs).
    "tf221": (PY311, ["tensorflow-cpu==2.21.0"], {}),
    # (4) leg 3 with tf_keras (Keras 2) as tf.keras.
    "tf221_tf_keras": (
        PY311, ["tensorflow-cpu==2.21.0", "tf-keras==2.21.0"], {"TF_USE_LEGACY_KERAS": "1"}
    ),
    # (5) the newest Python users run, on the newest TF, with Keras 3 on JAX
    # (issue 26): the whole suite with the port, Keras' layers and the
    # initializers' tensors on JAX; native Keras' reference values come from
    # the TensorFlow backend in a second process (tests/tf_reference.py).
    # Keras 3 on TensorFlow is leg 3's, on Python 3.11.
    "tf221_jax_py313": (PY313, ["tensorflow-cpu==2.21.0", "jax==0.10.2"], {"KERAS_BACKEND": "jax"}),
}


#: KerasHub for the model-zoo tests (tests/test_zoo.py) on leg 3.  Without its
#: tensorflow-text requirement, which would install the full `tensorflow`
#: package beside tensorflow-cpu (its models and BertBackbone do not need it).
#: gpt-2-simple ships openai/gpt-2's model.py for TF 2 (tests/test_zoo_gpt2.py
#: loads that file alone); without its requirement of the full `tensorflow`.
KERAS_HUB = ["keras-hub==0.32.0", "gpt-2-simple==0.8.1"]
KERAS_HUB_DEPS = ["absl-py", "regex", "rich", "kagglehub", "kagglesdk==0.1.28", "sentencepiece", "tokenizers"]
ZOO_LEGS = ("tf221",)
#: Keras 3's other backends, for tests/test_backends.py on leg 3 (each test
#: runs them in a fresh process with KERAS_BACKEND set).  torch 2.13.0 is a
#: CPU build.
BACKENDS = ["jax==0.10.2", "torch==2.13.0"]


def _leg(name, python, requirements, extra_env):
    @nox.session(name=name, python=python)
    def leg(session):
        env = dict(ENV, **extra_env)
        session.install(*requirements)
        session.install("-e", ".[test]")
        if name in ZOO_LEGS:
            session.install(*KERAS_HUB_DEPS)
            session.install("--no-deps", *KERAS_HUB)
            session.install(*BACKENDS)
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
    """ruff and mypy on compat_init/ (settings in pyproject.toml), and the
    layers of compat_init/port/ (import-linter's contracts in setup.cfg)."""
    session.install("ruff", "mypy", "import-linter==2.17", "-e", ".[test]")
    session.run("ruff", "check", "compat_init")
    session.run("mypy")
    session.run("lint-imports")


#: The documentation's tools, pinned: a new release's new warnings must not
#: fail `mkdocs build --strict` on an unchanged tree.
DOCS_TOOLS = ["mkdocs==1.6.1", "mkdocs-material==9.8.1", "mkdocstrings==1.0.8", "mkdocstrings-python==2.0.11"]


@nox.session(python=PY311)
def docs(session):
    """Builds the documentation site with `mkdocs build --strict` into site/
    (every link checked; the tutorial's commands run on TF 2.21, their output
    shown); `nox -s docs -- serve` serves it instead.  The pages' Python
    blocks run in every leg's pytest (Sybil, conftest.py)."""
    session.install("tensorflow-cpu==2.21.0", *DOCS_TOOLS, "-e", ".[test]")
    session.install(BACKENDS[0])  # JAX: the how-to page on Keras 3 with JAX runs its commands
    env = dict(ENV, NO_MKDOCS_2_WARNING="1")
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:], env=env)
        return
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", env=env)
    session.log("the site is in {}".format(os.path.join(os.getcwd(), "site", "index.html")))


PACKAGE_TESTS = ["tests/test_seeds.py", "tests/test_cli.py", "tests/test_checkpoint.py", "README.md"]


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
    for required in ("LICENSE", "CHANGELOG.md", "tests/conftest.py", "tests/golden_digests.json", "conftest.py",
                     "docs/index.md", "mkdocs.yml"):
        if not os.path.exists(os.path.join(root, required)):
            session.error("the sdist lacks {}".format(required))
    session.install("tensorflow-cpu==2.21.0", sdist + "[test]")
    session.chdir(root)
    # The installed package against its own tests of the initializers, the
    # command line, conversion (the TF 1.15 fixtures) and the README: the
    # whole suite runs on the legs (CI's time is 90 minutes).
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *PACKAGE_TESTS, env=ENV)




# -- The version sweep (issue 11): `nox -s sweep` -------------------------------
#: (TensorFlow minor, Python, extra pins).  Not part of `nox` alone (CI): it is
#: long (one environment per TF minor, created, tested and removed).
SWEEP = (
    [("1.15", "3.7.16", ["protobuf<3.21", "h5py<3"])]
    + [("2.{}".format(m), "3.7.16", ["numpy<1.20", "protobuf<3.21", "h5py<3"]) for m in (0, 1, 2)]
    + [("2.{}".format(m), "3.8.18", ["numpy<2", "protobuf<3.20" if m <= 8 else "protobuf<4.24"])
       for m in range(3, 14)]
    + [("2.14", "3.9.18", ["numpy<2"]), ("2.15", "3.11.7", ["numpy<2"])]
    + [("2.{}".format(m), "3.11.7", []) for m in range(16, 22)]
    + [("2.21", "3.12.1", []), ("2.21", "3.13.0", [])]
)
SWEEP_TESTS = ["tests/test_seeds.py", "tests/test_dispatch.py", "tests/test_keras_serialization.py",
               "tests/test_layers.py", "tests/test_parity.py::test_check_passes_for_every_initializer"]


@nox.session(python=False)
@nox.parametrize("tf_minor,python,pins", SWEEP, ids=["tf{}-py{}".format(t, p.rsplit(".", 1)[0]) for t, p, _ in SWEEP])
def sweep(session, tf_minor, python, pins):
    """One TensorFlow minor release: install, test, record, remove."""
    import json
    import tempfile

    os.makedirs(os.path.join("sweep", "results"), exist_ok=True)
    name = "tf{}-py{}".format(tf_minor, python.rsplit(".", 1)[0])
    record = {"tf_minor": tf_minor, "python": python, "pins": pins, "date": __import__("datetime").date.today().isoformat()}
    interpreter = _python(python)
    folder = tempfile.mkdtemp(prefix="compat-init-sweep-")
    bin_dir = os.path.join(folder, "bin")
    try:
        session.run(interpreter, "-m", "venv", folder, external=True)
        pip = [os.path.join(bin_dir, "python"), "-m", "pip", "install", "-q"]
        try:
            # One resolver run, so that TensorFlow's own numpy/protobuf bounds hold
            # for the test extras too (scipy, matplotlib).
            session.run(*pip, "tensorflow-cpu=={}.*".format(tf_minor), *pins, "-e", ".[test]", external=True)
        except Exception as error:  # noqa: BLE001 - recorded, the sweep goes on
            record.update(status="does not install here", detail=str(error)[:300])
            return
        info = session.run(os.path.join(bin_dir, "compat-init"), "info", "--json", external=True,
                           silent=True, env=ENV, success_codes=[0, 1, 2])
        try:
            record["info"] = json.loads(info[info.index("{"):])
        except ValueError:
            record["info"] = {"error": info.strip().splitlines()[-1:]}
        junit = os.path.join(folder, "junit.xml")
        code = session.run(os.path.join(bin_dir, "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--junitxml=" + junit, *SWEEP_TESTS, external=True, env=ENV,
                           success_codes=[0, 1, 2, 3, 4, 5])
        record.update(_junit_counts(junit))
        record["status"] = "pass" if record.get("failed") == 0 and record.get("passed", 0) > 0 else "fail"
    finally:
        with open(os.path.join("sweep", "results", name + ".json"), "w") as f:
            json.dump(record, f, indent=1, sort_keys=True)
        shutil.rmtree(folder, ignore_errors=True)


def _junit_counts(path):
    import xml.etree.ElementTree as ET

    if not os.path.exists(path):
        return {"passed": 0, "failed": 0, "skipped": 0, "failures": ["no test report"]}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    failures = []
    counts = {"tests": 0, "skipped": 0, "failed": 0}
    for suite in suites:
        counts["tests"] += int(suite.get("tests", 0))
        counts["skipped"] += int(suite.get("skipped", 0))
        counts["failed"] += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failures.append("{}::{}".format(case.get("classname"), case.get("name")))
    return {"passed": counts["tests"] - counts["skipped"] - counts["failed"], "failed": counts["failed"],
            "skipped": counts["skipped"], "failures": failures[:60]}


# `nox` alone (make matrix, CI) runs these; the version sweep is run by name.
nox.options.sessions = list(LEGS) + ["docs", "lint", "package"]
