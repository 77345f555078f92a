"""The parity report: per-kernel statistics, tests and verdicts."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple


@dataclass
class SideStats:
    """What one path drew for one kernel."""

    label: str
    n: int
    mean: float
    std: float
    min: float
    max: float
    expected_std: float
    bound: float  #: inf for an untruncated normal


@dataclass
class TestResult:
    """One hypothesis test; it passes when ``p_value >= threshold``."""

    name: str
    statistic: float
    p_value: float
    threshold: float

    @property
    def passed(self) -> bool:
        return self.p_value >= self.threshold


@dataclass
class KernelReport:
    kernel: str
    shape: Tuple[int, ...]
    fan_in: int
    fan_out: int
    distribution: str
    reference: SideStats
    candidate: SideStats
    tests: List[TestResult] = field(default_factory=list)
    #: Migration reports: True when both sides hold the same bits (no tests
    #: needed), False when they differ, None when not compared bitwise.
    bit_equal: Optional[bool] = None
    #: What was compared: class and key configuration of each side.
    reference_initializer: str = ""
    candidate_initializer: str = ""

    def diagnosis(self) -> List[str]:
        """What differs, in plain words, one line per failed test."""
        sides = {"reference": self.reference, "candidate": self.candidate}
        words = []
        for test in self.tests:
            if test.passed:
                continue
            side = test.name.rsplit("_", 1)[-1]
            stats = sides.get(side)
            label = ("the {}".format(side) if stats is None or stats.label == side
                     else "the {} ({})".format(side, stats.label))
            if test.name.startswith("variance_") and stats is not None and stats.expected_std:
                change = stats.std / stats.expected_std - 1.0
                words.append("{} std {:.3g} is {:.1f} % {} theory's {:.3g} (variance z = {:.3g})".format(
                    label, stats.std, abs(change) * 100, "above" if change > 0 else "below",
                    stats.expected_std, test.statistic))
            elif test.name.startswith("ks_theory_"):
                words.append("{} values do not follow the theoretical {} (KS D = {:.3g})".format(
                    label, self.distribution, test.statistic))
            elif test.name == "ks_2samp":
                words.append("the two samples differ (KS D = {:.3g})".format(test.statistic))
            elif test.name.startswith("orthogonality_"):
                words.append("{} draws are not orthogonal at the gain: max |W'W/gain^2 - I| = {:.3g}".format(
                    label, test.statistic))
        return words

    @property
    def passed(self) -> bool:
        if self.bit_equal:
            return True
        return bool(self.tests) and all(t.passed for t in self.tests)

    @property
    def min_p_value(self) -> float:
        return min((t.p_value for t in self.tests), default=1.0)

    @property
    def verdict(self) -> str:
        if self.bit_equal:
            return "bit-equal"
        return "agree" if self.passed else "DISAGREE"


def _json_float(value: float) -> Any:
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


@dataclass
class ParityReport:
    """The verdict over all kernels; ``passed`` is True when every test passed.

    The family-wise false-alarm rate is held at ``alpha``: each test is judged
    at ``threshold = alpha / number of tests`` (Bonferroni).
    """

    kernels: List[KernelReport]
    alpha: float
    seed: Optional[int]
    samples: int
    threshold: float
    #: Kernels that were not tested, each ``{"kernel", "shape", "initializer",
    #: "reason"}`` (``check_model``: an initializer with no distribution).
    untested: List[Dict[str, Any]] = field(default_factory=list)
    #: ``check_migration(inputs=...)``: forward and training equivalence.
    function: Optional[Any] = None

    @property
    def passed(self) -> bool:
        """Every kernel agreed, and there was at least one: a report that
        checked nothing does not pass; with a function check, it agrees too."""
        return (bool(self.kernels) and all(k.passed for k in self.kernels)
                and (self.function is None or self.function.passed))

    @property
    def counts(self) -> Tuple[int, int]:
        """(checks passed, checks failed): the kernels, and the function check."""
        checks = [k.passed for k in self.kernels]
        if self.function is not None:
            checks.append(self.function.passed)
        ok = sum(1 for c in checks if c)
        return ok, len(checks) - ok

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-safe dict (infinite bounds become the string "inf")."""
        kernels = []
        for kernel in self.kernels:
            item = asdict(kernel)
            item["shape"] = list(kernel.shape)
            for side in ("reference", "candidate"):
                item[side] = {k: _json_float(v) if isinstance(v, float) else v
                              for k, v in item[side].items()}
            for test, result in zip(item["tests"], kernel.tests):
                test["passed"] = result.passed
                test["statistic"] = _json_float(test["statistic"])
            item["passed"] = kernel.passed
            item["verdict"] = kernel.verdict
            item["diagnosis"] = kernel.diagnosis()
            kernels.append(item)
        passed, failed = self.counts
        return {
            "passed": self.passed, "alpha": self.alpha, "threshold": self.threshold,
            "seed": self.seed, "samples_per_side": self.samples,
            "summary": {"passed": passed, "failed": failed, "untested": len(self.untested)},
            "kernels": kernels,
            "untested": [dict(u, shape=list(u["shape"])) for u in self.untested],
            "function": None if self.function is None else self.function.to_dict(),
        }

    def __str__(self) -> str:
        header = ("kernel", "shape", "fan_in/out", "dist", "bound", "exp std",
                  "ref std", "cand std", "min p", "verdict")
        rows = [header]
        for k in self.kernels:
            rows.append((
                k.kernel, "x".join(map(str, k.shape)), "{}/{}".format(k.fan_in, k.fan_out),
                k.distribution, "{:.5g}".format(k.reference.bound),
                "{:.5g}".format(k.reference.expected_std),
                "{:.5g}".format(k.reference.std), "{:.5g}".format(k.candidate.std),
                "{:.2e}".format(k.min_p_value) if k.tests else "-", k.verdict,
            ))
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        for k in self.kernels:
            if k.passed or not k.tests:
                continue
            if k.reference_initializer or k.candidate_initializer:
                lines.append("{}: reference {} vs candidate {}".format(
                    k.kernel, k.reference_initializer or "?", k.candidate_initializer or "?"))
            else:
                lines.append("{}:".format(k.kernel))
            for words in k.diagnosis():
                lines.append("  " + words)
            for t in k.tests:
                if not t.passed:
                    lines.append("  ({} statistic={:.4g} p={:.3g} < {:.3g})".format(
                        t.name, t.statistic, t.p_value, t.threshold))
        for u in self.untested:
            lines.append("  {} ({}): not tested: {}".format(
                u["kernel"], "x".join(map(str, u["shape"])), u["reason"]))
        if not self.kernels:
            if self.function is None:
                lines.append("nothing was checked: no kernel to compare, so the report does not pass")
            elif not getattr(self, "pairs", True):
                lines.append("no kernel was compared: neither model has a weight, so the proof is inconclusive "
                             "whatever the function does")
            else:
                lines.append("no kernel's initial values were compared (see 'not tested')")
        if self.function is not None:
            lines.append(str(self.function))
        drawn = ("{} values per side per kernel".format(self.samples) if self.samples
                 else "each variable's own initial values")
        lines.append("{}; alpha={} (Bonferroni: each test at {:.3g}); seed={}".format(
            drawn, self.alpha, self.threshold, self.seed))
        return "\n".join(lines)
