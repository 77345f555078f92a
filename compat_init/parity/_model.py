"""The weights of a Keras model and the initializers that drew them."""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Tuple

#: Weight attribute -> the attribute holding its initializer, for every
#: built-in Keras layer that takes a kernel-like initializer (Dense,
#: EinsumDense, Conv*, SeparableConv*, DepthwiseConv*, Embedding, RNN cells).
KERNEL_ATTRIBUTES = (
    ("kernel", "kernel_initializer"),
    ("recurrent_kernel", "recurrent_initializer"),
    ("depthwise_kernel", "depthwise_initializer"),
    ("pointwise_kernel", "pointwise_initializer"),
    ("embeddings", "embeddings_initializer"),
)


def layers_of(model: Any) -> list:
    """The model's layers and their sublayers (MultiHeadAttention's
    EinsumDense, an RNN's cell), depth first, each once."""
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        try:
            return list(flatten(include_self=False, recursive=True))
        except TypeError:
            pass
    found: list = []
    stack = _children(model)[::-1]
    while stack:
        layer = stack.pop()
        if any(layer is f for f in found):
            continue
        found.append(layer)
        children = _children(layer) + [getattr(layer, "cell", None)]
        stack.extend(c for c in children[::-1] if c is not None)
    return found



def _children(layer: Any) -> list:
    """A layer's direct sublayers: ``layers`` (models), else what TF 1.x Keras
    tracks in ``_layers`` (a custom ``Layer`` holding Keras layers)."""
    children = getattr(layer, "layers", None)
    if children is None:
        children = getattr(layer, "_layers", None)
    try:
        return [c for c in list(children or []) if hasattr(c, "call") and hasattr(c, "trainable_weights")]
    except TypeError:
        return []


def weight_name(weight: Any) -> str:
    """Keras 3's ``path``, else the variable name without ``:0``."""
    path = getattr(weight, "path", None)
    return str(path if path is not None else weight.name.split(":")[0])


def weights_of(model: Any, attributes: Tuple[Tuple[str, str], ...] = KERNEL_ATTRIBUTES) -> Iterator[Any]:
    """(layer, weight name, shape, initializer) for every weight of the model
    and its sublayers that one of ``attributes`` pairs with an initializer,
    each weight once (an RNN layer and its cell show the same kernel)."""
    from compat_init import _runtime

    tf = _runtime.tf()
    seen = set()
    for layer in layers_of(model):
        for weight_attr, init_attr in attributes:
            weight = getattr(layer, weight_attr, None)
            init = getattr(layer, init_attr, None)
            if weight is None or init is None or id(weight) in seen:
                continue
            seen.add(id(weight))
            yield layer, weight_name(weight), tuple(int(d) for d in tf.TensorShape(weight.shape).as_list()), init


def drawn_as(layer: Any, init: Any, shape: Tuple[int, ...]) -> Tuple[Optional[Any], Dict[str, Any], Optional[Any]]:
    """(registry row, configuration, Theory) of what ``init`` drew in
    ``layer`` at ``shape``: an EinsumDense kernel with the fan axes Keras
    3.15 builds it with.  The row is None for an initializer compat_init does
    not know; the theory is None where none is defined (orthogonal at rank 1)."""
    from compat_init import _fans, _runtime

    row, config = _fans.describe(init)
    if row is None:
        return None, {}, None
    config = dict(config)
    if row.kind == "variance_scaling":
        config.update(_runtime.einsum_fan_axes(layer, init))
    try:
        theory = _fans.theory_of_spec(_fans.spec(row, config, shape), shape,
                                      config.get("input_axes"), config.get("output_axes"))
    except ValueError:
        theory = None
    return row, config, theory


def weight_theories(model: Any) -> Dict[str, Any]:
    """weight name -> the exact distribution its initializer drew it from,
    for every kernel-like weight and bias whose initializer compat_init knows."""
    theories: Dict[str, Any] = {}
    for layer, name, shape, init in weights_of(model, KERNEL_ATTRIBUTES + (("bias", "bias_initializer"),)):
        theory = drawn_as(layer, init, shape)[2]
        if theory is not None:
            theories[name] = theory
    return theories
