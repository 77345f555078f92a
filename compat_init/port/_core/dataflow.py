"""Pairing by dataflow: both sides' graphs walked together from the inputs.

A side gives its graph as a ``Flow`` (``_sides.flow`` reads it from a
TensorFlow graph): for each variable, the variables its first use is
computed from, and the variables a split cuts into equal parts along their
last axis.  ``by_dataflow`` walks both graphs depth first from the inputs:
among the variables the data reaches at once, the first created on the
legacy side is paired with the first port variable reached at the same time
that fits it (same shape or a split or merge of axes, same role) and whose
kernels upstream are the images of its own; what that pair makes reachable
comes next (a layer's kernel, its bias, the layer after it; a branch to its
end before the next).  The pairs follow what feeds what, not when a program
created a variable (a pre-norm block's LayerNorm created after the attention
it feeds still comes first) nor how a framework schedules parallel branches.
The legacy side's fused variables are tried cut into their parts first
(GPT-2's ``c_attn`` into query, key and value), then whole."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from compat_init.port._core.pairs import Pair, Var


@dataclass
class Flow:
    #: For each variable on the outputs' path: the variables its first use is computed from.
    deps: Dict[str, FrozenSet[str]]
    #: Variables cut by a split into equal parts along their last axis: the
    #: split (its op's name) and how many parts.
    splits: Dict[str, Tuple[str, int]] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """Plain lists and strings (a recording keeps it): ``flow_from_dict``
        reads it back."""
        return {"deps": {n: sorted(d) for n, d in self.deps.items()},
                "splits": {n: [op, parts] for n, (op, parts) in self.splits.items()}}


def flow_from_dict(data: Any, names: Sequence[str]) -> Flow:
    """A ``Flow`` from ``Flow.to_dict``'s form, every name one of ``names``.

    Raises:
      ValueError: saying what is wrong (the structure, a name, a count).
    """
    known = set(names)
    if not isinstance(data, dict) or not isinstance(data.get("deps"), dict) or not isinstance(
            data.get("splits", {}), dict):
        raise ValueError("must be {\"deps\": {variable: [variables]}, \"splits\": {variable: [split, parts]}}")
    deps: Dict[str, FrozenSet[str]] = {}
    for name, upstream in data["deps"].items():
        if name not in known or not isinstance(upstream, list) or not all(
                isinstance(u, str) and u in known for u in upstream):
            raise ValueError("names a variable the recording does not hold, at {}".format(ascii(name)[:80]))
        deps[name] = frozenset(upstream)
    splits: Dict[str, Tuple[str, int]] = {}
    for name, entry in data.get("splits", {}).items():
        if name not in deps or not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str) or \
                not isinstance(entry[1], int) or isinstance(entry[1], bool) or not 2 <= entry[1] <= 1 << 16:
            raise ValueError("splits {} must be [split, parts] with 2 <= parts <= 65536".format(ascii(name)[:80]))
        splits[name] = (entry[0], entry[1])
    return Flow(deps, splits)


def _part(var: Var, parts: int) -> Var:
    """One of ``parts`` equal parts of ``var`` along its last axis."""
    return replace(var, shape=tuple(var.shape[:-1]) + (var.shape[-1] // parts,))


def _expanded(flow: Flow, variables: Sequence[Var]
              ) -> Tuple[Dict[str, FrozenSet[str]], Dict[str, Tuple[Var, int]], Dict[str, List[str]]]:
    """``flow.deps`` with each split variable as its parts: part i of a split
    variable fed by another one the same split cuts depends on that one's
    part i (a bias added to a kernel's product before the split); everything
    else depends on every part.  Returns the deps, each part's (variable,
    index) and each variable's keys in the deps (its parts, or its name)."""
    by_name = {v.name: v for v in variables}
    cut = {name: n for name, (_, n) in flow.splits.items()
           if name in by_name and by_name[name].shape and by_name[name].shape[-1] % n == 0}
    whole: Dict[str, Tuple[Var, int]] = {}
    names: Dict[str, List[str]] = {}
    for name in flow.deps:
        if name in cut:
            names[name] = ["{}[{}]".format(name, i) for i in range(cut[name])]
            whole.update({key: (by_name[name], i) for i, key in enumerate(names[name])})
        else:
            names[name] = [name]
    deps: Dict[str, FrozenSet[str]] = {}
    for name, d in flow.deps.items():
        for i, part in enumerate(names[name]):
            mine: List[str] = []
            for other in d:
                if name in cut and other in cut and flow.splits[other][0] == flow.splits[name][0]:
                    mine.append(names[other][i])
                else:
                    mine.extend(names[other])
            deps[part] = frozenset(mine)
    return deps, whole, names


#: How many pairs the walk may make in all, counting those a dead end took
#: back, per variable to pair.
WALK_BUDGET = 50


class _Frontier:
    """The variables of one side the data reaches once those paired are done:
    newly reached ones first (depth first), each batch in creation order."""

    def __init__(self, deps: Dict[str, FrozenSet[str]], done: Set[str], creation: Sequence[str]) -> None:
        self.rank = {name: i for i, name in enumerate(creation)}
        self.waiting = {n: len(d - done) for n, d in deps.items() if n in self.rank}
        self.users: Dict[str, List[str]] = {}
        for name, d in deps.items():
            for other in d - done:
                self.users.setdefault(other, []).append(name)
        self.ready = [n for n in creation if self.waiting.get(n) == 0]

    def copy(self) -> "_Frontier":
        other = _Frontier.__new__(_Frontier)
        other.rank, other.users = self.rank, self.users
        other.waiting, other.ready = dict(self.waiting), list(self.ready)
        return other

    def take(self, name: str) -> None:
        reached = []
        for user in self.users.get(name, ()):
            if user in self.waiting:
                self.waiting[user] -= 1
                if self.waiting[user] == 0:
                    reached.append(user)
        self.ready = sorted(reached, key=self.rank.__getitem__) + [n for n in self.ready if n != name]


