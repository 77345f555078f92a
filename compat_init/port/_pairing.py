"""The one pairing of a legacy model's variables with its port's weights.

Both the migration proof and the checkpoint conversion ask it.  Pairs are made,
in this order, by:

1. ``mapping`` (``{legacy name: port name}``, each side by full name or by a
   ``/``-suffix of it);
2. creation order, where the rest of both sides have the same shapes in the
   same order (trainable and non-trainable weights each on their own);
3. name correspondence: a legacy variable and a port weight of the same shape
   whose names end in the same ``/``-components (``model/conv2d/kernel`` ~
   ``conv2d/kernel``), where that is the unique best match both ways;
4. shape: the one variable left on each side with a given shape.

Every pair says how it was made (``Pair.how``).  Whatever is left is an error
that names it, with the mapping that would resolve it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from compat_init._errors import UsageError


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


@dataclass
class Pair:
    legacy: Var
    port: Var
    how: str  #: "mapping", "creation order", "name" or "shape"


def _clean(name: str) -> str:
    return name.split(":")[0]


def _components(name: str) -> List[str]:
    # conv2d_1 and conv2d are different layers, but Keras numbers a port's layers
    # per process: drop the numbers only to break ties, never to pair.
    return [c for c in _clean(name).split("/") if c]


def _matches(name: str, candidates: Sequence[Var]) -> List[Var]:
    """``name`` by full name, or as a ``/``-suffix of a candidate's name."""
    name = _clean(name)
    exact = [v for v in candidates if _clean(v.name) == name]
    return exact or [v for v in candidates if _clean(v.name).endswith("/" + name)]


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
    for old in list(left):  # a shape that only one variable on each side has
        same = [p for p in right if p.shape == old.shape]
        if len(same) == 1 and sum(1 for o in left if o.shape == old.shape) == 1:
            pairs.append(Pair(old, same[0], "shape"))
            left.remove(old)
            right.remove(same[0])
    return pairs


def _describe(variables: Sequence[Var]) -> str:
    return ", ".join("{} {}".format(_clean(v.name), "x".join(map(str, v.shape)) or "scalar")
                     for v in variables) or "none"


def pair(legacy: Sequence[Var], port: Sequence[Var], mapping: Optional[Dict[str, str]] = None,
         *, require_all: bool = True) -> Tuple[List[Pair], List[Var], List[Var]]:
    """Pairs ``legacy`` with ``port``; returns ``(pairs, unpaired legacy,
    unpaired port)``, pairs in the legacy side's order.

    Raises:
      UsageError: a mapping entry that names no variable, or several, or a
        variable twice, or two shapes; with ``require_all``, a trainable
        variable of either side left unpaired (the message lists both sides
        and the mapping syntax).
    """
    legacy, port = list(legacy), list(port)
    pairs: List[Pair] = []
    used_old: Dict[int, str] = {}
    used_new: Dict[int, str] = {}
    for old_name, new_name in (mapping or {}).items():
        olds, news = _matches(old_name, legacy), _matches(new_name, port)
        for side, name, found, pool in (("legacy", old_name, olds, legacy), ("port", new_name, news, port)):
            if len(found) != 1:
                raise UsageError(
                    "mapping must name exactly one {} variable (by name or name suffix); received {!r}, which "
                    "matches {} of: {}".format(side, name, len(found), _describe(pool)))
        old, new = olds[0], news[0]
        for used, var, name in ((used_old, old, old_name), (used_new, new, new_name)):
            if id(var) in used:
                raise UsageError("mapping names {} twice ({!r} and {!r})".format(_clean(var.name), used[id(var)], name))
            used[id(var)] = name
        if tuple(old.shape) != tuple(new.shape):
            raise UsageError(
                "mapping pairs variables of different shapes: legacy {} has shape {} and port {} has shape "
                "{}; received {!r}: {!r}".format(_clean(old.name), old.shape, _clean(new.name), new.shape,
                                                 old_name, new_name))
        pairs.append(Pair(old, new, "mapping"))
    rest_old = [v for v in legacy if id(v) not in used_old]
    rest_new = [v for v in port if id(v) not in used_new]
    for trainable in (True, False):
        olds = [v for v in rest_old if v.trainable == trainable]
        news = [v for v in rest_new if v.trainable == trainable]
        if olds and [v.shape for v in olds] == [v.shape for v in news]:
            pairs.extend(Pair(o, n, "creation order") for o, n in zip(olds, news))
        else:
            pairs.extend(_by_names(olds, news))
    paired_old = {id(p.legacy) for p in pairs}
    paired_new = {id(p.port) for p in pairs}
    left_old = [v for v in legacy if id(v) not in paired_old]
    left_new = [v for v in port if id(v) not in paired_new]
    if require_all and (any(v.trainable for v in left_old) or any(v.trainable for v in left_new)):
        raise UsageError(
            "the legacy variables and the port's weights cannot all be paired (by creation order, shapes, or "
            "names); unpaired legacy: {}; unpaired port: {}. Pass mapping={{legacy name: port name}} "
            "(--mapping LEGACY=PORT, suffixes allowed)".format(_describe(left_old), _describe(left_new)))
    order = {id(v): i for i, v in enumerate(legacy)}
    pairs.sort(key=lambda p: order[id(p.legacy)])
    return pairs, left_old, left_new
