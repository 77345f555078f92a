"""Checkpoint conversion, proven: the legacy side found (the builder given,
or the graph a ``Saver`` wrote beside the checkpoint), the checkpoint loaded
into the port (``_convert``), and the port proven against the legacy model at
the trained weights (``_proof``) before it is handed back.  ``checkpoint.convert``
and ``checkpoint.plan`` are these; the command's ``convert`` calls them."""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from compat_init._errors import EXIT_FAIL, UsageError
from compat_init.port._convert import ConversionReport
from compat_init.port._convert import convert as load_into
from compat_init.port._convert import plan as pairing_table
from compat_init.port._files.reading import read_elsewhere, resolve
from compat_init.port._proof.beside import Beside, legacy_beside
from compat_init.port._proof.migration import check_migration

#: The note (and the command's stderr line) of a conversion not proven.
NOT_PROVEN = ("not proven: the port's outputs were not compared with the legacy model's at the trained weights ({}); "
              "it may compute another function")


class ConversionRefused(ValueError):
    """The proof at the trained weights found that the port computes another
    function than the legacy model (or could not decide): the port is not
    handed back.  ``report`` is the :class:`ConversionReport`, its ``proof``
    saying where the two differ; ``exit_code`` is 1 (different) or 3
    (inconclusive)."""

    def __init__(self, report: ConversionReport) -> None:
        self.report = report
        self.exit_code = report.proof.exit_code
        where = getattr(report.proof.function, "divergence", "")  # no function report: no divergence
        super().__init__("the migration proof at the trained weights {}{}: the checkpoint {} was not loaded into a "
                         "port that computes the legacy model's function; report.proof says where (prove=False, "
                         "--no-proof, converts it unproven)".format(
                             "found a difference" if self.exit_code == EXIT_FAIL else "was inconclusive",
                             " ({})".format(where) if where else "", report.checkpoint))


def _side(checkpoint: Any, v2_builder: Callable[[], Any], v1_builder: Optional[Callable[[], Any]], prove: bool,
          outputs: Optional[Sequence[str]], input_map: Optional[Dict[str, str]], seed: int,
          for_plan: bool = False, allow_io_ops: bool = False) -> Beside:
    """The legacy side: the builder given, else (proving) the checkpoint's ``.meta``."""
    if outputs is not None and (v1_builder is not None or not prove):
        raise UsageError("outputs names the tensors of the .meta graph beside the checkpoint, the legacy side when "
                         "no v1_builder is given (--port) and the conversion is proven; received outputs={!r} with "
                         "{}".format(list(outputs), "a v1_builder" if v1_builder is not None else "prove=False"))
    if v1_builder is not None or not prove:
        return Beside(v1_builder, input_map=input_map, port_builder=v2_builder)
    return legacy_beside(resolve(checkpoint), v2_builder, outputs=outputs, input_map=input_map, seed=seed,
                         for_plan=for_plan, allow_io_ops=allow_io_ops)


def _where(checkpoint: Any) -> List[str]:
    """A note when the checkpoint's files are read from another folder than the one named."""
    if not isinstance(checkpoint, (str, os.PathLike)):
        return []
    path = os.fspath(checkpoint)
    note = read_elsewhere(path, resolve(path))
    return [note] if note else []


def plan(checkpoint: Any, v2_builder: Callable[[], Any], v1_builder: Optional[Callable[[], Any]] = None, *,
         mapping: Any = None, inputs: Any = None, seed: int = 0, input_map: Optional[Dict[str, str]] = None,
         keep_initial: Any = None, outputs: Optional[Sequence[str]] = None,
         allow_io_ops: bool = False) -> ConversionReport:
    """The pairing table a conversion would load (``convert``'s arguments),
    read from the checkpoint's metadata and the port's weights (built, never
    filled): every key loaded into which weight (how, with any reshape),
    skipped (why), and every port weight left unfilled (``report.missing``).
    No tensor is read and nothing is written.  Without ``v1_builder``, the
    graph beside the checkpoint pairs as it would in the conversion."""
    side = _side(checkpoint, v2_builder, v1_builder, True, outputs, input_map, seed, for_plan=True,
                 allow_io_ops=allow_io_ops)
    report = pairing_table(checkpoint, side.port_builder or v2_builder, side.builder, mapping=mapping, inputs=inputs,
                           seed=seed, input_map=side.input_map if inputs is not None else None,
                           keep_initial=keep_initial)
    report.notes[:0] = _where(checkpoint) + side.notes
    if side.meta and side.builder is None:
        report.notes.insert(0, "paired without the legacy graph: {}".format(side.unproven))
    report.outputs = side.found_outputs
    return report


