"""Argument checks shared by every public entry point.

Each error names the argument, the rule and the value received, so that users
never see a raw TensorFlow traceback or silently wrong numbers.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Tuple

APIS = ("auto", "v1", "v2")
MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
# `normal` is the TF/Keras legacy spelling of `truncated_normal`.
_DISTRIBUTION_ALIASES = {"normal": "truncated_normal"}
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")

# Keras 3 folds seeds modulo 2**31 - 2 (keras/src/backend/tensorflow/random.py,
# `_cast_seed`), Keras 2 and init_ops do not: only this range gives one tensor.
SEED_MIN = 0
SEED_MAX = 2 ** 31 - 3


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def api(value: Any, name: str = "api") -> str:
    if not isinstance(value, str) or value not in APIS:
        raise ValueError(
            "{} must be one of {}; received {}={!r}".format(
                name, ", ".join(repr(a) for a in APIS), name, value
            )
        )
    return value


def seed(value: Any) -> Optional[int]:
    if value is None:
        return None
    if not _is_int(value):
        raise TypeError(
            "seed must be an integer or None; received seed={!r} (type {})".format(
                value, type(value).__name__
            )
        )
    value = int(value)
    if not SEED_MIN <= value <= SEED_MAX:
        raise ValueError(
            "seed must be an integer in [0, 2**31 - 3], the range where Keras 2 "
            "and Keras 3 draw the same tensor; received seed={!r}".format(value)
        )
    return value


def keras_seed_on_v1(value: Any) -> None:
    """A Keras 3 ``SeedGenerator`` (or its config) asked of the v1 path,
    whose ``tf.compat.v1`` initializers take an integer seed only."""
    raise TypeError(
        "seed must be an integer or None on the v1 path (tf.compat.v1 initializers take no Keras "
        "SeedGenerator; use api='v2' or an integer seed); received seed={!r}".format(value))


def scale(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or float(value) <= 0.0
    ):
        raise ValueError(
            "scale must be a positive finite number; received scale={!r}".format(value)
        )
    return float(value)


def alpha(value: Any) -> float:
    """A false-alarm rate in (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise ValueError("alpha must be a number in (0, 1); received alpha={!r}".format(value))
    return float(value)


def _real(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, numbers.Real)
            and math.isfinite(float(value)))


def finite(value: Any, name: str) -> float:
    """A finite real number (``mean``, ``gain``)."""
    if not _real(value):
        raise ValueError(
            "{} must be a finite number; received {}={!r}".format(name, name, value))
    return float(value)


def positive(value: Any, name: str) -> float:
    """A positive finite real number (``stddev``, ``factor``)."""
    if not _real(value) or float(value) <= 0.0:
        raise ValueError(
            "{} must be a positive finite number; received {}={!r}".format(name, name, value))
    return float(value)


def bounds(minval: Any, maxval: Any) -> Tuple[float, float]:
    """Finite ``minval < maxval``."""
    low, high = finite(minval, "minval"), finite(maxval, "maxval")
    if not low < high:
        raise ValueError(
            "minval must be less than maxval; received minval={!r}, maxval={!r}".format(
                minval, maxval))
    return low, high


