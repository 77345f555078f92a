"""The one pairing of a legacy model's variables with its port's weights.

Both the migration proof and the checkpoint conversion ask it.  Pairs are made,
in this order, by:

1. ``mapping``: literal entries (``{legacy name: port name}``, each side by
   full name or by a ``/``-suffix of it), then rules (``rules.Rule``, from a
   rules file: a pattern over legacy names and the port name it gives, with
   an optional transpose or reshape);
2. dataflow, where both sides give their graph (``dataflow.by_dataflow``):
   both walked together from the inputs, every variable of both paired or
   none;
3. creation order, where the rest of both sides have the same shapes (or
   shapes a split or merge of axes joins, see 5.) in the same order and no two
   roles disagree (trainable and non-trainable weights each on their own);
4. name correspondence: a legacy variable and a port weight of the same shape
   whose names end in the same ``/``-components (``model/conv2d/kernel`` ~
   ``conv2d/kernel``), where that is the unique best match both ways;
5. structure: layers (scopes) paired first, by the numbers in their names
   (``layer_3`` ~ ``transformer_layer_3``), the roles and shapes of their
   variables and the words of their names (synonyms from ``rules``), each the
   unique best match both ways; then inside a pair of layers by role
   (``weights``/``kernel``, ``beta``/``offset``, ...).  Shapes may differ by a
   row-major split or merge of adjacent axes (``768x768`` ~ ``768x12x64``),
   never by a transpose (a rule must say so);
6. shape: the one variable left on each side with a given shape.

Every pair says how it was made (``Pair.how``, ``Pair.describe()``).
Whatever is left is an error that names it, with the mapping that would
resolve it; a layer with several equally good matches is never guessed
(``ambiguous``).
"""
from __future__ import annotations

import functools

import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from compat_init._errors import UsageError
from compat_init.port._core.dataflow import Flow, by_dataflow
from compat_init.port._core.pairs import Pair, Var, clean_name, cut_shape, keep_patterns, kept, split_mapping
from compat_init.port._core.rules import (
    KERNEL_ROLES,
    NameParts,
    Rule,
    axes_agree,
    kernel_axes,
    name_parts,
    reshape_groups,
    similarity,
)
from compat_init.port._core.text import cut, shape_text


def _components(name: str) -> List[str]:
    # conv2d_1 and conv2d are different layers, but Keras numbers a port's layers
    # per process: drop the numbers only to break ties, never to pair.
    return [c for c in clean_name(name).split("/") if c]


def _matches(name: str, candidates: Sequence[Var]) -> List[Var]:
    """``name`` by full name, or as a ``/``-suffix of a candidate's name."""
    name = clean_name(name)
    exact = [v for v in candidates if clean_name(v.name) == name]
    return exact or [v for v in candidates if clean_name(v.name).endswith("/" + name)]


def _shared_suffix(a: str, b: str) -> int:
    x, y = _components(a), _components(b)
    count = 0
    while count < min(len(x), len(y)) and x[-1 - count] == y[-1 - count]:
        count += 1
    return count


def _stem(component: str) -> str:
    return re.sub(r"_\d+$", "", component)


def _stem_suffix(a: str, b: str) -> int:
    x, y = [_stem(c) for c in _components(a)], [_stem(c) for c in _components(b)]
    count = 0
    while count < min(len(x), len(y)) and x[-1 - count] == y[-1 - count]:
        count += 1
    return count


def _by_names(legacy: List[Var], port: List[Var]) -> List[Pair]:
    """Mutual unique best matches by shared name suffix (then by the suffix
    with layer numbers dropped), same shape; repeated until nothing changes."""
    pairs: List[Pair] = []
    left, right = list(legacy), list(port)
    for score in (_shared_suffix, _stem_suffix):
        changed = True
        while changed:
            changed = False
            for old in list(left):
                same = [p for p in right if p.shape == old.shape]
                if not same:
                    continue
                scores = [score(old.name, p.name) for p in same]
                best = max(scores)
                winners = [p for p, s in zip(same, scores) if s == best]
                if best < 1 or len(winners) != 1:
                    continue
                new = winners[0]
                back = [score(o.name, new.name) for o in left if o.shape == new.shape]
                if back.count(best) != 1 or max(back) != best:
                    continue
                pairs.append(Pair(old, new, "name"))
                left.remove(old)
                right.remove(new)
                changed = True
    return pairs


def _role(var: Var) -> str:
    return _role_of(var.name)


