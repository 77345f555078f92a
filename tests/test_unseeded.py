"""Unseeded initializers draw fresh values on every call; a global seed replays them."""
import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci

from conftest import TF1, to_numpy

FAMILY = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
          "variance_scaling", "truncated_normal", "random_normal", "random_uniform", "orthogonal",
          "uniform_unit_scaling"]


@pytest.mark.parametrize("name", FAMILY)
def test_one_instance_two_calls_differ(context, name):
    def build():
        init = getattr(ci, name)()
        return tf.stack([init((16, 8)), init((16, 8))])

    if context.name == "get_variable":
        with tf.Graph().as_default():
            init = getattr(ci, name)()
            a = tf.compat.v1.get_variable("a", (16, 8), initializer=init)
            b = tf.compat.v1.get_variable("b", (16, 8), initializer=init)
            with tf.compat.v1.Session() as session:
                session.run(tf.compat.v1.global_variables_initializer())
                first, second = session.run([a, b])
    else:
        first, second = context.run(build)
    assert not np.array_equal(first, second)


@pytest.mark.skipif(TF1, reason="tf.function needs TF 2")
def test_each_tf_function_execution_draws_anew():
    init = ci.glorot_uniform()
    draw = tf.function(lambda: init((32, 4)))
    assert not np.array_equal(draw().numpy(), draw().numpy())


def test_graph_op_draws_anew_on_each_run():
    with tf.Graph().as_default():
        tensor = ci.he_uniform()((32, 4))
        with tf.compat.v1.Session() as session:
            assert not np.array_equal(session.run(tensor), session.run(tensor))


@pytest.mark.skipif(TF1, reason="Keras layers sharing an initializer are checked on TF 2")
def test_two_layers_sharing_an_unseeded_instance_differ():
    init = ci.glorot_uniform()
    first = tf.keras.layers.Dense(8, kernel_initializer=init)
    second = tf.keras.layers.Dense(8, kernel_initializer=init)
    first.build((None, 16))
    second.build((None, 16))
    assert not np.array_equal(first.kernel.numpy(), second.kernel.numpy())


def test_global_seed_replays_the_program():
    def program():
        if TF1:
            with tf.Graph().as_default():
                tf.compat.v1.set_random_seed(11)
                a, b = ci.glorot_normal()((8, 8)), ci.he_uniform()((8, 8))
                with tf.compat.v1.Session() as session:
                    return session.run([a, b])
        tf.random.set_seed(11)
        return [to_numpy(ci.glorot_normal()((8, 8))), to_numpy(ci.he_uniform()((8, 8)))]

    first, second = program(), program()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])
