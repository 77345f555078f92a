"""The thin subclasses of the native initializer classes.

For every native class a path needs (``init_ops.GlorotUniform``,
``keras.initializers.HeNormal``, ...) compat_init builds, once, a subclass with
the same name that

* validates its arguments with clear errors,
* draws Keras' values for a seed on every path (``_sampling``),
* draws fresh values on every unseeded call,
* honours ``dtype`` (the v1 ``GlorotUniform`` ignores it natively),
* takes fans from the full shape of a partitioned variable,
* serializes under the native public Keras name (no lock-in).

``isinstance(obj, NativeClass)`` keeps passing.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Dict, Optional, Tuple

from compat_init import _runtime, _sampling, _validate

#: (scale, mode, distribution) of the classes whose constructor takes a seed only.
PRESETS: Dict[str, Tuple[float, str, str]] = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "GlorotNormal": (1.0, "fan_avg", "truncated_normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "HeNormal": (2.0, "fan_in", "truncated_normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
    "LecunNormal": (1.0, "fan_in", "truncated_normal"),
}

# Keyword arguments Keras passes to `__call__` besides shape and dtype.
_PARTITION_KWARGS = ("partition_shape", "partition_offset")


class _CompatInitializer:
    """Behaviour shared by every compat_init initializer (a mixin)."""

    _ci_api: str = ""
    _ci_native: type = object
    _ci_preset: Optional[Tuple[float, str, str]] = None

    def _ci_setup(
        self,
        scale: Any,
        mode: Any,
        distribution: Any,
        seed: Any,
        dtype: Any,
        native_kwargs: Dict[str, Any],
    ) -> None:
        scale = _validate.scale(scale)
        mode = _validate.mode(mode)
        distribution = _validate.distribution(distribution)
        seed = _validate.seed(seed)
        dtype = None if dtype is None else _validate.dtype(dtype)
        for key, value in native_kwargs.items():
            if value is not None:
                raise ValueError(
                    "{} is not supported by compat_init initializers; received "
                    "{}={!r}".format(key, key, value)
                )
        accepted = _init_parameters(self._ci_native)
        offered = {"scale": scale, "mode": mode, "distribution": distribution, "seed": seed}
        # `dtype` is not passed on: init_ops deprecates it in the constructor
        # (and TF 2's v1 GlorotUniform drops it); it is set below instead.
        self._ci_native.__init__(  # type: ignore[misc]
            self, **{k: v for k, v in offered.items() if k in accepted}
        )
        # The natives keep these under the same names; keep them exact
        # (Keras 3 replaces an unseeded seed by a random int, the TF 2 v1
        # GlorotUniform drops dtype).
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.seed = seed
        self._ci_dtype = dtype
        if "dtype" in accepted:  # the init_ops classes: get_config() reports it
            self.dtype = dtype if dtype is not None else _runtime.tf().float32

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None, **kwargs: Any) -> Any:
        """Returns a tensor of ``shape`` drawn from the initializer's distribution.

        Args:
          shape: Sequence of non-negative ints (the shard's shape when
            partitioned).
          dtype: Floating dtype; defaults to the constructor's ``dtype``, then to
            float32 (v1) or ``keras.backend.floatx()`` (v2).
          partition_info: Passed by ``tf.compat.v1.get_variable`` with a
            partitioner; fans then come from the full shape.
          **kwargs: ``partition_shape``/``partition_offset`` as Keras 2 passes
            them for sharded variables.
        """
        unknown = sorted(set(kwargs) - set(_PARTITION_KWARGS))
        if unknown:
            raise TypeError(
                "{}() got unexpected keyword argument(s) {}".format(
                    type(self).__name__, ", ".join(unknown)
                )
            )
        shape = _validate.shape(shape)
        if dtype is None:
            dtype = self._ci_dtype
        if dtype is None:
            dtype = "float32" if self._ci_api == "v1" else _runtime.keras_floatx()
        dtype = _validate.dtype(dtype)
        full_shape = offset = None
        if partition_info is not None:
            full_shape = _validate.shape(partition_info.full_shape, "partition_info.full_shape")
            offset = list(partition_info.var_offset)
        elif "partition_shape" in kwargs:
            # Keras 2: `shape` is the full shape, `partition_shape` the shard's.
            full_shape = shape
            shape = _validate.shape(kwargs["partition_shape"], "partition_shape")
            offset = list(kwargs.get("partition_offset") or [0] * len(shape))
        return _sampling.variance_scaling(
            shape, dtype, self.scale, self.mode, self.distribution, self.seed,
            full_shape=full_shape, offset=offset,
        )

    def __repr__(self) -> str:
        args = [] if self._ci_preset else [
            "scale={!r}".format(self.scale),
            "mode={!r}".format(self.mode),
            "distribution={!r}".format(self.distribution),
        ]
        args.append("seed={!r}".format(self.seed))
        if self._ci_dtype is not None:
            args.append("dtype={!r}".format(self._ci_dtype.name))
        return "<compat_init {}({}) api={!r}, subclass of {}.{}>".format(
            type(self).__name__, ", ".join(args), self._ci_api,
            self._ci_native.__module__, self._ci_native.__name__,
        )


class _PresetInitializer(_CompatInitializer):
    def __init__(self, seed: Any = None, dtype: Any = None, **native_kwargs: Any) -> None:
        scale, mode, distribution = self._ci_preset  # type: ignore[misc]
        self._ci_setup(scale, mode, distribution, seed, dtype, native_kwargs)


class _VarianceScalingInitializer(_CompatInitializer):
    def __init__(
        self,
        scale: Any = 1.0,
        mode: Any = "fan_in",
        distribution: Any = "truncated_normal",
        seed: Any = None,
        dtype: Any = None,
        **native_kwargs: Any
    ) -> None:
        self._ci_setup(scale, mode, distribution, seed, dtype, native_kwargs)


@functools.lru_cache(maxsize=None)
def _init_parameters(native: type) -> frozenset:
    return frozenset(inspect.signature(native.__init__).parameters)


@functools.lru_cache(maxsize=None)
def compat_class(native: type, api: str) -> type:
    """The compat_init subclass of ``native`` for ``api`` ('v1' or 'v2')."""
    preset = PRESETS.get(native.__name__)
    mixin = _PresetInitializer if preset else _VarianceScalingInitializer
    namespace = {
        "__module__": __name__,
        "__qualname__": native.__name__,
        "__doc__": "compat_init's {} (subclass of {}.{}); see compat_init docs.".format(
            native.__name__, native.__module__, native.__name__
        ),
        "_ci_api": api,
        "_ci_native": native,
        "_ci_preset": preset,
    }
    cls = type(native.__name__, (mixin, native), namespace)
    _runtime.adopt_public_keras_name(cls, native)
    return cls