@functools.lru_cache(maxsize=1 << 16)
def _role_of(name: str) -> str:
    """A name's role (read once per name: the dataflow walk asks again and again)."""
    return name_parts(_components(name)).role


def _roles_conflict(legacy: Sequence[Var], port: Sequence[Var]) -> bool:
    """Whether creation order would pair two variables whose names give
    different roles (TF1 creates a LayerNorm's beta before its gamma, Keras
    gamma first; a moving mean is no moving variance)."""
    return any(_role(a) and _role(b) and _role(a) != _role(b) for a, b in zip(legacy, port))


def _by_shape(legacy: List[Var], port: List[Var]) -> List[Pair]:
    """A shape that only one variable on each side has."""
    pairs = []
    for old in legacy:
        same = [p for p in port if p.shape == old.shape]
        if len(same) == 1 and sum(1 for o in legacy if o.shape == old.shape) == 1:
            pairs.append(Pair(old, same[0], "shape"))
    return pairs


def _common_prefix(variables: Sequence[Var]) -> int:
    """How many leading name components every variable shares (a model scope
    such as ``bert/``), short of any whole name."""
    names = [_components(v.name) for v in variables]
    if len(names) < 2:
        return 0
    count = 0
    while all(len(n) > count + 1 for n in names) and len({n[count] for n in names}) == 1:
        count += 1
    return count


def _kernel_axes(var: Var, role: str) -> Optional[Tuple[str, ...]]:
    if var.axes is not None:
        return var.axes
    return kernel_axes(len(var.shape)) if role in KERNEL_ROLES else None


def _fits(old: Var, new: Var, role: str) -> Optional[bool]:
    """Whether ``old`` loads into ``new`` as it is (True), by a split or merge
    of axes whose meanings agree (False), or not at all (None)."""
    if tuple(old.shape) == tuple(new.shape):
        return True
    groups = reshape_groups(old.shape, new.shape)
    if groups is None or not axes_agree(groups, _kernel_axes(old, role), _kernel_axes(new, role),
                                               old.shape, new.shape):
        return None
    return False


class _Scope:
    """The variables of one layer, as its name says."""

    def __init__(self, key: str, parts: NameParts) -> None:
        self.key = key
        self.words = parts.words
        self.numbers = parts.numbers
        self.members: List[Tuple[str, Var]] = []  #: (role, variable)

    def roles(self) -> List[str]:
        return sorted(role for role, _ in self.members)


def _scopes(variables: Sequence[Var]) -> List[_Scope]:
    skip = _common_prefix(variables)
    found: Dict[str, _Scope] = {}
    for var in variables:
        parts = name_parts(_components(var.name)[skip:])
        scope = found.setdefault(parts.scope, _Scope(parts.scope, parts))
        scope.members.append((parts.role, var))
    return list(found.values())


def _scope_pairs(old: _Scope, new: _Scope) -> Optional[List[Pair]]:
    """The variables of two layers paired by role (and shape, where a role
    comes twice); None unless every variable pairs."""
    if old.roles() != new.roles() or any(role == "" for role in old.roles()) and len(old.members) > 1:
        return None
    pairs = []
    for role in sorted(set(old.roles())):
        olds = [v for r, v in old.members if r == role]
        news = [v for r, v in new.members if r == role]
        if len(olds) == 1:
            if _fits(olds[0], news[0], role) is None:
                return None
            pairs.append(Pair(olds[0], news[0], "structure"))
            continue
        for o in olds:  # a role twice: by equal shapes, each unique
            same = [n for n in news if tuple(n.shape) == tuple(o.shape)]
            if len(same) != 1 or sum(1 for x in olds if tuple(x.shape) == tuple(o.shape)) != 1:
                return None
            pairs.append(Pair(o, same[0], "structure"))
    return pairs


def _no_word_decides(old: _Scope, new: _Scope, candidates: Sequence[_Scope]) -> List[_Scope]:
    """The other candidates that share with ``old`` every word ``new`` shares:
    then only the names' lengths (a word-overlap score) preferred ``new``, and
    the pair is weak evidence, left ambiguous (GPT-2's ``h1/ln_1`` shares
    ``layer norm`` with both LayerNorms of ``transformer_layer_1``)."""
    shared = set(old.words) & set(new.words)
    return [c for c in candidates if c is not new and shared <= set(old.words) & set(c.words)]


