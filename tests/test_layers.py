"""Every built-in Keras layer that takes a random initializer, with every member.

Seeded: the layer built with a compat_init initializer holds, bit for bit, the
weights the same layer holds with the native seeded Keras initializer (so
``EinsumDense``/``MultiHeadAttention`` clone it through ``from_config`` with
their own arguments, Keras 3.15's ``input_axes``/``output_axes`` included, and
draw with those fans).  Unseeded: each kernel is a draw of the distribution the
native initializer draws for that layer (two-sample KS against the native
seeded kernel), and two builds differ.
"""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import compat_init as ci

from conftest import FLAVOUR, KERAS_STATELESS, NOT_STATELESS_REASON, TF1, native_keras

pytestmark = pytest.mark.skipif(TF1, reason="Keras layers with Keras initializers are checked on TF 2")

K = tf.keras.initializers
L = tf.keras.layers

# member -> (compat_init factory, native Keras class, arguments besides the seed).
# uniform_unit_scaling has no Keras class: TF's own equivalent is VarianceScaling.
MEMBERS = {
    "glorot_uniform": (ci.glorot_uniform, "GlorotUniform", {}),
    "glorot_normal": (ci.glorot_normal, "GlorotNormal", {}),
    "he_uniform": (ci.he_uniform, "HeUniform", {}),
    "he_normal": (ci.he_normal, "HeNormal", {}),
    "lecun_uniform": (ci.lecun_uniform, "LecunUniform", {}),
    "lecun_normal": (ci.lecun_normal, "LecunNormal", {}),
    "variance_scaling": (ci.variance_scaling, "VarianceScaling",
                         {"scale": 1.5, "mode": "fan_out", "distribution": "untruncated_normal"}),
    "truncated_normal": (ci.truncated_normal, "TruncatedNormal", {"mean": 0.0, "stddev": 0.1}),
    "random_normal": (ci.random_normal, "RandomNormal", {"mean": 0.02, "stddev": 0.1}),
    "random_uniform": (ci.random_uniform, "RandomUniform", {"minval": -0.1, "maxval": 0.2}),
    "orthogonal": (ci.orthogonal, "Orthogonal", {"gain": 1.2}),
    "uniform_unit_scaling": (ci.uniform_unit_scaling, "VarianceScaling", {"factor": 1.2}),
}


def compat(name, seed):
    factory, _, kwargs = MEMBERS[name]
    return factory(seed=seed, **kwargs)


def native(name, seed):
    _, cls, kwargs = MEMBERS[name]
    if name == "uniform_unit_scaling":
        kwargs = {"scale": kwargs["factor"] * kwargs["factor"], "mode": "fan_in", "distribution": "uniform"}
    return native_keras(cls, seed=seed, **kwargs)


def _attention(layer, shape):
    x = tf.random.stateless_normal((2,) + shape, seed=[1, 2])
    return layer(x, x)


