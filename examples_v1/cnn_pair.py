"""The article's CNN in TF1 graph code: one half of a migration pair.

``build()`` creates the variables in the current (v1) graph, exactly as a
legacy Session program would; ``examples_v2/cnn_pair.py`` is the Keras port.
With the same compat_init seeds both start from the same bits:

    compat-init parity --migration examples_v1.cnn_pair:build examples_v2.cnn_pair:build
"""
import tensorflow as tf

import compat_init as ci

v1 = tf.compat.v1


def build():
    images = v1.placeholder(tf.float32, (None, 28, 28, 1), name="images")
    with v1.variable_scope("conv"):
        kernel = v1.get_variable("kernel", (3, 3, 1, 32), initializer=ci.glorot_uniform(seed=1))
        bias = v1.get_variable("bias", (32,), initializer=v1.zeros_initializer())
    hidden = tf.nn.relu(tf.nn.conv2d(images, kernel, strides=[1, 1, 1, 1], padding="VALID") + bias)
    pooled = tf.nn.max_pool2d(hidden, ksize=2, strides=2, padding="VALID") if hasattr(tf.nn, "max_pool2d") \
        else tf.nn.max_pool(hidden, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
    flat = tf.reshape(pooled, [-1, 13 * 13 * 32])
    with v1.variable_scope("dense"):
        kernel = v1.get_variable("kernel", (13 * 13 * 32, 10), initializer=ci.glorot_uniform(seed=2))
        bias = v1.get_variable("bias", (10,), initializer=v1.zeros_initializer())
    return tf.nn.softmax(tf.matmul(flat, kernel) + bias)