def _by_structure(legacy: List[Var], port: List[Var]) -> Tuple[List[Pair], List[str]]:
    """Layers paired as the module docstring says (4.); returns the pairs and
    the ambiguities met (a layer with several equally good matches)."""
    olds, news = _scopes(legacy), _scopes(port)
    pairs: List[Pair] = []
    ambiguous: Dict[str, str] = {}
    fits: Dict[Tuple[int, int], Optional[List[Pair]]] = {}

    def fit(a: _Scope, b: _Scope) -> Optional[List[Pair]]:
        key = (id(a), id(b))
        if key not in fits:
            fits[key] = _scope_pairs(a, b)
        return fits[key]

    for same_numbers in (True, False):
        changed = True
        while changed:
            changed = False
            for old in list(olds):
                candidates = [n for n in news if (not same_numbers or n.numbers == old.numbers) and fit(old, n)]
                if not candidates:
                    continue
                scores = [similarity(old.words, n.words) for n in candidates]
                best = max(scores)
                winners = [n for n, score in zip(candidates, scores) if score == best]
                if not same_numbers and len(candidates) != 1:
                    continue  # numbers differ: only a layer with one possible match on each side
                if len(winners) != 1:
                    ambiguous[old.key] = "layer {} matches {} equally well".format(
                        old.key, " and ".join(w.key for w in winners))
                    continue
                new = winners[0]
                weak = _no_word_decides(old, new, candidates)
                if weak:
                    ambiguous[old.key] = "layer {} matches {} on no word {} lacks (both share only: {})".format(
                        old.key, new.key, " or ".join(r.key for r in weak),
                        ", ".join(sorted(set(old.words) & set(new.words))) or "no word")
                    continue
                back = [o for o in olds if (not same_numbers or o.numbers == new.numbers) and fit(o, new)]
                back_scores = [similarity(o.words, new.words) for o in back]
                if not same_numbers and len(back) != 1:
                    continue
                if max(back_scores) != best or back_scores.count(best) != 1:
                    if back_scores.count(max(back_scores)) > 1:
                        ambiguous[new.key] = "port layer {} matches {} equally well".format(
                            new.key, " and ".join(o.key for o, sc in zip(back, back_scores) if sc == max(back_scores)))
                    continue
                weak = _no_word_decides(new, old, back)
                if weak:
                    ambiguous[new.key] = "port layer {} matches {} on no word {} lacks".format(
                        new.key, old.key, " or ".join(r.key for r in weak))
                    continue
                pairs.extend(fit(old, new) or [])
                olds.remove(old)
                news.remove(new)
                ambiguous.pop(old.key, None)
                ambiguous.pop(new.key, None)
                changed = True
    return pairs, sorted(ambiguous.values())


def _check_shapes(old: Var, new: Var, transpose: Optional[Tuple[int, ...]], reshape: bool, what: str,
                  received: str = "", split: Optional[Tuple[int, int, int]] = None,
                  concat: Optional[Tuple[int, int, int]] = None) -> None:
    if concat:
        axis, parts, _ = concat
        shape = tuple(new.shape)
        if axis >= len(shape) or shape[axis] % parts:
            raise UsageError("{} concatenates {} parts along axis {} into {} (shape {}), which {}".format(
                what, parts, axis, clean_name(new.name), shape,
                "it does not have" if axis >= len(shape) else "does not divide its {}".format(shape[axis])))
        new = Var(new.name, cut_shape(shape, concat), new.dtype, new.trainable, new.index)
    shape = tuple(old.shape)
    if split:
        axis, parts, _ = split
        if axis >= len(shape) or shape[axis] % parts:
            raise UsageError("{} splits {} (shape {}) in {} parts along axis {}, which {}".format(
                what, clean_name(old.name), shape, parts, axis,
                "it does not have" if axis >= len(shape) else "does not divide its {}".format(shape[axis])))
        shape = cut_shape(shape, split)
        old = Var(old.name, shape, old.dtype, old.trainable, old.index)
    if transpose and len(transpose) != len(old.shape):  # checked before the axes are read
        raise UsageError("{} transposes {} (rank {}) with transpose({}), which has {} axes".format(
            what, clean_name(old.name), len(old.shape), ",".join(map(str, transpose)), len(transpose)))
    shape = tuple(shape[a] for a in transpose) if transpose else shape
    if shape == tuple(new.shape):
        return
    if reshape and int(np.prod(shape, dtype=object)) == int(np.prod(new.shape, dtype=object)):
        return
    if not transpose and _fits(old, new, "") is not None:
        return
    raise UsageError(
        "{} pairs variables of different shapes: legacy {} has shape {} and port {} has shape {} (no split or "
        "merge of adjacent axes turns one into the other{}){}".format(
            what, clean_name(old.name), tuple(old.shape), clean_name(new.name), tuple(new.shape),
            "" if reshape else "; a rules file's transpose(AXES) or reshape says how",
            "; received " + received if received else ""))


