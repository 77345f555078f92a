"""``compute_fans``, the variance-scaling arithmetic and the exact distribution
of every initializer (``Spec`` -> ``Theory``), in pure Python.

The float operations are done in the same order as Keras and ``init_ops``
(``keras/src/initializers/random_initializers.py``,
``tensorflow/python/ops/init_ops.py``) so that the bounds agree to the bit.
"""
from __future__ import annotations

import math
from typing import Any, Dict, NamedTuple, Optional, Tuple

from compat_init import _registry, _validate

#: ``stddev`` of a standard normal truncated to [-2, 2], as Keras and TF use it.
TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def compute_fans(shape: Any, input_axes: Any = None, output_axes: Any = None) -> Tuple[int, int]:
    """Computes the fan-in and fan-out of a weight tensor, the TF/Keras way.

    * rank 0: ``(1, 1)``;
    * rank 1: ``(shape[0], shape[0])``;
    * rank 2: ``(shape[0], shape[1])``;
    * rank >= 3 (convolution kernels ``(*spatial, in, out)``): the receptive field
      ``prod(spatial)`` times ``in`` and times ``out``;
    * with both ``input_axes`` and ``output_axes`` (Keras 3.15, as ``EinsumDense``
      passes them): the products of those axes' sizes.  One of them alone is
      ignored, as Keras ignores it.

    Args:
      shape: A sequence of non-negative integers (tuple, list, ``TensorShape``).
      input_axes: A sequence of axis indices into ``shape`` (negative ones
        count from the end), or None.
      output_axes: The same, for the output axes.

    Returns:
      ``(fan_in, fan_out)`` as Python ints.

    Raises:
      TypeError: ``shape`` is not a sequence, or an axis is not an integer.
      ValueError: ``shape`` has a negative or non-integer entry, or an axis is
        out of range for ``shape``.

    Examples:

    >>> compute_fans((3, 3, 64, 8))
    (576, 72)
    >>> compute_fans((5408, 10))
    (5408, 10)
    >>> compute_fans((16, 2, 8), input_axes=[0], output_axes=[1, 2])
    (16, 16)
    """
    dims = _validate.shape(shape)
    if input_axes is not None and output_axes is not None:
        fan_in = fan_out = 1
        for axis in _validate.axes(input_axes, "input_axes", len(dims)):
            fan_in *= dims[axis]
        for axis in _validate.axes(output_axes, "output_axes", len(dims)):
            fan_out *= dims[axis]
        return fan_in, fan_out
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


class Spec(NamedTuple):
    """What one draw is, whatever path makes it: read by ``_sampling`` (the
    ops) and by :class:`Theory` (the exact distribution)."""

    distribution: str  #: uniform, truncated_normal, untruncated_normal or orthogonal
    loc: float = 0.0  #: the normals' mean
    scale: float = 1.0  #: the normals' stddev (a truncated one's parent), orthogonal's gain
    low: float = 0.0  #: uniform's minval
    high: float = 0.0  #: uniform's maxval


def spec(row: Any, config: Dict[str, Any], full_shape: Any) -> Spec:
    """The draw ``row`` (a ``_registry.Member``) makes with ``config`` at
    ``full_shape`` (the whole variable's shape)."""
    kind = row.kind
    if kind == "variance_scaling":
        scale, mode, distribution = _registry.vs_config(row, config)
        fan_in, fan_out = compute_fans(full_shape, config.get("input_axes"), config.get("output_axes"))
        param = spread(scaled_variance(scale, mode, fan_in, fan_out), distribution)
        if distribution == "uniform":
            return Spec("uniform", low=-param, high=param)
        return Spec(distribution, scale=param)
    if kind == "uniform":
        return Spec("uniform", low=config["minval"], high=config["maxval"])
    if kind == "orthogonal":
        return Spec("orthogonal", scale=config["gain"])
    name = "untruncated_normal" if kind == "normal" else "truncated_normal"
    return Spec(name, loc=config["mean"], scale=config["stddev"])


class Theory(NamedTuple):
    """The exact distribution an initializer draws for one shape."""

    distribution: str
    fan_in: int
    fan_out: int
    std: float  #: standard deviation of the values (after truncation)
    bound: float  #: no value exceeds it in absolute value (inf if unbounded)
    mean: float = 0.0
    low: float = -math.inf  #: the smallest value possible
    high: float = math.inf  #: the largest value possible
    #: orthogonal: the length of the unit vectors (``max(rows, cols)`` of the
    #: flattened matrix); an entry is ``gain * sign * sqrt(Beta(1/2, (dim - 1) / 2))``.
    dim: int = 0


