"""compat_init: one import for the right weight initializer in TF1 and TF2 code.

``compat_init.glorot_uniform()`` (and the rest of the random family: he/lecun,
variance scaling, truncated/random normal, random uniform, orthogonal)
returns a ``tf.keras.initializers`` object in eager/TF2 code and a
``tf.compat.v1`` initializer in graph/Session code, and a seed gives the same
tensor, bit for bit, on both paths and on every supported TensorFlow.

TensorFlow is imported on first use, not at ``import compat_init``.
"""
from compat_init._dispatch import active_api, runtime_info, use_api
from compat_init._fans import Theory, compute_fans, theory
from compat_init._runtime import RuntimeInfo
from compat_init.initializers import (
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    lecun_normal,
    lecun_uniform,
    orthogonal,
    random_normal,
    random_uniform,
    truncated_normal,
    uniform_unit_scaling,
    variance_scaling,
    xavier_initializer,
    xavier_initializer_conv2d,
    xavier_normal,
    xavier_uniform,
)

__version__ = "0.1.0"

__all__ = [
    # Initializer factories
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "variance_scaling",
    "truncated_normal",
    "random_normal",
    "random_uniform",
    "orthogonal",
    "uniform_unit_scaling",
    # Aliases
    "xavier_initializer",
    "xavier_initializer_conv2d",
    "xavier_normal",
    "xavier_uniform",
    # Utilities
    "compute_fans",
    "theory",
    "Theory",
    # Dispatch and runtime
    "active_api",
    "use_api",
    "runtime_info",
    "RuntimeInfo",
    "__version__",
]
