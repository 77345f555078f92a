"""Model-level migration parity: a legacy v1 graph against its Keras port."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from compat_init import _fans, _runtime, _validate
from compat_init._errors import UsageError
from compat_init.parity._engine import TESTS_PER_KERNEL, side_stats, test_kernel
from compat_init.parity._model import weight_name, weight_theories
from compat_init.parity._report import KernelReport, ParityReport


def _v1_variables(builder: Callable[[], Any], seed: int) -> List[Tuple[str, Tuple[int, ...], np.ndarray]]:
    """Builds the legacy model in a fresh v1 Graph; its trainable variables'
    initial values, in creation order."""
    tf = _runtime.tf()
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(seed)
        builder()
        variables = tf.compat.v1.trainable_variables()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            values = session.run(variables)
    return [(v.op.name, tuple(v.shape.as_list()), np.asarray(x)) for v, x in zip(variables, values)]


Variables = List[Tuple[str, Tuple[int, ...], np.ndarray]]


def _v2_variables(builder: Callable[[], Any], seed: int) -> Tuple[Variables, Dict[str, Any]]:
    """Builds the Keras model (eagerly where it can; in a graph on TF 1.x and
    without eager execution); its trainable weights' initial values and the
    distribution each weight was drawn from (where compat_init knows it)."""
    tf = _runtime.tf()
    if not _runtime.can_evaluate_eagerly():
        with tf.Graph().as_default():
            tf.compat.v1.set_random_seed(seed)
            model = builder()
            weights = list(model.trainable_weights)
            with tf.compat.v1.Session() as session:
                session.run(tf.compat.v1.global_variables_initializer())
                # a Keras 3 Variable is not fetchable; the tf.Variable it holds is
                values = session.run([_runtime.fetchable_variable(w) for w in weights])
    else:
        tf.random.set_seed(seed)
        model = builder()
        weights = list(model.trainable_weights)
        values = [np.asarray(w.numpy()) for w in weights]
    initializers = weight_theories(model)
    return [(weight_name(w), tuple(int(d) for d in w.shape), v) for w, v in zip(weights, values)], initializers


def _pair(v1: List[Any], v2: List[Any], mapping: Optional[Dict[str, str]]) -> List[Tuple[Any, Any]]:
    if mapping:
        pairs = []
        for old, new in mapping.items():
            pairs.append((_lookup(old, v1, "v1"), _lookup(new, v2, "v2")))
        return pairs
    if [s for _, s, _ in v1] != [s for _, s, _ in v2]:
        raise UsageError(
            "the two models' trainable variables must have the same shapes in creation "
            "order (or pass mapping=); received v1 {} and v2 {}".format(
                [(n, s) for n, s, _ in v1], [(n, s) for n, s, _ in v2]))
    return list(zip(v1, v2))


def _lookup(name: str, variables: List[Any], side: str) -> Any:
    """The variable called ``name``, or the one whose name ends with ``/name``
    (Keras prefixes model and layer names that vary between runs and flavours)."""
    exact = [v for v in variables if v[0] == name]
    found = exact or [v for v in variables if v[0].endswith("/" + name)]
    if len(found) != 1:
        raise UsageError(
            "mapping must name exactly one {} variable (by name or name suffix); received "
            "{!r}, which matches {} of {}".format(side, name, len(found), [v[0] for v in variables]))
    return found[0]


def check_migration(
    v1_builder: Callable[[], Any],
    v2_builder: Callable[[], Any],
    *,
    mapping: Optional[Dict[str, str]] = None,
    alpha: float = 1e-4,
    seed: Optional[int] = 0,
    inputs: Any = None,
    steps: int = 0,
    loss: str = "categorical_crossentropy",
    optimizer: str = "sgd",
    learning_rate: float = 0.01,
    placeholders: Optional[List[str]] = None,
) -> ParityReport:
    """Do a legacy model and its Keras port start from the same weights?

    Args:
      v1_builder: Creates the legacy model's variables in the current (fresh,
        v1) graph: ``get_variable``, ``tf.compat.v1.layers`` or tf_keras layers.
      v2_builder: Returns the Keras model.
      mapping: ``{v1 variable name: v2 weight name}``; by default variables are
        paired in creation order and must have equal shapes.
      alpha: Family-wise false-alarm rate over the statistical comparisons.
      seed: Global seed of both builds (unseeded initializers then replay),
        of the input batch drawn for a shape, and of the labels.
      inputs: Compare the two functions too: an input array, a shape (a fixed
        standard-normal batch drawn from ``seed``), or a list of them (one
        per placeholder).  ``v1_builder`` must then return its output
        tensor(s); its placeholders are found in its graph (or named by
        ``placeholders``).  Both models get the legacy model's initial
        weights and this batch; their outputs are compared (see
        ``_function.TOLERANCE_REASON``).
      steps: Then take this many training steps on both sides (same batch,
        same ``loss`` built from each side's first output, same
        ``optimizer`` and ``learning_rate``) and compare both losses and
        every paired weight after each step.
      loss: ``categorical_crossentropy`` (labels drawn from ``seed``),
        ``sparse_categorical_crossentropy`` or ``mse``.
      optimizer: ``sgd`` (tf.compat.v1.train.GradientDescentOptimizer = Keras
        SGD), ``momentum`` (MomentumOptimizer(0.9) = Keras SGD(momentum=0.9))
        or ``adam`` (AdamOptimizer = Keras Adam, epsilon 1e-7); the same
        update, in numpy, on both sides (``_function.Update``).

    Returns:
      A :class:`ParityReport` with one entry per pair: ``bit-equal`` where both
      sides hold the same bits (both seeded with compat_init, corresponding
      seeds), else the parity tests on the two initial values against the
      Keras initializer's theoretical distribution.  A report with no pair
      (neither model created a trainable variable) does not pass and says so.
    """
    seed = 0 if seed is None else int(_validate.seed(seed) or 0)
    alpha = _validate.alpha(alpha)
    old = _v1_variables(v1_builder, seed)
    new, initializers = _v2_variables(v2_builder, seed)
    if steps and inputs is None:
        raise UsageError("steps needs inputs: training equivalence runs both models on a batch; received "
                         "steps={!r} without inputs".format(steps))
    pairs = _pair(old, new, mapping)
    statistical = [p for p in pairs if not np.array_equal(p[0][2], p[1][2])]
    threshold = float(alpha) / (TESTS_PER_KERNEL * max(1, len(statistical)))
    kernels = []
    for (old_name, shape, old_value), (new_name, _, new_value) in pairs:
        label = "{} ~ {}".format(old_name, new_name)
        theory = initializers.get(new_name)  # None: zeros, ones, a custom function: only bits compare
        bit_equal = bool(np.array_equal(old_value, new_value))
        if not bit_equal and theory is not None and old_value.size >= 2:
            report = test_kernel(label, shape, np.sort(old_value.astype(np.float64).ravel()),
                                 np.sort(new_value.astype(np.float64).ravel()), theory, ("v1", "v2"), threshold)
            report.bit_equal = False
            kernels.append(report)
            continue
        # No statistics: equal bits pass, different bits without a theory fail.
        fans = _fans.compute_fans(shape)
        if theory is None:
            theory = (_fans.Theory("not random", fans[0], fans[1], 0.0, 0.0) if bit_equal
                      else _fans.Theory("unknown", fans[0], fans[1], float("nan"), float("nan")))
        elif not bit_equal:
            theory = _fans.Theory("unknown", fans[0], fans[1], float("nan"), float("nan"))
        kernels.append(KernelReport(
            kernel=label, shape=shape, fan_in=theory.fan_in, fan_out=theory.fan_out,
            distribution=theory.distribution,
            reference=side_stats("v1", old_value, theory), candidate=side_stats("v2", new_value, theory),
            tests=[], bit_equal=bit_equal))
    result = ParityReport(kernels=kernels, alpha=float(alpha), seed=seed, samples=0, threshold=threshold)
    if inputs is not None:
        from compat_init.port._function import check_function

        index_old = {id(v): i for i, v in enumerate(old)}
        index_new = {id(v): j for j, v in enumerate(new)}
        result.function = check_function(
            v1_builder, v2_builder, [(index_old[id(a)], index_new[id(b)]) for a, b in pairs],
            [value for _, _, value in old], inputs=inputs, seed=seed, steps=steps, loss=loss,
            optimizer=optimizer, learning_rate=learning_rate, placeholders=placeholders)
    return result

