"""The initializer factories and the dispatch decision.

Each factory returns an instance of a thin subclass of the native class the
path expects: on ``"v2"`` the class ``tf.keras.initializers`` names (Keras 3,
tf_keras, the Keras 2 of TF <= 2.15, TF 1.15's ``tf.keras``), on ``"v1"`` the
``tf.compat.v1`` class (``init_ops.GlorotUniform``, ``init_ops.GlorotNormal``,
``init_ops.VarianceScaling``).  See :func:`compat_init.active_api` for the
choice of path.
"""
from __future__ import annotations

from typing import Any, Optional

from compat_init import _classes, _dispatch, _runtime, _validate

#: name -> (scale, mode, distribution)
FAMILY = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def _build(name: str, api: str, scale: Any, mode: Any, distribution: Any, seed: Any, dtype: Any = None) -> Any:
    # Validate what we can before TensorFlow is imported.
    path = _dispatch.resolve(api)
    _validate.seed(seed)
    if path == "v2":
        native = _runtime.native_v2_class(name)
    else:
        native = _runtime.native_v1_class(name)
    cls = _classes.compat_class(native, path)
    if cls._ci_preset is not None:
        return cls(seed=seed, dtype=dtype)
    return cls(scale=scale, mode=mode, distribution=distribution, seed=seed, dtype=dtype)


def _preset(name: str, seed: Optional[int], api: str) -> Any:
    scale, mode, distribution = FAMILY[name]
    return _build(name, api, scale, mode, distribution, seed)


def glorot_uniform(seed: Optional[int] = None, *, api: str = "auto") -> Any:
    """Glorot (Xavier) uniform initializer.

    Draws from `U(-limit, limit)` with `limit = sqrt(6 / (fan_in + fan_out))`.

    Args:
      seed: An int in [0, 2**31 - 3] or None. A seed gives the same tensor
        as ``keras.initializers.GlorotUniform(seed)`` on every path; None draws
        fresh values on every call.
      api: ``"auto"`` (see :func:`compat_init.active_api`), ``"v1"`` or ``"v2"``.

    Returns:
      A ``tf.keras.initializers.GlorotUniform`` subclass instance (v2) or a
      ``tf.compat.v1.glorot_uniform_initializer`` subclass instance (v1).

    Raises:
      TypeError: ``seed`` is not an integer.
      ValueError: ``seed`` is out of range or ``api`` unknown.

    Examples:

    >>> import compat_init as ci
    >>> init = ci.glorot_uniform(seed=1)
    >>> init((2, 2))  # doctest: +SKIP

    Reference:
      Glorot & Bengio, "Understanding the difficulty of training deep
      feedforward neural networks", AISTATS 2010.
    """
    return _preset("glorot_uniform", seed, api)


def glorot_normal(seed: Optional[int] = None, *, api: str = "auto") -> Any:
    """Glorot (Xavier) normal initializer.

    Draws from a normal truncated at two standard deviations of the parent,
    `stddev = sqrt(2 / (fan_in + fan_out)) / 0.8796...` (so the variance is
    `2 / (fan_in + fan_out)`).  Arguments and returns as :func:`glorot_uniform`.

    Reference:
      Glorot & Bengio, AISTATS 2010.
    """
    return _preset("glorot_normal", seed, api)


def he_uniform(seed: Optional[int] = None, *, api: str = "auto") -> Any:
    """He uniform initializer: `U(-limit, limit)`, `limit = sqrt(6 / fan_in)`.

    Arguments and returns as :func:`glorot_uniform`.

    Reference:
      He et al., "Delving Deep into Rectifiers", ICCV 2015.
    """
    return _preset("he_uniform", seed, api)


def he_normal(seed: Optional[int] = None, *, api: str = "auto") -> Any:
    """He normal initializer: truncated normal with variance `2 / fan_in`.

    Arguments and returns as :func:`glorot_uniform`.

    Reference:
      He et al., "Delving Deep into Rectifiers", ICCV 2015.
    """
    return _preset("he_normal", seed, api)


def lecun_uniform(seed: Optional[int] = None, *, api: str = "auto") -> Any:
    """LeCun uniform initializer: `U(-limit, limit)`, `limit = sqrt(3 / fan_in)`.

    Arguments and returns as :func:`glorot_uniform`.

    Reference:
      LeCun et al., "Efficient Backprop", 1998.
    """
    return _preset("lecun_uniform", seed, api)


def lecun_normal(seed: Optional[int] = None, *, api: str = "auto") -> Any:
    """LeCun normal initializer: truncated normal with variance `1 / fan_in`.

    Arguments and returns as :func:`glorot_uniform`.

    Reference:
      LeCun et al., "Efficient Backprop", 1998.
    """
    return _preset("lecun_normal", seed, api)


def variance_scaling(
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    seed: Optional[int] = None,
    *,
    api: str = "auto"
) -> Any:
    """Variance-scaling initializer, the parent of the whole family.

    With `n` = fan_in, fan_out or their mean (``mode``), values have variance
    `scale / n`: uniform in `[-sqrt(3 * scale / n), sqrt(3 * scale / n)]`, a
    truncated normal with `stddev = sqrt(scale / n) / 0.87962566103423978`, or an
    untruncated normal with `stddev = sqrt(scale / n)`.

    Args:
      scale: Positive float.
      mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
      distribution: ``"truncated_normal"`` (legacy spelling ``"normal"``),
        ``"untruncated_normal"`` or ``"uniform"``.
      seed: As in :func:`glorot_uniform`.
      api: As in :func:`glorot_uniform`.

    Returns:
      A ``tf.keras.initializers.VarianceScaling`` subclass instance (v2) or a
      ``tf.compat.v1.variance_scaling_initializer`` subclass instance (v1).

    Raises:
      ValueError: ``scale <= 0``, unknown ``mode``/``distribution``/``api``.
      TypeError: ``seed`` is not an integer.
    """
    _validate.scale(scale)
    _validate.mode(mode)
    _validate.distribution(distribution)
    return _build("variance_scaling", api, scale, mode, distribution, seed)


def xavier_initializer(uniform: bool = True, seed: Optional[int] = None, dtype: Any = "float32") -> Any:
    """``tf.contrib.layers.xavier_initializer`` with compat_init's semantics.

    ``uniform=True`` is exactly :func:`glorot_uniform` (contrib drew the same
    distribution).  ``uniform=False`` is :func:`glorot_normal`: contrib drew a
    truncated normal with stddev `sqrt(1.3 / n)`, whose variance is
    `1.3 * 0.77374 / n = 1.00586 / n`, 0.59 % more than glorot_normal's
    `1 / n` (stddev 0.29 % larger).  compat_init maps to glorot_normal so that a
    seed gives Keras' tensor on every path; the difference is far below what
    training can tell apart.

    Args:
      uniform: Uniform (True) or truncated normal (False) distribution.
      seed: As in :func:`glorot_uniform`.
      dtype: Default floating dtype of the values (the call's ``dtype`` wins).

    Returns:
      An initializer of the active path, as :func:`glorot_uniform`.
    """
    if not isinstance(uniform, bool):
        raise TypeError(
            "uniform must be True or False; received uniform={!r}".format(uniform)
        )
    name = "glorot_uniform" if uniform else "glorot_normal"
    scale, mode, distribution = FAMILY[name]
    return _build(name, "auto", scale, mode, distribution, seed, dtype=dtype)


# Aliases, in one table (JAX and Keras keep theirs the same way).
xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
