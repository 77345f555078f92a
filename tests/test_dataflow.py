"""Pairing by dataflow (issue 32): both sides' graphs walked together from
the inputs (``port._core.dataflow``), on graph-shaped data; the graphs read
from real TensorFlow graphs are tested with the zoo families (GPT-2, VGG-16)
and ``tests/test_dataflow_graphs.py``."""
import pytest

from compat_init.port._core.dataflow import Flow, by_dataflow
from compat_init.port._core.pairing import pair
from compat_init.port._core.pairs import Pair, Var


def chain(*layers):
    """A Flow of layers one after the other, each ``(name, [variables])``
    whose first variable (the kernel) comes before the rest (its bias):
    every variable depends on all earlier ones."""
    deps, before = {}, []
    for _, names in layers:
        for name in names:
            deps[name] = frozenset(before)
            before.append(name)
    return Flow(deps)


def fits(old, new):
    return old.shape == new.shape


def pairs_of(made):
    return {(p.legacy.name, p.split): p.port.name for p in made}


def test_the_walk_follows_the_data_not_the_creation_order():
    """A pre-norm block: the legacy program creates its LayerNorm before the
    dense layer it feeds, the port after it.  Shapes alike (8 and 8x8),
    creation order would pair the LayerNorm with the dense layer's bias."""
    legacy = [Var("ln/gamma", (8,)), Var("ln/beta", (8,)), Var("dense/kernel", (8, 8)), Var("dense/bias", (8,))]
    port = [Var("dense/kernel", (8, 8)), Var("dense/bias", (8,)), Var("norm/gamma", (8,)), Var("norm/beta", (8,))]
    old = chain(("ln", ["ln/gamma", "ln/beta"]), ("dense", ["dense/kernel", "dense/bias"]))
    new = chain(("norm", ["norm/gamma", "norm/beta"]), ("dense", ["dense/kernel", "dense/bias"]))
    made, stopped = by_dataflow(legacy, port, (old, new), [], fits)
    assert stopped == ""
    assert pairs_of(made) == {("ln/gamma", None): "norm/gamma", ("ln/beta", None): "norm/beta",
                              ("dense/kernel", None): "dense/kernel", ("dense/bias", None): "dense/bias"}
    assert {p.how for p in made} == {"dataflow"}
    # The same through pair(): creation order never gets a say.
    pairs, left_old, left_new = pair(legacy, port, flows=lambda: (old, new))
    assert {(p.legacy.name, p.port.name) for p in pairs} == {
        (o, n) for (o, _), n in pairs_of(made).items()} and not left_old and not left_new


def test_a_fused_kernel_cut_by_a_split_pairs_part_by_part():
    """GPT-2's ``c_attn``: one ``E x 3E`` kernel and ``3E`` bias, cut in three
    after the product, into query, key and value (each kernel, then its bias)."""
    legacy = [Var("c_attn/w", (4, 12)), Var("c_attn/b", (12,)), Var("c_proj/w", (4, 4))]
    old = Flow({"c_attn/w": frozenset(), "c_attn/b": frozenset({"c_attn/w"}),
                "c_proj/w": frozenset({"c_attn/w", "c_attn/b"})},
               {"c_attn/w": ("split", 3), "c_attn/b": ("split", 3)})
    port, deps = [], {}
    for head in ("query", "key", "value"):
        port += [Var(head + "/kernel", (4, 4)), Var(head + "/bias", (4,))]
        deps[head + "/kernel"] = frozenset()
        deps[head + "/bias"] = frozenset({head + "/kernel"})
    port.append(Var("output/kernel", (4, 4)))
    deps["output/kernel"] = frozenset(n for n in deps)
    made, _ = by_dataflow(legacy, port, (old, Flow(deps)), [], fits)
    assert pairs_of(made) == {
        ("c_attn/w", (1, 3, 0)): "query/kernel", ("c_attn/b", (0, 3, 0)): "query/bias",
        ("c_attn/w", (1, 3, 1)): "key/kernel", ("c_attn/b", (0, 3, 1)): "key/bias",
        ("c_attn/w", (1, 3, 2)): "value/kernel", ("c_attn/b", (0, 3, 2)): "value/bias",
        ("c_proj/w", None): "output/kernel"}
    # query, key and value are reached at once: creation order broke the tie, and says so
    # (the last one left is no choice).
    assert [p.how for p in made if p.port.name.endswith("kernel") and p.split] == [
        "dataflow (a tie broken by creation order)"] * 2 + ["dataflow"]
    assert made[0].describe() == "dataflow (a tie broken by creation order) (split 0 of 3 along axis 1)"


