"""tf.distribute strategies that need a cluster: ParameterServerStrategy with
a variable partitioner (one process, loopback servers) and
MultiWorkerMirroredStrategy (two worker processes on loopback).  Each runs in
fresh processes (tests/strategy_probe.py) and reports JSON."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci

from conftest import BACKEND, FLAVOUR, OTHER_BACKEND, TF1, digest, free_ports

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "strategy_probe.py")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _json(output):
    return json.loads(output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parameter_servers():
    if FLAVOUR not in ("keras2", "tf_keras"):
        pytest.skip("Keras 3 does not shard variables under ParameterServerStrategy; TF 1.15 has no TF 2 "
                    "ParameterServerStrategy (its partitioned variables are tested in test_partitions.py)")
    ports = [str(p) for p in free_ports(4)]
    result = subprocess.run([sys.executable, PROBE, "ps"] + ports, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return _json(result.stdout)


SHAPES = [(1000, 64), (64, 32)]  # Embedding(1000, 64), Dense(64 -> 32)


def test_ps_variables_are_sharded(parameter_servers):
    assert parameter_servers["servers"] == 4
    for label in ("compat_seeded", "compat_unseeded", "native_seeded"):
        assert [v["shards"] for v in parameter_servers[label]] == [2, 2]


def test_ps_seeded_shards_assemble_into_the_unsharded_keras_tensor(parameter_servers):
    expected = [tf.keras.initializers.GlorotUniform(seed=3)(SHAPES[0]).numpy(),
                tf.keras.initializers.HeNormal(seed=4)(SHAPES[1]).numpy()]
    assert [v["whole_digest"] for v in parameter_servers["compat_seeded"]] == [digest(e) for e in expected]


def test_ps_unseeded_shards_have_full_shape_statistics(parameter_servers):
    inits = (ci.glorot_uniform(), ci.he_normal())
    kurtosis = {"uniform": 1.8, "truncated_normal": 2.7737}
    for variable, init, shape in zip(parameter_servers["compat_unseeded"], inits, SHAPES):
        theory = ci.theory(init, shape)
        n = shape[0] * shape[1]
        std_error = theory.std * math.sqrt((kurtosis[theory.distribution] - 1.0) / (4.0 * n))
        assert abs(variable["std"] - theory.std) < 5 * std_error, (variable["std"], theory.std)
        assert variable["max"] <= theory.bound * (1 + 1e-6)


def test_ps_native_keras_draws_each_shard_with_its_own_fans(parameter_servers):
    """The trap compat_init avoids, measured on the native initializer: the
    Embedding's shards (500, 64) get glorot's limit for (500, 64)."""
    native = parameter_servers["native_seeded"][0]
    full = ci.theory(ci.glorot_uniform(), SHAPES[0])
    shard = ci.theory(ci.glorot_uniform(), (500, 64))
    assert native["std"] > full.std * 1.3 and abs(native["std"] - shard.std) < 0.02 * shard.std
    assert native["whole_digest"] != parameter_servers["compat_seeded"][0]["whole_digest"]


@pytest.fixture(scope="module")
def workers():
    if TF1:
        pytest.skip("MultiWorkerMirroredStrategy with Keras models is checked on TF 2")
    ports = [str(p) for p in free_ports(2)]
    procs = [subprocess.Popen([sys.executable, PROBE, "mwms", str(i)] + ports, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, env=ENV) for i in range(2)]
    outputs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("a MultiWorkerMirroredStrategy worker did not finish in 300 s")
        assert proc.returncode == 0, err[-3000:]
        outputs.append(_json(out))
    return outputs


def test_mwms_two_workers(workers):
    assert [w["workers"] for w in workers] == [2, 2]
    assert sorted(w["index"] for w in workers) == [0, 1]


@pytest.mark.parametrize("kind", ["seeded", "unseeded"])
def test_mwms_workers_start_from_identical_weights(workers, kind):
    """Each worker has its own global seed: unseeded draws would differ
    between the processes; the weights agree."""
    if kind == "unseeded" and OTHER_BACKEND:
        pytest.skip("tf.distribute syncs TensorFlow variables; Keras 3 on {} distributes with keras.distribution, "
                    "so an unseeded draw is each worker's own there, for Keras' own initializers too".format(BACKEND))
    assert workers[0][kind] == workers[1][kind]


def test_mwms_seeded_weights_equal_the_single_process_tensors(workers):
    kernels = [ci.glorot_uniform(seed=1)((3, 3, 1, 8)), ci.truncated_normal(stddev=0.02, seed=2)((5408, 10))]
    expected = [digest(np.asarray(k)) for k in kernels]
    seeded = workers[0]["seeded"]
    assert [seeded[0], seeded[2]] == expected  # kernels; the biases are zeros
