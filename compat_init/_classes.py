"""The thin subclasses of the native initializer classes.

For every (registry row, native class) pair a path needs
(``init_ops.GlorotUniform``, ``keras.initializers.HeNormal``,
``keras.initializers.Orthogonal``, ...) compat_init builds, once, a subclass
with the same name that

* takes exactly the native constructor's arguments, with the native defaults
  (read from the installed class's signature, so Keras 3.15's ``input_axes`` /
  ``output_axes`` and init_ops' ``dtype`` are taken and honoured where they
  exist), with clear errors for bad values,
* draws Keras' values for a seed on every path (``_sampling``),
* draws fresh values on every unseeded call,
* honours ``dtype`` (the v1 ``GlorotUniform`` ignores it natively),
* takes fans from the full shape of a partitioned variable,
* serializes under the native public Keras name (no lock-in).

``isinstance(obj, NativeClass)`` keeps passing, and ``type(obj).from_config(
obj.get_config())`` (how Keras layers clone an initializer) gives an equal one.
"""
from __future__ import annotations

import functools
import inspect
import threading
from typing import Any, Dict, Tuple

from compat_init import _fans, _native, _registry, _runtime, _sampling, _validate

# Keyword arguments Keras 2 passes to `__call__` besides shape and dtype.
_PARTITION_KWARGS = ("partition_shape", "partition_offset")
_CALL_KWARGS = _PARTITION_KWARGS + ("layout",)


def _check_config(row: _registry.Member, params: Dict[str, Any]) -> Dict[str, Any]:
    """Validates the kind's configuration keys among ``params``; returns them."""
    kind = row.kind
    config: Dict[str, Any] = {}
    if kind == "variance_scaling":
        if "factor" in params:  # init_ops.UniformUnitScaling
            config["factor"] = _validate.positive(params["factor"], "factor")
        elif row.preset is None:
            config["scale"] = _validate.scale(params["scale"])
            config["mode"] = _validate.mode(params["mode"])
            config["distribution"] = _validate.distribution(params["distribution"])
        for key in ("input_axes", "output_axes"):
            config[key] = _validate.axes_or_none(params.get(key), key)
    elif kind == "uniform":
        maxval = params["maxval"]
        if maxval is None:  # init_ops.RandomUniform: 1.0 for floats
            maxval = 1.0
        config["minval"], config["maxval"] = _validate.bounds(params["minval"], maxval)
    elif kind == "orthogonal":
        config["gain"] = _validate.finite(params["gain"], "gain")
        if config["gain"] == 0.0:
            raise ValueError("gain must be a non-zero finite number; received gain={!r}".format(
                params["gain"]))
    else:
        config["mean"] = _validate.finite(params["mean"], "mean")
        config["stddev"] = _validate.positive(params["stddev"], "stddev")
    return config


