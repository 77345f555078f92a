"""Drawing the values: one code path for the v1 and the v2 classes.

Seeded draws use the stateless ops with ``seed=[s, 0]``, exactly as Keras does,
so a seed gives one tensor everywhere (eager, ``tf.function``, v1 Session, TF
1.15 to the newest TF).  Unseeded draws use the stateful ops, so every call and
every ``tf.function`` execution draws fresh values, reproducible under a global
seed (``tf.random.set_seed`` / ``tf.compat.v1.set_random_seed``).
"""
from __future__ import annotations

import weakref
from typing import Any, Dict, Optional, Sequence, Tuple

from compat_init import _fans, _runtime


def draw(
    spec: _fans.Spec,
    shape: Tuple[int, ...],
    dtype: Any,
    seed: Any,
    full_shape: Optional[Tuple[int, ...]] = None,
    offset: Optional[Sequence[int]] = None,
) -> Any:
    """Draws ``spec`` (computed from the whole variable's shape).

    Args:
      spec: what to draw (``_fans.spec``).
      shape: the shape to return (a shard's shape when partitioned).
      dtype: a floating ``tf.DType``.
      seed: an int (stateless ``[seed, 0]``), a seed tensor of shape [2]
        (stateless, e.g. a Keras ``SeedGenerator``'s next seed), or None
        (stateful).
      full_shape: the whole variable's shape when ``shape`` is a shard.
      offset: where the shard starts inside ``full_shape``.
    """
    tf = _runtime.tf()
    if spec.distribution == "orthogonal":
        return _orthogonal(tf, spec, shape, dtype, seed, full_shape, offset)
    if seed is None:
        return _stateful(tf, shape, dtype, spec)
    if full_shape is None or tuple(full_shape) == tuple(shape):
        return _stateless(tf, shape, dtype, spec, seed)
    offset = list(offset or [0] * len(shape))
    flat_offset = _flat_offset(shape, full_shape, offset)
    if flat_offset is not None:
        if _runtime.stateless_counter_ops():
            return _stateless_span(tf, shape, flat_offset, dtype, spec, seed)
    if not tf.executing_eagerly():
        # TF 1.x (and any shard not one run of the row-major stream): every
        # shard of the variable slices one whole draw, made once per graph.
        return _slice_of_whole(tf, shape, full_shape, offset, dtype, spec, seed)
    if flat_offset is not None:
        # Eager TF 1.x: a draw of n values is the first n values of any
        # longer draw: draw up to the shard's end only.
        size = _size(shape)
        prefix = _stateless(tf, [flat_offset + size], dtype, spec, seed)
        return tf.reshape(prefix[flat_offset:], list(shape))
    values = _stateless(tf, full_shape, dtype, spec, seed)
    return tf.slice(values, offset, list(shape))


#: graph -> {(seed, full shape, dtype, spec): the whole variable's draw}: the
#: shards of one partitioned variable share it (TF 1.x has no counter form of
#: the stateless ops to start each shard mid-stream).
_WHOLE_DRAWS: "weakref.WeakKeyDictionary[Any, Dict[Tuple[Any, ...], Any]]" = weakref.WeakKeyDictionary()


def _slice_of_whole(tf: Any, shape: Sequence[int], full_shape: Sequence[int], offset: Sequence[int],
                    dtype: Any, spec: _fans.Spec, seed: Any) -> Any:
    """The shard's slice of one whole stateless draw per (graph, seed, full
    shape, dtype, spec): k shards cost about one draw of the variable.  The
    whole draw is placed where the first shard is created (under
    ``replica_device_setter``: that shard's parameter server), and each slice
    next to it, so that only the slices travel to their shards."""
    graph = tf.compat.v1.get_default_graph()
    cache = _WHOLE_DRAWS.setdefault(graph, {})
    key = (seed if isinstance(seed, int) else id(seed), tuple(full_shape), dtype.name, spec)
    whole = cache.get(key)
    if whole is None:
        with tf.compat.v1.name_scope("compat_init_whole_draw"):
            whole = _stateless(tf, list(full_shape), dtype, spec, seed)
        cache[key] = whole
    with tf.compat.v1.colocate_with(whole.op):
        return tf.slice(whole, list(offset), list(shape))


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
                    spec: _fans.Spec, seed: Any) -> Any:
    """The values a full stateless draw has at ``flat_offset``.., in ``shape``.

    Same key as ``tf.random.stateless_*(seed=[seed, 0])``; the counter is
    advanced to the group holding ``flat_offset`` instead of drawing (and
    discarding) everything before it.  Same arithmetic as the public ops, so
    the bits are the same.
    """
    distribution = spec.distribution
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
        low, high = _uniform_bounds(tf, spec, dtype)
        values = tf.add(raw * (high - low), low)
    else:
        stddev = tf.convert_to_tensor(spec.scale, dtype=dtype)
        values = tf.add(raw * stddev, tf.convert_to_tensor(spec.loc, dtype=dtype))
    return tf.reshape(values, list(shape))


