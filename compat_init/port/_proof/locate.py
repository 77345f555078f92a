"""Where two functions part: inputs fed in another order, else the first layer
of the port whose input-dependent output matches no tensor of the legacy
graph."""
from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import numpy as np

from compat_init.port._core.numerics import NOISE_FACTOR, compare, largest_abs
from compat_init._choices import PRECISIONS
from compat_init.port._core.text import shape_text
from compat_init.port._sides.drivers import port_side
from compat_init.port._sides.legacy import LegacyModel
from compat_init.port._sides.port import PortModel


def locate(legacy: LegacyModel, port: PortModel, arrays: List[np.ndarray], expected: Sequence[np.ndarray] = (),
           allowed: Sequence[float] = ()) -> str:
    """Where the port departs from the legacy model, in words: inputs fed in
    another order (a permutation of them makes the outputs agree), else the
    first layer of the port (nested layers included, in the order their calls
    finish) whose output depends on the inputs and matches no tensor of the
    legacy graph (same shape, within the outputs' relative allowance).
    Layers whose output does not depend on the inputs (a position embedding's
    table) have no counterpart to find and are passed over."""
    swapped = _swapped_inputs(legacy, port, arrays, expected, allowed)
    if swapped:
        return swapped
    layers, why = port.layer_outputs(arrays)
    if not layers:
        return "the port's intermediate outputs cannot be read: {}; compare its layers one by one".format(why)
    constant = _input_independent(port, arrays, layers)
    relative = max([NOISE_FACTOR * PRECISIONS["float32"]] + [
        a / s for a, s in zip(allowed, (largest_abs(e) for e in expected)) if s > 0])
    candidates, unread = legacy.candidates_at(arrays)
    previous = matched = None
    for position, (name, cls, value) in enumerate(layers):
        if position in constant:
            continue
        same_shape = {k: v for k, v in candidates.items() if v.shape == value.shape}
        best = None
        found = None
        for tensor, old in same_shape.items():  # in graph order: keep the last match
            result = compare(tensor, value, old, allowed_abs=relative * largest_abs(old))
            if result.passed:
                found = tensor
            elif best is None or result.max_rel < best.max_rel:
                best = result
        if found is None:
            closest = ("the closest legacy tensor of that shape, {}, differs by {:.3g} (relative {:.3g})".format(
                best.name, best.max_abs, best.max_rel) if best else
                "the legacy graph has no tensor of shape {} (its batch tensors have shapes {})".format(
                    shape_text(value.shape), ", ".join(sorted(set(shape_text(v.shape) for v in candidates.values())))
                    or "none readable"))
            words = ["the first layer whose output differs is {} ({}, output {}): {}".format(
                name, cls, shape_text(value.shape), closest)]
            if previous:
                words.append("everything before it agrees ({}'s output is the legacy {})".format(previous, matched))
                activation = legacy.activation_after(matched)
                if activation:
                    words.append("the legacy graph applies {} to that tensor and the port does not: is {}'s "
                                 "activation missing?".format(activation, previous))
            if unread:
                words.append("{} legacy tensor(s) could not be read ({})".format(len(unread), unread[0]))
            text = "; ".join(words)
            return text + (" " if text.endswith("?") else ". ") + (
                "Check the layer's activation, padding, strides, and the layout of its kernel.")
        if found != matched:  # a layer that passes its input through (dropout at inference) names nothing new
            previous, matched = name, found
    return "every layer's output agrees: the difference comes after the last layer (the loss or the update)"


def _swapped_inputs(legacy: Any, port: PortModel, arrays: List[np.ndarray], expected: Sequence[np.ndarray],
                    allowed: Sequence[float]) -> str:
    """Words naming the inputs when another order of them (arrays of the same
    shape and dtype exchanged, up to 4 inputs) makes every output agree;
    "" otherwise."""
    import itertools

    if not expected or not 1 < len(arrays) <= 4:
        return ""
    same = lambda i, j: arrays[i].shape == arrays[j].shape and arrays[i].dtype == arrays[j].dtype  # noqa: E731
    for order in itertools.permutations(range(len(arrays))):
        if order == tuple(range(len(arrays))) or not all(same(i, j) for i, j in enumerate(order)):
            continue
        try:
            outputs = port_side(port, [arrays[j] for j in order]).forward(False)
        except Exception:  # noqa: BLE001 - an order the port cannot run is not the answer
            continue
        if len(outputs) == len(expected) and all(
                compare("", o, e, allowed_abs=a).passed for o, e, a in zip(outputs, expected, allowed)):
            names = legacy.input_names
            port_names = port.input_names or ["the port's input {}".format(i) for i in range(len(arrays))]
            moves = ["{} -> {}".format(names[j], port_names[i]) for i, j in enumerate(order) if i != j]
            return ("the inputs are swapped: fed as {}, the port's outputs agree with the legacy ones; check the "
                    "order of the port's inputs (or --input-map)".format(", ".join(moves)))
    return ""


def _input_independent(port: PortModel, arrays: List[np.ndarray], layers: List[Tuple[str, str, Any]]) -> set:
    """The positions (in ``layers``) of layer outputs that stay the same when
    the batch's rows are rotated: they do not depend on the inputs."""
    if not arrays or arrays[0].ndim == 0 or arrays[0].shape[0] < 2:
        return set()
    rolled, _ = port.layer_outputs([np.roll(a, 1, axis=0) for a in arrays])
    if len(rolled) != len(layers):
        return set()
    return {i for i, ((n, _, a), (m, _, b)) in enumerate(zip(layers, rolled))
            if n == m and np.shape(a) == np.shape(b) and np.array_equal(a, b)}
