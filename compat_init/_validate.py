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


def shape(value: Any, name: str = "shape") -> Tuple[int, ...]:
    """Returns ``value`` as a tuple of non-negative Python ints."""
    dims = _dims(value, name)
    for dim in dims:
        if not _is_int(dim) or int(dim) < 0:
            raise ValueError(
                "{} must contain non-negative integers; received {}={}".format(
                    name, name, _show(value)
                )
            )
    return tuple(int(d) for d in dims)


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
