"""The pairing's rules, as data: what a variable's name says (its role, its
scope's words and numbers), which words mean the same across model zoos, which
reshapes pair a legacy variable with a port weight, and rules files a user
writes.  ``pairing`` reads these tables; adding a synonym or a role is one
row here.  Pure Python: no TensorFlow, no numpy.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from compat_init._errors import UsageError
from compat_init.port._core.patterns import PATTERN_ERRORS, check_template, compile_pattern, fullmatch


#: A variable's last name component -> its role in its layer.  TF1 and Keras
#: spell the same tensor differently (``weights``/``kernel``, ``beta``/``offset``).
ROLES: Dict[str, str] = {
    "kernel": "kernel", "weights": "kernel", "w": "kernel", "weight": "kernel",
    "bias": "bias", "biases": "bias", "b": "bias",
    "gamma": "scale", "scale": "scale", "g": "scale",
    "beta": "offset", "offset": "offset", "center": "offset",
    "moving_mean": "moving_mean", "moving_variance": "moving_variance",
    "depthwise_kernel": "depthwise_kernel", "depthwise_weights": "depthwise_kernel",
    "pointwise_kernel": "pointwise_kernel", "pointwise_weights": "pointwise_kernel",
    "embeddings": "embeddings", "embedding": "embeddings",
}


#: What a role is inside a normalization layer (a scope whose words say
#: ``norm``): GPT-2 names a LayerNorm's offset ``b``, read as a bias elsewhere.
NORM_ROLES: Dict[str, str] = {"bias": "offset"}


#: Words of a name that mean the same across zoos: each phrase (lower-case
#: words, in order) is read as the words on the right.  Applied to the words
#: of a name, longest phrase first; a word no row names is kept as it is.
SYNONYMS: Tuple[Tuple[Tuple[str, ...], Tuple[str, ...]], ...] = (
    (("layernorm",), ("layer", "norm")),
    (("ln",), ("layer", "norm")),
    (("batchnorm",), ("batch", "norm")),
    (("bn",), ("batch", "norm")),
    (("embeddings",), ("embedding",)),
    (("word",), ("token",)),
    (("token", "type"), ("segment",)),
    (("type",), ("segment",)),
    (("pooler",), ("pooled",)),
    (("intermediate",), ("feedforward", "intermediate")),
    (("ffn",), ("feedforward",)),
    (("mlp",), ("feedforward",)),
    (("fc",), ("dense",)),
    (("linear",), ("dense",)),
    (("attn",), ("attention",)),
    (("conv2d",), ("conv",)),
    (("conv1d",), ("conv",)),
    (("conv3d",), ("conv",)),
    (("separable", "conv"), ("separable",)),
    (("depthwise", "conv"), ("depthwise",)),
)


#: The reshapes a pairing may make without a rule: every group of adjacent
#: axes on one side is one axis on the other (row-major order, so no value
#: moves).  Kind -> what it is, for reports and docs.
RESHAPE_KINDS: Dict[str, str] = {
    "split": "one axis split into adjacent axes (a per-head kernel: H -> heads x d)",
    "merge": "adjacent axes merged into one (a convolution used as a dense layer: KH x KW x C -> KH*KW*C)",
    "squeeze": "axes of size 1 added or dropped (a 1x1 convolution as a dense kernel)",
}


#: What each axis of a kernel is, by the convention TF1 and Keras share for
#: dense and convolution kernels: every axis but the last is read from the
#: input ("in"), the last is written to the output ("out").
KERNEL_ROLES = ("kernel", "depthwise_kernel", "pointwise_kernel")


def _split_words(text: str) -> List[str]:
    """Lower-case words and numbers of one name component: ``LayerNorm`` ->
    layer, norm (synonyms make it one word first); ``layer_3`` -> layer, 3."""
    text = re.sub(r"([a-z])([A-Z])", r"\1_\2", text)  # camelCase
    lowered = text.lower()
    for joined in ("layernorm", "batchnorm"):  # the camelCase split undone: one word, as SYNONYMS spell it
        lowered = lowered.replace(joined[:-len("norm")] + "_norm", joined)
    return re.findall(r"conv[123]d|[a-z]+|\d+", lowered)


def canonical_words(words: Sequence[str]) -> List[str]:
    """``words`` with every synonym phrase replaced (longest phrase first)."""
    phrases = sorted(SYNONYMS, key=lambda row: -len(row[0]))
    out: List[str] = []
    i = 0
    while i < len(words):
        for phrase, meaning in phrases:
            if tuple(words[i:i + len(phrase)]) == phrase:
                out.extend(meaning)
                i += len(phrase)
                break
        else:
            out.append(words[i])
            i += 1
    return out


@dataclass(frozen=True)
class NameParts:
    """What a variable's name says about its place in the model."""

    role: str  #: from ROLES ("kernel", "scale", ...), or "" when the name does not say
    scope: str  #: the name of the layer it belongs to (its scope), as written
    words: Tuple[str, ...]  #: the scope's words, synonyms applied, numbers left out
    numbers: Tuple[int, ...]  #: the scope's numbers in order, a number repeated next to itself once


