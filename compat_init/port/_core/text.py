"""Text for messages, one copy each: an error's first line, a value described
without printing it, a shape, a cut-short list of names."""
from __future__ import annotations

from typing import Any, Sequence


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def cut(names: Sequence[str], most: int = 8) -> str:
    """``a, b, ...`` of the first ``most`` names, and how many more."""
    names = list(names)
    text = ", ".join(names[:most])
    return text + (" and {} more ({} in all)".format(len(names) - most, len(names)) if len(names) > most else "")


def first_line(error: BaseException, typed: bool = True) -> str:
    """An error's first line: ``Type: text``, or (``typed=False``) the text
    alone, its type's name when it has none."""
    text = str(error).strip().splitlines()
    if not typed:
        return text[0] if text else type(error).__name__
    return "{}: {}".format(type(error).__name__, text[0] if text else "")


def describe_value(value: Any) -> str:
    if value is None:
        return "None"
    if callable(value) and not hasattr(value, "dtype"):
        return "a {} ({!r}); did you return the function instead of calling it?".format(
            type(value).__name__, getattr(value, "__name__", value))
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # an array: summarized, never printed
        return "a {} of shape {} and dtype {} (not a tensor of the legacy graph)".format(
            type(value).__name__, tuple(value.shape), getattr(value.dtype, "name", value.dtype))
    text = " ".join(repr(value).split())
    return "a {} ({})".format(type(value).__name__, text if len(text) <= 80 else text[:77] + "...")
