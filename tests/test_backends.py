"""Keras 3 on every backend (issue 26, row 1): compat_init's v2 initializers
return the backend's own tensor (``jax.Array``, ``torch.Tensor``) and keep one
seed, one tensor: the same bytes as on the TensorFlow backend and in a v1
Session, for every registry initializer, dtype and ``SeedGenerator`` draw.

Each backend runs in a fresh process (``tests/backend_probe.py``): Keras reads
``KERAS_BACKEND`` once.  A backend that is not installed is skipped with the
reason.
"""
import functools
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


@functools.lru_cache(maxsize=None)
def _probe(backend, args, extra_env):
    return probe(backend, *args, **dict(extra_env))


def cached_probe(backend, *args, **extra_env):
    """:func:`probe`, run once per arguments in this session."""
    return _probe(backend, args, tuple(sorted(extra_env.items())))


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
    # float64 exists on JAX only with x64 (as for Keras' own)
    other = cached_probe(backend, **({"JAX_ENABLE_X64": "1"} if backend == "jax" else {}))
    assert other["backend"] == backend
    refused = {k for k, v in other["v2"].items() if v.startswith("Keras refuses")}
    edges = {k for k in tensorflow_backend["v2"] if k.startswith("he_uniform/generator/")}
    assert refused <= edges and len(refused) < len(edges), refused  # Keras' own limits, never all
    different = sorted(k for k in tensorflow_backend["v2"]
                       if k not in refused and other["v2"].get(k) != tensorflow_backend["v2"][k])
    assert not different, "differ from the TensorFlow backend on {}: {}".format(backend, different)
    assert other["checks"]["type"] == backend, other["checks"]
    assert other["checks"]["layer"] is True
    assert other["checks"]["tf_function"] == ["tensorflow", True]
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
def test_torch_compile_over_an_initializer_and_a_jit_compiled_fit():
    installed("torch")
    checks = cached_probe("torch")["checks"]
    assert checks["compile"] == ["torch", True]
    assert checks["compiled_fit"] == [True]


@needs_keras3
def test_without_tensorflow_the_error_names_what_to_install():
    installed("jax")
    error = probe("jax", "no-tf")["error"]
    assert error is not None and "compat_init needs TensorFlow" in error and "tensorflow-cpu" in error, error


# Checkpoints into a port on JAX or PyTorch, and the proof there (rows 2, 3) ----------------------

CNN_CKPT = os.path.join(ROOT, "tests", "fixtures", "tf115", "cnn_sgd")
OTHER_BACKENDS = ["jax", "torch"]


def compat_init(backend, *args):
    """``compat-init ARGS`` under ``KERAS_BACKEND=backend``: (exit code, stdout, our stderr lines)."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_USE_LEGACY_KERAS", None)
    done = subprocess.run([sys.executable, "-m", "compat_init"] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
    return done.returncode, done.stdout, [line for line in done.stderr.splitlines() if line.startswith("compat-init")]


@needs_keras3
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_a_checkpoint_converted_on_a_backend_loads_alike_on_every_backend(tmp_path, backend):
    installed(backend)
    out = str(tmp_path / "port.weights.h5")
    code, stdout, errors = compat_init(backend, "convert", "--port", "examples_v2.cnn_pair:build", "--checkpoint",
                                       os.path.join(CNN_CKPT, "model.ckpt-3"), "--out", out)
    # No .meta beside this checkpoint: written, and said to be unproven.
    assert code == 0 and len(errors) == 1 and errors[0].startswith("compat-init: not proven: "), (
        code, stdout[-2000:], errors)
    loaded = {b: probe(b, "load", out, os.path.join(CNN_CKPT, "batch.npy"))
              for b in ["tensorflow"] + [b for b in OTHER_BACKENDS if importlib.util.find_spec(b)]}
    import numpy as np

    reference = loaded["tensorflow"]
    for name, result in loaded.items():
        assert result["weights"] == reference["weights"], name  # the very same tensors
        # Each backend's own convolution and softmax: the same function, rounded its way.
        np.testing.assert_allclose(result["outputs"], reference["outputs"], rtol=1e-5, atol=1e-6, err_msg=name)


PROOFS = [
    # (legacy, port, exit code): a correct port, a port without its ReLU
    ("tests.port_pairs:legacy_dropout_mlp", "tests.port_pairs:port_dropout_mlp", 0),
    ("tests.port_pairs:legacy_dropout_mlp", "tests.port_pairs:port_dropout_mlp_no_relu", 1),
    ("tests.port_pairs:legacy_mlp", "tests.port_pairs:port_module", 0),  # a tf.Module runs on TensorFlow
]


@needs_keras3
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("legacy,port,expected", PROOFS, ids=lambda v: str(v).split(":")[-1])
def test_the_proof_with_training_steps_runs_the_port_on_its_backend(backend, legacy, port, expected):
    installed(backend)
    code, stdout, errors = compat_init(backend, "parity", "--migration", legacy, port, "--inputs", "8x20",
                                       "--steps", "2")
    assert code == expected, (code, stdout[-3000:], errors)
    assert not errors
    if expected == 0:
        assert "step 2 (" in stdout  # the training steps ran, with that backend's gradients
    else:
        assert "DIFFER" in stdout and "is dense's activation missing?" in stdout  # the locator, on that backend


@needs_keras3
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_convert_with_the_proof_on_a_backend(tmp_path, backend):
    installed(backend)
    out = str(tmp_path / "port.weights.h5")
    code, stdout, errors = compat_init(backend, "convert", "--migration", "examples_v1.cnn_pair:build",
                                       "examples_v2.cnn_pair:build", "--checkpoint",
                                       os.path.join(CNN_CKPT, "model.ckpt-3"), "--inputs",
                                       os.path.join(CNN_CKPT, "batch.npy"), "--steps", "2", "--out", out)
    assert code == 0 and not errors, (code, stdout[-3000:], errors)
    assert "verdict: the port agrees" in stdout and os.path.exists(out)


@needs_keras3
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_a_port_calling_tensorflow_is_one_line_naming_the_backend(backend):
    """On JAX the port's builder fails inside TensorFlow; on PyTorch it builds,
    and its call returns TensorFlow tensors no gradient flows through."""
    installed(backend)
    code, _, errors = compat_init(backend, "parity", "--migration", "tests.port_pairs:legacy_mlp",
                                  "tests.port_pairs:port_calling_tensorflow", "--inputs", "8x20", "--steps", "1")
    assert code == 2 and len(errors) == 1, (code, errors)
    assert "Keras' {} backend".format(backend) in errors[0] and "KERAS_BACKEND=tensorflow" in errors[0], errors
