"""A Transformer-style block in TF1 graph code: one half of a migration pair.

Token embedding, one self-attention block (four projections written with
``get_variable`` + ``tf.einsum``, scaled dot-product attention, a residual),
mean pooling and a softmax classifier.  ``examples_v2/attention_pair.py`` is the
Keras port (``Embedding`` + ``MultiHeadAttention``).  With the same compat_init
seeds both start from the same bits, compute the same function, and stay
together while training:

    compat-init parity --migration examples_v1.attention_pair:build examples_v2.attention_pair:build \\
        --inputs tokens.npy --steps 5          # tokens.npy: int token ids, shape (batch, 12)
"""
import math

import tensorflow as tf

import compat_init as ci
from compat_init import _runtime, initializers

v1 = tf.compat.v1
VOCAB, SEQUENCE, DIM, HEADS, KEY, CLASSES = 50, 12, 16, 2, 8, 5


def projection(seed, input_axes, output_axes):
    """What MultiHeadAttention gives each of its EinsumDense kernels: Keras
    3.15+ clones the kernel initializer with the fan axes of the einsum
    (``input_axes``/``output_axes``); older Keras takes the fans from the
    whole shape."""
    if _runtime.keras_fan_axes():
        return initializers.from_config("glorot_uniform", {"input_axes": input_axes, "output_axes": output_axes},
                                        api="v1", seed=seed)
    return ci.glorot_uniform(seed=seed)


def build():
    tokens = v1.placeholder(tf.int32, (None, SEQUENCE), name="tokens")
    table = v1.get_variable("embedding/embeddings", (VOCAB, DIM),
                            initializer=ci.truncated_normal(stddev=0.02, seed=1))
    x = tf.nn.embedding_lookup(table, tokens)  # (batch, time, dim)
    heads = []
    for name in ("query", "key", "value"):
        with v1.variable_scope(name):
            kernel = v1.get_variable("kernel", (DIM, HEADS, KEY), initializer=projection(2, [0], [1, 2]))
            bias = v1.get_variable("bias", (HEADS, KEY), initializer=v1.zeros_initializer())
        heads.append(tf.einsum("abc,cde->abde", x, kernel) + bias)  # (batch, time, heads, key)
    query, key, value = heads
    query = query * (1.0 / math.sqrt(float(KEY)))
    scores = tf.nn.softmax(tf.einsum("aecd,abcd->acbe", key, query), axis=-1)  # (batch, heads, tq, tk)
    attended = tf.einsum("acbe,aecd->abcd", scores, value)
    with v1.variable_scope("attention_output"):
        kernel = v1.get_variable("kernel", (HEADS, KEY, DIM), initializer=projection(2, [0, 1], [2]))
        bias = v1.get_variable("bias", (DIM,), initializer=v1.zeros_initializer())
    x = x + tf.einsum("abcd,cde->abe", attended, kernel) + bias
    pooled = tf.reduce_mean(x, axis=1)
    with v1.variable_scope("classifier"):
        kernel = v1.get_variable("kernel", (DIM, CLASSES), initializer=ci.glorot_uniform(seed=3))
        bias = v1.get_variable("bias", (CLASSES,), initializer=v1.zeros_initializer())
    return tf.nn.softmax(tf.matmul(pooled, kernel) + bias)
