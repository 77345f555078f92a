"""The proof's and the recording's run options: their one check against the
choices (``compat_init._choices``, which the command line offers too), and
the defaults a recording fixes."""
from __future__ import annotations

import math
import numbers
from typing import Any, Tuple

from compat_init import _validate
from compat_init._choices import LOSSES, OPTIMIZERS
from compat_init._errors import UsageError


def _number(value: Any, name: str, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral if kind is int else numbers.Real)):
        raise UsageError("{} must be a{} number; received {}={!r}".format(
            name, "n integer" if kind is int else "", name, value))
    return kind(value)


def check_run(seed: Any, steps: Any, learning_rate: Any, loss: Any, optimizer: Any) -> Tuple[int, int, float]:
    """The training run's options checked (each error names the argument):
    ``(seed, steps, learning_rate)`` as numbers."""
    seed = 0 if seed is None else int(_validate.seed(_number(seed, "seed", int)) or 0)
    steps = _number(steps, "steps", int)
    if steps < 0:
        raise UsageError("steps must be a non-negative integer; received steps={!r}".format(steps))
    learning_rate = _number(learning_rate, "learning_rate", float)
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise UsageError("learning_rate must be a positive number; received learning_rate={!r}".format(
            learning_rate))
    if loss not in LOSSES:
        raise UsageError("loss must be one of {}; received loss={!r}".format(", ".join(LOSSES), loss))
    if optimizer not in OPTIMIZERS:
        raise UsageError("optimizer must be one of {}; received optimizer={!r}".format(
            ", ".join(OPTIMIZERS), optimizer))
    return seed, steps, learning_rate


#: The options a recording fixes, with check_migration's defaults: an argument
#: left at its default takes the recording's value; another must equal it.
RUN_DEFAULTS = {"seed": 0, "steps": 0, "loss": "categorical_crossentropy", "optimizer": "sgd",
                "learning_rate": 0.01, "from_logits": False}