def axes_or_none(value: Any, name: str) -> Any:
    """``input_axes``/``output_axes`` as given to a constructor: None or a
    sequence of integers (kept as the caller gave it, so configs round-trip)."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(_is_int(a) for a in value):
        raise TypeError(
            "{} must be None or a list of integer axes; received {}={!r}".format(
                name, name, value))
    return value


def axes(value: Any, name: str, rank: int) -> Tuple[int, ...]:
    """Axis indices into a shape of ``rank`` (negative ones from the end)."""
    axes_or_none(value, name)
    for axis in value:
        if not -rank <= int(axis) < rank:
            raise ValueError(
                "{} must index the shape (rank {}); received {}={!r}".format(
                    name, rank, name, value))
    return tuple(int(a) % rank for a in value)


def mode(value: Any) -> str:
    if not isinstance(value, str) or value not in MODES:
        raise ValueError(
            "mode must be one of {}; received mode={!r}".format(
                ", ".join(repr(m) for m in MODES), value
            )
        )
    return value


def distribution(value: Any) -> str:
    if isinstance(value, str):
        value_ = _DISTRIBUTION_ALIASES.get(value, value)
        if value_ in DISTRIBUTIONS:
            return value_
    raise ValueError(
        "distribution must be one of {} (or the legacy 'normal'); received "
        "distribution={!r}".format(", ".join(repr(d) for d in DISTRIBUTIONS), value)
    )


#: The most elements (and the largest dimension) a TensorFlow tensor can have:
#: shapes are int64.  Past it TF fails to convert the shape, or, for a product
#: that overflows in a v1 Session, aborts the interpreter.
MAX_ELEMENTS = 2 ** 63 - 1
#: The most dimensions a TensorFlow tensor can have (``TensorShape`` keeps the
#: rank in a byte below 255: ``Check failed: ndims_byte() < MaxDimensions()``
#: aborts the interpreter past it, in a v1 Session on every TF).
MAX_RANK = 254


def shape(value: Any, name: str = "shape") -> Tuple[int, ...]:
    """Returns ``value`` as a tuple of non-negative Python ints whose element
    count a tensor can hold."""
    dims = _dims(value, name)
    for dim in dims:
        if not _is_int(dim) or int(dim) < 0:
            raise ValueError(
                "{} must contain non-negative integers; received {}={}".format(
                    name, name, _show(value)
                )
            )
    result = tuple(int(d) for d in dims)
    if len(result) > MAX_RANK:
        raise ValueError("{} must have at most {} dimensions (TensorFlow's limit); received a shape of rank {}".format(
            name, MAX_RANK, len(result)))
    size = 1
    for dim in result:
        size *= dim
    if size > MAX_ELEMENTS or any(d > MAX_ELEMENTS for d in result):
        raise ValueError(
            "{} must have at most 2**63 - 1 elements, the most a tensor can hold; received "
            "{}={} ({})".format(name, name, _show(value), "{} elements".format(size) if size
                                else "a dimension over 2**63 - 1"))
    return result


def rank_for(kind: str, shape: Tuple[int, ...]) -> None:
    """An orthogonal matrix needs two dimensions."""
    if kind == "orthogonal" and len(shape) < 2:
        raise ValueError("shape must have rank 2 or more for an orthogonal initializer; received shape={}".format(
            tuple(shape)))


def partition(shard: Tuple[int, ...], full: Tuple[int, ...], offset: Any, name: str) -> Tuple[int, ...]:
    """A shard's offset, checked to lie with the shard inside the variable."""
    if not isinstance(offset, (list, tuple)) or not all(_is_int(o) and o >= 0 for o in offset):
        raise ValueError("{} must be a sequence of non-negative integers; received {}={!r}".format(
            name, name, offset))
    offset = tuple(int(o) for o in offset)
    if len(shard) != len(full) or len(offset) != len(full) or any(
            o + s > f for o, s, f in zip(offset, shard, full)):
        raise ValueError(
            "the shard must lie inside the variable: shard shape {} at {}={} does not fit in the "
            "full shape {}".format(shard, name, offset, full))
    return offset


#: Smallest positive normal value of each float dtype: a draw whose spread is
#: below it comes out zeros (or denormals).
FLOAT_TINY = {"float16": 6.103515625e-05, "bfloat16": 1.1754943508222875e-38,
              "float32": 1.1754943508222875e-38, "float64": 2.2250738585072014e-308}
#: Machine epsilon of each float dtype: a spread below it times the mean is
#: lost to the mean's last place.
FLOAT_EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 2.0 ** -23, "float64": 2.0 ** -52}
#: Largest finite value of each float dtype.
FLOAT_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
             "float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}