def test_a_split_the_port_does_not_have_pairs_the_variable_whole():
    legacy = [Var("gates/w", (4, 12)), Var("gates/b", (12,))]
    old = Flow({"gates/w": frozenset(), "gates/b": frozenset({"gates/w"})},
               {"gates/w": ("split", 3), "gates/b": ("split", 3)})
    port = [Var("cell/kernel", (4, 12)), Var("cell/bias", (12,))]
    new = Flow({"cell/kernel": frozenset(), "cell/bias": frozenset({"cell/kernel"})})
    assert pairs_of(by_dataflow(legacy, port, (old, new), [], fits)[0]) == {
        ("gates/w", None): "cell/kernel", ("gates/b", None): "cell/bias"}


def test_branches_pair_by_what_feeds_them():
    """Two branches from one input, joined: the port creates the long branch
    first.  Each branch's second layer is fed by its first: the walk pairs
    them by that, whatever the creation order."""
    legacy = [Var("a1", (4, 4)), Var("b1", (4, 4)), Var("b2", (4, 6)), Var("top", (10, 2))]
    old = Flow({"a1": frozenset(), "b1": frozenset(), "b2": frozenset({"b1"}), "top": frozenset({"a1", "b1", "b2"})})
    port = [Var("long1", (4, 4)), Var("long2", (4, 6)), Var("short", (4, 4)), Var("head", (10, 2))]
    new = Flow({"long1": frozenset(), "long2": frozenset({"long1"}), "short": frozenset(),
                "head": frozenset({"long1", "long2", "short"})})
    made, _ = by_dataflow(legacy, port, (old, new), [], fits)
    assert pairs_of(made) == {("a1", None): "short", ("b1", None): "long1", ("b2", None): "long2",
                              ("top", None): "head"}
    # a1 went to long1 first (created first), which left b2 no place: taken back, no tie remains
    assert {p.how for p in made} == {"dataflow"}


def test_graphs_that_differ_pair_nothing():
    """A legacy layer the port lacks, or a layer fed otherwise: no pair at all
    (the other steps, and the proof, decide)."""
    legacy = [Var("a", (4, 4)), Var("b", (4, 4)), Var("c", (4, 2))]
    old = chain(("a", ["a"]), ("b", ["b"]), ("c", ["c"]))
    port = [Var("x", (4, 4)), Var("z", (4, 2))]
    made, stopped = by_dataflow(legacy, port, (old, chain(("x", ["x"]), ("z", ["z"]))), [], fits)
    assert made == [] and stopped == ("after 1 of 3 legacy variables, at b 4x4: the port variables the data reaches "
                                      "with it (z 4x2) do not fit it or are fed by other kernels")
    # the same variables, the head fed by the first layer only on the port
    port = [Var("x", (4, 4)), Var("y", (4, 4)), Var("z", (4, 2))]
    new = Flow({"x": frozenset(), "y": frozenset({"x"}), "z": frozenset({"x"})})
    made, stopped = by_dataflow(legacy, port, (old, new), [], fits)
    assert made == [] and stopped.startswith("after 2 of 3 legacy variables, at c 4x2")
    # a variable the graph does not hold (off the outputs' path)
    made, stopped = by_dataflow(legacy + [Var("aux", (4, 4))], port,
                                (old, chain(("x", ["x"]), ("y", ["y"]), ("z", ["z"]))), [], fits)
    assert made == [] and stopped == ("the legacy variable(s) aux are not on its graph's way from the inputs to the "
                                      "outputs")