def _check_parts(old: Var, rules: Sequence[Rule]) -> None:
    """The split rules of one legacy variable cut it the same way and name a
    port weight for every part, once (no part of a fused tensor is dropped)."""
    if rules[0].split:
        _check_cut("split", "for legacy", old, rules, [r.split for r in rules if r.split], "give each part a port "
                   "weight once")


def _check_concat(new: Var, rules: Sequence[Rule]) -> None:
    """The concat rules filling one port weight cut it one way and fill every
    part once (no part of it left as initialized)."""
    _check_cut("concat", "filling port weight", new, rules, [r.concat for r in rules if r.concat],
               "fill each part once")


def _check_cut(kind: str, what: str, var: Var, rules: Sequence[Rule], cuts: Sequence[Tuple[int, int, int]],
               rule: str) -> None:
    axis, parts, _ = cuts[0]
    if {(c[0], c[1]) for c in cuts} != {(axis, parts)} or sorted(c[2] for c in cuts) != list(range(parts)):
        raise UsageError("the {} rules {} {} ({}) must cut it one way and {}; received {}".format(
            kind, what, clean_name(var.name), ", ".join(r.source for r in rules), rule,
            ", ".join("{}({},{},{})".format(kind, *c) for c in cuts)))


def _describe(variables: Sequence[Var], most: int = 0) -> str:
    """``name shape, ...``; with ``most``, the first ``most`` and a count of the rest."""
    names = ["{} {}".format(clean_name(v.name), shape_text(v.shape)) for v in variables]
    return cut(names, most or len(names)) or "none"