def name_parts(components: Sequence[str]) -> NameParts:
    """Reads a name split at ``/`` (a common model prefix already dropped).
    The last component is the role when ROLES knows it (``kernel``), or ends
    in a word that does (``word_embeddings``, ``output_bias``: its other
    words then belong to the scope)."""
    *scope, leaf = list(components) or [""]
    role = ROLES.get(leaf.lower(), "")
    if not role:
        leaf_words = _split_words(leaf)
        tail = leaf_words[-1] if leaf_words else ""
        role = ROLES.get(tail, "")
        scope = scope + [leaf]  # the leaf names the layer too (word_embeddings, output_weights)
    words: List[str] = []
    numbers: List[int] = []
    for component in scope:
        for word in canonical_words(_split_words(component)):
            if word.isdigit():
                if not numbers or numbers[-1] != int(word):
                    numbers.append(int(word))
            elif word not in ROLES or word == "embedding":
                words.append(word)
    if role == "bias" and "norm" in words:  # GPT-2's ln_1/b: a normalization's offset (NORM_ROLES)
        role = NORM_ROLES.get(role, role)
    return NameParts(role, "/".join(scope), tuple(words), tuple(numbers))


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Shared words over all words (Jaccard) of two scopes."""
    x, y = set(a), set(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def reshape_groups(a: Sequence[int], b: Sequence[int]) -> Optional[List[Tuple[List[int], List[int]]]]:
    """How shape ``a`` becomes ``b`` in row-major order, as groups of adjacent
    axes (axes of ``a``, axes of ``b``) of equal size where one side of each
    group is a single axis (a split or a merge; axes of size 1 join their
    neighbours); None when no such grouping exists (a transpose, or other sizes)."""
    a, b = list(a), list(b)
    if _size(a) != _size(b):
        return None
    groups: List[Tuple[List[int], List[int]]] = []
    i = j = 0
    while i < len(a) or j < len(b):
        ga: List[int] = []
        gb: List[int] = []
        pa = pb = 1
        while True:
            while i < len(a) and a[i] == 1:  # size-1 axes join the group at hand
                ga.append(i)
                i += 1
            while j < len(b) and b[j] == 1:
                gb.append(j)
                j += 1
            if (pa == pb and pa != 1) or (i >= len(a) and j >= len(b)):
                break
            if pa <= pb and i < len(a):
                ga.append(i)
                pa *= a[i]
                i += 1
            elif j < len(b):
                gb.append(j)
                pb *= b[j]
                j += 1
            else:
                return None
        if pa != pb:
            return None
        groups.append((ga, gb))
    for ga, gb in groups:
        real_a = [k for k in ga if a[k] != 1]
        real_b = [k for k in gb if b[k] != 1]
        if len(real_a) > 1 and len(real_b) > 1:
            return None
    return groups


def reshape_kind(a: Sequence[int], b: Sequence[int]) -> str:
    """"split", "merge" or "squeeze" for a grouping ``reshape_groups`` made."""
    groups = reshape_groups(a, b) or []
    if any(len([k for k in gb if b[k] != 1]) > 1 for _, gb in groups):
        return "split"
    if any(len([k for k in ga if a[k] != 1]) > 1 for ga, _ in groups):
        return "merge"
    return "squeeze"


def axes_agree(groups: Sequence[Tuple[List[int], List[int]]], a_axes: Optional[Sequence[str]],
               b_axes: Optional[Sequence[str]], a: Sequence[int], b: Sequence[int]) -> bool:
    """Each group joins axes of one meaning (read from the input, or written
    to the output) on both sides; axes of size 1 and unknown meanings agree
    with anything."""
    if a_axes is None or b_axes is None:
        return True
    for ga, gb in groups:
        kinds = {a_axes[k] for k in ga if a[k] != 1} | {b_axes[k] for k in gb if b[k] != 1}
        kinds.discard("?")
        if len(kinds) > 1:
            return False
    return True


def kernel_axes(rank: int) -> Tuple[str, ...]:
    """The convention of TF1 and Keras dense and convolution kernels."""
    return tuple(["in"] * (rank - 1) + ["out"]) if rank else ()


def einsum_axes(equation: str) -> Optional[Tuple[str, ...]]:
    """The kernel axes' meanings of an ``EinsumDense`` equation
    (``abc,cde->abde``: c is read from the input, d and e are written)."""
    match = re.fullmatch(r"\s*([a-z.]+)\s*,\s*([a-z]+)\s*->\s*([a-z.]+)\s*", equation or "")
    if not match:
        return None
    source, kernel, _ = match.groups()
    return tuple("in" if letter in source else "out" for letter in kernel)


def _size(shape: Sequence[int]) -> int:
    size = 1
    for d in shape:
        size *= int(d)
    return size


@dataclass(frozen=True)
class Rule:
    """``PATTERN -> REPLACEMENT [transpose(P)] [reshape]``: a legacy name the
    pattern matches whole is paired with the port weight the replacement names
    (full name or ``/``-suffix)."""

    pattern: str
    replacement: str
    transpose: Optional[Tuple[int, ...]] = None
    reshape: bool = False  #: any row-major reshape of equal size, not only a split or merge
    source: str = ""  #: FILE:LINE, for messages
    #: (axis, parts, index): the port weight is part ``index`` of the legacy
    #: value cut in ``parts`` equal parts along ``axis`` (a fused tensor).
    split: Optional[Tuple[int, int, int]] = None
    #: (axis, parts, index): the legacy value is part ``index`` of the port
    #: weight cut in ``parts`` equal parts along ``axis`` (several keys into one).
    concat: Optional[Tuple[int, int, int]] = None

    def target(self, name: str) -> Optional[str]:
        match = fullmatch(compile_pattern(self.pattern), name, self.source or "a rule")
        return match.expand(self.replacement) if match else None


_OPTION = re.compile(r"^(?:transpose\((\s*\d+\s*(?:,\s*\d+\s*)*)\)|reshape|(split|concat)\((\d+),(\d+),(\d+)\))$")


def parse_rules(text: str, source: str) -> List[Rule]:
    """A rules file's lines: ``PATTERN -> REPLACEMENT [split(AXIS,PARTS,INDEX)
    | concat(AXIS,PARTS,INDEX)] [transpose(1,0)] [reshape]``; ``#`` starts a
    comment; blank lines are skipped.  ``split``: the port weight is part
    INDEX of the legacy tensor cut in PARTS equal parts along AXIS (taken
    first); several rules naming the same legacy tensor give each part its
    port weight.  ``concat``: the legacy tensor (transposed, reshaped) is part
    INDEX of the port weight cut in PARTS equal parts along AXIS; several
    legacy tensors fill one port weight, each part once.

    Raises:
      UsageError: naming FILE:LINE, the rule broken and the line received.
    """
    rules: List[Rule] = []
    for number, line in enumerate(text.splitlines(), 1):
        where = "{}:{}".format(source, number)
        body = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not body:
            continue
        left, arrow, right = body.partition("->")
        words = right.split()
        if not arrow or not left.strip() or not words:
            raise UsageError("{}: a rule must be PATTERN -> REPLACEMENT [split(AXIS,PARTS,INDEX) | "
                             "concat(AXIS,PARTS,INDEX)] [transpose(AXES)] [reshape]; received {!r}".format(
                                 where, line.strip()))
        transpose: Optional[Tuple[int, ...]] = None
        reshape = False
        split: Optional[Tuple[int, int, int]] = None
        concat: Optional[Tuple[int, int, int]] = None
        for option in words[1:]:
            found = _OPTION.match(option)
            if not found:
                raise UsageError("{}: after the replacement a rule takes only split(AXIS,PARTS,INDEX), "
                                 "concat(AXIS,PARTS,INDEX), transpose(AXES) and reshape; received {!r}".format(
                                     where, option))
            if found.group(2):
                axis, parts, index = (int(found.group(k)) for k in (3, 4, 5))
                if parts < 2 or index >= parts or parts > 1 << 16:
                    raise UsageError("{}: {}(AXIS,PARTS,INDEX) cuts in 2 <= PARTS <= 65536 parts and takes part "
                                     "INDEX < PARTS; received {!r}".format(where, found.group(2), option))
                if found.group(2) == "split":
                    split = (axis, parts, index)
                else:
                    concat = (axis, parts, index)
                if split and concat:
                    raise UsageError("{}: a rule either splits the legacy tensor or concatenates it into the port "
                                     "weight, not both; received {!r}".format(where, line.strip()))
            elif found.group(1):
                transpose = tuple(int(d) for d in found.group(1).split(","))
                if sorted(transpose) != list(range(len(transpose))):
                    raise UsageError("{}: transpose must list each axis once (a permutation of 0..n-1); received "
                                     "{!r}".format(where, option))
            else:
                reshape = True
        try:
            compile_pattern(left.strip())
        except PATTERN_ERRORS as error:
            raise UsageError("{}: the pattern is not a valid regular expression ({}); received {}".format(
                where, error, ascii(line.strip())[:300])) from None
        try:
            check_template(left.strip(), words[0])
        except ValueError as error:
            raise UsageError("{}: the replacement must use only escapes a replacement knows and groups the pattern "
                             "has ({}); received {}".format(where, error, ascii(line.strip())[:300])) from None
        rules.append(Rule(left.strip(), words[0], transpose, reshape, where, split, concat))
    if not rules:
        raise UsageError("{} holds no rule (PATTERN -> REPLACEMENT lines); received an empty rules file".format(
            source))
    return rules


def read_rules(path: str, option: str = "mapping") -> List[Rule]:
    """A rules file from disk (a regular file only: a FIFO or a device would
    block).  ``option``: the name messages give the path (``mapping``, the
    command line's ``--mapping``)."""
    if not os.path.isfile(path):
        raise UsageError("{0} must be an existing regular file (a rules file); received {0}={1}".format(
            option, path))
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read((1 << 20) + 1)  # a character more than allowed: over it is refused
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError("{} {} cannot be read: {}".format(option, path, error)) from None
    if len(text) > 1 << 20:
        raise UsageError("{} {} is over 1 MiB: a rules file holds patterns, not one line per "
                         "variable".format(option, path))
    return parse_rules(text, os.path.basename(path))


def format_rules(rows: Sequence[Tuple[str, str, str]]) -> str:
    """An editable rules file of a pairing: one literal rule per (legacy name,
    port name, options) row, escaped so each matches only its own name."""
    lines = ["# compat-init pairing rules: PATTERN -> REPLACEMENT [split(AXIS,PARTS,INDEX) | concat(AXIS,PARTS,INDEX)] "
             "[transpose(AXES)] [reshape]",
             "# Patterns are regular expressions matched against whole legacy names; edit them into",
             "# patterns with groups (layer_(\\d+) -> transformer_layer_\\1) to cover a whole family."]
    for legacy, port, options in rows:
        lines.append("{} -> {}{}".format(re.escape(legacy).replace("\\/", "/"), port.replace("\\", "\\\\"),
                                         " " + options if options else ""))
    return "\n".join(lines) + "\n"