def test_a_walk_that_stops_says_where_in_the_pairing_notes():
    """The walk fails, the pairing goes on by weaker evidence: never silently."""
    legacy = [Var("a", (4, 4)), Var("b", (4, 4)), Var("c", (4, 2))]
    old = chain(("a", ["a"]), ("b", ["b"]), ("c", ["c"]))
    port = [Var("x", (4, 4)), Var("y", (4, 4)), Var("z", (4, 2))]
    new = Flow({"x": frozenset(), "y": frozenset({"x"}), "z": frozenset({"x"})})
    notes = []
    pairs, _, _ = pair(legacy, port, flows=lambda: (old, new), notes=notes)
    assert {p.how for p in pairs} == {"creation order"}
    assert notes == ["not paired by dataflow: the walk through both graphs stopped after 2 of 3 legacy variables, at "
                     "c 4x2: the port variables the data reaches with it (z 4x2) do not fit it or are fed by other "
                     "kernels; the rest is paired by creation order, names and structure, weaker evidence the proof "
                     "must confirm"]
    # a whole port extra: every legacy variable paired, one port variable left
    notes = []
    pair(legacy, port + [Var("extra", (2, 2))], flows=lambda: (old, Flow(dict(
        chain(("x", ["x"]), ("y", ["y"]), ("z", ["z"])).deps, extra=frozenset({"x", "y", "z"})))),
         require_all=False, notes=notes)
    assert "the port variable(s) extra are reached by no legacy one" in notes[0]


def test_a_mapping_seeds_the_walk():
    """Pairs a mapping made are where the walk starts from: the rest must be
    fed by their images."""
    legacy = [Var("a", (4, 4)), Var("b", (4, 4)), Var("c", (4, 4))]
    old = chain(("a", ["a"]), ("b", ["b"]), ("c", ["c"]))
    port = [Var("x", (4, 4)), Var("y", (4, 4)), Var("z", (4, 4))]
    new = chain(("x", ["x"]), ("y", ["y"]), ("z", ["z"]))
    seeded, _ = by_dataflow(legacy[1:], port[1:], (old, new), [Pair(legacy[0], port[0], "mapping")], fits)
    assert pairs_of(seeded) == {("b", None): "y", ("c", None): "z"}
    # a seed that contradicts the graph (the second layer mapped to the port's third) leaves the walk stuck
    assert by_dataflow([legacy[0], legacy[2]], [port[0], port[1]], (old, new), [Pair(legacy[1], port[2], "mapping")],
                       fits)[0] == []
    pairs, _, _ = pair(legacy, port, {"a": "y"}, require_all=False, flows=lambda: (old, new))
    assert {p.how for p in pairs if p.legacy.name != "a"} != {"dataflow"}


@pytest.mark.parametrize("missing", ["legacy", "port"])
def test_no_graph_no_dataflow_step(missing):
    legacy = [Var("a", (4, 4)), Var("b", (4, 2))]
    port = [Var("x", (4, 4)), Var("y", (4, 2))]
    asked = []

    def flows():
        asked.append(missing)
        return None

    pairs, _, _ = pair(legacy, port, flows=flows)
    assert asked == [missing] and {p.how for p in pairs} == {"creation order"}


def test_a_port_that_fuses_what_the_legacy_side_keeps_apart_pairs_part_by_part():
    """The reverse of GPT-2: separate query, key and value kernels on the
    legacy side, one fused kernel the port cuts in three with a split."""
    legacy, deps = [], {}
    for head in ("query", "key", "value"):
        legacy += [Var(head + "/kernel", (4, 4)), Var(head + "/bias", (4,))]
        deps[head + "/kernel"] = frozenset()
        deps[head + "/bias"] = frozenset({head + "/kernel"})
    port = [Var("qkv/kernel", (4, 12)), Var("qkv/bias", (12,))]
    new = Flow({"qkv/kernel": frozenset(), "qkv/bias": frozenset({"qkv/kernel"})},
               {"qkv/kernel": ("split", 3), "qkv/bias": ("split", 3)})
    made, stopped = by_dataflow(legacy, port, (Flow(deps), new), [], fits)
    assert stopped == "" and {(p.legacy.name, p.port.name, p.concat) for p in made} == {
        ("query/kernel", "qkv/kernel", (1, 3, 0)), ("key/kernel", "qkv/kernel", (1, 3, 1)),
        ("value/kernel", "qkv/kernel", (1, 3, 2)), ("query/bias", "qkv/bias", (0, 3, 0)),
        ("key/bias", "qkv/bias", (0, 3, 1)), ("value/bias", "qkv/bias", (0, 3, 2))}
    assert made[0].describe().endswith("(concat 0 of 3 along axis 1)")