def pair(legacy: Sequence[Var], port: Sequence[Var], mapping: Any = None,
         *, require_all: bool = True, ambiguities: Optional[List[str]] = None, keep_initial: Any = None,
         flows: Optional[Callable[[], Optional[Tuple[Flow, Flow]]]] = None,
         notes: Optional[List[str]] = None) -> Tuple[List[Pair], List[Var], List[Var]]:
    """Pairs ``legacy`` with ``port``; returns ``(pairs, unpaired legacy,
    unpaired port)``, pairs in the legacy side's order.

    ``mapping``: see :func:`split_mapping`.  ``ambiguities``: a list that
    receives the layers that matched several others equally well.
    ``keep_initial``: patterns (:func:`keep_patterns`) of port weights with no
    source that stay as the port initialized them: unpaired, never an error.
    ``flows``: a function giving both sides' dataflow (or None), called once
    where a mapping leaves variables to pair; ``notes``, a list that receives
    where the dataflow walk stopped when it could not pair them all.

    Raises:
      UsageError: a mapping entry that names no variable, or several, or a
        variable twice, or two shapes no reshape joins; a rule whose
        replacement names no port weight or several; with ``require_all``, a
        trainable variable of either side left unpaired (the message lists
        both sides, cut short, and the mapping syntax).
      TypeError: ``mapping`` of a type it cannot be.
    """
    legacy, port = list(legacy), list(port)
    keep = keep_patterns(keep_initial)
    entries, rules = split_mapping(mapping)
    pairs: List[Pair] = []
    used_old: Dict[int, str] = {}
    used_new: Dict[int, str] = {}
    for old_name, new_name in entries.items():
        olds, news = _matches(old_name, legacy), _matches(new_name, port)
        for side, name, found, pool in (("legacy", old_name, olds, legacy), ("port", new_name, news, port)):
            if len(found) != 1:
                raise UsageError(
                    "mapping must name exactly one {} variable (by name or name suffix); received {!r}, which "
                    "matches {} of: {}".format(side, name, len(found), _describe(pool)))
        old, new = olds[0], news[0]
        for used, var, name in ((used_old, old, old_name), (used_new, new, new_name)):
            if id(var) in used:
                raise UsageError("mapping names {} twice ({!r} and {!r})".format(
                    clean_name(var.name), used[id(var)], name))
            used[id(var)] = name
        _check_shapes(old, new, None, False, "mapping", "{!r}: {!r}".format(old_name, new_name))
        pairs.append(Pair(old, new, "mapping"))
    concats: Dict[int, Tuple[Var, List[Rule]]] = {}  #: port weights several legacy tensors fill, and their rules
    for old in legacy:
        if id(old) in used_old:
            continue
        matched: List[Tuple[Rule, Var]] = []  # the first rule that matches; with split(...), every split rule
        for rule in rules:
            target = rule.target(clean_name(old.name))
            if target is None or matched and not (matched[0][0].split and rule.split):
                continue
            news = _matches(target, port)
            if len(news) != 1:
                raise UsageError("rule {} must name exactly one port weight (by name or name suffix); for legacy {} "
                                 "it gives {!r}, which matches {} of: {}".format(
                                     rule.source, clean_name(old.name), target, len(news), _describe(port, 8)))
            new = news[0]
            if id(new) in used_new and not (rule.concat and id(new) in concats):
                raise UsageError("rule {} pairs port weight {} a second time (legacy {}, already paired by {})".format(
                    rule.source, clean_name(new.name), clean_name(old.name), used_new[id(new)]))
            _check_shapes(old, new, rule.transpose, rule.reshape, "rule {}".format(rule.source), split=rule.split,
                          concat=rule.concat)
            used_new[id(new)] = "rule " + rule.source
            if rule.concat:
                concats.setdefault(id(new), (new, []))[1].append(rule)
            matched.append((rule, new))
            if not rule.split:
                break
        if not matched:
            continue
        _check_parts(old, [rule for rule, _ in matched])
        used_old[id(old)] = "rule " + matched[0][0].source
        pairs.extend(Pair(old, new, "rule " + rule.source, rule.transpose, rule.split, rule.concat)
                     for rule, new in matched)
    for new, concat_rules in concats.values():
        _check_concat(new, concat_rules)
    rest_old = [v for v in legacy if id(v) not in used_old]
    # Weights kept as initialized have no source, by the user's word: not paired, nor in creation order.
    rest_new = [v for v in port if id(v) not in used_new and not kept(v, keep)]
    found_ambiguous: List[str] = []
    both = flows() if flows is not None and rest_old and rest_new else None
    if both is not None:
        walked, stopped = by_dataflow(rest_old, rest_new, both, pairs, lambda o, n: o.trainable == n.trainable and
                                      _fits(o, n, _role(o) or _role(n)) is not None and not _roles_conflict([o], [n]))
        pairs.extend(walked)
        if walked:
            rest_old = rest_new = []
        elif notes is not None:
            notes.append("not paired by dataflow: the walk through both graphs stopped {}; the rest is paired by "
                         "creation order, names and structure, weaker evidence the proof must confirm".format(stopped))
    for trainable in (True, False):
        olds = [v for v in rest_old if v.trainable == trainable]
        news = [v for v in rest_new if v.trainable == trainable]
        if olds and len(olds) == len(news) and all(_fits(o, n, _role(o) or _role(n)) is not None
                                                   for o, n in zip(olds, news)) and not _roles_conflict(olds, news):
            pairs.extend(Pair(o, n, "creation order") for o, n in zip(olds, news))
            continue
        for step in (_by_names, _by_structure, _by_shape):
            made = step(olds, news)
            if isinstance(made, tuple):
                made, notes = made
                found_ambiguous.extend(notes)
            pairs.extend(made)
            done_old = {id(p.legacy) for p in made}
            done_new = {id(p.port) for p in made}
            olds = [v for v in olds if id(v) not in done_old]
            news = [v for v in news if id(v) not in done_new]
    paired_old = {id(p.legacy) for p in pairs}
    paired_new = {id(p.port) for p in pairs}
    left_old = [v for v in legacy if id(v) not in paired_old]
    left_new = [v for v in port if id(v) not in paired_new]
    if ambiguities is not None:
        ambiguities.extend(found_ambiguous)
    if require_all and (any(v.trainable for v in left_old) or any(v.trainable and not kept(v, keep)
                                                                  for v in left_new)):
        raise UsageError(
            "the legacy variables and the port's weights cannot all be paired (by creation order, names, structure "
            "or shapes); unpaired legacy: {}; unpaired port: {}{}. Pass mapping={{legacy name: port name}} or a rules "
            "file (--mapping LEGACY=PORT or --mapping RULES; convert --plan prints the whole table), or, for port "
            "weights the legacy model has no source for, keep_initial=PATTERN (--keep-initial)".format(
                _describe(left_old, 8), _describe([v for v in left_new if not kept(v, keep)], 8),
                "; ambiguous: " + "; ".join(found_ambiguous[:4]) if found_ambiguous else ""))
    order = {id(v): i for i, v in enumerate(legacy)}
    pairs.sort(key=lambda p: order[id(p.legacy)])
    return pairs, left_old, left_new
