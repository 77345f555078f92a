"""The migration proof: a legacy v1 graph against its Keras port.

Each side is built once.  Their variables are paired (``pair``);
each pair's initial values are compared (bit for bit, or statistically
against the distribution the port's initializer or the legacy graph drew
from); with inputs, the two functions are compared at the legacy initial
weights and while training (``function.check_function``).

Verdicts (``MigrationReport.status``, the command's exit code):

* ``pass`` (0): checked and equal;
* ``fail`` (1): checked and different;
* ``inconclusive`` (3): nothing failed, but what was compared cannot prove
  equality (nothing trained, outputs that ignore the inputs, no pair tested).

Bad usage is a ``UsageError`` (2).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from compat_init import _fans, _validate
from compat_init._errors import UsageError
from compat_init.parity._engine import TESTS_PER_KERNEL, side_stats, test_kernel
from compat_init.parity._report import KernelReport
from compat_init.port._core.inputs import fit_inputs, name_inputs, parse_inputs
from compat_init._choices import PRECISIONS
from compat_init.port._core.options import check_run
from compat_init.port._core.pairing import pair
from compat_init.port._core.pairs import Pair, keep_patterns, kept
from compat_init.port._proof.function import check_function
from compat_init.port._proof.report import MigrationReport
from compat_init.port._sides.flow import flows_of
from compat_init.port._sides.legacy import LegacyModel
from compat_init.port._sides.port import PortModel
from compat_init.port._sides.recorded import Recording

#: The rows of a batch drawn for placeholders whose batch dimension is unknown.
DRAWN_BATCH = 2


def check_migration(
    v1_builder: Callable[[], Any],
    v2_builder: Callable[[], Any],
    *,
    mapping: Any = None,
    alpha: float = 1e-4,
    seed: Optional[int] = 0,
    inputs: Any = None,
    steps: int = 0,
    loss: str = "categorical_crossentropy",
    optimizer: str = "sgd",
    learning_rate: float = 0.01,
    placeholders: Optional[List[str]] = None,
    feeds: Optional[Dict[str, Any]] = None,
    from_logits: bool = False,
    checkpoint: Optional[str] = None,
    input_map: Optional[Dict[str, str]] = None,
    forward_only: bool = False,
    training_argument: Optional[str] = None,
    precision: str = "float32",
    keep_initial: Any = None,
) -> MigrationReport:
    """Does a Keras port start from the same weights as its legacy model, and
    compute the same function?

    Args:
      v1_builder: Creates the legacy model in the current (fresh, v1) graph:
        ``get_variable``, ``tf.compat.v1.layers`` or tf_keras layers; returns
        its output tensor(s) (a tensor, a list or a dict) when ``inputs`` is
        given.
      v2_builder: Returns the port: a Keras model (functional, Sequential,
        subclassed: called on ``inputs`` to build it when it has no weights),
        a Keras layer or a ``tf.Module`` (raw ``tf.Variable``s are found).
      mapping: ``{legacy variable name: port weight name}`` (name suffixes
        allowed), a rules file's path, or a list of dicts and
        ``port.Rule``s (``port.read_rules``); the rest is paired by creation
        order where the shapes follow in the same order, else by name
        correspondence (``model/conv2d/kernel`` ~ ``conv2d/kernel``), by
        structure (numbered layers, roles, synonyms; per-head reshapes) and
        by shape (``port.pair``).
      alpha: Family-wise false-alarm rate over the statistical comparisons.
      seed: Global seed of both builds, of the input batch drawn for a
        shape, and of the labels.
      inputs: Compare the two functions too: an array, a shape, a list of
        them (one per input placeholder, found in the legacy graph or named by
        ``placeholders``), or a dict ``{placeholder name: array or shape}``.
        Integer arrays (token ids, masks) are fed as they are.
        ``"placeholders"``: a batch drawn for the legacy input placeholders'
        own shapes (``DRAWN_BATCH`` rows where the batch dimension is
        unknown; every other dimension must be known).
      input_map: ``{legacy placeholder: port input name}`` where the port
        names its inputs otherwise (BERT's ``input_ids`` and KerasHub's
        ``token_ids``); a port whose inputs carry the names is called with a
        dict of them, else positionally.
      steps: Then train both models this many steps with the same loss (on
        the first output; plus each side's regularization losses) and the
        same update.
      loss: ``"categorical_crossentropy"``, ``"sparse_categorical_crossentropy"``
        or ``"mse"``.
      optimizer: ``"sgd"``, ``"momentum"`` (0.9) or ``"adam"``.
      learning_rate: A positive number.
      from_logits: The first output is logits (the crossentropy takes a
        softmax of it).
      checkpoint: Start both models from a trained checkpoint's tensors
        (the legacy variables' names are its keys, as a ``Saver`` writes
        them; the port's paired weights get the same tensors) instead of
        their initial values: the same forward and training comparison at
        the trained weights.
      forward_only: Prove the weights and the forward function only (for a
        port converted to serve): regularization and dropout differences are
        notes, not failures; no training steps.
      precision: ``"float32"``, or ``"float16"``/``"bfloat16"`` for a port
        that computes in less: the outputs' allowance grows by the ratio of
        the machine epsilons (a float16 port fails a float32 proof otherwise).
      training_argument: The argument of the port's call that switches
        training, where it is not ``training`` (``is_training``).
      keep_initial: Port weights the legacy model has no source for (a
        regular expression over whole port weight names, or a list): they
        keep the port's initial values, listed in ``report.unpaired``; any
        other unpaired port weight is an error.
      feeds: ``{placeholder name: value}`` for the legacy graph's other
        placeholders (``keep_prob``, a learning rate); a boolean placeholder
        nobody feeds is the training switch (False; True for training-mode
        comparisons).

    Returns:
      A :class:`MigrationReport`; ``report.status`` is ``pass``, ``fail`` or
      ``inconclusive``, ``report.exit_code`` 0, 1 or 3.

    Raises:
      UsageError: (a ``ValueError``) bad arguments, builders, inputs or
        pairings, each naming the argument and the value.
    """

    alpha = _validate.alpha(alpha)
    if not isinstance(forward_only, bool):
        raise UsageError("forward_only must be True or False; received forward_only={!r}".format(forward_only))
    if training_argument is not None and not (isinstance(training_argument, str)
                                              and training_argument.isidentifier()):
        raise UsageError("training_argument must be the name of an argument of the port's call; received "
                         "training_argument={!r}".format(training_argument))
    if forward_only and steps:
        raise UsageError("forward_only proves no training: leave steps out; received steps={!r} with "
                         "forward_only=True".format(steps))
    if precision not in PRECISIONS:
        raise UsageError("precision must be one of {}; received precision={!r}".format(", ".join(PRECISIONS),
                                                                                      precision))
    port_options: Dict[str, Any] = {"forward_only": forward_only, "training_argument": training_argument,
                                    "precision": precision, "keep_initial": keep_patterns(keep_initial)}
    if steps and inputs is None and not isinstance(v1_builder, Recording):
        raise UsageError("steps needs inputs: training equivalence runs both models on a batch; received "
                         "steps={!r} without inputs".format(steps))
    seed, steps, learning_rate = check_run(seed, steps, learning_rate, loss, optimizer)
    replayed: List[str] = []
    drawn = isinstance(inputs, str) and inputs == "placeholders"
    if isinstance(inputs, str) and not drawn:
        raise UsageError("inputs must be arrays, shapes, a dict of them or \"placeholders\" (a batch drawn for the "
                         "legacy placeholders' shapes); received inputs={!r}".format(inputs))
    if drawn:
        inputs = None
    if isinstance(v1_builder, Recording):
        run, arrays, replayed = v1_builder.replay_options(
            seed=seed, inputs=inputs, placeholders=placeholders, feeds=feeds, steps=steps, loss=loss,
            optimizer=optimizer, learning_rate=learning_rate, from_logits=from_logits)
        seed, steps, loss, optimizer = run["seed"], run["steps"], run["loss"], run["optimizer"]
        learning_rate, from_logits = run["learning_rate"], run["from_logits"]
        names = v1_builder.model().input_names
        if not names:
            arrays, port_names = None, None
        elif v1_builder.manifest["named_inputs"] or input_map is not None:
            _, _, port_names = name_inputs(dict(zip(names, arrays)), None, input_map)
        else:
            port_names = None
        if checkpoint is not None:
            v1_builder.check_checkpoint(checkpoint)
        return _prove(v1_builder.model(), v2_builder, arrays, replayed + list(
            v1_builder.manifest["input_notes"]), port_names, input_map is not None, mapping, alpha, seed, steps,
            loss, optimizer, learning_rate, from_logits,
            v1_builder.checkpoint["prefix"] if v1_builder.checkpoint else None, recorded_checkpoint=True,
            **port_options)
    port_names = None
    if not drawn:
        inputs, placeholders, port_names = name_inputs(inputs, placeholders, input_map)
    arrays = parse_inputs(inputs, seed) if inputs is not None else None
    legacy = LegacyModel(v1_builder, seed, need_outputs=arrays is not None or drawn, feeds=feeds,
                         placeholders=placeholders)
    notes: List[str] = list(legacy.notes)
    if drawn:
        try:
            shapes = legacy.batch_shapes(DRAWN_BATCH)
        except BaseException:
            legacy.close()
            raise
        _, _, port_names = name_inputs(dict(zip(legacy.input_names, shapes)), None, input_map)
        arrays = parse_inputs(shapes, seed)
        notes.append("inputs drawn for the legacy placeholders' shapes: {}".format(", ".join(
            "{} {}".format(name, "x".join(map(str, shape))) for name, shape in zip(legacy.input_names, shapes))))
    if arrays is not None:
        try:
            arrays, fitted = fit_inputs(arrays, legacy)
        except BaseException:
            legacy.close()
            raise
        notes += fitted
    # Drawn for several placeholders, the arrays reach the port's inputs by name (which feeds which is
    # nobody's statement otherwise); given, in the order given.
    named = input_map is not None or drawn and len(legacy.input_names) > 1
    return _prove(legacy, v2_builder, arrays, notes, port_names, named, mapping, alpha, seed, steps,
                  loss, optimizer, learning_rate, from_logits, checkpoint, **port_options)


def _prove(legacy: Any, v2_builder: Callable[[], Any], arrays: Optional[List[np.ndarray]], notes: List[str],
           port_names: Optional[List[str]], named: bool, mapping: Any, alpha: float, seed: int, steps: int,
           loss: str, optimizer: str, learning_rate: float, from_logits: bool, checkpoint: Optional[str], *,
           recorded_checkpoint: bool = False, forward_only: bool = False,
           training_argument: Optional[str] = None, precision: str = "float32",
           keep_initial: Any = None) -> MigrationReport:
    """The proof on a legacy side (live, a .meta graph or a recording) and
    the port ``v2_builder()`` returns."""
    port = None
    try:
        # At a checkpoint's weights every paired weight is overwritten: built as zeros, the port's
        # initializers never draw (a large kernel's draws cost memory), unless some weights keep them.
        port = PortModel(v2_builder, seed, arrays, input_names=port_names, named=named,
                         training_argument=training_argument,
                         zeros=checkpoint is not None and not keep_patterns(keep_initial))
        feeding = legacy.feeding_variables(losses=not forward_only) if arrays is not None else None
        # Legacy variables the compared outputs never read (an auxiliary or
        # pretraining head) have no part in the proof: listed, not paired.
        off_path = [v for v in legacy.vars if feeding is not None and v.name not in feeding]
        pairs, left_old, left_new = pair([v for v in legacy.vars if v not in off_path], port.vars, mapping,
                                         keep_initial=keep_initial, flows=flows_of(legacy, port, notes), notes=notes)
        if checkpoint is not None:
            report = _from_checkpoint(checkpoint, pairs, legacy, alpha, seed, recorded_checkpoint)
        else:
            report = _initial(pairs, legacy, port, alpha, seed)
        report.unpaired = ["legacy {} (skipped: not on the path to the outputs)".format(v.name) for v in off_path] + [
            "legacy {} (no port weight of that name and shape)".format(v.name) for v in left_old] + [
            "port {} ({})".format(v.name, "kept as the port initialized it: keep_initial" if kept(v, keep_initial)
                                  else "no legacy variable of that name and shape") for v in left_new]
        if arrays is not None and not report.nonfinite:
            report.function = check_function(legacy, port, pairs, arrays, seed=seed, steps=steps, loss=loss,
                                              optimizer=optimizer, learning_rate=learning_rate,
                                              from_logits=from_logits, forward_only=forward_only,
                                              precision=precision)
            report.function.notes[:0] = [_inputs_paired(legacy, port)] + notes
        return report
    finally:
        legacy.close()
        if port is not None:
            port.close()


def _inputs_paired(legacy: LegacyModel, port: PortModel) -> str:
    """How each legacy placeholder's array reached the port."""
    names = legacy.input_names
    if port.by_name:
        return "inputs paired by name: {}".format(", ".join(
            old if old == new else "{} -> {}".format(old, new) for old, new in zip(names, port.input_names or [])))
    return "inputs paired by position: {}".format(", ".join(
        "{} -> the port's input {}".format(name, i) for i, name in enumerate(names)))


def _from_checkpoint(path: str, pairs: List[Pair], legacy: Any, alpha: float, seed: int,
                     recorded: bool = False) -> MigrationReport:
    """Both sides from a checkpoint's tensors: the legacy variables set to
    them (a recording holds them already); the pairs then carry them to the
    port."""
    prefix = path + " (recorded)" if recorded else legacy.load_checkpoint(path)
    report = MigrationReport(kernels=[], alpha=float(alpha), seed=seed, samples=0, threshold=float(alpha),
                             checkpoint=prefix)
    report.nonfinite = list(getattr(legacy, "nonfinite", []))
    report.pairs = [{"legacy": p.legacy.name, "port": p.port.name, "how": p.how,
                     "as": p.describe()} for p in pairs]
    return report


def _initial(pairs: List[Pair], legacy: LegacyModel, port: PortModel, alpha: float, seed: int) -> MigrationReport:
    """Each pair's initial values: bit-equal, or tested against the
    distribution the port's initializer (else the legacy graph) drew from;
    "not tested" with the reason where neither is known."""
    theories: Dict[int, Tuple[Optional[_fans.Theory], str]] = {}
    for p in pairs:
        theory = port.theories.get(p.port.name)
        if np.array_equal(p.to_port(p.legacy.value), p.port_part(p.port.value)):
            theories[id(p)] = (theory, "")
        elif theory is None or theory.distribution == "not random":
            legacy_theory, why = legacy.theory(p.legacy)
            theory = legacy_theory if legacy_theory is not None else theory
            theories[id(p)] = (theory, why)
        else:
            theories[id(p)] = (theory, "")
    statistical = [p for p in pairs if not np.array_equal(p.to_port(p.legacy.value), p.port_part(p.port.value))
                   and theories[id(p)][0] is not None]
    threshold = float(alpha) / (TESTS_PER_KERNEL * max(1, len(statistical)))
    kernels: List[KernelReport] = []
    untested: List[Dict[str, Any]] = []
    for p in pairs:
        old, new = p.part(p.legacy.value), p.to_legacy(p.port.value)
        label = "{} ~ {}".format(p.legacy.name, p.port.name)
        shape = p.part_shape()
        theory, why = theories[id(p)]
        bit_equal = bool(np.array_equal(old, new))
        if not bit_equal and theory is not None and theory.distribution != "not random" and old.size >= 2:
            tested = test_kernel(label, shape, np.sort(old.astype(np.float64).ravel()),
                                 np.sort(new.astype(np.float64).ravel()), theory, ("v1", "v2"), threshold)
            tested.bit_equal = False
            kernels.append(tested)
            continue
        if not bit_equal:
            reason = ("both are constant and differ" if theory is not None and theory.distribution == "not random"
                      else why or "neither side's initializer is known to compat_init")
            if theory is not None and theory.distribution == "not random":
                fans = _fans.compute_fans(shape)
                kernels.append(KernelReport(
                    kernel=label, shape=shape, fan_in=fans[0], fan_out=fans[1], distribution="constant",
                    reference=side_stats("v1", old, theory), candidate=side_stats("v2", new, theory),
                    tests=[], bit_equal=False))
                continue
            untested.append({"kernel": label, "shape": shape, "initializer": "unknown",
                             "reason": "initial values differ and " + reason})
            continue
        fans = _fans.compute_fans(shape)
        theory = theory or _fans.Theory("not random", fans[0], fans[1], 0.0, 0.0)
        kernels.append(KernelReport(
            kernel=label, shape=shape, fan_in=fans[0], fan_out=fans[1], distribution=theory.distribution,
            reference=side_stats("v1", old, theory), candidate=side_stats("v2", new, theory),
            tests=[], bit_equal=True))
    report = MigrationReport(kernels=kernels, alpha=float(alpha), seed=seed, samples=0, threshold=threshold,
                             untested=untested)
    report.pairs = [{"legacy": p.legacy.name, "port": p.port.name, "how": p.how,
                     "as": p.describe()} for p in pairs]
    return report