class _CompatInitializer:
    """Behaviour shared by every compat_init initializer (a mixin)."""

    _ci_api: str = ""
    _ci_native: type = object
    _ci_member: _registry.Member

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        signature = _signature(self._ci_native)
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as error:
            raise TypeError("{}(): {}".format(type(self).__name__, error)) from None
        bound.apply_defaults()
        params = dict(bound.arguments)
        params.pop(next(iter(signature.parameters)))  # self
        config = _check_config(self._ci_member, params)
        seed = params.get("seed")
        keras_seed = _runtime.is_keras_seed_object(seed)
        if keras_seed and self._ci_api == "v1":
            _validate.keras_seed_on_v1(seed)
        if not keras_seed:
            seed = _validate.seed(seed)
        dtype = params.get("dtype")
        dtype = None if dtype is None else _validate.dtype(dtype)
        unknown = sorted(set(params) - set(config) - {"seed", "dtype"} - _registry.CONFIG_KEYS)
        if unknown:  # a native argument this version of compat_init does not know
            offered = {k: params[k] for k in unknown if params[k] is not None}
            if offered:
                raise ValueError(
                    "compat_init cannot honour {} of {}.{}; received {}".format(
                        ", ".join(sorted(offered)), self._ci_native.__module__,
                        self._ci_native.__name__,
                        ", ".join("{}={!r}".format(k, v) for k, v in sorted(offered.items()))))
        native_args = dict(params)
        native_args.update(config)
        native_args["seed"] = seed
        if "dtype" in native_args:
            # init_ops deprecates dtype in the constructor (and TF 2's v1
            # GlorotUniform drops it); it is kept below instead.
            native_args.pop("dtype")
        accepted = signature.parameters
        with _runtime.quiet_deprecations():  # UniformUnitScaling's own notice
            self._ci_native.__init__(  # type: ignore[misc]
                self, **{k: v for k, v in native_args.items() if k in accepted})
        # The natives keep these under the same names; keep them exact (Keras 3
        # replaces an unseeded seed by a random int, the v1 GlorotUniform drops
        # dtype, init_ops.RandomUniform keeps maxval=None).
        for key, value in config.items():
            setattr(self, key, value)
        if not keras_seed:  # else the native kept the (deserialized) SeedGenerator
            self.seed = seed
        if "maxval" in params and params["maxval"] is None:
            self.maxval = None  # init_ops' own default, reported as given
        self._ci_config = config
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
            them for sharded variables; ``layout`` (a DTensor layout) where the
            native class takes it (Keras 2): the values are laid out with it.
        """
        allowed = _CALL_KWARGS if _takes_layout(self._ci_native) else _PARTITION_KWARGS
        unknown = sorted(set(kwargs) - set(allowed))
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
            if not (hasattr(partition_info, "full_shape") and hasattr(partition_info, "var_offset")):
                raise TypeError(
                    "partition_info must be what tf.compat.v1.get_variable passes (with full_shape "
                    "and var_offset); received partition_info={!r}".format(partition_info))
            full_shape = _validate.shape(partition_info.full_shape, "partition_info.full_shape")
            offset = _validate.partition(shape, full_shape, list(partition_info.var_offset),
                                         "partition_info.var_offset")
        elif kwargs.get("partition_shape") is not None:
            # Keras 2: `shape` is the full shape, `partition_shape` the shard's.
            full_shape = shape
            shape = _validate.shape(kwargs["partition_shape"], "partition_shape")
            offset = _validate.partition(shape, full_shape, list(
                kwargs.get("partition_offset") or [0] * len(shape)), "partition_offset")
        whole = full_shape if full_shape is not None else shape
        _validate.rank_for(self._ci_member.kind, whole)
        spec = _fans.spec(self._ci_member, self._ci_config, whole)
        _validate.representable(spec, dtype.name, self._ci_config, whole)
        seed: Any = self.seed
        if _runtime.is_keras_seed_object(seed):
            seed = _runtime.keras_seed_tensor(seed)
        elif (seed is None and full_shape is not None and self._ci_member.kind == "orthogonal"):
            seed = _sampling.shard_seed(_runtime.tf(), self, full_shape, offset or [])

        def make(seed: Any = seed) -> Any:
            return _sampling.draw(spec, shape, dtype, seed, full_shape=full_shape, offset=offset)

        if (self._ci_api == "v2" and _runtime.keras_backend() != "tensorflow"
                and _runtime.tf().executing_eagerly()):
            # Keras on JAX or PyTorch takes the backend's tensor; inside a
            # tf.function, TensorFlow is the caller and keeps its own.
            make = functools.partial(_native.draw, make, seed, shape, dtype)

        layout = kwargs.get("layout")
        if layout is not None:
            if not hasattr(layout, "mesh"):
                raise TypeError(
                    "layout must be a tf.experimental.dtensor.Layout or None; received "
                    "layout={!r} (type {})".format(layout, type(layout).__name__))
            return _runtime.with_layout(make, layout)
        try:
            return make()
        except _runtime.tf().errors.ResourceExhaustedError:
            # Eager draws allocate here (graph draws at Session.run).
            raise MemoryError(
                "shape={} needs {:.3g} GiB as {}, more memory than TensorFlow could "
                "allocate".format(tuple(shape), _size(shape) * dtype.size / 2 ** 30, dtype.name)) from None

    def __repr__(self) -> str:
        args = ["{}={!r}".format(k, v) for k, v in self._ci_config.items()
                if v is not None or k not in ("input_axes", "output_axes")]
        args.append("seed={!r}".format(self.seed))
        if self._ci_dtype is not None:
            args.append("dtype={!r}".format(self._ci_dtype.name))
        return "<compat_init {}({}) api={!r}, subclass of {}.{}>".format(
            type(self).__name__, ", ".join(args), self._ci_api,
            self._ci_native.__module__, self._ci_native.__name__,
        )


def _size(shape: Tuple[int, ...]) -> int:
    size = 1
    for dim in shape:
        size *= dim
    return size


@functools.lru_cache(maxsize=None)
def _takes_layout(native: type) -> bool:
    """Keras 2 (TF <= 2.15, tf_keras) initializers take ``**kwargs`` in
    ``__call__``, ``layout`` (DTensor) among them; Keras 3 and init_ops do not."""
    return any(p.kind is inspect.Parameter.VAR_KEYWORD
               for p in inspect.signature(native.__call__).parameters.values())


@functools.lru_cache(maxsize=None)
def _signature(native: type) -> inspect.Signature:
    return inspect.signature(native.__init__)  # type: ignore[misc]


#: One class per (row, native, api), whatever the concurrency: the first build
#: holds the lock, so threads that miss together get the same class.
_CLASSES: Dict[Tuple[Any, type, str], type] = {}
_CLASSES_LOCK = threading.Lock()


def compat_class(row: _registry.Member, native: type, api: str) -> type:
    """The compat_init subclass of ``native`` for ``row`` and ``api`` ('v1' or 'v2')."""
    key = (row, native, api)
    found = _CLASSES.get(key)
    if found is None:
        with _CLASSES_LOCK:
            found = _CLASSES.get(key)
            if found is None:
                found = _CLASSES[key] = _build_class(row, native, api)
    return found


def _build_class(row: _registry.Member, native: type, api: str) -> type:
    namespace = {
        "__module__": __name__,
        "__qualname__": native.__name__,
        "__doc__": "compat_init's {} (subclass of {}.{}); see compat_init.{}.".format(
            native.__name__, native.__module__, native.__name__, row.name
        ),
        "__init__": _with_native_signature(native),
        "_ci_api": api,
        "_ci_native": native,
        "_ci_member": row,
    }
    cls = type(native.__name__, (_CompatInitializer, native), namespace)
    _runtime.adopt_public_keras_name(cls, native)
    return cls


def _with_native_signature(native: type) -> Any:
    """``_CompatInitializer.__init__`` showing the native signature (help(),
    IDEs, and Keras code that inspects constructors)."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _CompatInitializer.__init__(self, *args, **kwargs)

    __init__.__signature__ = _signature(native)  # type: ignore[attr-defined]
    return __init__


def member_and_native(name: str, api: str) -> Tuple[_registry.Member, type]:
    """The row called ``name`` and the native class its ``api`` path subclasses."""
    row = _registry.member(name)
    native = _runtime.native_v2_class(row) if api == "v2" else _runtime.native_v1_class(row)
    return row, native