def representable(spec: Any, dtype_name: str, config: dict, shape: Tuple[int, ...]) -> None:
    """The distribution's parameters (and the range of its values) are
    finite in ``dtype_name``: else the draw would be inf or NaN (or a raw TF
    error), silently or not."""
    largest = FLOAT_MAX[dtype_name]
    kind = spec.distribution
    if kind == "uniform":
        checks = [("values up to", max(abs(spec.low), abs(spec.high))), ("a range of", spec.high - spec.low)]
    elif kind == "orthogonal":
        checks = [("values up to", abs(spec.scale))]
    else:
        reach = 2.0 if kind == "truncated_normal" else 1.0
        checks = [("values around", abs(spec.loc) + reach * spec.scale)]
    spread = {"uniform": spec.high - spec.low, "orthogonal": abs(spec.scale)}.get(kind, spec.scale)
    if 0.0 < spread < FLOAT_TINY[dtype_name]:
        arguments = ", ".join("{}={!r}".format(k, v) for k, v in config.items()
                              if k not in ("input_axes", "output_axes"))
        raise ValueError(
            "{} give a spread of {:.4g} at shape={}, below {}'s smallest normal value {:.4g}: the draw would "
            "be zeros; use larger arguments or a wider dtype".format(
                arguments, spread, _show(shape), dtype_name, FLOAT_TINY[dtype_name]))
    center = {"uniform": (spec.low + spec.high) / 2.0, "orthogonal": 0.0}.get(kind, spec.loc)
    if 0.0 < spread < FLOAT_EPS[dtype_name] * abs(center) and math.isfinite(center):
        arguments = ", ".join("{}={!r}".format(k, v) for k, v in config.items()
                              if k not in ("input_axes", "output_axes"))
        raise ValueError(
            "{} give a spread of {:.4g} next to a mean of {:.4g} at shape={}, below {}'s resolution there (one "
            "unit in the last place is {:.4g}): the draw would be constant; use a smaller mean, a larger spread "
            "or a wider dtype".format(arguments, spread, center, _show(shape), dtype_name,
                                      FLOAT_EPS[dtype_name] * abs(center)))
    for what, value in checks:
        if not math.isfinite(value) or value > largest:
            arguments = ", ".join("{}={!r}".format(k, v) for k, v in config.items()
                                  if k not in ("input_axes", "output_axes"))
            raise ValueError(
                "{} give {} {:.4g} at shape={}, beyond {}'s largest finite value {:.4g}; "
                "use smaller arguments or a wider dtype".format(
                    arguments, what, value, _show(shape), dtype_name, largest))


def _dims(value: Any, name: str) -> Tuple[Any, ...]:
    as_list = getattr(value, "as_list", None)  # tf.TensorShape
    if as_list is not None and hasattr(value, "rank"):
        if value.rank is None:
            raise ValueError(
                "{} must be fully defined; received {}={}".format(name, name, value)
            )
        return tuple(value.as_list())
    if hasattr(value, "numpy") and callable(value.numpy):  # eager tf.Tensor
        value = value.numpy()
    if hasattr(value, "ndim") and hasattr(value, "tolist"):  # numpy array
        if value.ndim != 1:
            raise TypeError(
                "{} must be a 1-D sequence of integers; received {}={!r}".format(
                    name, name, value
                )
            )
        return tuple(value.tolist())
    if isinstance(value, (list, tuple)):
        return tuple(value)
    raise TypeError(
        "{} must be a sequence of integers (tuple, list or TensorShape); "
        "received {}={!r} (type {})".format(name, name, value, type(value).__name__)
    )


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(repr(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def dtype(value: Any, name: str = "dtype") -> Any:
    """Returns ``value`` as a floating ``tf.DType``."""
    from compat_init import _runtime

    tf = _runtime.tf()
    if _is_int(value) or isinstance(value, bool):
        # tf.as_dtype takes DataType enum numbers: 1 is float32, 2 float64,
        # 123 a reference type.  Nobody means those.
        raise TypeError(
            "{} must be a floating-point dtype ({}) or its name, not an integer; received "
            "{}={!r}".format(name, ", ".join(FLOAT_DTYPES), name, value))
    try:
        result = tf.as_dtype(value)
    except (TypeError, ValueError):
        raise TypeError(
            "{} must be a floating-point dtype ({}); received {}={!r}".format(
                name, ", ".join(FLOAT_DTYPES), name, value
            )
        ) from None
    if result.name not in FLOAT_DTYPES:
        raise ValueError(
            "{} must be a floating-point dtype ({}); received {}={}".format(
                name, ", ".join(FLOAT_DTYPES), name, result.name
            )
        )
    return result
