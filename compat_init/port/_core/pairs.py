"""What a pairing is made of: the variables of either side (``Var``), a
pair and how its legacy value becomes the port's (``Pair``: a split, a
transpose, a reshape), a mapping's parts (entries and rules) and the port
weights kept as initialized (``keep_initial``).  ``pairing`` makes the pairs."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from compat_init._errors import UsageError
from compat_init.port._core.patterns import BOUNDED, PATTERN_ERRORS, compile_pattern, from_re, fullmatch
from compat_init.port._core.rules import Rule, read_rules
from compat_init.port._core.text import shape_text


def clean_name(name: str) -> str:
    """A variable's name without its ``:0``."""
    return name.split(":")[0]


@dataclass
class Var:
    """One variable of either side: a legacy graph variable, a port weight or a
    checkpoint key."""

    name: str
    shape: Tuple[int, ...]
    dtype: str = "float32"
    trainable: bool = True
    index: int = 0  #: the position in its side's list
    value: Any = field(default=None, repr=False)  #: its (initial) value, where read
    handle: Any = field(default=None, repr=False)  #: the variable object itself, where there is one
    #: What each axis means ("in": read from the layer's input, "out": written
    #: to its output), where the layer says (an ``EinsumDense`` equation).
    axes: Optional[Tuple[str, ...]] = field(default=None, repr=False)

@dataclass
class Pair:
    legacy: Var
    port: Var
    how: str  #: "mapping", "rule FILE:LINE", "dataflow", "creation order", "name", "structure" or "shape"
    #: Axes permutation applied to the legacy value before any reshape (rules only).
    transpose: Optional[Tuple[int, ...]] = None
    #: (axis, parts, index): the port weight is part ``index`` of the legacy
    #: value cut in ``parts`` equal parts along ``axis``, taken first (rules
    #: only: a fused tensor, GPT-2's ``c_attn`` into query, key and value).
    split: Optional[Tuple[int, int, int]] = None
    #: (axis, parts, index): the legacy value (transposed, reshaped) is part
    #: ``index`` of the port weight cut in ``parts`` equal parts along
    #: ``axis``: several legacy variables into one port weight (a port that
    #: fuses query, key and value).
    concat: Optional[Tuple[int, int, int]] = None

    @property
    def reshaped(self) -> bool:
        return tuple(self._transposed_shape()) != self.port_part_shape()

    def port_part_shape(self) -> Tuple[int, ...]:
        """The port weight's shape, or its part's where several legacy
        variables are concatenated into it."""
        return cut_shape(self.port.shape, self.concat)

    def port_part(self, value: Any) -> Any:
        """The part of a port value this pair fills (all of it unless concatenated)."""
        return _take(value, self.concat)

    def part_shape(self) -> Tuple[int, ...]:
        """The legacy variable's shape, or its part's where split."""
        return cut_shape(self.legacy.shape, self.split)

    def _transposed_shape(self) -> Tuple[int, ...]:
        shape = self.part_shape()
        return tuple(shape[a] for a in self.transpose) if self.transpose else shape

    def part(self, value: Any) -> Any:
        """The part of a legacy value this pair carries (all of it unless split)."""
        return _take(value, self.split)

    def describe(self) -> str:
        """How the pair was made, with any split, transpose and reshape:
        ``structure (reshape 768x768->768x12x64)``."""
        steps = []
        if self.split:
            steps.append("split {} of {} along axis {}".format(self.split[2], self.split[1], self.split[0]))
        if self.transpose:
            steps.append("transpose {}".format(",".join(map(str, self.transpose))))
        if self.reshaped:
            steps.append("reshape {}->{}".format(shape_text(self._transposed_shape()),
                                                 shape_text(self.port_part_shape())))
        if self.concat:
            steps.append("concat {} of {} along axis {}".format(self.concat[2], self.concat[1], self.concat[0]))
        return self.how + (" ({})".format("; ".join(steps)) if steps else "")

    def to_port(self, value: Any) -> Any:
        """A legacy value in the port weight's shape, or its part's where
        concatenated (``assemble`` joins the parts; numpy, or TensorFlow
        tensors through ``np.transpose``/``reshape``-compatible calls)."""
        value = self.part(value)
        if self.transpose:
            value = np.transpose(value, self.transpose)
        return np.reshape(value, self.port_part_shape()) if self.reshaped else value

    def to_legacy(self, value: Any) -> Any:
        """A port value in the legacy variable's shape, or its part's where
        split (the inverse of ``to_port``; ``join`` puts the parts back)."""
        value = self.port_part(value)
        if self.reshaped:
            value = np.reshape(value, self._transposed_shape())
        if self.transpose:
            value = np.transpose(value, np.argsort(self.transpose))
        return value

