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
from typing import AbstractSet, Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from compat_init.port._core.pairs import Pair, Var, cut_shape
from compat_init.port._core.text import cut


@dataclass
class Flow:
    #: For each variable on the outputs' path: the variables its first use is computed from.
    deps: Dict[str, FrozenSet[str]]
    #: Variables cut by a split into equal parts along their last axis: the
    #: split (its op's name) and how many parts.
    splits: Dict[str, Tuple[str, int]] = field(default_factory=dict)
    #: Variables whose first use adds them to the data (a bias, a position
    #: embedding): what came before them is the order of a sum, which
    #: frameworks write differently (``a + b + c``, ``a + c + b``).
    additive: FrozenSet[str] = frozenset()
    #: For each input (a placeholder, a port input by name): the variables of
    #: the first op its value and a variable's reach together.
    inputs: Dict[str, FrozenSet[str]] = field(default_factory=dict)
    #: What computes each output, in the outputs' order (``graph.output_kind``;
    #: a port's traced call): tells a legacy graph's candidate outputs apart.
    output_kinds: Tuple[str, ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        """Plain lists and strings (a recording keeps it): ``flow_from_dict``
        reads it back."""
        return {"deps": {n: sorted(d) for n, d in self.deps.items()},
                "splits": {n: [op, parts] for n, (op, parts) in self.splits.items()},
                "additive": sorted(self.additive), "inputs": {n: sorted(d) for n, d in self.inputs.items()}}


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
    additive = data.get("additive", [])
    if not isinstance(additive, list) or not all(isinstance(n, str) and n in deps for n in additive):
        raise ValueError("additive must list variables of its deps")
    inputs = data.get("inputs", {})
    if not isinstance(inputs, dict) or not all(isinstance(n, str) and isinstance(d, list) and all(
            isinstance(v, str) and v in deps for v in d) for n, d in inputs.items()):
        raise ValueError("inputs must map input names to lists of variables of its deps")
    return Flow(deps, splits, frozenset(additive), {n: frozenset(d) for n, d in inputs.items()})


def _part(var: Var, parts: int) -> Var:
    """One of ``parts`` equal parts of ``var`` along its last axis."""
    return replace(var, shape=cut_shape(var.shape, (len(var.shape) - 1, parts, 0)))


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
          new_creation: Sequence[str], fits: Callable[[Var, Var], bool], additive: FrozenSet[str] = frozenset()
          ) -> Tuple[Optional[List[Tuple[str, str, bool]]], str]:
    """Both graphs walked together depth first from the inputs: the first
    legacy variable the data reaches (ties to the earlier created) is paired
    with the first port variable reached at the same time that fits it and
    whose upstream holds the images of the legacy one's kernels upstream
    (rank 2 and more: biases and scales may sit apart, a LayerNorm's beta
    used before or after its gamma) and no other legacy kernel's image; the
    variables each pair makes reachable come next; for a variable either
    side adds to the data (``additive``), one upstream holding the other
    will do (terms of a sum come in any order).  Where several port
    variables would do, the first is taken and the others are tried when the
    walk gets stuck further on (two branches alike at their start, unlike
    further down).  Returns (legacy, port, whether creation order chose among
    several that were not tried) for every variable, or None where every way
    gets stuck (the graphs differ) or ``WALK_BUDGET`` runs out; and, then,
    where the walk that went furthest stopped."""
    kernels_old = {n for n, v in olds.items() if len(v.shape) >= 2} | set(seeds)
    state = _State(_Frontier(old_deps, set(seeds), old_creation),
                   _Frontier(new_deps, set(seeds.values()), new_creation), dict(seeds), set(seeds.values()), [])
    choices: List[Tuple[_State, str, List[str]]] = []  #: where other port variables would have done
    budget = WALK_BUDGET * max(len(olds), 1)
    furthest = (-1, "")

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
                     and _consistent(upstream, new_deps[new] & state.kernel_images,
                                     old in additive or new in additive)]
            if found:
                break
        if found and budget > 0:
            budget -= 1
            if len(found) > 1:
                choices.append((state.copy(), old, found[1:]))
            apply(state, old, found[0], len(found) > 1)
            continue
        if not state.old.ready and len(state.made) == len(olds) == len(news):
            return state.made, ""
        if len(state.made) > furthest[0]:
            furthest = (len(state.made), _stop(state, olds, news))
        if not choices or budget <= 0:
            return None, furthest[1] + ("" if budget > 0 else " (the walk's budget of {} pairs per variable ran "
                                                              "out)".format(WALK_BUDGET))
        state, old, rest = choices.pop()
        if len(rest) > 1:
            choices.append((state.copy(), old, rest[1:]))
        apply(state, old, rest[0], len(rest) > 1)


