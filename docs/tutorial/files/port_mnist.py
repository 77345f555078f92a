"""The Keras port of legacy_mnist.py: the same layers, the same initializers
(compat_init gives Keras' tensor for a seed on both paths)."""
import tensorflow as tf

import compat_init as ci


def build():
    return tf.keras.Sequential([
        tf.keras.Input((784,)),
        tf.keras.layers.Dense(128, activation="relu", name="hidden",
                              kernel_initializer=ci.glorot_uniform(seed=1)),
        tf.keras.layers.Dense(10, activation="softmax", name="logits",
                              kernel_initializer=ci.truncated_normal(stddev=0.1, seed=2)),
    ])
