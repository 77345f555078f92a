"""Keras 3 on every backend (issue 26, row 1): compat_init's v2 initializers
return the backend's own tensor (``jax.Array``, ``torch.Tensor``) and keep one
seed, one tensor: the same bytes as on the TensorFlow backend and in a v1
Session, for every registry initializer, dtype and ``SeedGenerator`` draw.

Each backend runs in a fresh process (``tests/backend_probe.py``): Keras reads
``KERAS_BACKEND`` once.  A backend that is not installed is skipped with the
reason.
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from compat_init import _runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = os.path.join(ROOT, "tests", "backend_probe.py")
KERAS3 = _runtime.tf_version().major >= 2 and _runtime.keras_flavour() == "keras3"
needs_keras3 = pytest.mark.skipif(not KERAS3, reason="Keras 3 backends (TF >= 2.16, no TF_USE_LEGACY_KERAS)")


def probe(backend, *args, **extra_env):
    """The probe's JSON line, run with ``KERAS_BACKEND=backend``."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", **extra_env)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])
    env.pop("TF_USE_LEGACY_KERAS", None)
    done = subprocess.run([sys.executable, PROBE] + list(args), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tensorflow_backend():
    return probe("tensorflow")


def installed(backend):
    module = {"jax": "jax", "torch": "torch"}[backend]
    if importlib.util.find_spec(module) is None:
        pytest.skip("{} is not installed here (the jax leg installs it)".format(module))


@needs_keras3
def test_the_tensorflow_backend_equals_the_v1_session(tensorflow_backend):
    v1, v2 = tensorflow_backend["v1"], tensorflow_backend["v2"]
    assert {k: v2[k] for k in v1} == v1


@needs_keras3
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_one_seed_one_tensor_on_every_backend(tensorflow_backend, backend):
    installed(backend)
    other = probe(backend, JAX_ENABLE_X64="1")  # float64 exists on JAX only then (as for Keras' own)
    assert other["backend"] == backend
    refused = {k for k, v in other["v2"].items() if v.startswith("Keras refuses")}
    edges = {k for k in tensorflow_backend["v2"] if k.startswith("he_uniform/generator/")}
    assert refused <= edges and len(refused) < len(edges), refused  # Keras' own limits, never all
    different = sorted(k for k in tensorflow_backend["v2"]
                       if k not in refused and other["v2"].get(k) != tensorflow_backend["v2"][k])
    assert not different, "differ from the TensorFlow backend on {}: {}".format(backend, different)
    assert other["checks"]["type"] == backend, other["checks"]
    assert other["checks"]["layer"] is True
    assert other["checks"]["serialized"] == ["keras", True, True, True]


@needs_keras3
def test_jax_jit_over_an_initializer_and_a_seed_generator():
    installed("jax")
    checks = probe("jax")["checks"]
    assert checks["jit"] == ["jax", True]
    assert checks["jit_generator"] == [True, True]
    # Without x64, JAX has no float64: the dtype Keras' own initializer gives
    # for float64 there, ours gives too.
    assert checks["float64"][0] == checks["float64"][1], checks["float64"]


@needs_keras3
def test_without_tensorflow_the_error_names_what_to_install():
    installed("jax")
    error = probe("jax", "no-tf")["error"]
    assert error is not None and "compat_init needs TensorFlow" in error and "tensorflow-cpu" in error, error