def _consistent(old: AbstractSet[Any], new: AbstractSet[str], additive: bool) -> bool:
    """Whether the kernels upstream of a legacy variable (their images) and
    of a port variable agree: the same, or for a term of a sum one holding
    the other."""
    return old == new or additive and (old <= new or new <= old)


def _stop(state: _State, olds: Dict[str, Var], news: Dict[str, Var]) -> str:
    """Where a walk got stuck, in a user's words."""
    done = len(state.made)
    if state.old.ready:
        old = state.old.ready[0]
        reached = state.new.ready
        return "after {} of {} legacy variables, at {} {}: {}".format(
            done, len(olds), old, "x".join(map(str, olds[old].shape)) or "scalar",
            "the port variables the data reaches with it ({}) do not fit it or are fed by other kernels".format(
                cut(["{} {}".format(n, "x".join(map(str, news[n].shape))) for n in reached], 4))
            if reached else "no port variable is reached with it")
    paired = {n for _, n, _ in state.made}
    return "after {} of {} legacy variables: the port variable(s) {} are reached by no legacy one".format(
        done, len(olds), cut(sorted(set(news) - paired), 4)) if done == len(olds) else \
        "after {} of {} legacy variables: the data reaches no other legacy variable ({} left)".format(
            done, len(olds), cut([n for n in olds if n not in state.images], 4))


def by_dataflow(legacy: Sequence[Var], port: Sequence[Var], flows: Tuple[Flow, Flow], seeds: Sequence[Pair],
                fits: Callable[[Var, Var], bool]) -> Tuple[List[Pair], str]:
    """``legacy`` and ``port`` paired by walking both graphs together
    (``_walk``) from the pairs already made (``seeds``: a mapping's, a rules
    file's), the legacy side's split variables cut into parts first (a pair
    per part: ``Pair.split``), then the port's (a port weight several legacy
    variables fill: ``Pair.concat``), then both whole; no pairs unless every
    variable of both is paired, and then where the walk stopped ("" when it
    was not tried).  Variables in
    neither list nor ``seeds`` (kept as initialized, off the outputs' path)
    are left out of the graphs, their dependencies passed on."""
    old_flow, new_flow = flows
    if not legacy:
        return [], ""
    for side, flow, variables in (("legacy", old_flow, legacy), ("port", new_flow, port)):
        off = [v.name for v in variables if v.name not in flow.deps]
        if off:
            return [], "the {} variable(s) {} are not on its graph's way from the inputs to the outputs".format(
                side, cut(off, 4))
    seed_names = {p.legacy.name: p.port.name for p in seeds if not p.split and not p.concat}
    stopped = ""
    for split_old, split_new in _ways(old_flow, new_flow, legacy, port, set(seed_names.values())):
        olds, old_deps, old_creation, old_whole, old_keys = _side(
            old_flow if split_old else Flow(old_flow.deps), legacy, set(seed_names))
        news, new_deps, new_creation, new_whole, new_keys = _side(
            new_flow if split_new else Flow(new_flow.deps), port, set(seed_names.values()))
        additive = frozenset(k for n in old_flow.additive if n in old_keys for k in old_keys[n]) | frozenset(
            k for n in new_flow.additive if n in new_keys for k in new_keys[n])
        made, why = _walk(olds, news, old_deps, new_deps, {k: v for k, v in seed_names.items() if k in old_deps},
                          old_creation, new_creation, fits, additive)
        if made is not None:
            pairs = []
            for o, n, tie in made:
                how = "dataflow" + (" (a tie broken by creation order)" if tie else "")
                split = concat = None
                old_var, new_var = olds[o], news[n]
                if o in old_whole:
                    old_var, index = old_whole[o]
                    split = (len(old_var.shape) - 1, len(old_keys[old_var.name]), index)
                if n in new_whole:
                    new_var, index = new_whole[n]
                    concat = (len(new_var.shape) - 1, len(new_keys[new_var.name]), index)
                pairs.append(Pair(old_var, new_var, how, split=split, concat=concat))
            return pairs, ""
        stopped = stopped or why
    return [], stopped


