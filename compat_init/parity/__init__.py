"""Parity: prove that two initializer paths draw from the same distribution.

    from compat_init import parity
    report = parity.check("glorot_uniform", (3, 3, 1, 32))
    assert report.passed, report

Needs the ``parity`` extra (scipy).  See ``_engine`` for the tests and the
false-alarm control.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from compat_init import _fans, _validate, initializers
from compat_init.parity._engine import DEFAULT_SAMPLES, run_pairs
from compat_init.parity._migration import check_migration
from compat_init.parity._report import KernelReport, ParityReport, SideStats, TestResult

__all__ = [
    "check",
    "compare",
    "check_model",
    "check_migration",
    "ParityReport",
    "KernelReport",
    "SideStats",
    "TestResult",
    "DEFAULT_SAMPLES",
    "NAMES",
]

#: Initializer names ``check`` accepts.
NAMES = tuple(sorted(initializers.FAMILY)) + ("variance_scaling",)


def _factory(name: str) -> Callable[..., Any]:
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError("name must be one of {}; received name={!r}".format(", ".join(NAMES), name))
    return getattr(initializers, name)


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
      name: ``"glorot_uniform"``, ..., ``"variance_scaling"``.
      shape: The kernel shape.
      alpha: Family-wise false-alarm rate of the report.
      seed: Makes the report reproducible (same seed, same verdict); None
        draws unseeded.
      samples: Values per side (default ``DEFAULT_SAMPLES``); small kernels are
        drawn repeatedly, huge ones subsampled.
      dtype: ``"float32"`` or ``"float64"``, the dtype both paths draw in.
      **init_kwargs: ``scale``, ``mode``, ``distribution`` for variance_scaling.

    Returns:
      A :class:`ParityReport`.
    """
    pair = make_pair(name, _validate.shape(shape), seed, init_kwargs)
    return run_pairs([pair], alpha, seed, samples, progress, dtype=dtype)


def make_pair(name: str, shape: tuple, seed: Optional[int], init_kwargs: Any = None) -> dict:
    """The (v1, v2) pair :func:`check` tests for one initializer and shape."""
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
      reference, candidate: v1 initializers, Keras initializers, or callables
        ``(shape, dtype=None) -> tensor or ndarray``; each is evaluated in the
        context it needs (v1 objects in a Graph + Session).
      distribution: The theory both are tested against: a variance-scaling
        initializer or a :class:`compat_init.Theory`; None takes the reference's.
      alpha, seed, samples, dtype: As in :func:`check`.
    """
    shape = _validate.shape(shape)
    if distribution is None:
        distribution = reference
    theory = distribution if isinstance(distribution, _fans.Theory) else _fans.theory(distribution, shape)
    pair = {
        "kernel": "compare", "shape": shape, "reference": reference, "candidate": candidate,
        "theory": theory, "labels": ("reference", "candidate"),
    }
    return run_pairs([pair], alpha, seed, samples, dtype=dtype)


def model_pairs(model: Any) -> list:
    """(kernel name, shape, initializer) for every kernel of a Keras model."""
    from compat_init import _runtime

    tf = _runtime.tf()
    pairs = []
    for layer in getattr(model, "layers", []):
        init = getattr(layer, "kernel_initializer", None)
        kernel = getattr(layer, "kernel", None)
        if init is None or kernel is None:
            continue
        shape = tuple(int(d) for d in tf.TensorShape(kernel.shape).as_list())
        try:
            theory = _fans.theory(init, shape)
        except TypeError:
            continue  # not a variance-scaling initializer (orthogonal, constant, ...)
        other = "v1" if not isinstance(init, _runtime.v1_initializer_base()) else "v2"
        counterpart = initializers.variance_scaling(
            init.scale, init.mode, init.distribution, seed=None, api=other)
        pairs.append({
            "kernel": layer.name, "shape": shape, "reference": init, "candidate": counterpart,
            "theory": theory, "labels": ("model", other),
        })
    return pairs


def check_model(
    model: Any,
    *,
    alpha: float = 1e-4,
    seed: Optional[int] = 0,
    samples: Optional[int] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> ParityReport:
    """Checks every kernel of a Keras model: its initializer against the same
    distribution drawn on the other path, at that kernel's shape."""
    pairs = model_pairs(model)
    if not pairs:
        raise ValueError(
            "model must have at least one kernel with a variance-scaling initializer; "
            "received model={!r}".format(getattr(model, "name", model))
        )
    return run_pairs(pairs, alpha, seed, samples, progress)
