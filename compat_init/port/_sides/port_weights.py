"""A port's weights found and ordered: creation numbering on every backend,
raw ``tf.Variable``s Keras does not track, zero-initialized weights while a
conversion builds the port, the kernel axes a layer states."""
from __future__ import annotations

import contextlib
import inspect
import itertools
import re
from typing import Any, Dict, Iterator, List, Tuple

from compat_init import _runtime
from compat_init.parity._model import layers_of
from compat_init.port._core.rules import einsum_axes


def output_list(out: Any) -> List[Any]:
    if isinstance(out, dict):
        return [out[k] for k in sorted(out, key=str)]
    if isinstance(out, (list, tuple)):
        return list(out)
    return [out]


def _creation_key(variable: Any) -> Tuple[int, str]:
    """Creation order of raw variables: TF numbers each eager variable's
    handle (``_unique_id``), :func:`_numbered_variables` a Keras 3 variable
    on another backend; the name otherwise."""
    number = getattr(variable, _NUMBER, None)
    if number is not None:
        return number, str(getattr(variable, "name", ""))
    match = re.search(r"(\d+)$", str(getattr(variable, "_unique_id", "")))
    return (int(match.group(1)) if match else 1 << 62, str(getattr(variable, "name", "")))


_NUMBER = "_compat_init_creation"
_NUMBERS = itertools.count()


@contextlib.contextmanager
def numbered_variables() -> Iterator[None]:
    """Each Keras 3 variable created inside is numbered in creation order
    (on JAX and PyTorch nothing else is: TensorFlow numbers its variables'
    handles), through Keras' common ``Variable.__init__``."""
    if _runtime.keras_backend() == "tensorflow":
        yield
        return
    import keras

    base = next(c for c in type.mro(keras.Variable) if c.__module__.endswith("common.variables"))
    original = base.__dict__["__init__"]

    def numbered(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        object.__setattr__(self, _NUMBER, next(_NUMBERS))

    setattr(base, "__init__", numbered)
    try:
        yield
    finally:
        setattr(base, "__init__", original)


def in_creation_order(weights: List[Any]) -> List[Any]:
    """``weights`` in the order they were created, where every one says
    (an eager variable's handle number; a Keras 3 weight's through its
    ``value``): Keras 3 lists a functional model's weights layer by layer in
    another order (``conv2d_8, conv2d_6, conv2d_9, ...`` in InceptionV3).
    As listed otherwise (graph variables)."""
    keys = [_creation_key(weight if hasattr(weight, "_unique_id") or hasattr(weight, _NUMBER)
                          else getattr(weight, "value", weight))[0] for weight in weights]
    if (1 << 62) in keys or len(set(keys)) != len(keys):
        return list(weights)
    return [w for _, w in sorted(zip(keys, weights), key=lambda pair: pair[0])]


def raw_variables(root: Any, tf: Any) -> List[Any]:
    """``tf.Variable``s held in the attributes of ``root`` and of the objects
    it holds (layers, modules, lists, dicts): what Keras 3 does not track."""
    found: Dict[int, Any] = {}
    seen: set = set()
    stack = [root]
    while stack and len(seen) < 100000:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, tf.Variable):
            # a model's weights: trainable floats (not Keras' own step counters)
            if obj.trainable and obj.dtype.is_floating:
                found.setdefault(id(obj), obj)
            continue
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif obj is root or isinstance(obj, tf.Module) or hasattr(obj, "trainable_weights"):
            try:
                stack.extend(vars(obj).values())
            except TypeError:
                pass
    return sorted(found.values(), key=_creation_key)


def kernel_axes_of_model(model: Any) -> Dict[int, Tuple[str, ...]]:
    """id(kernel) -> what each of its axes is, for the layers that say it
    themselves (``EinsumDense``: its equation), so a reshaped pairing can be
    checked against them (``rules.axes_agree``)."""
    found: Dict[int, Tuple[str, ...]] = {}
    if not hasattr(model, "trainable_weights"):
        return found
    try:
        layers = layers_of(model)
    except Exception:  # noqa: BLE001 - a model compat_init cannot walk: the convention applies
        return found
    for layer in layers:
        equation = getattr(layer, "equation", None)
        kernel = getattr(layer, "kernel", None)
        if isinstance(equation, str) and kernel is not None:
            meaning = einsum_axes(equation)
            if meaning is not None and len(meaning) == len(getattr(kernel, "shape", ())):
                found[id(kernel)] = meaning
    return found


@contextlib.contextmanager
def zeros_initialized(tf: Any, active: bool) -> Iterator[None]:
    """While a conversion builds its port (``active``), every Keras weight
    starts as zeros instead of its initializer's draw: the checkpoint fills
    them all (a weight it leaves unfilled stops the conversion), and a large
    random draw costs several times the weight's memory (measured: a 2 GiB
    glorot_uniform kernel peaks at 3.1x while building)."""
    layer_class: Any = getattr(getattr(getattr(tf, "keras", None), "layers", None), "Layer", None)
    original = getattr(layer_class, "add_weight", None)
    if not active or layer_class is None or original is None:
        yield
        return
    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):
        yield
        return

    def add_weight(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return original(*args, **kwargs)
        if "initializer" in signature.parameters:
            bound.arguments["initializer"] = "zeros"
        return original(*bound.args, **bound.kwargs)

    layer_class.add_weight = add_weight
    try:
        yield
    finally:
        layer_class.add_weight = original