def _ways(old_flow: Flow, new_flow: Flow, legacy: Sequence[Var], port: Sequence[Var], seeded: Set[str]
          ) -> List[Tuple[bool, bool]]:
    """Which sides' split variables are tried cut into their parts: the
    legacy side's (a fused kernel the port keeps apart), then the port's (a
    port that fuses what the legacy side keeps apart), then neither."""
    ways = []
    if set(old_flow.splits) & {v.name for v in legacy}:
        ways.append((True, False))
    if (set(new_flow.splits) - seeded) & {v.name for v in port}:
        ways.append((False, True))
    return ways + [(False, False)]


def _side(flow: Flow, variables: Sequence[Var], seeded: Set[str]) -> Tuple[
        Dict[str, Var], Dict[str, FrozenSet[str]], List[str], Dict[str, Tuple[Var, int]], Dict[str, List[str]]]:
    """One side's graph for the walk: its variables (split ones as their
    parts, each of the part's shape), their deps within them and the seeded
    ones, their creation order, each part's (variable, index) and each
    variable's keys."""
    deps, whole, keys_of = _expanded(Flow(flow.deps, {n: c for n, c in flow.splits.items() if n not in seeded}),
                                     variables)
    found: Dict[str, Var] = {}
    creation: List[str] = []
    for v in variables:
        keys = keys_of[v.name]
        found.update({k: _part(v, len(keys)) if k in whole else v for k in keys})
        creation.extend(keys)
    keep = set(found) | seeded
    return found, {n: d & keep for n, d in deps.items() if n in keep}, creation, whole, keys_of


def inputs_by_dataflow(flows: Tuple[Flow, Flow], pairs: Sequence[Pair]) -> Tuple[Dict[str, str], str]:
    """The legacy inputs paired with the port's by the variables each meets
    first (``Flow.inputs``): a legacy input goes to the port input that meets
    exactly the images of its variables under ``pairs``.  Returns ``{legacy
    input: port input}`` for every input of both, one to one, or ({}, why)."""
    old, new = flows
    images: Dict[str, Set[str]] = {}
    for p in pairs:
        images.setdefault(p.legacy.name, set()).add(p.port.name)
    if not old.inputs or len(old.inputs) != len(new.inputs):
        return {}, "the legacy graph's inputs ({}) and the port's ({}) do not all meet a variable".format(
            cut(sorted(old.inputs), 4) or "none", cut(sorted(new.inputs), 4) or "none")
    found: Dict[str, str] = {}
    for name, met in sorted(old.inputs.items()):
        if not all(v in images for v in met):
            return {}, "the variables legacy input {} meets first are not all paired".format(name)
        image = frozenset(n for v in met for n in images[v])
        ports = [port for port, d in new.inputs.items() if d == image]
        if len(ports) != 1:
            return {}, "legacy input {} meets {} first, which {} port input meets".format(
                name, cut(sorted(met), 3), "more than one" if ports else "no")
        found[name] = ports[0]
    if len(set(found.values())) != len(found):
        return {}, "two legacy inputs meet the same port input's variables"
    return found, ""