def _uniform_bounds(tf: Any, spec: _fans.Spec, dtype: Any) -> Tuple[Any, Any]:
    if _runtime.uniform_bounds_through_float32():
        return tf.cast(spec.low, dtype), tf.cast(spec.high, dtype)
    return tf.convert_to_tensor(spec.low, dtype=dtype), tf.convert_to_tensor(spec.high, dtype=dtype)


#: The name of the ``[seed, 0]`` constant of every seeded draw.  The parity
#: engine feeds it in a v1 Session to re-run one draw under many seeds.
SEED_TENSOR_NAME = "compat_init_seed"


def _seed_tensor(tf: Any, seed: Any) -> Any:
    if tf.is_tensor(seed):  # a seed drawn at run time (SeedGenerator, shared shard seed)
        return seed
    return tf.constant([seed, 0], dtype=tf.int32, name=SEED_TENSOR_NAME)


def _stateless(tf: Any, shape: Any, dtype: Any, spec: _fans.Spec, seed: Any) -> Any:
    seed_tensor = _seed_tensor(tf, seed)
    if spec.distribution == "truncated_normal":
        return tf.random.stateless_truncated_normal(
            shape, seed=seed_tensor, mean=spec.loc, stddev=spec.scale, dtype=dtype
        )
    if spec.distribution == "untruncated_normal":
        return tf.random.stateless_normal(
            shape, seed=seed_tensor, mean=spec.loc, stddev=spec.scale, dtype=dtype
        )
    low, high = _uniform_bounds(tf, spec, dtype)
    return tf.random.stateless_uniform(
        shape, seed=seed_tensor, minval=low, maxval=high, dtype=dtype
    )


def _stateful(tf: Any, shape: Any, dtype: Any, spec: _fans.Spec) -> Any:
    if spec.distribution == "truncated_normal":
        return tf.random.truncated_normal(shape, mean=spec.loc, stddev=spec.scale, dtype=dtype)
    if spec.distribution == "untruncated_normal":
        return tf.random.normal(shape, mean=spec.loc, stddev=spec.scale, dtype=dtype)
    return tf.random.uniform(shape, minval=spec.low, maxval=spec.high, dtype=dtype)


# Orthogonal ------------------------------------------------------------------

#: graph -> {(initializer id, full shape): the seed tensor the shards of the
#: variable being partitioned share} (unseeded orthogonal only); eager
#: shards use _EAGER_SHARD_SEEDS.
_SHARD_SEEDS: "weakref.WeakKeyDictionary[Any, Dict[Tuple[Any, ...], Any]]" = weakref.WeakKeyDictionary()
_EAGER_SHARD_SEEDS: Dict[Tuple[Any, ...], Any] = {}


def shard_seed(tf: Any, owner: Any, full_shape: Sequence[int], offset: Sequence[int]) -> Any:
    """One run-time random seed for all shards of one unseeded orthogonal
    variable: the shard at offset 0 draws it (a stateful op, so it follows the
    global seed and is fresh per variable), the later shards of the same
    variable reuse it (``get_variable`` and Keras 2 create them in order)."""
    if tf.executing_eagerly():
        seeds = _EAGER_SHARD_SEEDS
    else:
        seeds = _SHARD_SEEDS.setdefault(tf.compat.v1.get_default_graph(), {})
    key = (id(owner), tuple(full_shape))
    if not any(offset) or key not in seeds:
        seeds[key] = tf.random.uniform([2], 0, _INT32_MAX, dtype=tf.int32)
    return seeds[key]


_INT32_MAX = 2 ** 31 - 1


def _orthogonal(tf: Any, spec: _fans.Spec, shape: Sequence[int], dtype: Any, seed: Any,
                full_shape: Optional[Sequence[int]], offset: Optional[Sequence[int]]) -> Any:
    """Keras' Orthogonal: the QR of a standard normal ``(max(r, c), min(r, c))``
    matrix (r = prod(shape[:-1]), c = shape[-1]), Q's columns signed by R's
    diagonal, transposed when r < c, reshaped and times ``gain``.  A shard is
    the slice of the whole variable's matrix (orthogonality is a property of
    the whole)."""
    whole = list(full_shape if full_shape is not None else shape)
    rows = _size(whole[:-1])
    cols = whole[-1]
    flat_shape = [max(rows, cols), min(rows, cols)]
    # tf.linalg.qr has no bfloat16 kernel: draw in bfloat16 (Keras' stream),
    # factorise in float32.
    work = tf.float32 if dtype == tf.bfloat16 else dtype
    if seed is None:
        normal = tf.random.normal(flat_shape, dtype=dtype)
    else:
        normal = tf.random.stateless_normal(flat_shape, seed=_seed_tensor(tf, seed), dtype=dtype)
    q, r = tf.linalg.qr(tf.cast(normal, work), full_matrices=False)
    q *= tf.sign(tf.linalg.diag_part(r))
    if rows < cols:
        q = tf.linalg.matrix_transpose(q)
    values = tf.cast(spec.scale * tf.reshape(q, whole), dtype)
    if full_shape is None or list(full_shape) == list(shape):
        return values
    return tf.slice(values, list(offset or [0] * len(shape)), list(shape))
