"""The initializer factories and the dispatch decision.

Each factory returns an instance of a thin subclass of the native class the
path expects: on ``"v2"`` the class ``tf.keras.initializers`` names (Keras 3,
tf_keras, the Keras 2 of TF <= 2.15, TF 1.15's ``tf.keras``), on ``"v1"`` the
``tf.compat.v1`` class (``init_ops.GlorotUniform``, ``init_ops.TruncatedNormal``,
...).  Which class each name subclasses is in the registry (``_registry``).  See :func:`compat_init.active_api` for the
choice of path.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from compat_init import _classes, _dispatch, _registry, _runtime, _validate

#: A seed: an integer in [0, 2**31 - 3] or None (a fresh draw per call); on the
#: v2 path under Keras 3 also a ``keras.random.SeedGenerator`` or its
#: serialized config, as Keras' own initializers take.
Seed = Any


def _build(name: str, api: str, seed: Any, params: Dict[str, Any], dtype: Any = None) -> Any:
    """The ``name`` initializer of the active path, configured by ``params``."""
    row = _registry.member(name)
    # Validate what we can before TensorFlow is imported.
    _classes._check_config(row, params)
    if not _runtime.is_keras_seed_object(seed):  # a SeedGenerator: the class checks its path
        _validate.seed(seed)
    path = _dispatch.resolve(api)
    if row.name == "uniform_unit_scaling" and path == "v2":
        # No Keras class: Keras' VarianceScaling with TF's own equivalent
        # (init_ops.UniformUnitScaling's deprecation notice names it).
        factor = float(params["factor"])
        row = _registry.BY_NAME["variance_scaling"]
        params = {"scale": factor * factor, "mode": "fan_in", "distribution": "uniform"}
    row, native = _classes.member_and_native(row.name, path)
    if row.preset is not None and "scale" in _classes._signature(native).parameters:
        # he_*/lecun_* on the v1 path (and TF 1.15's tf.keras): the native is
        # VarianceScaling itself, configured with the preset.
        params = dict(row.preset)
        row = _registry.BY_NAME["variance_scaling"]
    cls = _classes.compat_class(row, native, path)
    obj = cls(seed=seed, **params)
    if dtype is not None:
        obj._ci_dtype = _validate.dtype(dtype)
        if hasattr(obj, "dtype"):
            obj.dtype = obj._ci_dtype
    return obj


def from_config(name: str, config: Dict[str, Any], *, api: str = "auto", seed: Any = None) -> Any:
    """The ``name`` initializer with a registry configuration (as
    ``_fans.describe`` reads it off any initializer), on ``api``'s path.

    Fan axes (Keras 3.15's ``input_axes``/``output_axes``) are honoured on
    both paths, also where the native class has no such argument.
    """
    params = {k: v for k, v in config.items() if k not in ("input_axes", "output_axes")}
    obj = _build(name, api, seed, params)
    axes = {k: config.get(k) for k in ("input_axes", "output_axes")}
    if all(v is not None for v in axes.values()):
        obj._ci_config.update(axes)
    return obj


def _preset(name: str, seed: Optional[int], api: str) -> Any:
    return _build(name, api, seed, {})


def glorot_uniform(seed: Seed = None, *, api: str = "auto") -> Any:
    """Glorot (Xavier) uniform initializer.

    Draws from `U(-limit, limit)` with `limit = sqrt(6 / (fan_in + fan_out))`.

    Args:
      seed: An int in [0, 2**31 - 3] or None. A seed gives the same tensor
        as ``keras.initializers.GlorotUniform(seed)`` on every path; None draws
        fresh values on every call. On the v2 path under Keras 3, also a
        ``keras.random.SeedGenerator`` or its serialized config, as Keras
        takes them (each call draws the generator's next seed).
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


def glorot_normal(seed: Seed = None, *, api: str = "auto") -> Any:
    """Glorot (Xavier) normal initializer.

    Draws from a normal truncated at two standard deviations of the parent,
    `stddev = sqrt(2 / (fan_in + fan_out)) / 0.8796...` (so the variance is
    `2 / (fan_in + fan_out)`).  Arguments and returns as :func:`glorot_uniform`.

    Reference:
      Glorot & Bengio, AISTATS 2010.
    """
    return _preset("glorot_normal", seed, api)


def he_uniform(seed: Seed = None, *, api: str = "auto") -> Any:
    """He uniform initializer: `U(-limit, limit)`, `limit = sqrt(6 / fan_in)`.

    Arguments and returns as :func:`glorot_uniform`.

    Reference:
      He et al., "Delving Deep into Rectifiers", ICCV 2015.
    """
    return _preset("he_uniform", seed, api)


def he_normal(seed: Seed = None, *, api: str = "auto") -> Any:
    """He normal initializer: truncated normal with variance `2 / fan_in`.

    Arguments and returns as :func:`glorot_uniform`.

    Reference:
      He et al., "Delving Deep into Rectifiers", ICCV 2015.
    """
    return _preset("he_normal", seed, api)


def lecun_uniform(seed: Seed = None, *, api: str = "auto") -> Any:
    """LeCun uniform initializer: `U(-limit, limit)`, `limit = sqrt(3 / fan_in)`.

    Arguments and returns as :func:`glorot_uniform`.

    Reference:
      LeCun et al., "Efficient Backprop", 1998.
    """
    return _preset("lecun_uniform", seed, api)


def lecun_normal(seed: Seed = None, *, api: str = "auto") -> Any:
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
    seed: Seed = None,
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
    return _build("variance_scaling", api, seed,
                  {"scale": scale, "mode": mode, "distribution": distribution})


def xavier_initializer(uniform: bool = True, seed: Seed = None, dtype: Any = "float32") -> Any:
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
    return _build("glorot_uniform" if uniform else "glorot_normal", "auto", seed, {}, dtype=dtype)


def truncated_normal(mean: float = 0.0, stddev: float = 0.05, seed: Seed = None, *,
                     api: str = "auto") -> Any:
    """Truncated normal initializer: `N(mean, stddev)` cut at `mean +- 2 stddev`.

    Values beyond two standard deviations are re-drawn, so the values' own
    standard deviation is `0.8796 * stddev`.  Defaults are Keras' on both paths
    (``tf.compat.v1.truncated_normal_initializer`` defaults to stddev 1.0: pass
    it to keep a legacy model's distribution; ``compat-init migrate`` writes
    it out).

    Args:
      mean: Finite number.
      stddev: Positive finite number, the untruncated parent's.
      seed: As in :func:`glorot_uniform`: the same tensor as
        ``keras.initializers.TruncatedNormal(mean, stddev, seed)``.
      api: As in :func:`glorot_uniform`.

    Returns:
      A ``tf.keras.initializers.TruncatedNormal`` subclass instance (v2) or a
      ``tf.compat.v1.truncated_normal_initializer`` subclass instance (v1).

    Raises:
      ValueError: ``mean`` not finite, ``stddev`` not positive, bad ``seed``
        or ``api``.
    """
    return _build("truncated_normal", api, seed, {"mean": mean, "stddev": stddev})


def random_normal(mean: float = 0.0, stddev: float = 0.05, seed: Seed = None, *,
                  api: str = "auto") -> Any:
    """Normal initializer: `N(mean, stddev)`.

    Defaults are Keras' on both paths (``tf.compat.v1.random_normal_initializer``
    defaults to N(0, 1)).  Arguments as :func:`truncated_normal`; a seed gives
    ``keras.initializers.RandomNormal(mean, stddev, seed)``'s tensor.

    Returns:
      A ``tf.keras.initializers.RandomNormal`` subclass instance (v2) or a
      ``tf.compat.v1.random_normal_initializer`` subclass instance (v1).
    """
    return _build("random_normal", api, seed, {"mean": mean, "stddev": stddev})


def random_uniform(minval: float = -0.05, maxval: float = 0.05, seed: Seed = None, *,
                   api: str = "auto") -> Any:
    """Uniform initializer: `U(minval, maxval)`.

    Defaults are Keras' on both paths (``tf.compat.v1.random_uniform_initializer``
    defaults to [0, 1)).

    Args:
      minval: A finite number, less than ``maxval``.
      maxval: A finite number, greater than ``minval``.
      seed: As in :func:`glorot_uniform`: the same tensor as
        ``keras.initializers.RandomUniform(minval, maxval, seed)``.
      api: As in :func:`glorot_uniform`.

    Returns:
      A ``tf.keras.initializers.RandomUniform`` subclass instance (v2) or a
      ``tf.compat.v1.random_uniform_initializer`` subclass instance (v1).
    """
    _validate.bounds(minval, maxval)  # init_ops' maxval=None (1.0) is its class's, not ours
    return _build("random_uniform", api, seed, {"minval": minval, "maxval": maxval})


def orthogonal(gain: float = 1.0, seed: Seed = None, *, api: str = "auto") -> Any:
    """Orthogonal initializer: `gain * Q`, Q from the QR decomposition of a
    standard normal matrix.

    The shape is flattened to `(prod(shape[:-1]), shape[-1])`; the result has
    orthonormal columns (or rows, when there are fewer rows than columns),
    times ``gain``.  Under a partitioner the shards are slices of one whole
    orthogonal matrix (seeded: Keras' matrix; unseeded: one run-time seed per
    variable, shared by its shards).

    Args:
      gain: Non-zero finite number.
      seed: As in :func:`glorot_uniform`: the same tensor as
        ``keras.initializers.Orthogonal(gain, seed)`` (TF 1.15's QR can differ
        from TF 2's in the last bits).
      api: As in :func:`glorot_uniform`.

    Returns:
      A ``tf.keras.initializers.Orthogonal`` subclass instance (v2) or a
      ``tf.compat.v1.orthogonal_initializer`` subclass instance (v1).

    Raises:
      ValueError: at call time, a shape of rank < 2.

    Reference:
      Saxe et al., "Exact solutions to the nonlinear dynamics of learning in
      deep linear neural networks", ICLR 2014.
    """
    return _build("orthogonal", api, seed, {"gain": gain})


def uniform_unit_scaling(factor: float = 1.0, seed: Seed = None, *, api: str = "auto") -> Any:
    """TF 1.x's deprecated ``uniform_unit_scaling_initializer``.

    Draws `U(-limit, limit)` with `limit = sqrt(3 * factor**2 / fan_in)`: what
    TF names as its equivalent, ``variance_scaling(scale=factor**2,
    mode="fan_in", distribution="uniform")``, on both paths.  Two differences
    from TF 1.x's own formula (`factor * sqrt(3 / input_size)`, `input_size =
    prod(shape[:-1])`): rank-1 shapes use `fan_in = shape[0]` (TF 1.x used 1),
    and the limit is rounded once instead of twice (at most 1 ulp).

    Returns:
      A ``tf.keras.initializers.VarianceScaling`` subclass instance (v2) or a
      ``tf.compat.v1.uniform_unit_scaling_initializer`` subclass instance (v1).
    """
    return _build("uniform_unit_scaling", api, seed, {"factor": factor})


def xavier_initializer_conv2d(uniform: bool = True, seed: Seed = None,
                              dtype: Any = "float32") -> Any:
    """``tf.contrib.layers.xavier_initializer_conv2d``: contrib's alias of
    :func:`xavier_initializer` (the same arguments and values)."""
    return xavier_initializer(uniform=uniform, seed=seed, dtype=dtype)


# Aliases, in one table (JAX and Keras keep theirs the same way).
xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
