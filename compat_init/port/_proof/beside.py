"""The legacy side a checkpoint carries with it: the graph a ``Saver`` wrote
beside it (``PREFIX.meta``), its outputs named or found in its dataflow
(``find_outputs``) and its inputs paired with the port's.  ``convert``
(``checkpoint.convert`` and the command's ``--port``) proves a conversion
with it when no legacy builder is given."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from compat_init._errors import UsageError
from compat_init.port._proof.outputs import find_outputs
from compat_init.port._sides.graph import check_meta, meta_graph


@dataclass
class Beside:
    """What the checkpoint's ``.meta`` gives a conversion."""

    #: The legacy side (``meta_graph``), or None where it cannot serve.
    builder: Optional[Callable[[], Any]] = None
    meta: str = ""  #: the ``.meta`` beside the checkpoint ("" when none)
    notes: List[str] = field(default_factory=list)
    #: Why no proof can be set up ("" when ``builder`` is there).
    unproven: str = ""
    #: ``{legacy placeholder: port input}``: the one given, or found by the dataflow.
    input_map: Optional[Dict[str, str]] = None
    #: The outputs found in the dataflow ([] when they were named).
    found_outputs: List[str] = field(default_factory=list)
    #: The port's builder to use next: the model built to find the outputs is
    #: handed on to its next call (building a large port is most of a plan's time).
    port_builder: Optional[Callable[[], Any]] = None


def _handed_on(builder: Callable[[], Any]) -> Callable[[], Any]:
    """``builder``, whose model is built once for finding the outputs and
    handed on to its next call (the conversion); later calls (the proof)
    build their own."""
    made: List[Any] = []
    calls = [0]

    def build() -> Any:
        calls[0] += 1
        if calls[0] == 2 and made:
            return made.pop()
        model = builder()
        if calls[0] == 1:
            made.append(model)
        return model

    return build


def legacy_beside(prefix: str, v2_builder: Callable[[], Any], *, outputs: Optional[Sequence[str]] = None,
                  input_map: Optional[Dict[str, str]] = None, seed: int = 0, for_plan: bool = False,
                  allow_io_ops: bool = False) -> Beside:
    """The graph a ``Saver`` wrote beside the checkpoint ``prefix`` as the
    legacy side: its outputs named by ``outputs`` or found in its dataflow,
    several inputs named otherwise than the port's paired by it (unless
    ``input_map``).  Where there is no ``.meta`` or its outputs cannot be
    found, ``Beside.unproven`` says why and what names them.  ``for_plan``:
    outputs alike for the pairing (a softmax and its logits) are not run to
    be told apart (``find_outputs``' ``tell_apart``).  ``allow_io_ops``: the
    graph may run ops that read or write files (``meta_graph``).

    Raises:
      UsageError: ``outputs`` name no tensor of the graph, or the graph cannot
        be imported (an op this TensorFlow lacks).
    """
    meta = prefix + ".meta"
    if os.path.lexists(meta) and not os.path.isdir(meta):
        check_meta(meta)  # a FIFO or an oversized file: refused, not passed over
    if not os.path.isfile(meta):
        return Beside(unproven="no legacy graph: no legacy builder (v1_builder=, --migration LEGACY PORT) and no "
                               ".meta beside the checkpoint", port_builder=v2_builder)
    names, notes, found, found_map = list(outputs or []), [], [], {}  # type: ignore[var-annotated]
    if not names:
        v2_builder = _handed_on(v2_builder)
        try:
            names, notes = find_outputs(meta, v2_builder, seed=seed, input_map=input_map, inputs_found=found_map,
                                        tell_apart=not for_plan)
        except UsageError as error:
            return Beside(meta=meta, unproven="the checkpoint's graph {} is beside it, but its outputs cannot be told "
                                              "from its dataflow: {}; outputs=[...] (--outputs NAME:0[,NAME:0]) "
                                              "names them".format(meta, str(error).rstrip(".")),
                          port_builder=v2_builder)
        found = list(names)
    builder = meta_graph(meta, names, allow_io_ops=allow_io_ops)
    builder.source = builder.spec = meta  # type: ignore[attr-defined]
    return Beside(builder, meta, ["the legacy side: the checkpoint's graph {} (beside it)".format(meta)] + notes, "",
                  found_map or input_map, found, v2_builder)
