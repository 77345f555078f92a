"""``--plot``: per kernel, both paths' histograms over the theoretical density."""
from __future__ import annotations

import math
from typing import Any, Dict

import numpy as np


def plot(report: Any, samples: Dict[str, Any], path: str) -> None:
    """Writes a PNG grid; ``samples`` maps kernel index -> (reference values,
    candidate values, Theory)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from compat_init.parity._engine import _distribution

    count = len(report.kernels)
    cols = min(3, count)
    rows = int(math.ceil(count / float(cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.ravel()[count:]:
        ax.axis("off")
    for index, (kernel, ax) in enumerate(zip(report.kernels, axes.ravel())):
        reference, candidate, theory = samples[str(index)]
        frozen = _distribution(theory)
        if theory.distribution == "orthogonal":  # bounded by the gain, but concentrated near 0
            reach = min(theory.bound, 5.0 * theory.std)
            low, high = -reach, reach
        elif math.isfinite(theory.low) and math.isfinite(theory.high):
            low, high = theory.low, theory.high
        else:
            low, high = theory.mean - 4.0 * theory.std, theory.mean + 4.0 * theory.std
        # 60 bins across [low, high] with edges on the bounds (a bin
        # straddling a bound would look half empty), and more each side, out
        # to the farthest value drawn (at most 60 more bins): values past the
        # bounds are a fault and must show.
        width = (high - low) / 60
        drawn = [a for a in (reference, candidate) if a.size]
        past = max([0.0] + [max(low - float(a.min()), float(a.max()) - high) for a in drawn])
        extra = int(min(60, max(3, math.ceil(past / width) + 1)))
        bins = low + width * np.arange(-extra, 61 + extra)
        ax.hist(reference, bins=bins, density=True, alpha=0.5, label=kernel.reference.label)
        ax.hist(candidate, bins=bins, density=True, alpha=0.5, label=kernel.candidate.label)
        grid = np.linspace(bins[0], bins[-1], 400)
        ax.plot(grid, frozen.pdf(grid), "k-", lw=1.2, label="theory")
        verdict = kernel.verdict
        ax.set_title("{} {}\n{}, min p={:.1e}: {}".format(
            kernel.kernel, "x".join(map(str, kernel.shape)), kernel.distribution,
            kernel.min_p_value, verdict), fontsize=9, color="black" if kernel.passed else "red")
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_training(function: Any, path: str) -> None:
    """Writes a PNG: both models' loss per training step, and the largest
    weight difference per step against its tolerance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s.step for s in function.steps]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.4, 3.8))
    left.plot(steps, [s.loss_v1 for s in function.steps], "o-", label="legacy (v1)")
    left.plot(steps, [s.loss_v2 for s in function.steps], "x--", label="port (v2)")
    left.set_xlabel("step")
    left.set_ylabel("{} loss".format(function.loss))
    left.set_title("loss, {} lr={:g}".format(function.optimizer, function.learning_rate), fontsize=9)
    left.legend(fontsize=7)
    worst = [max((w.max_abs for w in s.weights), default=0.0) for s in function.steps]
    allowed = [min((w.tolerance for w in s.weights), default=0.0) for s in function.steps]
    right.semilogy(steps, [max(w, 1e-12) for w in worst], "o-", label="largest |weight diff|")
    right.semilogy(steps, [max(a, 1e-12) for a in allowed], "k:", label="smallest tolerance")
    right.set_xlabel("step")
    right.set_title("weights after each step: {}".format("agree" if function.passed else "DIFFER"),
                    fontsize=9, color="black" if function.passed else "red")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
