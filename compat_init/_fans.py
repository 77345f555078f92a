"""``compute_fans`` and the variance-scaling arithmetic, in pure Python.

The float operations are done in the same order as Keras and ``init_ops``
(``keras/src/initializers/random_initializers.py``,
``tensorflow/python/ops/init_ops.py``) so that the bounds agree to the bit.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Tuple

from compat_init import _validate

#: ``stddev`` of a standard normal truncated to [-2, 2], as Keras and TF use it.
TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def compute_fans(shape: Any) -> Tuple[int, int]:
    """Computes the fan-in and fan-out of a weight tensor, the TF/Keras way.

    * rank 0: ``(1, 1)``;
    * rank 1: ``(shape[0], shape[0])``;
    * rank 2: ``(shape[0], shape[1])``;
    * rank >= 3 (convolution kernels ``(*spatial, in, out)``): the receptive field
      ``prod(spatial)`` times ``in`` and times ``out``.

    Args:
      shape: A sequence of non-negative integers (tuple, list, ``TensorShape``).

    Returns:
      ``(fan_in, fan_out)`` as Python ints.

    Raises:
      TypeError: ``shape`` is not a sequence.
      ValueError: ``shape`` has a negative or non-integer entry.

    Examples:

    >>> compute_fans((3, 3, 64, 8))
    (576, 72)
    >>> compute_fans((5408, 10))
    (5408, 10)
    """
    dims = _validate.shape(shape)
    if len(dims) < 1:
        return 1, 1
    if len(dims) == 1:
        return dims[0], dims[0]
    if len(dims) == 2:
        return dims[0], dims[1]
    receptive_field = 1
    for dim in dims[:-2]:
        receptive_field *= dim
    return dims[-2] * receptive_field, dims[-1] * receptive_field


def scaled_variance(scale: float, mode: str, fan_in: int, fan_out: int) -> float:
    """``scale / max(1, n)`` with ``n`` chosen by ``mode``."""
    if mode == "fan_in":
        return scale / max(1.0, fan_in)
    if mode == "fan_out":
        return scale / max(1.0, fan_out)
    return scale / max(1.0, (fan_in + fan_out) / 2.0)


def spread(variance: float, distribution: str) -> float:
    """The parameter each distribution is drawn with.

    uniform: the limit ``sqrt(3 * variance)``; truncated normal: the stddev of
    the untruncated parent, ``sqrt(variance) / 0.8796...``; untruncated normal:
    ``sqrt(variance)``.
    """
    if distribution == "uniform":
        return math.sqrt(3.0 * variance)
    if distribution == "truncated_normal":
        return math.sqrt(variance) / TRUNCATED_NORMAL_STDDEV
    return math.sqrt(variance)


class Theory(NamedTuple):
    """The exact distribution an initializer draws for one shape."""

    distribution: str
    fan_in: int
    fan_out: int
    std: float  #: standard deviation of the values (after truncation)
    bound: float  #: no value exceeds it in absolute value (inf if unbounded)


def theory(initializer: Any, shape: Any) -> Theory:
    """The distribution ``initializer`` draws at ``shape`` (any variance-scaling one).

    Works for compat_init initializers and for native Keras / ``tf.compat.v1``
    variance-scaling initializers (they all expose ``scale``, ``mode`` and
    ``distribution``).

    Examples:

    >>> import compat_init as ci
    >>> t = ci.theory(ci.glorot_uniform(api="v1"), (3, 3, 1, 32))  # doctest: +SKIP
    >>> round(t.bound, 4)  # doctest: +SKIP
    0.1387
    """
    try:
        scale, mode, distribution = initializer.scale, initializer.mode, initializer.distribution
    except AttributeError:
        raise TypeError(
            "initializer must be a variance-scaling initializer (with scale, mode "
            "and distribution); received initializer={!r}".format(initializer)
        ) from None
    distribution = _validate.distribution(distribution)
    fan_in, fan_out = compute_fans(shape)
    variance = scaled_variance(_validate.scale(scale), _validate.mode(mode), fan_in, fan_out)
    param = spread(variance, distribution)
    bound = {"uniform": param, "truncated_normal": 2.0 * param}.get(distribution, math.inf)
    return Theory(distribution, fan_in, fan_out, math.sqrt(variance), bound)
