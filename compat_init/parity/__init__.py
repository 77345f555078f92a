"""Parity: prove that two initializer paths draw from the same distribution.

    from compat_init import parity
    report = parity.check("glorot_uniform", (3, 3, 1, 32))
    assert report.passed, report

Needs the ``parity`` extra (scipy).  See ``_engine`` for the tests and the
false-alarm control.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

from compat_init import _fans, _registry, _validate, initializers
from compat_init._errors import DrawError, UsageError
from compat_init.parity._engine import DEFAULT_SAMPLES, MEMORY_BUDGET, memory_needed, run_pairs
from compat_init.parity._model import drawn_as, weights_of
from compat_init.parity._report import KernelReport, ParityReport, SideStats, TestResult

__all__ = [
    "check",
    "compare",
    "check_model",
    "model_kernels",
    "ParityReport",
    "KernelReport",
    "SideStats",
    "TestResult",
    "DEFAULT_SAMPLES",
    "MEMORY_BUDGET",
    "memory_needed",
    "DrawError",
    "UsageError",
    "NAMES",
]

#: Initializer names ``check`` accepts: every row of the registry.
NAMES = _registry.NAMES


def _factory(name: str) -> Callable[..., Any]:
    return getattr(initializers, _registry.member(name).name)


def check(
    name: str,
    shape: Sequence[int],
    *,
    alpha: float = 1e-4,
    seed: Optional[int] = 0,
    samples: Optional[int] = None,
    dtype: str = "float32",
    progress: Optional[Callable[[int], None]] = None,
    **init_kwargs: Any
) -> ParityReport:
    """Checks that compat_init's v1 and v2 paths of ``name`` agree at ``shape``.

    Draws from the v1 path (in a fresh Graph + Session) and from the v2 path
    (eagerly; in a graph on TF 1.x), and tests each against the exact
    theoretical distribution and against each other.

    Args:
      name: Any of :data:`NAMES` (``"glorot_uniform"``, ..., ``"orthogonal"``).
      shape: The kernel shape.
      alpha: Family-wise false-alarm rate of the report.
      seed: Makes the report reproducible (same seed, same verdict); None
        draws unseeded.
      samples: Values per side (default ``DEFAULT_SAMPLES``); small kernels are
        drawn repeatedly, huge ones subsampled.
      dtype: ``"float32"`` or ``"float64"``, the dtype both paths draw in.
      **init_kwargs: The factory's own arguments (``scale``, ``mode``,
        ``distribution`` for variance_scaling; ``mean``, ``stddev`` for
        truncated_normal; ``gain`` for orthogonal; ...).

    Returns:
      A :class:`ParityReport`.
    """
    pair = make_pair(name, shape, seed, init_kwargs)
    return run_pairs([pair], alpha, seed, samples, progress, dtype=dtype)


def _drawable(shape: Any) -> tuple:
    """A shape parity can draw and test: TensorFlow's limits, and a rank numpy
    holds (the draws come back as arrays)."""
    from compat_init import _runtime

    shape = _validate.shape(shape)
    if len(shape) > _runtime.numpy_max_dims():
        raise UsageError("shape must have at most {} dimensions for parity (numpy arrays hold no more); received a "
                         "shape of rank {}".format(_runtime.numpy_max_dims(), len(shape)))
    return shape


def make_pair(name: str, shape: Sequence[int], seed: Optional[int], init_kwargs: Any = None) -> dict:
    """The (v1, v2) pair :func:`check` tests for one initializer and shape."""
    shape = _drawable(shape)
    _validate.rank_for(_registry.member(name).kind, shape)
    factory = _factory(name)
    reference = factory(seed=seed, api="v1", **(init_kwargs or {}))
    candidate = factory(seed=seed, api="v2", **(init_kwargs or {}))
    return {
        "kernel": name, "shape": shape, "reference": reference, "candidate": candidate,
        "theory": _fans.theory(reference, shape), "labels": ("v1", "v2"),
    }


def compare(
    reference: Any,
    candidate: Any,
    shape: Sequence[int],
    *,
    alpha: float = 1e-4,
    seed: Optional[int] = 0,
    samples: Optional[int] = None,
    distribution: Any = None,
    dtype: str = "float32",
) -> ParityReport:
    """Checks that two initializers agree at ``shape``.

    Args:
      reference: A v1 initializer, a Keras initializer, or a callable
        ``(shape, dtype=None) -> tensor or ndarray``; each is evaluated in the
        context it needs (v1 objects in a Graph + Session).
      candidate: The same kinds as ``reference``.
      shape: The kernel shape both draw.
      distribution: The theory both are tested against: an initializer
        :func:`compat_init.theory` knows or a :class:`compat_init.Theory`; None
        takes the reference's.
      alpha: As in :func:`check`.
      seed: As in :func:`check`.
      samples: As in :func:`check`.
      dtype: As in :func:`check`.
    """
    shape = _drawable(shape)
    if distribution is None:
        distribution = reference
    theory = distribution if isinstance(distribution, _fans.Theory) else _fans.theory(distribution, shape)
    pair = {
        "kernel": "compare", "shape": shape, "reference": reference, "candidate": candidate,
        "theory": theory, "labels": ("reference", "candidate"),
    }
    return run_pairs([pair], alpha, seed, samples, dtype=dtype)


def model_kernels(model: Any) -> Tuple[list, list]:
    """Every kernel-like weight of a Keras model with its initializer.

    Returns ``(pairs, untested)``: a parity pair (that initializer against the
    same distribution drawn on the other path, at that weight's shape) per
    weight whose initializer :func:`compat_init.theory` knows, and a
    ``{"kernel", "shape", "initializer", "reason"}`` dict per weight that
    cannot be tested.
    """
    from compat_init import _runtime

    pairs, untested = [], []
    for layer, name, shape, init in weights_of(model):
        row, config, theory = drawn_as(layer, init, shape)
        if row is None or theory is None:
            why = ("{} is not a random initializer compat_init knows ({}); its values have no distribution to "
                   "test".format(type(init).__name__, ", ".join(_registry.NAMES)) if row is None else
                   "{} defines no distribution at shape {}".format(type(init).__name__, shape))
            untested.append({"kernel": name, "shape": shape, "initializer": type(init).__name__, "reason": why})
            continue
        if config.get("input_axes") is not None and getattr(init, "input_axes", None) is None:
            # What EinsumDense.build draws with: a clone given the axes.
            init = type(init).from_config(dict(init.get_config(), input_axes=config["input_axes"],
                                               output_axes=config["output_axes"]))
        other = "v1" if not isinstance(init, _runtime.v1_initializer_base()) else "v2"
        pairs.append({
            "kernel": name, "shape": shape, "reference": init,
            "candidate": initializers.from_config(row.name, config, api=other),
            "theory": theory, "labels": ("model", other),
        })
    return pairs, untested


def model_pairs(model: Any) -> list:
    """The parity pairs of :func:`model_kernels` (the testable kernels)."""
    return model_kernels(model)[0]


def check_model(
    model: Any,
    *,
    alpha: float = 1e-4,
    seed: Optional[int] = 0,
    samples: Optional[int] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> ParityReport:
    """Checks every kernel of a Keras model (sublayers included: attention
    projections, RNN cells): its initializer against the same distribution
    drawn on the other path, at that kernel's shape.  Kernels whose
    initializer has no distribution to test (zeros, identity, a custom
    function) are listed in ``report.untested`` with the reason, and in the
    printed report."""
    pairs, untested = model_kernels(model)
    if not pairs:
        raise UsageError(
            "model must have at least one kernel with a random initializer compat_init "
            "knows; received model={!r}{}".format(
                getattr(model, "name", model),
                "" if not untested else " (untested: " + "; ".join(
                    "{}: {}".format(u["kernel"], u["reason"]) for u in untested) + ")"))
    report = run_pairs(pairs, alpha, seed, samples, progress)
    report.untested = untested
    return report