def cut_shape(shape: Sequence[int], cut: Optional[Tuple[int, int, int]]) -> Tuple[int, ...]:
    """``shape``, or one part's where ``cut`` (axis, parts, index) cuts it in equal parts."""
    shape = tuple(shape)
    if not cut:
        return shape
    axis, parts, _ = cut
    return shape[:axis] + (shape[axis] // parts,) + shape[axis + 1:]


def _take(value: Any, cut: Optional[Tuple[int, int, int]]) -> Any:
    """Part ``index`` of ``value`` cut in ``parts`` along ``axis`` (``cut``), or all of it."""
    if not cut:
        return value
    axis, parts, index = cut
    size = np.shape(value)[axis] // parts
    return np.take(np.asarray(value), range(index * size, (index + 1) * size), axis=axis)


def join(pairs: Sequence[Pair], values: Sequence[Any]) -> Any:
    """The legacy value of one variable from its pairs' parts in the legacy
    shapes (``Pair.to_legacy``): their concatenation along the split axis,
    in part order; the value itself where it was not split."""
    if len(pairs) == 1 and not pairs[0].split:
        return values[0]
    ordered = sorted(zip(pairs, values), key=lambda pv: pv[0].split[2] if pv[0].split else 0)
    axis = ordered[0][0].split[0] if ordered[0][0].split else 0
    return np.concatenate([np.asarray(v) for _, v in ordered], axis=axis)

def assemble(pairs: Sequence[Pair], values: Sequence[Any]) -> Dict[int, Any]:
    """The port weights' values (index -> value) from their pairs' values in
    the port's shapes (``Pair.to_port``): parts concatenated along their
    axis, in part order, where several legacy variables fill one weight.

    Raises:
      ValueError: a concatenated weight whose parts are not all there, once.
    """
    whole: Dict[int, Any] = {}
    parts: Dict[int, List[Tuple[Pair, Any]]] = {}
    for p, value in zip(pairs, values):
        if p.concat:
            parts.setdefault(p.port.index, []).append((p, value))
        else:
            whole[p.port.index] = value
    for index, group in parts.items():
        axis, count, _ = group[0][0].concat  # type: ignore[misc]
        ordered = sorted(group, key=lambda pv: pv[0].concat[2])  # type: ignore[index]
        found = [p.concat[2] for p, _ in ordered]  # type: ignore[index]
        if found != list(range(count)):
            raise ValueError("port weight {} is concatenated from parts {} of {}".format(
                group[0][0].port.name, found, count))
        whole[index] = np.concatenate([np.asarray(v) for _, v in ordered], axis=axis)
    return whole

_PATTERN = type(re.compile(""))

def keep_patterns(keep_initial: Any, option: str = "keep_initial") -> List[Any]:
    """``keep_initial`` (a pattern or a list of them: regular expressions
    over whole port weight names) compiled.

    Raises:
      UsageError: a pattern that is not a string or not a regular
        expression, naming ``option``, the pattern and the error.
    """
    if keep_initial is None:
        return []
    patterns = [keep_initial] if isinstance(keep_initial, str) else keep_initial
    if not isinstance(patterns, (list, tuple)):
        raise TypeError("{} must be a pattern or a list of patterns (regular expressions over port weight names); "
                        "received {}".format(option, type(keep_initial).__name__))
    compiled = []
    for pattern in patterns:
        if isinstance(pattern, (_PATTERN, BOUNDED)):
            compiled.append(pattern if isinstance(pattern, BOUNDED) else from_re(pattern))
            continue
        if not isinstance(pattern, str) or not pattern:
            raise UsageError("{} patterns must be non-empty strings (regular expressions over port weight names); "
                             "received {!r}".format(option, pattern))
        try:
            compiled.append(compile_pattern(pattern))
        except PATTERN_ERRORS as error:
            raise UsageError("{} must be regular expressions over port weight names; received {} ({})".format(
                option, pattern, error)) from None
    return compiled

def kept(var: Var, patterns: Sequence[Any]) -> bool:
    """Whether a port weight is one ``patterns`` keep as the port initialized
    it (a pattern matches its whole name)."""
    return any(fullmatch(p, clean_name(var.name), "keep_initial (--keep-initial)") for p in patterns)

def split_mapping(mapping: Any) -> Tuple[Dict[str, str], List[Rule]]:
    """``mapping`` as literal entries and rules: a dict ``{legacy: port}``, a
    rules file's path, a list of :class:`~compat_init.port.Rule` (or of dicts and rules).

    Raises:
      TypeError: naming ``mapping`` and the type received.
    """
    if mapping is None:
        return {}, []
    if isinstance(mapping, (str, os.PathLike)):
        return {}, read_rules(os.fspath(mapping))
    parts = [mapping] if isinstance(mapping, dict) else mapping
    if not isinstance(parts, (list, tuple)):
        raise TypeError("mapping must be a dict {{legacy name: port name}}, a rules file's path or a list of rules; "
                        "received {}".format(type(mapping).__name__))
    entries: Dict[str, str] = {}
    rules: List[Rule] = []
    for part in parts:
        if isinstance(part, Rule):
            rules.append(part)
        elif isinstance(part, dict):
            for key, value in part.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise TypeError("mapping entries must be strings (legacy name: port name); received {!r}: "
                                    "{!r}".format(key, value))
                if key in entries:
                    raise UsageError("mapping names {} twice; received {}={} and {}={}".format(
                        key, key, entries[key], key, value))
                entries[key] = value
        else:
            raise TypeError("mapping must be a dict {{legacy name: port name}}, a rules file's path or a list of "
                            "rules; received a list holding {}".format(type(part).__name__))
    return entries, rules
