"""tf.distribute: every replica starts from the same weights, with the right spread.

Logical devices must be configured before TensorFlow starts, so the model is
built in a fresh process (tests/distribute_probe.py) and reported as JSON.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci

from conftest import BACKEND, OTHER_BACKEND, digest

pytestmark = pytest.mark.skipif(OTHER_BACKEND, reason="tf.distribute.MirroredStrategy mirrors TensorFlow variables; "
                                "Keras 3 on {} distributes with keras.distribution".format(BACKEND))
HERE = os.path.dirname(os.path.abspath(__file__))
KURTOSIS = {"uniform": 1.8, "truncated_normal": 2.7737}


@pytest.fixture(scope="module")
def probe():
    out = subprocess.run([sys.executable, os.path.join(HERE, "distribute_probe.py")],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_two_replicas(probe):
    assert probe["replicas"] == 2


@pytest.mark.parametrize("kind", ["seeded", "unseeded"])
def test_every_replica_gets_identical_weights(probe, kind):
    for kernel in probe[kind]:
        assert len(kernel["digests"]) == 2
        assert len(set(kernel["digests"])) == 1, kernel["shape"]


def test_seeded_equals_the_single_device_model_and_the_seeded_tensor(probe):
    assert [k["digests"][0] for k in probe["seeded"]] == probe["single_device"]
    with tf.Graph().as_default():
        expected = [ci.glorot_uniform(seed=1)((3, 3, 1, 32)), ci.glorot_normal(seed=2)((5408, 10))]
        with tf.compat.v1.Session() as session:
            expected = session.run(expected)
    assert probe["single_device"] == [digest(e) for e in expected]


def test_unseeded_spread_is_right(probe):
    for kernel, init in zip(probe["unseeded"], (ci.glorot_uniform(api="v1"), ci.glorot_normal(api="v1"))):
        theory = ci.theory(init, kernel["shape"])
        n = int(np.prod(kernel["shape"]))
        std_error = theory.std * math.sqrt((KURTOSIS[theory.distribution] - 1.0) / (4.0 * n))
        assert abs(kernel["std"] - theory.std) < 5 * std_error
        assert kernel["max"] <= theory.bound * (1 + 1e-6)
