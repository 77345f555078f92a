"""Partitioned variables: fans from the full shape; shards never repeat."""
import math

import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci

from conftest import TF1

FAMILY = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"]


def build_partitioned(make_initializer, shape, shards, api="auto"):
    with tf.Graph().as_default():
        with ci.use_api(api):
            init = make_initializer()
        variable = tf.compat.v1.get_variable(
            "table", shape=shape, initializer=init,
            partitioner=tf.compat.v1.fixed_size_partitioner(shards),
        )
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            parts = session.run(list(variable))
            return parts, session.run(variable.as_tensor())


@pytest.mark.parametrize("name", FAMILY)
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_seeded_shards_assemble_to_the_unpartitioned_tensor(name, api):
    parts, whole = build_partitioned(lambda: getattr(ci, name)(seed=8), (40, 6), 4, api)
    assert len(parts) == 4
    with tf.Graph().as_default():
        reference = getattr(ci, name)(seed=8)((40, 6))
        with tf.compat.v1.Session() as session:
            reference = session.run(reference)
    np.testing.assert_array_equal(whole, reference)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_unseeded_shards_use_full_fans_and_differ(api):
    shape = (4000, 50)
    parts, whole = build_partitioned(lambda: ci.glorot_uniform(), shape, 4, api)
    for a, b in zip(parts, parts[1:]):
        assert not np.array_equal(a, b)
    expected = math.sqrt(2.0 / sum(shape))
    # uniform: kurtosis 1.8; 5 standard errors of the sample std
    std_error = expected * math.sqrt(0.8 / (4.0 * whole.size))
    assert abs(whole.std() - expected) < 5 * std_error
    # a shard's own fans would give sqrt(2 / (1000 + 50)), 1.9x too wide
    assert np.abs(whole).max() <= math.sqrt(3.0) * expected * (1 + 1e-6)
