"""The v2 path's tensor on Keras 3's other backends (JAX, PyTorch, NumPy).

TensorFlow draws the values, on the host, exactly as it does on the
TensorFlow backend and in a v1 Session: one seed gives one tensor whichever
backend Keras runs on (Keras' own initializers draw with each backend's own
generator, and differ).  The result is the backend's own tensor
(``jax.Array``, ``torch.Tensor``), so it works where Keras' own initializers
do: layer builds, ``SeedGenerator`` seeds, and inside ``jax.jit``, where a
traced seed is drawn through ``jax.pure_callback``.
"""
from __future__ import annotations

from typing import Any, Callable, Tuple

from compat_init import _runtime


def draw(make: Callable[[Any], Any], seed: Any, shape: Tuple[int, ...], dtype: Any) -> Any:
    """``make(tf_seed)`` (a TensorFlow tensor) as the backend's tensor of
    ``dtype`` (a ``tf.DType``).  ``seed``: an int, None, or a seed Keras
    drew from a ``SeedGenerator`` on this backend (a JAX tracer inside
    ``jax.jit``)."""
    if _runtime.keras_backend() == "torch":
        return _torch_eager()(make, seed, shape, dtype)
    return _draw(make, seed, shape, dtype)


def _draw(make: Callable[[Any], Any], seed: Any, shape: Tuple[int, ...], dtype: Any) -> Any:
    import numpy as np
    from keras import ops

    def host(values: Any) -> np.ndarray:
        return np.asarray(make(_runtime.tf_seed(values)))

    if seed is None or isinstance(seed, int):
        return ops.convert_to_tensor(np.asarray(make(seed)), dtype=dtype.name)
    if _traced(seed):
        import jax

        return jax.pure_callback(host, jax.ShapeDtypeStruct(tuple(shape), np.dtype(dtype.as_numpy_dtype)), seed)
    return ops.convert_to_tensor(host(ops.convert_to_numpy(seed)), dtype=dtype.name)


_TORCH_EAGER: Any = None


def _torch_eager() -> Any:
    """:func:`_draw` kept out of ``torch.compile``'s tracing (TorchDynamo
    cannot trace TensorFlow): a compiled function runs the draw eagerly, as
    a graph break, and compiles the rest."""
    global _TORCH_EAGER
    if _TORCH_EAGER is None:
        import torch

        _TORCH_EAGER = torch.compiler.disable(_draw, recursive=True)
    return _TORCH_EAGER


def _traced(value: Any) -> bool:
    """A JAX tracer (inside ``jax.jit``): its values exist only when the
    compiled function runs."""
    if _runtime.keras_backend() != "jax":
        return False
    import jax

    return isinstance(value, jax.core.Tracer)
