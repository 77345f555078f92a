"""Drawing the values: one code path for the v1 and the v2 classes.

Seeded draws use the stateless ops with ``seed=[s, 0]``, exactly as Keras does,
so a seed gives one tensor everywhere (eager, ``tf.function``, v1 Session, TF
1.15 to the newest TF).  Unseeded draws use the stateful ops, so every call and
every ``tf.function`` execution draws fresh values, reproducible under a global
seed (``tf.random.set_seed`` / ``tf.compat.v1.set_random_seed``).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

from compat_init import _fans, _runtime


def variance_scaling(
    shape: Tuple[int, ...],
    dtype: Any,
    scale: float,
    mode: str,
    distribution: str,
    seed: Optional[int],
    full_shape: Optional[Tuple[int, ...]] = None,
    offset: Optional[Sequence[int]] = None,
) -> Any:
    """Draws a variance-scaling tensor.

    Args:
      shape: the shape to return (a shard's shape when partitioned).
      dtype: a floating ``tf.DType``.
      scale, mode, distribution, seed: as validated by the initializer.
      full_shape: the whole variable's shape when ``shape`` is a shard; the fans
        come from it.
      offset: where the shard starts inside ``full_shape``.
    """
    tf = _runtime.tf()
    fan_in, fan_out = _fans.compute_fans(full_shape if full_shape is not None else shape)
    variance = _fans.scaled_variance(scale, mode, fan_in, fan_out)
    param = _fans.spread(variance, distribution)
    if seed is None:
        return _stateful(tf, shape, dtype, distribution, param)
    whole = full_shape if full_shape is not None else shape
    values = _stateless(tf, whole, dtype, distribution, param, seed)
    if full_shape is not None and tuple(full_shape) != tuple(shape):
        values = tf.slice(values, list(offset or [0] * len(shape)), list(shape))
    return values


def _stateless(tf: Any, shape: Any, dtype: Any, distribution: str, param: float, seed: int) -> Any:
    seed_tensor = tf.constant([seed, 0], dtype=tf.int32)
    if distribution == "truncated_normal":
        return tf.random.stateless_truncated_normal(
            shape, seed=seed_tensor, mean=0.0, stddev=param, dtype=dtype
        )
    if distribution == "untruncated_normal":
        return tf.random.stateless_normal(
            shape, seed=seed_tensor, mean=0.0, stddev=param, dtype=dtype
        )
    low, high = -param, param
    if _runtime.uniform_bounds_through_float32():
        low, high = tf.cast(low, dtype), tf.cast(high, dtype)
    return tf.random.stateless_uniform(
        shape, seed=seed_tensor, minval=low, maxval=high, dtype=dtype
    )


def _stateful(tf: Any, shape: Any, dtype: Any, distribution: str, param: float) -> Any:
    if distribution == "truncated_normal":
        return tf.random.truncated_normal(shape, mean=0.0, stddev=param, dtype=dtype)
    if distribution == "untruncated_normal":
        return tf.random.normal(shape, mean=0.0, stddev=param, dtype=dtype)
    return tf.random.uniform(shape, minval=-param, maxval=param, dtype=dtype)
