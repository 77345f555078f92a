"""The proof's reports: a training step, the function check's report with the
tolerance's reason (built from the constants it states), and the migration
report whose ``status`` and ``exit_code`` are the verdict."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from compat_init._errors import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS
from compat_init.parity._report import ParityReport
from compat_init.port._core.numerics import Comparison, NOISE_DRAWS, NOISE_FACTOR, TRAINING_NOISE_DRAWS
from compat_init.port._core.text import shape_text


TOLERANCE_REASON = (
    "outputs: |a - b| <= {factor} x the measured rounding noise (the largest change of the legacy outputs when its "
    "weights and inputs move by one unit in the last place, {draws} random draws; at least {factor} ulp of the "
    "output's scale); training steps: the loss, each weight and each training-mode output within {factor} x the "
    "change the same perturbations ({training} draws) make to the legacy training run at that step").format(
    factor=NOISE_FACTOR, draws=NOISE_DRAWS, training=TRAINING_NOISE_DRAWS)


@dataclass
class Step:
    """After one training step."""

    step: int
    loss_v1: float
    loss_v2: float
    loss: Comparison
    weights: List[Comparison] = field(default_factory=list)
    regularization: Optional[Comparison] = None
    outputs: List[Comparison] = field(default_factory=list)  #: training-mode outputs (batch norm)

    @property
    def passed(self) -> bool:
        return (self.loss.passed and all(w.passed for w in self.weights) and all(o.passed for o in self.outputs)
                and (self.regularization is None or self.regularization.passed))


@dataclass
class FunctionReport:
    """Forward and training equivalence of a legacy model and its port.

    ``status``: ``"pass"``, ``"fail"`` or ``"inconclusive"`` (``reasons``
    say why; ``hints`` what to change); ``decided_by``: the part that set it.
    """

    inputs: Dict[str, Tuple[int, ...]]
    outputs: List[Comparison]
    steps: List[Step]
    loss: str
    optimizer: str
    learning_rate: float
    tolerance: str = TOLERANCE_REASON
    divergence: Optional[str] = None  #: where they differ, in plain words
    regularization: Optional[Comparison] = None
    dropout: Optional[Comparison] = None  #: the two sides' dropout rates
    dropout_rates: Tuple[List[float], List[float]] = ([], [])
    training_mode: str = ""  #: what was compared in training mode, or why not
    reasons: List[str] = field(default_factory=list)  #: why inconclusive
    hints: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    decided_by: str = ""
    #: Each output's measured rounding noise (the largest change under
    #: last-bit perturbations of the legacy weights and inputs).
    noise: Dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        checks = list(self.outputs) + [c for c in (self.regularization, self.dropout) if c is not None]
        return any(not c.passed for c in checks) or any(not s.passed for s in self.steps)

    @property
    def status(self) -> str:
        if self.failed:
            return "fail"
        if self.reasons or not self.outputs:
            return "inconclusive"
        return "pass"

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["status"] = self.status
        return data

    def __str__(self) -> str:
        verdict = {"pass": "same function", "fail": "DIFFERENT FUNCTION", "inconclusive": "INCONCLUSIVE"}
        lines = ["function: {} input(s) {}; {}".format(
            len(self.inputs), ", ".join("{} {}".format(k, shape_text(v)) for k, v in self.inputs.items()),
            verdict[self.status])]
        for o in self.outputs:
            lines.append("  output " + o.describe())
        if self.regularization is not None:
            lines.append("  regularization loss " + self.regularization.describe())
        if self.dropout is not None:
            lines.append("  dropout rates: legacy {} vs port {}: {}".format(
                self.dropout_rates[0] or "none", self.dropout_rates[1] or "none",
                "agree" if self.dropout.passed else "DIFFER"))
        if self.training_mode:
            lines.append("  training mode: " + self.training_mode)
        for s in self.steps:
            worst = max(s.weights, key=lambda w: w.max_abs / max(w.tolerance, 1e-30)) if s.weights else None
            lines.append("  step {} ({} {}, lr {:g}): loss v1 {:.6g} v2 {:.6g}{}: {}".format(
                s.step, self.optimizer, self.loss, self.learning_rate, s.loss_v1, s.loss_v2,
                "; largest weight diff {:.3g} ({})".format(worst.max_abs, worst.name) if worst else "",
                "agree" if s.passed else "DIFFER"))
            for o in s.outputs:
                if not o.passed:
                    lines.append("    training-mode " + o.describe())
        if self.divergence:
            lines.append("  where: " + self.divergence)
        for reason in self.reasons:
            lines.append("  inconclusive: " + reason)
        for hint in self.hints:
            lines.append("  hint: " + hint)
        for note in self.notes:
            lines.append("  note: " + note)
        lines.append("  tolerance: " + self.tolerance)
        return "\n".join(lines)


@dataclass
class MigrationReport(ParityReport):
    """A :class:`ParityReport` of the initial weights, the pairs (and how each
    was made), and the function check; ``status`` is the verdict."""

    pairs: List[Dict[str, str]] = field(default_factory=list)
    unpaired: List[str] = field(default_factory=list)
    #: Both models started from this checkpoint's tensors (no initial table).
    checkpoint: str = ""
    #: Checkpoint keys holding NaN or infinite values: "KEY (N ... of M)".
    nonfinite: List[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.nonfinite:  # outputs of NaN weights prove nothing either way: not compared
            return "inconclusive"
        if any(not k.passed for k in self.kernels) or (self.function is not None and self.function.failed):
            return "fail"
        if not self.pairs:  # no weight on either side: the proof of a migration's weights has nothing to hold
            return "inconclusive"
        if self.function is not None:
            return self.function.status
        return "pass" if self.kernels and not self.checkpoint else "inconclusive"

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def exit_code(self) -> int:
        return {"pass": EXIT_PASS, "fail": EXIT_FAIL, "inconclusive": EXIT_INCONCLUSIVE}[self.status]

    @property
    def decided_by(self) -> str:
        if any(not k.passed for k in self.kernels):
            return "initial distributions"
        if self.nonfinite:
            return "checkpoint (non-finite values)"
        if not self.pairs and not (self.function is not None and self.function.failed):
            return "pairing (no weight on either side)"
        if self.function is not None:
            return self.function.decided_by
        return "initial distributions"

    def to_dict(self) -> Dict[str, Any]:
        data = super().to_dict()
        data.update(status=self.status, exit_code=self.exit_code, decided_by=self.decided_by, pairs=self.pairs,
                    unpaired=self.unpaired, checkpoint=self.checkpoint, nonfinite=self.nonfinite)
        return data

    def __str__(self) -> str:
        if self.checkpoint:
            lines = ["both models start from the {} tensors of checkpoint {}".format(len(self.pairs), self.checkpoint)]
            if self.function is not None:
                lines.append(str(self.function))
            elif not self.nonfinite:
                lines.append("nothing was compared: pass inputs to compare the functions at these weights")
        else:
            lines = [super().__str__()]
        made = sorted(set(p["how"] for p in self.pairs))
        if made:
            lines.append("pairs made by {}".format(", ".join(
                "{} ({})".format(how, sum(1 for p in self.pairs if p["how"] == how)) for how in made)))
        for name in self.unpaired:
            lines.append("  not compared: {}".format(name))
        if self.nonfinite:
            lines.append("inconclusive: the checkpoint holds NaN or infinite values, and outputs computed from them "
                         "prove nothing (the functions were not compared): {}".format(", ".join(self.nonfinite[:8])))
        lines.append("verdict: {} (decided by the {})".format(
            {"pass": "the port agrees", "fail": "the port DIFFERS", "inconclusive": "INCONCLUSIVE"}[self.status],
            self.decided_by))
        return "\n".join(lines)
