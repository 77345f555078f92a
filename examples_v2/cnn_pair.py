"""The article's CNN in Keras: the other half of the migration pair.

See ``examples_v1/cnn_pair.py``; the seeds correspond, so every variable of
the two models is bit-equal at initialization.
"""
import tensorflow as tf

import compat_init as ci


def build():
    layers = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu", kernel_initializer=ci.glorot_uniform(seed=1)),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(10, activation="softmax", kernel_initializer=ci.glorot_uniform(seed=2)),
    ])
