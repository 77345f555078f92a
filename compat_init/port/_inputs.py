"""The proof's inputs: parsed (arrays, shapes drawn from a seed), checked
against the legacy placeholders and fed.  Shared by the migration proof and
checkpoint conversion; it imports neither."""
from __future__ import annotations

import numbers
from typing import Any, List, Tuple

import numpy as np

from compat_init._errors import UsageError
from compat_init.parity._engine import MEMORY_BUDGET


def parse_inputs(inputs: Any, seed: int) -> List[np.ndarray]:
    """``inputs``: an array, a shape (a fixed standard-normal batch drawn from
    ``seed``), or a list of either (several placeholders, in order)."""
    items = inputs if isinstance(inputs, list) else [inputs]
    rng = np.random.RandomState(seed)
    arrays = []
    for position, item in enumerate(items):
        label = "inputs" if len(items) == 1 else "inputs[{}]".format(position)
        if isinstance(item, tuple) and all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                                           for d in item):
            if not item or any(d <= 0 for d in item):
                raise UsageError("{} as a shape must have positive dimensions; received {}".format(label, item))
            size = 4 * int(np.prod([int(d) for d in item], dtype=object))
            if size > MEMORY_BUDGET:
                raise UsageError("{} shape {} needs {:.3g} GiB, over the {:.3g} GiB budget".format(
                    label, item, size / 2 ** 30, MEMORY_BUDGET / 2 ** 30))
            arrays.append(rng.standard_normal(tuple(int(d) for d in item)).astype(np.float32))
            continue
        try:
            array = np.asarray(item)
        except Exception as error:  # noqa: BLE001 - anything numpy refuses
            raise UsageError("{} must be an array or a shape; received {} ({})".format(
                label, type(item).__name__, error)) from None
        if array.dtype.kind not in "fiub" or array.ndim < 1:
            raise UsageError("{} must be numeric arrays of rank >= 1 or shapes (tuples of positive ints); received "
                             "an array of dtype {} and shape {}".format(label, array.dtype, array.shape))
        if array.shape[0] == 0:
            raise UsageError("{} must have at least one row; received shape {} (an empty batch compares "
                             "nothing)".format(label, array.shape))
        if array.nbytes > MEMORY_BUDGET:
            raise UsageError("{} has {:.3g} GiB, over the {:.3g} GiB budget".format(
                label, array.nbytes / 2 ** 30, MEMORY_BUDGET / 2 ** 30))
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise UsageError("{} must be finite; received {} NaN or infinite value(s)".format(
                label, int(np.size(array) - np.count_nonzero(np.isfinite(array)))))
        arrays.append(array)
    return arrays


def fit_inputs(arrays: List[np.ndarray], legacy: Any) -> Tuple[List[np.ndarray], List[str]]:
    """The arrays checked against the legacy placeholders (``legacy.inputs``):
    count, shape, dtype; float64 cast to a float32 placeholder, with a note."""
    if len(arrays) != len(legacy.inputs):
        raise UsageError(
            "the legacy graph has {} input placeholder(s) ({}) for {} input array(s); name them with "
            "placeholders=[...] (--placeholders) or pass one array per placeholder".format(
                len(legacy.inputs), ", ".join(t.op.name for t in legacy.inputs) or "none", len(arrays)))
    fitted, notes = [], []
    for tensor, array in zip(legacy.inputs, arrays):
        name = tensor.op.name
        if not tensor.shape.is_compatible_with(array.shape):
            raise UsageError("inputs for placeholder {} must have shape {}; received shape {}".format(
                name, tuple(tensor.shape.as_list()) if tensor.shape.ndims is not None else "(any)", array.shape))
        dtype = tensor.dtype.base_dtype
        if dtype.is_integer and array.dtype.kind not in "iu":
            raise UsageError("inputs for placeholder {} must be integers ({}); received dtype {}".format(
                name, dtype.name, array.dtype))
        if dtype.is_floating and array.dtype != dtype.as_numpy_dtype:
            if array.dtype.kind == "f" and np.dtype(array.dtype).itemsize > np.dtype(dtype.as_numpy_dtype).itemsize:
                notes.append("inputs for {} cast from {} to {}, the placeholder's dtype".format(
                    name, array.dtype, dtype.name))
            array = array.astype(dtype.as_numpy_dtype)
        elif dtype.is_integer:
            array = array.astype(dtype.as_numpy_dtype)
        fitted.append(array)
    return fitted, notes