@dataclass
class _State:
    old: _Frontier
    new: _Frontier
    images: Dict[str, str]
    kernel_images: Set[str]  #: the port variables paired with legacy kernels so far
    made: List[Tuple[str, str, bool]]

    def copy(self) -> "_State":
        return _State(self.old.copy(), self.new.copy(), dict(self.images), set(self.kernel_images), list(self.made))


def _walk(olds: Dict[str, Var], news: Dict[str, Var], old_deps: Dict[str, FrozenSet[str]],
          new_deps: Dict[str, FrozenSet[str]], seeds: Dict[str, str], old_creation: Sequence[str],
          new_creation: Sequence[str], fits: Callable[[Var, Var], bool]) -> Optional[List[Tuple[str, str, bool]]]:
    """Both graphs walked together depth first from the inputs: the first
    legacy variable the data reaches (ties to the earlier created) is paired
    with the first port variable reached at the same time that fits it and
    whose upstream holds the images of the legacy one's kernels upstream
    (rank 2 and more: biases and scales may sit apart, a LayerNorm's beta
    used before or after its gamma) and no other legacy kernel's image; the
    variables each pair makes reachable come next.  Where several port
    variables would do, the first is taken and the others are tried when the
    walk gets stuck further on (two branches alike at their start, unlike
    further down).  Returns (legacy, port, whether creation order chose among
    several that were not tried) for every variable, or None where every way
    gets stuck (the graphs differ) or ``WALK_BUDGET`` runs out."""
    kernels_old = {n for n, v in olds.items() if len(v.shape) >= 2} | set(seeds)
    state = _State(_Frontier(old_deps, set(seeds), old_creation),
                   _Frontier(new_deps, set(seeds.values()), new_creation), dict(seeds), set(seeds.values()), [])
    choices: List[Tuple[_State, str, List[str]]] = []  #: where other port variables would have done
    budget = WALK_BUDGET * max(len(olds), 1)

    def apply(state: _State, old: str, new: str, tie: bool) -> None:
        state.made.append((old, new, tie))
        state.images[old] = new
        if old in kernels_old:
            state.kernel_images.add(new)
        state.old.take(old)
        state.new.take(new)

    while True:
        found: List[str] = []
        for old in state.old.ready:
            upstream = {state.images.get(d) for d in old_deps[old] & kernels_old}
            found = [new for new in state.new.ready if fits(olds[old], news[new])
                     and upstream == new_deps[new] & state.kernel_images]
            if found:
                break
        if found and budget > 0:
            budget -= 1
            if len(found) > 1:
                choices.append((state.copy(), old, found[1:]))
            apply(state, old, found[0], len(found) > 1)
            continue
        if not state.old.ready and len(state.made) == len(olds) == len(news):
            return state.made
        if not choices or budget <= 0:
            return None
        state, old, rest = choices.pop()
        if len(rest) > 1:
            choices.append((state.copy(), old, rest[1:]))
        apply(state, old, rest[0], len(rest) > 1)


def by_dataflow(legacy: Sequence[Var], port: Sequence[Var], flows: Tuple[Flow, Flow], seeds: Sequence[Pair],
                fits: Callable[[Var, Var], bool]) -> List[Pair]:
    """``legacy`` and ``port`` paired by walking both graphs together
    (``_walk``) from the pairs already made (``seeds``: a mapping's, a rules
    file's), the legacy side's split variables cut into parts first, then
    whole; no pairs unless every variable of both is paired.  Variables in
    neither list nor ``seeds`` (kept as initialized, off the outputs' path)
    are left out of the graphs, their dependencies passed on."""
    old_flow, new_flow = flows
    if not legacy or {v.name for v in legacy} - set(old_flow.deps) or {v.name for v in port} - set(new_flow.deps):
        return []
    news = {v.name: v for v in port}
    seed_names = {p.legacy.name: p.port.name for p in seeds if not p.split}
    keep_new = set(news) | set(seed_names.values())
    new_deps = {n: d & keep_new for n, d in new_flow.deps.items() if n in keep_new}
    for split in (True, False):
        if split and not set(old_flow.splits) & {v.name for v in legacy}:
            continue
        deps, whole, keys_of = _expanded(old_flow if split else Flow(old_flow.deps), legacy)
        olds: Dict[str, Var] = {}
        creation: List[str] = []
        for v in legacy:
            keys = keys_of[v.name]
            olds.update({k: _part(v, len(keys)) if k in whole else v for k in keys})
            creation.extend(keys)
        keep_old = set(olds) | set(seed_names)
        old_deps = {n: d & keep_old for n, d in deps.items() if n in keep_old}
        made = _walk(olds, news, old_deps, new_deps, {k: v for k, v in seed_names.items() if k in old_deps},
                     creation, [v.name for v in port], fits)
        if made is not None:
            pairs = []
            for o, n, tie in made:
                how = "dataflow" + (" (a tie broken by creation order)" if tie else "")
                if o in whole:
                    var, index = whole[o]
                    pairs.append(Pair(var, news[n], how, split=(len(var.shape) - 1, len(keys_of[var.name]), index)))
                else:
                    pairs.append(Pair(olds[o], news[n], how))
            return pairs
    return []
