"""The proof's inputs: parsed (arrays, shapes drawn from a seed), checked
against the legacy placeholders and fed.  Shared by the migration proof and
checkpoint conversion; it imports neither."""
from __future__ import annotations

import numbers
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from compat_init._errors import UsageError
from compat_init.parity._engine import MEMORY_BUDGET


class Drawn(np.ndarray):
    """A batch drawn for a shape (not given): an integer placeholder takes
    ids drawn anew in its range (``fit_inputs``)."""

    seed = 0


def parse_inputs(inputs: Any, seed: int) -> List[np.ndarray]:
    """``inputs``: an array, a shape (a fixed standard-normal batch drawn from
    ``seed``), or a list of either (several placeholders, in order)."""
    items = inputs if isinstance(inputs, list) else [inputs]
    rng = np.random.RandomState(seed)
    arrays: List[np.ndarray] = []
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
            drawn = rng.standard_normal(tuple(int(d) for d in item)).astype(np.float32).view(Drawn)
            drawn.seed = seed + position
            arrays.append(drawn)
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
        if dtype.is_integer and isinstance(array, Drawn):
            # A shape for an integer placeholder: ids the graph can look up.
            high, what = legacy.id_range(tensor)
            array = np.random.RandomState(array.seed).randint(0, high, size=array.shape).astype(
                dtype.as_numpy_dtype)
            notes.append("inputs for {} drawn as integers in [0, {}) ({})".format(name, high, what))
        elif dtype.is_integer and array.dtype.kind not in "iu":
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


def name_inputs(inputs: Any, placeholders: Optional[List[str]], input_map: Optional[Dict[str, str]]
                ) -> Tuple[Any, Optional[List[str]], Optional[List[str]]]:
    """Named inputs as the proof takes them: ``(inputs, the legacy
    placeholders they fill, the port's input names)``.

    ``inputs`` may be a dict ``{legacy placeholder: array or shape}`` (then
    ``placeholders`` is its keys); ``input_map`` ``{legacy placeholder: port
    input}`` names the port's inputs where they are named otherwise (BERT's
    ``input_ids`` is KerasHub's ``token_ids``).  The port's names are None when
    nothing is named; the port takes them by name where its inputs carry those
    names (``PortModel``), else by position."""
    if isinstance(inputs, dict):
        if placeholders is not None:
            raise UsageError("placeholders must not be given with named inputs (their names are the placeholders); "
                             "received placeholders={!r} and inputs named {}".format(placeholders, ", ".join(inputs)))
        if not inputs or not all(isinstance(k, str) and k for k in inputs):
            raise UsageError("inputs as a dict must map placeholder names (non-empty strings) to arrays or shapes; "
                             "received keys {!r}".format(list(inputs)))
        placeholders = list(inputs)
        inputs = [inputs[k] for k in placeholders]
    if input_map is None:
        return inputs, placeholders, [p.split(":")[0] for p in placeholders] if placeholders else None
    if not isinstance(input_map, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in input_map.items()):
        raise TypeError("input_map must be a dict {{legacy placeholder: port input name}}; received {}".format(
            type(input_map).__name__))
    if placeholders is None:
        raise UsageError("input_map needs named inputs (inputs={{name: array}}, --inputs NAME=FILE.npy or "
                         "--placeholders) to know which legacy placeholder each array fills; received input_map={}"
                         .format(input_map))
    unknown = [k for k in input_map if k.split(":")[0] not in [p.split(":")[0] for p in placeholders]]
    if unknown:
        raise UsageError("input_map must name the placeholders the inputs fill ({}); received {}".format(
            ", ".join(placeholders), ", ".join(unknown)))
    clean = {k.split(":")[0]: v for k, v in input_map.items()}
    return inputs, placeholders, [clean.get(p.split(":")[0], p.split(":")[0]) for p in placeholders]


def port_inputs(inputs: Any, input_map: Optional[Dict[str, str]], seed: int) -> Tuple[Any, Any]:
    """The arrays that build a port (a subclassed model builds its weights on
    its first call) and the names it takes them by."""
    inputs, _, names = name_inputs(inputs, None, input_map)
    return (parse_inputs(inputs, seed) if inputs is not None else None), names
