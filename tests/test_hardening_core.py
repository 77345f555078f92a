"""Core hardening: one class per (flavour, member) under racing threads; shape
ranks past TensorFlow's and numpy's limits, and parameters that underflow, are
clear errors before TensorFlow sees them."""
import os
import subprocess
import sys

import pytest

import compat_init as ci
from compat_init import _runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RACE = r'''
import sys, threading
import tensorflow as tf
import compat_init as ci
api = sys.argv[1]
barrier = threading.Barrier(8)
found = []
def first():
    barrier.wait()
    with ci.use_api(api):
        found.append(type(ci.glorot_uniform()))
threads = [threading.Thread(target=first) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
later = type(ci.glorot_uniform(api=api))
print(len(set(found)), sum(isinstance(ci.glorot_uniform(api=api), c) for c in found), later in found)
'''


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_racing_first_builds_get_one_class(api):
    if api == "v2" and __import__("compat_init._runtime", fromlist=["is_tf1"]).is_tf1():
        pytest.skip("TF 1.15 runs graphs: the v2 path needs eager execution")
    # a fresh process: the class cache starts empty, all 8 threads miss together
    result = subprocess.run([sys.executable, "-c", RACE, api], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "8", "True"], result.stdout


def test_a_rank_past_tensorflows_limit_is_refused_before_tensorflow_aborts():
    import tensorflow as tf

    with pytest.raises(ValueError, match=r"shape must have at most 254 dimensions \(TensorFlow's limit\); "
                                         r"received a shape of rank 255"):
        with tf.Graph().as_default():
            ci.glorot_uniform(api="v1")((1,) * 255)


@pytest.mark.parametrize("scale", [1e-80, 1e-300])
def test_parameters_that_underflow_are_refused_like_overflow(scale):
    with pytest.raises(ValueError, match="below float32's smallest normal value .*: the draw would be zeros"):
        ci.variance_scaling(scale=scale, api="v1")((3, 3))
    ci.variance_scaling(scale=1e-30, api="v1")  # sqrt(1e-30 / 3) is a normal float32: accepted


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("make", [
    lambda api: ci.truncated_normal(mean=1e30, stddev=1.0, seed=1, api=api),
    lambda api: ci.random_normal(mean=1.0, stddev=1e-8, seed=1, api=api),
    lambda api: ci.random_uniform(minval=1e30, maxval=1e30 + 1e20, seed=1, api=api),
], ids=["truncated_normal", "random_normal", "random_uniform"])
def test_a_spread_lost_next_to_the_mean_is_refused(make, api):
    """Issue 25, row 7: ``truncated_normal(mean=1e30, stddev=1)`` would be a constant kernel."""
    import tensorflow as tf

    if api == "v2" and not _runtime.can_evaluate_eagerly():
        pytest.skip("v2 draws eagerly")
    with pytest.raises(ValueError, match="below float32's resolution there .*: the draw would be constant"):
        if api == "v1":
            with tf.Graph().as_default():
                make(api)((3, 3))
        else:
            make(api)((3, 3))
    ci.random_normal(mean=1.0, stddev=1e-6, seed=1, api="v1")  # a spread of 8 ulps: accepted


def run(*args):
    return subprocess.run([sys.executable, "-m", "compat_init", "parity"] + list(args), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


@pytest.mark.parametrize("args,words", [
    (["--shape", "x".join(["1"] * 65)], "dimensions for parity (numpy arrays hold no more)"),
    (["--shape", "x".join(["1"] * 255)], "at most 254 of them"),
    (["--shape", "5", "--initializer", "orthogonal"],
     "--initializer orthogonal --shape 5: shape must have rank 2 or more"),
], ids=["rank-65", "rank-255", "orthogonal-rank-1"])
def test_parity_shape_errors_are_one_line(args, words):
    result = run(*args)
    ours = [line for line in result.stderr.splitlines() if line.startswith("compat-init")]
    assert result.returncode == 2 and len(ours) == 1 and words in ours[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
