"""The Transformer-style block in Keras: the other half of the migration pair.

See ``examples_v1/attention_pair.py``; the seeds correspond, so every variable
of the two models is bit-equal at initialization.
"""
import tensorflow as tf

import compat_init as ci

VOCAB, SEQUENCE, DIM, HEADS, KEY, CLASSES = 50, 12, 16, 2, 8, 5


def build():
    layers = tf.keras.layers
    tokens = tf.keras.Input((SEQUENCE,), dtype="int32")
    x = layers.Embedding(VOCAB, DIM, embeddings_initializer=ci.truncated_normal(stddev=0.02, seed=1))(tokens)
    attended = layers.MultiHeadAttention(num_heads=HEADS, key_dim=KEY,
                                         kernel_initializer=ci.glorot_uniform(seed=2))(x, x)
    x = layers.Add()([x, attended])
    pooled = layers.GlobalAveragePooling1D()(x)
    out = layers.Dense(CLASSES, activation="softmax", kernel_initializer=ci.glorot_uniform(seed=3))(pooled)
    return tf.keras.Model(tokens, out)
