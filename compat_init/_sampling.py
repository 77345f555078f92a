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
    if full_shape is None or tuple(full_shape) == tuple(shape):
        return _stateless(tf, shape, dtype, distribution, param, seed)
    offset = list(offset or [0] * len(shape))
    flat_offset = _flat_offset(shape, full_shape, offset)
    if flat_offset is not None:
        if _runtime.stateless_counter_ops():
            return _stateless_span(tf, shape, flat_offset, dtype, distribution, param, seed)
        # TF 1.x cannot start a stream mid-way, but a draw of n values is the
        # first n values of any longer draw: draw up to the shard's end only
        # (k-way partition: (k + 1) / 2 times the whole tensor's cost).
        size = _size(shape)
        prefix = _stateless(tf, [flat_offset + size], dtype, distribution, param, seed)
        return tf.reshape(prefix[flat_offset:], list(shape))
    # The shard is not one run of the row-major stream (partitioned on another
    # axis): draw the whole tensor and slice it (k-fold cost).
    values = _stateless(tf, full_shape, dtype, distribution, param, seed)
    return tf.slice(values, offset, list(shape))


def _flat_offset(shape: Sequence[int], full_shape: Sequence[int], offset: Sequence[int]) -> Optional[int]:
    """The shard's start in the row-major stream, if it is one contiguous run."""
    if len(shape) == 0 or list(shape[1:]) != list(full_shape[1:]) or any(offset[1:]):
        return None
    return offset[0] * _size(full_shape[1:])


def _size(shape: Sequence[int]) -> int:
    size = 1
    for dim in shape:
        size *= dim
    return size


# Philox stream layout of the V2 stateless kernels (tensorflow/core/kernels/
# random_op_cpu.h, checked on TF 2.15 and 2.21): values come in groups of 4
# (float64: 2), one counter step per group; the truncated normal reserves 256
# 32-bit samples per value, i.e. 256 counter steps per group of 4 (128 per 2).
def _stream_layout(dtype: Any, distribution: str) -> Tuple[int, int]:
    per_group = 2 if dtype.size == 8 else 4
    steps = 64 * per_group if distribution == "truncated_normal" else 1
    return per_group, steps


def _stateless_span(tf: Any, shape: Sequence[int], flat_offset: int, dtype: Any,
                    distribution: str, param: float, seed: int) -> Any:
    """The values a full stateless draw has at ``flat_offset``.., in ``shape``.

    Same key as ``tf.random.stateless_*(seed=[seed, 0])``; the counter is
    advanced to the group holding ``flat_offset`` instead of drawing (and
    discarding) everything before it.  Same arithmetic as the public ops, so
    the bits are the same.
    """
    per_group, steps = _stream_layout(dtype, distribution)
    group, lead = divmod(flat_offset, per_group)
    size = _size(shape)
    key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=_seed_tensor(tf, seed))
    # The counter from the key derivation starts its low word at 0.
    counter = tf.concat([tf.constant([group * steps], dtype=tf.uint64), counter[1:]], 0)
    op = {
        "uniform": tf.raw_ops.StatelessRandomUniformV2,
        "truncated_normal": tf.raw_ops.StatelessTruncatedNormalV2,
        "untruncated_normal": tf.raw_ops.StatelessRandomNormalV2,
    }[distribution]
    raw = op(shape=[lead + size], key=key, counter=counter, dtype=dtype,
             alg=tf.random.Algorithm.AUTO_SELECT.value)[lead:]
    if distribution == "uniform":
        low, high = _uniform_bounds(tf, param, dtype)
        values = tf.add(raw * (high - low), low)
    else:
        stddev = tf.convert_to_tensor(param, dtype=dtype)
        values = tf.add(raw * stddev, tf.convert_to_tensor(0.0, dtype=dtype))
    return tf.reshape(values, list(shape))


def _uniform_bounds(tf: Any, param: float, dtype: Any) -> Tuple[Any, Any]:
    if _runtime.uniform_bounds_through_float32():
        return tf.cast(-param, dtype), tf.cast(param, dtype)
    return tf.convert_to_tensor(-param, dtype=dtype), tf.convert_to_tensor(param, dtype=dtype)


#: The name of the ``[seed, 0]`` constant of every seeded draw.  The parity
#: engine feeds it in a v1 Session to re-run one draw under many seeds.
SEED_TENSOR_NAME = "compat_init_seed"


def _seed_tensor(tf: Any, seed: int) -> Any:
    return tf.constant([seed, 0], dtype=tf.int32, name=SEED_TENSOR_NAME)


def _stateless(tf: Any, shape: Any, dtype: Any, distribution: str, param: float, seed: int) -> Any:
    seed_tensor = _seed_tensor(tf, seed)
    if distribution == "truncated_normal":
        return tf.random.stateless_truncated_normal(
            shape, seed=seed_tensor, mean=0.0, stddev=param, dtype=dtype
        )
    if distribution == "untruncated_normal":
        return tf.random.stateless_normal(
            shape, seed=seed_tensor, mean=0.0, stddev=param, dtype=dtype
        )
    low, high = _uniform_bounds(tf, param, dtype)
    return tf.random.stateless_uniform(
        shape, seed=seed_tensor, minval=low, maxval=high, dtype=dtype
    )


def _stateful(tf: Any, shape: Any, dtype: Any, distribution: str, param: float) -> Any:
    if distribution == "truncated_normal":
        return tf.random.truncated_normal(shape, mean=0.0, stddev=param, dtype=dtype)
    if distribution == "untruncated_normal":
        return tf.random.normal(shape, mean=0.0, stddev=param, dtype=dtype)
    return tf.random.uniform(shape, minval=-param, maxval=param, dtype=dtype)
