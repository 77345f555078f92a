"""compute_fans: the TF/Keras rule for every rank."""
import pytest
import tensorflow as tf

import compat_init as ci

FANS = [
    # rank 0: a constant
    ((), (1, 1)),
    # rank 1: a bias
    ((7,), (7, 7)),
    ((0,), (0, 0)),
    # rank 2: a dense kernel
    ((5408, 10), (5408, 10)),
    ((25088, 10), (25088, 10)),
    ((0, 4), (0, 4)),
    # rank >= 3: convolution kernels (*spatial, in, out)
    ((3, 3, 1, 32), (9, 288)),
    ((3, 3, 64, 8), (576, 72)),
    ((5, 64, 16), (320, 80)),
    ((2, 3, 3, 4, 8), (72, 144)),
]


@pytest.mark.parametrize("shape,expected", FANS)
def test_compute_fans(shape, expected):
    fans = ci.compute_fans(shape)
    assert fans == expected
    assert all(type(f) is int for f in fans)


@pytest.mark.parametrize("shape,expected", FANS)
def test_compute_fans_accepts_tensorshape_and_lists(shape, expected):
    assert ci.compute_fans(tf.TensorShape(shape)) == expected
    assert ci.compute_fans(list(shape)) == expected


def test_unknown_rank_is_rejected():
    with pytest.raises(ValueError, match="shape must be fully defined"):
        ci.compute_fans(tf.TensorShape(None))
