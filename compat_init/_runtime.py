"""The one place that knows TensorFlow/Keras versions, flavour and execution context.

Everything else in compat_init asks this module; nothing else looks at a version
string.  TensorFlow is imported lazily, on first use, so that ``import compat_init``
and ``compat-init --help`` stay cheap.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import sys
import types
import warnings
from typing import Any, NamedTuple, Optional

from packaging.version import Version

#: The TensorFlow releases the test matrix covers (1.15, 2.15, 2.21).  Releases
#: between the ends are expected to work; outside them we warn once.
TESTED_MIN = Version("1.15.0")
TESTED_MAX_EXCLUSIVE = Version("2.22.0")

_INSTALL_HINT = (
    "compat_init needs TensorFlow, which could not be imported ({error}). "
    'Install it with `pip install "compat-init[cpu]"` (tensorflow-cpu), '
    '`pip install "compat-init[gpu]"` (tensorflow), or any TensorFlow build you '
    "prefer (tf-nightly, tensorflow-macos, ...); supported: "
    "{lo} <= tensorflow < {hi}."
)


@functools.lru_cache(maxsize=None)
def tf() -> Any:
    """Imports and returns the ``tensorflow`` module (once)."""
    try:
        import tensorflow
    except ImportError as error:
        raise ImportError(
            _INSTALL_HINT.format(error=error, lo=TESTED_MIN, hi=TESTED_MAX_EXCLUSIVE)
        ) from error
    warn_if_untested(tensorflow.__version__)
    return tensorflow


def warn_if_untested(version: str) -> None:
    """One RuntimeWarning naming the tested range when ``version`` is outside
    it, attributed to the user's line that first needed TensorFlow."""
    if not in_tested_range(Version(version)):
        warnings.warn(
            "compat_init is tested with {} <= tensorflow < {}; found tensorflow "
            "{}. Seeded values may differ from Keras on this version.".format(
                TESTED_MIN, TESTED_MAX_EXCLUSIVE, version
            ),
            RuntimeWarning,
            stacklevel=_user_stacklevel(),
        )


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside compat_init, functools
    and TensorFlow (seen from ``warnings.warn``'s caller)."""
    package = os.path.dirname(os.path.abspath(__file__))
    skip = (package, os.path.dirname(functools.__file__))
    frame: Optional[types.FrameType] = sys._getframe(2)  # warn_if_untested's caller
    level = 2
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(skip) and "tensorflow" not in filename.split(os.sep):
            return level
        frame = frame.f_back
        level += 1
    return 2


def in_tested_range(version: Version) -> bool:
    """Whether ``version`` (pre-releases and nightlies by their base) is tested."""
    base = Version(version.base_version)
    return TESTED_MIN <= base < TESTED_MAX_EXCLUSIVE


@functools.lru_cache(maxsize=None)
def tf_version() -> Version:
    return Version(tf().__version__)


def is_tf1() -> bool:
    return tf_version() < Version("2.0.0")


@functools.lru_cache(maxsize=None)
def keras_initializers() -> Any:
    """The module that ``tf.keras.initializers`` names on this installation."""
    return tf().keras.initializers


@functools.lru_cache(maxsize=None)
def keras_flavour() -> str:
    """One of ``"tf1"``, ``"keras2"``, ``"tf_keras"``, ``"keras3"``.

    * ``tf1``: TensorFlow 1.x, whose ``tf.keras`` (2.2.4-tf) reuses ``init_ops``.
    * ``keras2``: the Keras 2 built into TensorFlow 2.0 - 2.15.
    * ``tf_keras``: the ``tf_keras`` package (TensorFlow >= 2.16 with
      ``TF_USE_LEGACY_KERAS=1``).
    * ``keras3``: Keras 3 (TensorFlow >= 2.16 default).
    """
    if is_tf1():
        return "tf1"
    module = keras_initializers().VarianceScaling.__module__
    if module.startswith("tf_keras."):
        return "tf_keras"
    if module.startswith("keras.") and keras_version() >= Version("3.0.0"):
        return "keras3"
    return "keras2"


@functools.lru_cache(maxsize=None)
def keras3_weights_store() -> Any:
    """Keras 3's ``.weights.h5`` writer as the port's weights file saver can
    reuse it (``saving_lib._save_state`` walking the model into an
    ``H5IOStore`` that is its own entry and creates the h5py groups, as
    recent Keras 3 releases do), or ``None`` where the layout differs (then
    ``save_weights`` writes)."""
    if keras_flavour() != "keras3":
        return None
    try:
        saving_lib = importlib.import_module("keras.src.saving.saving_lib")
    except ImportError:
        return None
    store = getattr(saving_lib, "H5IOStore", None)
    wanted = ("_create_h5_group", "make", "close")
    if store is None or not callable(getattr(saving_lib, "_save_state", None)) or not all(
            hasattr(store, name) for name in wanted):
        return None
    return saving_lib


@functools.lru_cache(maxsize=None)
def keras_version() -> Version:
    """The version of the Keras that ``tf.keras`` resolves to."""
    if is_tf1():
        return Version(tf().keras.__version__.replace("-tf", ""))
    module = keras_initializers().VarianceScaling.__module__.split(".")[0]
    if module == "tensorflow":  # TF 2.0 - 2.5: tf.keras is tensorflow.python.keras
        return Version(str(tf().keras.__version__).replace("-tf", ""))
    if module == "keras" and tf_version() >= Version("2.16.0"):
        return Version(importlib.import_module("keras").__version__)
    if module == "tf_keras":
        return Version(importlib.import_module("tf_keras").__version__)
    # Keras 2.x shipped as the `keras` package pinned to the TF release.
    keras = importlib.import_module("keras")
    return Version(getattr(keras, "__version__", tf().__version__))


def uniform_bounds_through_float32() -> bool:
    """Keras 3 casts the Python-float uniform bounds with ``tf.cast`` (via float32).

    Keras 3.x (``keras/src/backend/tensorflow/random.py``) passes
    ``tf.cast(minval, dtype)``: a Python float becomes float32 first.  Keras 2
    (TF <= 2.15, tf_keras) and ``init_ops`` convert the Python float straight to
    the target dtype.  The two only differ for float64 (and in principle for a
    double rounding in float16/bfloat16).
    """
    return keras_flavour() == "keras3"


def stateless_counter_ops() -> bool:
    """Whether a draw can start at any point of a stateless random stream.

    TF >= 2.7 exposes the key/counter form of the stateless ops
    (``StatelessRandomGetKeyCounter``, ``Stateless*V2``) and
    ``tf.random.Algorithm.AUTO_SELECT``, the algorithm ``tf.random.stateless_*``
    uses.  TF 1.15 has only the seed form, whose counter starts at 0.
    """
    tf_module = tf()
    algorithm = getattr(tf_module.random, "Algorithm", None)
    return hasattr(tf_module.raw_ops, "StatelessRandomGetKeyCounter") and hasattr(
        algorithm, "AUTO_SELECT"
    )


def executing_eagerly_outside_functions() -> bool:
    """True in eager code and inside ``tf.function`` of an eager program."""
    tf_module = tf()
    v1 = tf_module.compat.v1
    if hasattr(v1, "executing_eagerly_outside_functions"):  # TF >= 2.0
        return bool(v1.executing_eagerly_outside_functions())
    # TF 1.15 has it, unexported, in the framework.
    from tensorflow.python.framework import ops  # type: ignore

    return bool(ops.executing_eagerly_outside_functions())


@functools.lru_cache(maxsize=None)
def numpy_max_dims() -> int:
    """The most dimensions a numpy array can have: 64 from numpy 2.0, 32 before
    (what a Session or ``.numpy()`` can hand back)."""
    import numpy

    for rank in (64, 32):
        try:
            numpy.empty((1,) * rank)
            return rank
        except ValueError:
            continue
    return 32  # pragma: no cover


@contextlib.contextmanager
def differentiable_control_flow() -> Any:
    """Control flow v2 (TF 2's ``tf.cond``/``while_loop`` in a graph) built in
    this block keeps every intermediate as an output, so that
    ``tf.gradients`` can be taken later in the same graph ("Connecting to
    invalid output 1 of source node cond" otherwise).  TF 1.x builds v1
    control flow, which needs nothing."""
    try:
        from tensorflow.python.ops import control_flow_util_v2 as util  # TF >= 2.0
    except ImportError:
        yield
        return
    name = "_EXPERIMENTAL_OUTPUT_ALL_INTERMEDIATES_OVERRIDE"
    if not hasattr(util, name):  # pragma: no cover - TF 2.0 - 2.1
        yield
        return
    previous = getattr(util, name)
    setattr(util, name, True)
    try:
        yield
    finally:
        setattr(util, name, previous)


def can_evaluate_eagerly() -> bool:
    """True where a tensor made here has values at once: TF 2 with eager
    execution on in this thread.  False on TF 1.x (even with eager enabled:
    parity keeps TF 1.x in Sessions), after ``disable_eager_execution()``,
    and inside a Graph's ``as_default()``."""
    return not is_tf1() and bool(tf().executing_eagerly())


def fetchable_variable(weight: Any) -> Any:
    """What ``Session.run`` accepts for a Keras weight: Keras 3 (3.0+) wraps
    a ``tf.Variable`` in ``keras.Variable`` (its ``.value``); Keras 2 and
    tf.keras 1.15 weights are ``tf.Variable`` already."""
    if keras_flavour() == "keras3":
        return weight.value
    return weight


def keras_floatx() -> str:
    return str(tf().keras.backend.floatx())


# Native classes ------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def native_v1_class(row: Any) -> type:
    """The ``tf.compat.v1`` initializer class of a registry row: the class of
    what its ``tf.compat.v1`` function returns (``init_ops.GlorotUniform``,
    ``init_ops.TruncatedNormal``, ...)."""
    function = getattr(tf().compat.v1, row.v1, None)
    if function is None:
        raise ValueError(
            "{} has no v1 class on TensorFlow {}: tf.compat.v1.{} is missing".format(
                row.name, tf_version(), row.v1))
    if row.v1 == "uniform_unit_scaling_initializer":
        # Its constructor logs a deprecation notice; the class is all we need.
        from tensorflow.python.ops import init_ops  # type: ignore  # TF 1.15 - 2.21

        return init_ops.UniformUnitScaling
    return type(function())


def v1_initializer_base() -> type:
    """``init_ops.Initializer``, the base of every ``tf.compat.v1`` initializer."""
    tf()
    from tensorflow.python.ops import init_ops  # type: ignore  # TF 1.15 - 2.21

    return init_ops.Initializer


@functools.lru_cache(maxsize=None)
def native_v2_class(row: Any) -> type:
    """The class ``tf.keras.initializers`` names for a registry row.

    Looked up by the row's Keras names, never by a class's ``__name__`` (Keras
    3's orthogonal class is exported as both ``Orthogonal`` and
    ``OrthogonalInitializer``).  TF 1.15's ``tf.keras.initializers`` has no
    ``GlorotUniform`` class: there ``glorot_uniform``/``glorot_normal`` are the
    ``init_ops`` classes and the he/lecun names are functions returning
    ``VarianceScaling``.
    """
    module = keras_initializers()
    for name in row.keras + (row.name,):
        candidate = getattr(module, name, None)
        if isinstance(candidate, type):
            return candidate
    if row.kind == "variance_scaling":  # TF 1.15: he_*/lecun_* are functions
        return module.VarianceScaling
    raise ValueError("{} has no Keras class on this installation (tf.keras.initializers.{} "
                     "is missing)".format(row.name, row.keras[0]))


@functools.lru_cache(maxsize=None)
def keras_fan_axes() -> bool:
    """Keras' VarianceScaling takes ``input_axes``/``output_axes`` (Keras 3.15+)."""
    return keras_flavour() == "keras3" and "input_axes" in inspect.signature(
        keras_initializers().VarianceScaling.__init__).parameters


def einsum_fan_axes(layer: Any, initializer: Any) -> dict:
    """The fan axes Keras 3.15+ gives a variance-scaling kernel initializer of
    an ``EinsumDense`` (so of every ``MultiHeadAttention``) when it builds:
    ``{"input_axes": [...], "output_axes": [...]}``, or ``{}`` where it gives
    none (``keras/src/layers/core/einsum_dense.py``: ``_analyze_einsum_string``
    puts a kernel axis among the output axes when its letter is in the output
    spec, else among the input axes).  The layer's own
    ``kernel_initializer`` keeps no axes: the clone with them is not kept."""
    if getattr(initializer, "input_axes", None) is not None and getattr(
            initializer, "output_axes", None) is not None:
        return {"input_axes": initializer.input_axes, "output_axes": initializer.output_axes}
    if not keras_fan_axes():
        return {}
    if "EinsumDense" not in {c.__name__ for c in type(layer).__mro__}:
        return {}
    inputs, output = str(layer.equation).split("->")
    kernel_spec = inputs.split(",")[1].strip()
    output = output.strip()
    return {
        "input_axes": [i for i, c in enumerate(kernel_spec) if c not in output],
        "output_axes": [i for i, c in enumerate(kernel_spec) if c in output],
    }


def is_keras_seed_object(seed: Any) -> bool:
    """A Keras 3 ``SeedGenerator`` (or its serialized config) as a seed."""
    if isinstance(seed, dict):
        return keras_flavour() == "keras3"
    if seed is None or isinstance(seed, int) or "keras" not in sys.modules:
        return False  # no SeedGenerator exists before Keras is imported: a bad seed is refused without TF
    if keras_flavour() != "keras3":
        return False
    random = importlib.import_module("keras.random")
    return isinstance(seed, random.SeedGenerator)


def keras_seed_tensor(seed: Any) -> Any:
    """The ``[2]`` seed Keras 3 draws from a ``SeedGenerator`` for one call
    (advancing it once): on the TensorFlow backend the int32 tensor TF's
    stateless ops take (``keras/src/backend/tensorflow/random.py``:
    ``_cast_seed(draw_seed(seed))``); on another backend the backend's own
    array (a JAX tracer inside ``jax.jit``), for :func:`tf_seed` where
    TensorFlow draws."""
    drawn = importlib.import_module("keras.src.random.seed_generator").draw_seed(seed)
    return tf_seed(drawn) if keras_backend() == "tensorflow" else drawn


def tf_seed(values: Any) -> Any:
    """A drawn Keras seed (a tensor or array of two integers, in any
    backend's seed dtype: int64, uint32, int32) as
    the int32 tensor Keras' TensorFlow backend draws with: the same pair of
    numbers gives the same tensor whichever backend's generator drew it."""
    if not tf().is_tensor(values):
        import numpy as np

        # As the TF backend holds it (int64): the same numbers, whatever the
        # backend's seed dtype (JAX's uint32, PyTorch's int32), give the
        # same int32 seed below.
        values = tf().constant(np.asarray(values).astype(np.int64))
    return importlib.import_module("keras.src.backend.tensorflow.random")._cast_seed(values)


@functools.lru_cache(maxsize=None)
def keras_backend() -> str:
    """Keras 3's backend (``keras.backend.backend()``: ``"tensorflow"``,
    ``"jax"``, ``"torch"``, ``"numpy"``, ...); ``"tensorflow"`` for TF 1.x,
    Keras 2 and tf_keras, which have no other."""
    if keras_flavour() != "keras3":
        return "tensorflow"
    return str(importlib.import_module("keras").backend.backend())


def quiet_deprecations() -> Any:
    """TF's deprecation notices off (``deprecation.silence``, TF 1.15 - 2.21):
    compat_init's own use of a deprecated native constructor is not the user's."""
    tf()
    from tensorflow.python.util import deprecation  # type: ignore

    silence = getattr(deprecation, "silence", None)
    return silence() if silence is not None else contextlib.nullcontext()


def with_layout(make: Any, layout: Any) -> Any:
    """Keras 2's DTensor ``layout=``: draw under the layout's mesh, then lay
    the values out with it (``tf_keras/src/dtensor/utils.py``,
    ``call_with_layout``)."""
    dtensor = tf().experimental.dtensor
    with dtensor.default_mesh(layout.mesh):
        return dtensor.relayout(make(), layout)


def adopt_public_keras_name(cls: type, native: type) -> None:
    """Makes Keras serialize ``cls`` under ``native``'s public name.

    A saved model then names ``keras.initializers.GlorotUniform`` (etc.) and
    loads where compat_init is not installed.
    """
    flavour = keras_flavour()
    if flavour == "keras3":
        # Keras 3 maps exported classes to names in a registry keyed by class
        # (keras/src/api_export.py, 3.0 - 3.15).
        api_export = importlib.import_module("keras.src.api_export")
        name = api_export.REGISTERED_OBJS_TO_NAMES.get(native)
        if name is not None:
            api_export.REGISTERED_OBJS_TO_NAMES[cls] = name
    elif flavour in ("keras2", "tf_keras"):
        # Keras 2 reads `_keras_api_names` from the class's own __dict__
        # (tensorflow/python/util/tf_export.py, TF 2.x).
        for attr in ("_keras_api_names", "_keras_api_names_v1"):
            if attr in vars(native):
                setattr(cls, attr, vars(native)[attr])
    # tf1: Keras 2.2.4-tf writes `class_name` only; the class keeps the native name.


# Optional dependencies -----------------------------------------------------


@functools.lru_cache(maxsize=None)
def ks_method_keyword() -> str:
    """The keyword scipy's ``kstest``/``ks_2samp`` take for exact/asymp.

    ``method`` since scipy 1.10; ``mode`` before (scipy 1.7.3 is the newest on
    Python 3.7).
    """
    import inspect

    from scipy import stats

    if "method" in inspect.signature(stats.kstest).parameters:  # scipy >= 1.10
        return "method"
    return "mode"


# Summary -------------------------------------------------------------------


class RuntimeInfo(NamedTuple):
    """What compat_init sees here and now (built by ``_dispatch.runtime_info``,
    which alone knows the active api)."""

    tf_version: Version
    keras_flavour: str
    keras_version: Version
    executing_eagerly_outside_functions: bool
    active_api: str
    in_tested_range: bool
    tested_range: str
    python: str

    def __str__(self) -> str:
        width = max(len(f) for f in self._fields)
        return "\n".join(
            "{}  {}".format(field.ljust(width), getattr(self, field))
            for field in self._fields
        )


#: Modules legacy code imports that newer TensorFlow moved out of itself:
#: module -> (what moved, the fix).  ``{tf}`` is the installed version.
MOVED_MODULES = {
    "tf_keras": ("TensorFlow 2.16+ ships Keras 3; Keras 2 (and with it tf.compat.v1.layers, which TF-Slim's "
                 "batch_norm imports as tf_keras.legacy_tf_layers) is the tf-keras package",
                 "pip install tf-keras=={tf}"),
    "tf_slim": ("tf.contrib.slim left TensorFlow with TF 2.0; it is the tf-slim package",
                "pip install tf-slim (and import tf_slim as slim)"),
    "tensorflow.contrib": ("tf.contrib left TensorFlow with TF 2.0",
                           "record the legacy model where it runs (`compat-init record LEGACY:BUILD --inputs ... "
                           "--out LEGACY.rec` on TF 1.x) and prove from the recording (--migration LEGACY.rec), "
                           "or prove from the checkpoint's .meta graph (--migration MODEL.ckpt.meta) where its "
                           "ops exist"),
}


def moved_module_hint(error: BaseException) -> str:
    """For a legacy builder's ModuleNotFoundError of a module TensorFlow
    moved: what moved and the fix (one sentence); "" otherwise."""
    name = getattr(error, "name", None) or ""
    for module, (what, fix) in MOVED_MODULES.items():
        if name == module or name.startswith(module + "."):
            try:
                version = str(tf_version())
            except ImportError:  # no TensorFlow at all
                version = "your TensorFlow's version"
            return "{}: {}".format(what, fix.format(tf=version))
    return ""


def env_api() -> str:
    """The raw ``COMPAT_INIT_API`` value ('' when unset)."""
    return os.environ.get("COMPAT_INIT_API", "").strip()
