"""Partitioned variables: bit-identical shards, full-shape fans, independent unseeded shards."""
import math

import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci
from compat_init import _runtime

from conftest import free_ports

FAMILY = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"]
RANDOM = ["truncated_normal", "random_normal", "random_uniform", "orthogonal", "uniform_unit_scaling"]
v1 = tf.compat.v1

PARTITIONERS = {
    "fixed_size(4)": lambda: v1.fixed_size_partitioner(4),
    "fixed_size(3, axis=1)": lambda: v1.fixed_size_partitioner(3, axis=1),
    "variable_axis_size(2KiB)": lambda: v1.variable_axis_size_partitioner(2048),
    "min_max(max 5, min slice 1KiB)": lambda: v1.min_max_variable_partitioner(5, min_slice_size=1024),
}


def session_values(build, target="", config=None):
    with tf.Graph().as_default():
        fetches = build()
        with v1.Session(target, config=config) as session:
            session.run(v1.global_variables_initializer())
            return session.run(fetches)


def reference(name, shape, seed, dtype="float32"):
    with tf.Graph().as_default():
        tensor = getattr(ci, name)(seed=seed)(shape, dtype=dtype)
        with v1.Session() as session:
            return session.run(tensor)


def partitioned(make_initializer, shape, partitioner, api="auto", dtype="float32"):
    def build():
        with ci.use_api(api):
            init = make_initializer()
        variable = v1.get_variable("table", shape=shape, dtype=tf.as_dtype(dtype), initializer=init,
                                   partitioner=partitioner())
        return list(variable), variable.as_tensor()
    return session_values(build)


@pytest.mark.parametrize("partitioner", sorted(PARTITIONERS))
@pytest.mark.parametrize("name", FAMILY + RANDOM)
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_seeded_shards_assemble_bit_for_bit(partitioner, name, api):
    shape = (101, 9)
    parts, whole = partitioned(lambda: getattr(ci, name)(seed=8), shape, PARTITIONERS[partitioner], api)
    assert len(parts) > 1
    np.testing.assert_array_equal(whole, reference(name, shape, 8))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal"])
def test_seeded_shards_in_every_float_dtype(dtype, name):
    parts, whole = partitioned(lambda: getattr(ci, name)(seed=3), (50, 7), PARTITIONERS["fixed_size(4)"],
                               dtype=dtype)
    np.testing.assert_array_equal(whole, reference(name, (50, 7), 3, dtype))


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("partitioner", ["fixed_size(4)", "fixed_size(3, axis=1)"])
def test_unseeded_shards_use_full_fans_and_differ(api, partitioner):
    shape = (4000, 48)

    def build():
        v1.set_random_seed(1)  # the graph-level seed makes this test replay
        with ci.use_api(api):
            init = ci.glorot_uniform()
        variable = v1.get_variable("table", shape=shape, initializer=init,
                                   partitioner=PARTITIONERS[partitioner]())
        return list(variable), variable.as_tensor()

    parts, whole = session_values(build)
    for a, b in zip(parts, parts[1:]):
        assert not np.array_equal(a[:10, :10], b[:10, :10])
    expected = math.sqrt(2.0 / sum(shape))
    # uniform: kurtosis 1.8; 5 standard errors of the sample std
    std_error = expected * math.sqrt(0.8 / (4.0 * whole.size))
    assert abs(whole.std() - expected) < 5 * std_error
    assert np.abs(whole).max() <= math.sqrt(3.0) * expected * (1 + 1e-6)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_unseeded_orthogonal_shards_form_one_orthogonal_matrix(api):
    """Orthogonality belongs to the whole matrix: the shards of one unseeded
    variable share one run-time seed; two variables differ."""
    shape = (120, 40)

    def build():
        with ci.use_api(api):
            init = ci.orthogonal(gain=2.0)
        tables = [v1.get_variable(name, shape=shape, initializer=init,
                                  partitioner=v1.fixed_size_partitioner(3)) for name in ("a", "b")]
        return [t.as_tensor() for t in tables]

    first, second = session_values(build)
    for whole in (first, second):
        gram = whole.T.astype(np.float64) @ whole / 4.0
        assert np.abs(gram - np.eye(shape[1])).max() < 1e-5
    assert not np.array_equal(first, second)