def theory_of_spec(draw: Spec, shape: Any, input_axes: Any = None, output_axes: Any = None) -> Theory:
    """The exact distribution of ``draw`` at ``shape``."""
    fan_in, fan_out = compute_fans(shape, input_axes, output_axes)
    kind = draw.distribution
    if kind == "uniform":
        low, high = float(draw.low), float(draw.high)
        return Theory(kind, fan_in, fan_out, (high - low) / math.sqrt(12.0),
                      max(abs(low), abs(high)), (low + high) / 2.0, low, high)
    if kind == "truncated_normal":
        loc, scale = float(draw.loc), float(draw.scale)
        return Theory(kind, fan_in, fan_out, scale * TRUNCATED_NORMAL_STDDEV,
                      abs(loc) + 2.0 * scale, loc, loc - 2.0 * scale, loc + 2.0 * scale)
    if kind == "untruncated_normal":
        return Theory(kind, fan_in, fan_out, float(draw.scale), math.inf, float(draw.loc))
    dims = _validate.shape(shape)
    rows = 1
    for d in dims[:-1]:
        rows *= d
    dim = max(rows, dims[-1]) if dims else 1
    gain = abs(float(draw.scale))
    return Theory(kind, fan_in, fan_out, gain / math.sqrt(max(dim, 1)), gain, 0.0, -gain, gain, dim)


def theory(initializer: Any, shape: Any) -> Theory:
    """The exact distribution ``initializer`` draws at ``shape``.

    Works for compat_init initializers and for the native Keras and
    ``tf.compat.v1`` random initializers of the registry (variance scaling and
    its presets, truncated/random normal, random uniform, orthogonal, uniform
    unit scaling): it reads their configuration (``scale``/``mode``/
    ``distribution``, ``mean``/``stddev``, ``minval``/``maxval``, ``gain``,
    ``factor``).

    Raises:
      TypeError: ``initializer`` is none of those (constant, identity, a
        plain function).

    Examples:

    >>> import compat_init as ci
    >>> t = ci.theory(ci.glorot_uniform(api="v1"), (3, 3, 1, 32))  # doctest: +SKIP
    >>> round(t.bound, 4)  # doctest: +SKIP
    0.1387
    """
    row, config = describe(initializer)
    if row is None:
        raise TypeError(
            "initializer must be one of compat_init's random initializers or their "
            "native Keras / tf.compat.v1 classes ({}); received initializer={!r}".format(
                ", ".join(_registry.NAMES), initializer)
        )
    draw = spec(row, config, shape)
    return theory_of_spec(draw, shape, config.get("input_axes"), config.get("output_axes"))


def _class_names(obj: Any) -> set:
    return {c.__name__ for c in type(obj).__mro__}


def describe(initializer: Any) -> Tuple[Optional[Any], Dict[str, Any]]:
    """(registry row, validated configuration) of ``initializer``, or (None, {}).

    compat_init's objects carry their row; a native one is recognised by its
    configuration attributes and its class names.
    """
    row = getattr(initializer, "_ci_member", None)
    if row is not None:
        return row, initializer._ci_config
    attrs = vars(initializer) if hasattr(initializer, "__dict__") else {}
    names = _class_names(initializer)
    if "factor" in attrs and "UniformUnitScaling" in names:
        return _registry.BY_NAME["uniform_unit_scaling"], {"factor": _validate.positive(attrs["factor"], "factor")}
    if {"scale", "mode", "distribution"} <= set(attrs):
        config = {
            "scale": _validate.scale(attrs["scale"]),
            "mode": _validate.mode(attrs["mode"]),
            "distribution": _validate.distribution(attrs["distribution"]),
            "input_axes": attrs.get("input_axes"),
            "output_axes": attrs.get("output_axes"),
        }
        return _registry.BY_NAME["variance_scaling"], config
    if "gain" in attrs and names & {"Orthogonal", "OrthogonalInitializer"}:
        return _registry.BY_NAME["orthogonal"], {"gain": _validate.finite(attrs["gain"], "gain")}
    if {"minval", "maxval"} <= set(attrs):
        maxval = 1.0 if attrs["maxval"] is None else attrs["maxval"]  # init_ops' float default
        low, high = _validate.bounds(attrs["minval"], maxval)
        return _registry.BY_NAME["random_uniform"], {"minval": low, "maxval": high}
    if {"mean", "stddev"} <= set(attrs):
        name = "truncated_normal" if "TruncatedNormal" in names else "random_normal"
        if name == "random_normal" and "RandomNormal" not in names:
            return None, {}
        return _registry.BY_NAME[name], {
            "mean": _validate.finite(attrs["mean"], "mean"),
            "stddev": _validate.positive(attrs["stddev"], "stddev"),
        }
    return None, {}