# (layer class, constructor arguments, input shape, initializer slots, how to call)
LAYERS = [
    ("Dense", {"units": 64}, (64,), ["kernel_initializer"], None),
    ("EinsumDense", {"equation": "ab,bcd->acd", "output_shape": (8, 16), "bias_axes": "d"}, (32,),
     ["kernel_initializer"], None),
    ("EinsumDense", {"equation": "abc,cde->abde", "output_shape": (None, 4, 16)}, (5, 32),
     ["kernel_initializer"], None),
    ("MultiHeadAttention", {"num_heads": 4, "key_dim": 16}, (6, 32), ["kernel_initializer"], _attention),
    ("GroupQueryAttention", {"head_dim": 16, "num_query_heads": 4, "num_key_value_heads": 2}, (6, 32),
     ["kernel_initializer"], _attention),
    ("Conv1D", {"filters": 32, "kernel_size": 3}, (16, 32), ["kernel_initializer"], None),
    ("Conv2D", {"filters": 32, "kernel_size": 3}, (8, 8, 16), ["kernel_initializer"], None),
    ("Conv3D", {"filters": 16, "kernel_size": 3}, (5, 5, 5, 8), ["kernel_initializer"], None),
    ("Conv1DTranspose", {"filters": 32, "kernel_size": 3}, (16, 32), ["kernel_initializer"], None),
    ("Conv2DTranspose", {"filters": 32, "kernel_size": 3}, (8, 8, 16), ["kernel_initializer"], None),
    ("Conv3DTranspose", {"filters": 16, "kernel_size": 3}, (5, 5, 5, 8), ["kernel_initializer"], None),
    ("SeparableConv1D", {"filters": 32, "kernel_size": 3, "depth_multiplier": 4}, (16, 32),
     ["depthwise_initializer", "pointwise_initializer"], None),
    ("SeparableConv2D", {"filters": 32, "kernel_size": 3, "depth_multiplier": 4}, (8, 8, 16),
     ["depthwise_initializer", "pointwise_initializer"], None),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 8}, (16, 32), ["depthwise_initializer"], None),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 8}, (8, 8, 16), ["depthwise_initializer"], None),
    ("Embedding", {"input_dim": 256, "output_dim": 16}, "tokens", ["embeddings_initializer"], None),
    ("SimpleRNN", {"units": 48}, (5, 48), ["kernel_initializer", "recurrent_initializer"], None),
    ("LSTM", {"units": 32}, (5, 32), ["kernel_initializer", "recurrent_initializer"], None),
    ("GRU", {"units": 32}, (5, 32), ["kernel_initializer", "recurrent_initializer"], None),
    ("ConvLSTM2D", {"filters": 8, "kernel_size": 3}, (3, 6, 6, 8),
     ["kernel_initializer", "recurrent_initializer"], None),
]
LAYER_IDS = ["{}-{}".format(l[0], i) if l[0] == "EinsumDense" else l[0] for i, l in enumerate(LAYERS)]


def build(spec, initializer):
    """The layer with ``initializer()`` in every slot, called once; its weights."""
    name, kwargs, shape, slots, call = spec
    cls = getattr(L, name, None)
    if cls is None:
        pytest.skip("tf.keras.layers.{} does not exist on this leg ({})".format(name, FLAVOUR))
    layer = cls(**kwargs, **{slot: initializer() for slot in slots})
    if call is not None:
        call(layer, shape)
    elif shape == "tokens":
        layer(tf.constant([[0, 5, 255]]))
    else:
        layer(tf.random.stateless_normal((2,) + shape, seed=[1, 2]))
    return [np.asarray(w.numpy()) for w in layer.weights]


@pytest.mark.skipif(not KERAS_STATELESS, reason=NOT_STATELESS_REASON)
@pytest.mark.parametrize("member", sorted(MEMBERS))
@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
def test_seeded_layer_weights_equal_native_keras(spec, member):
    ours = build(spec, lambda: compat(member, 17))
    theirs = build(spec, lambda: native(member, 17))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    assert any(w.ndim >= 2 and np.any(w != 0) for w in ours)


@pytest.mark.parametrize("member", sorted(MEMBERS))
@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
def test_unseeded_layer_weights_have_the_native_distribution(spec, member):
    first = build(spec, lambda: compat(member, None))
    second = build(spec, lambda: compat(member, None))
    reference = build(spec, lambda: native(member, 23))
    kernels = [i for i, w in enumerate(reference) if w.ndim >= 2 and w.size >= 100 and np.any(w != 0)]
    assert kernels
    for i in kernels:
        assert not np.array_equal(first[i], second[i]), "two unseeded builds drew the same kernel"
        # About 500 such tests per leg: at 1e-6 each, a false alarm on a leg
        # has probability below 5e-4; a wrong fan (e.g. attention axes
        # ignored) moves the std by a factor of 2 or more and gives p < 1e-30.
        p = stats.ks_2samp(first[i].ravel(), reference[i].ravel()).pvalue
        assert p > 1e-6, (i, first[i].shape, first[i].std(), reference[i].std(), p)