def test_native_keras_initializer_gets_shard_fans_ours_does_not():
    """The trap this guards against: fans from the shard inflate the spread."""
    shape, shards = (4000, 48), 4
    ours = partitioned(lambda: ci.glorot_uniform(seed=1), shape, lambda: v1.fixed_size_partitioner(shards))[1]
    shard_limit = math.sqrt(6.0 / (shape[0] // shards + shape[1]))
    full_limit = math.sqrt(6.0 / sum(shape))
    assert np.abs(ours).max() <= full_limit * (1 + 1e-6) < shard_limit


@pytest.fixture(scope="module")
def ps_cluster():
    """A real parameter-server cluster on loopback: 1 worker, 2 ps tasks."""
    worker, ps0, ps1 = ["127.0.0.1:{}".format(p) for p in free_ports(3)]
    cluster = tf.train.ClusterSpec({"worker": [worker], "ps": [ps0, ps1]})
    server_cls = getattr(tf.distribute, "Server", None) or tf.train.Server
    servers = [server_cls(cluster, job_name=job, task_index=i, start=True)
               for job, i in (("worker", 0), ("ps", 0), ("ps", 1))]
    return cluster, servers[0].target


def test_replica_device_setter_places_shards_on_ps_tasks(ps_cluster):
    cluster, target = ps_cluster
    shape = (64, 10)

    def build():
        with v1.device(v1.train.replica_device_setter(cluster=cluster)):
            variable = v1.get_variable("table", shape=shape, initializer=ci.he_uniform(seed=4),
                                       partitioner=v1.fixed_size_partitioner(4))
        build.devices = [p.device for p in variable]
        return variable.as_tensor()

    whole = session_values(build, target)
    assert sorted(set(build.devices)) == ["/job:ps/task:0", "/job:ps/task:1"]
    np.testing.assert_array_equal(whole, reference("he_uniform", shape, 4))


@pytest.mark.skipif(not _runtime.stateless_counter_ops(), reason="TF 1.x draws the full tensor per shard")
def test_shards_address_their_part_of_the_stream():
    """No shard draws the whole tensor: the graph holds no full-size random op."""
    with tf.Graph().as_default() as graph:
        v1.get_variable("table", shape=(1000, 8), initializer=ci.glorot_normal(seed=2),
                        partitioner=v1.fixed_size_partitioner(4))
        sizes = [op.outputs[0].shape.num_elements() for op in graph.get_operations()
                 if "Random" in op.type or "TruncatedNormal" in op.type]
    assert sizes and max(sizes) <= 250 * 8 + 4


@pytest.mark.skipif(_runtime.stateless_counter_ops(), reason="TF >= 2.7 shards start mid-stream instead")
def test_tf1_shards_slice_one_whole_draw_per_variable():
    """TF 1.x: k shards cost one draw of the variable, not k (or (k + 1) / 2)."""
    with tf.Graph().as_default() as graph:
        v1.get_variable("table", shape=(1000, 8), initializer=ci.glorot_normal(seed=2),
                        partitioner=v1.fixed_size_partitioner(4))
        v1.get_variable("other", shape=(1000, 8), initializer=ci.glorot_normal(seed=3),
                        partitioner=v1.fixed_size_partitioner(4))
        sizes = [op.outputs[0].shape.num_elements() for op in graph.get_operations()
                 if "Random" in op.type or "TruncatedNormal" in op.type]
    assert sorted(sizes) == [8000, 8000]  # one whole draw per variable, nothing else drawn