def convert(checkpoint: Any, v2_builder: Callable[[], Any], v1_builder: Optional[Callable[[], Any]] = None, *,
            mapping: Any = None, inputs: Any = None, seed: int = 0, input_map: Optional[Dict[str, str]] = None,
            keep_initial: Any = None, prove: bool = True, outputs: Optional[Sequence[str]] = None,
            proof_options: Optional[Dict[str, Any]] = None, allow_io_ops: bool = False
            ) -> Tuple[Any, ConversionReport]:
    """Loads a checkpoint into the port ``v2_builder()`` returns, and proves it.

    Args:
      checkpoint: A checkpoint prefix, its ``.index``, a ``checkpoint`` state
        file or its folder (name-based TF1 or object-based TF2).
      v2_builder: Returns the port (a model called on ``inputs`` to build it
        when it has no weights yet).
      v1_builder: The legacy side: a builder, a ``.meta`` graph
        (``port.meta_graph``) or a recording (``port.read_recording``).
        Without it, the graph a ``Saver`` wrote beside the checkpoint
        (``PREFIX.meta``) is the legacy side, its outputs named by
        ``outputs`` or found in its dataflow (``port.find_outputs``); without
        that either, keys and weights pair by names, structure and shapes
        (``mapping`` for the rest), and the conversion is not proven.
      mapping: ``{checkpoint key (or legacy name): port weight}``, a rules
        file's path, or a list of dicts and ``port.Rule``s (as
        ``port.pair`` takes it).
      inputs: The batch the port is built and proven on (as
        ``port.check_migration`` takes it); by default the proof draws one
        for the legacy placeholders' own shapes.
      input_map: ``{legacy placeholder: port input}`` where the port names
        its inputs otherwise (found in the dataflow with the ``.meta``).
      keep_initial: Port weights the checkpoint has no source for (a
        regular expression over whole port weight names, or a list of them:
        Keras' ResNet50 conv biases, which TF-Slim's convolutions lack): they
        keep the port's own initial values, listed in ``report.kept``; any
        other unfilled port weight is an error.
      prove: With a legacy side at hand, the migration proof runs at the
        trained weights (on ``inputs``, or forward only on a drawn batch) and
        a port that differs is refused (``ConversionRefused``); False
        skips it, said in ``report.notes``.
      outputs: The ``.meta`` graph's tensors the port's outputs stand for,
        where they are not to be found in its dataflow.
      proof_options: More of ``port.check_migration``'s keyword arguments for
        the proof (``steps``, ``feeds``, ``forward_only=False``, ...).
      allow_io_ops: The ``.meta`` beside the checkpoint may run ops that read
        or write files or run Python for the outputs compared
        (``port.meta_graph``); refused by default.

    Returns:
      ``(port, report)``: the port with every weight loaded, and a
      :class:`ConversionReport` naming what each key became and the proof
      (``report.proof``; a note says when there is none and why).

    Raises:
      CheckpointError: (a ``ValueError``) the checkpoint cannot be read, a key
        is mapped twice, shapes or dtypes differ (lossy casts), a port weight
        stays unfilled; nothing is loaded then.
      ConversionRefused: (a ``ValueError``) the proof found that the port
        computes another function, or could not decide; its ``report`` says
        where.
    """
    if not isinstance(prove, bool):
        raise UsageError("prove must be True or False; received prove={!r}".format(prove))
    side = _side(checkpoint, v2_builder, v1_builder, prove, outputs, input_map, seed, allow_io_ops=allow_io_ops)
    legacy, port_builder = side.builder, side.port_builder or v2_builder
    model, report = load_into(checkpoint, port_builder, legacy, mapping=mapping, inputs=inputs, seed=seed,
                              input_map=side.input_map if inputs is not None else None, keep_initial=keep_initial)
    report.notes[:0] = _where(checkpoint) + side.notes
    report.outputs = side.found_outputs
    if not prove:
        report.notes.append(NOT_PROVEN.format("prove=False, --no-proof"))
        return model, report
    if legacy is None:
        report.notes.append(NOT_PROVEN.format(side.unproven))
        return model, report
    batch = inputs
    if batch is None and not callable(legacy):  # a recording proves on the batch it holds
        if not legacy.manifest["inputs"]:
            report.notes.append(NOT_PROVEN.format("the recording holds no batch (record with --inputs)"))
            return model, report
        batch = {i["name"]: legacy.arrays[i["array"]] for i in legacy.manifest["inputs"]}
    options = dict(proof_options or {})
    if batch is None:
        options.update(inputs="placeholders", forward_only=True)
    else:
        options["inputs"] = batch
    try:
        report.proof = check_migration(legacy, v2_builder, checkpoint=checkpoint, mapping=mapping, seed=seed,
                                       input_map=side.input_map, keep_initial=keep_initial, **options)
    except UsageError as error:
        if batch is not None:
            raise
        raise UsageError("{} (convert proves the port by default, forward only, on a batch drawn for the legacy "
                         "placeholders' shapes: pass inputs= (--inputs, and --input-map) for the batch, or "
                         "prove=False (--no-proof) to convert it unproven)".format(str(error).rstrip("."))) from None
    if not report.proof.passed:
        raise ConversionRefused(report)
    return model, report
