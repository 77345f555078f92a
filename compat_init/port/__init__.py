"""Port: a legacy TF1 model and its Keras port, as one pair.

    from compat_init import port
    report = port.check_migration(legacy_build, keras_build, inputs=(4, 28, 28, 1), steps=3)
    assert report.passed, report

The legacy model's variables are paired with the port's weights, and the pair
is proven: the same initial distributions, the same function on a batch, the
same training steps.  The legacy side is a builder run live, the ``.meta``
graph a ``Saver`` wrote (``meta_graph``), or a recording made where the legacy
code runs (``record``, then ``check_migration(read_recording(path), ...)``).
Needs the ``parity`` extra (scipy).  Nothing in the core imports this
package; it uses ``compat_init.parity`` for the statistics.
"""
from __future__ import annotations

from compat_init._errors import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_INTERNAL, EXIT_PASS, EXIT_USAGE
from compat_init.port._proof.migration import check_migration
from compat_init.port._proof.outputs import find_outputs
from compat_init.port._proof.report import FunctionReport, MigrationReport
from compat_init.port._record import record
from compat_init.port._sides.graph import meta_graph
from compat_init.port._core.pairing import pair
from compat_init.port._core.pairs import Pair, Var
from compat_init.port._sides.recorded import Recording, is_recording, read_recording
from compat_init.port._core.rules import Rule, format_rules, parse_rules, read_rules

__all__ = [
    # The proof
    "check_migration",
    "MigrationReport",
    "meta_graph",
    "find_outputs",
    # The legacy side recorded where it runs (TF 1.15), proven on TF 2
    "record",
    "read_recording",
    "is_recording",
    "Recording",
    "FunctionReport",
    # The one pairing (the proof and checkpoint conversion)
    "pair",
    "Pair",
    "Var",
    # Pairing rules (rules files: PATTERN -> REPLACEMENT [transpose(AXES)] [reshape])
    "Rule",
    "parse_rules",
    "read_rules",
    "format_rules",
    # Exit codes of `compat-init parity --migration`
    "EXIT_PASS",
    "EXIT_FAIL",
    "EXIT_USAGE",
    "EXIT_INCONCLUSIVE",
    "EXIT_INTERNAL",
]
