"""The pairing's rules (compat_init.port._core.rules) and the structural pairing
(issue 23 rows 1-3): tables of names, shapes and rules files, each case a row
that fails if its rule is taken away.  Pure Python: every leg."""
import re

import pytest

from compat_init._errors import UsageError
from compat_init.port import Rule, Var, pair, parse_rules
from compat_init.port._core import rules as _rules

RESHAPES = [
    # legacy shape, port shape, grouping (None: no split or merge joins them), kind
    # -- per-head attention kernels and biases
    ((768, 768), (768, 12, 64), [([0], [0]), ([1], [1, 2])], "split"),
    ((768, 768), (12, 64, 768), [([0], [0, 1]), ([1], [2])], "split"),
    ((768,), (12, 64), [([0], [0, 1])], "split"),
    # -- convolutions used as dense layers
    ((7, 7, 512, 4096), (25088, 4096), [([0, 1, 2], [0]), ([3], [1])], "merge"),
    ((1, 1, 2048, 1000), (2048, 1000), [([0, 1, 2], [0]), ([3], [1])], "squeeze"),
    ((3,), (3, 1), [([0], [0, 1])], "squeeze"),
    # -- never: a transpose, or other sizes
    ((32, 64), (64, 32), None, ""),
    ((2, 3), (3, 2), None, ""),
    ((4,), (2, 3), None, ""),
]


@pytest.mark.parametrize("a,b,groups,kind", RESHAPES, ids=["{}->{}".format(r[0], r[1]) for r in RESHAPES])
def test_reshape_groups(a, b, groups, kind):
    assert _rules.reshape_groups(a, b) == groups
    if groups:
        assert _rules.reshape_kind(a, b) == kind


NAMES = [
    # name, role, the scope's words, its numbers
    ("bert/encoder/layer_0/attention/self/query/kernel", "kernel",
     ("bert", "encoder", "layer", "attention", "self", "query"), (0,)),
    ("transformer_layer_0/self_attention_layer/query/kernel", "kernel",
     ("transformer", "layer", "self", "attention", "layer", "query"), (0,)),
    # LayerNorm ~ layer_norm; gamma is the scale, beta the offset
    ("bert/encoder/layer_3/output/LayerNorm/gamma", "scale", ("bert", "encoder", "layer", "output", "layer", "norm"),
     (3,)),
    ("block/LayerNorm/beta", "offset", ("block", "layer", "norm"), ()),
    # word ~ token, token_type ~ segment, embeddings ~ embedding; a leaf that ends in a role names its layer
    ("bert/embeddings/word_embeddings", "embeddings", ("bert", "embedding", "token", "embedding"), ()),
    ("bert/embeddings/token_type_embeddings", "embeddings", ("bert", "embedding", "segment", "embedding"), ()),
    ("segment_embedding/embeddings", "embeddings", ("segment", "embedding"), ()),
    # pooler ~ pooled, intermediate ~ feedforward intermediate
    ("bert/pooler/dense/bias", "bias", ("bert", "pooled", "dense"), ()),
    ("layer_1/intermediate/dense/kernel", "kernel", ("layer", "feedforward", "intermediate", "dense"), (1,)),
    # TF-Slim and keras.applications: weights/biases, BatchNorm moving statistics, numbered blocks
    ("conv3/conv3_2/weights", "kernel", ("conv", "conv"), (3, 2)),
    ("block3_conv2/kernel", "kernel", ("block", "conv"), (3, 2)),
    ("block1/unit_1/conv1/BatchNorm/moving_mean", "moving_mean", ("block", "unit", "conv", "batch", "norm"), (1,)),
    ("cls/predictions/output_bias", "bias", ("cls", "predictions", "output"), ()),
    # GPT-2: a LayerNorm's g and b are its scale and offset (ln ~ layer norm); b elsewhere is a bias
    ("model/h0/ln_1/g", "scale", ("model", "h", "layer", "norm"), (0, 1)),
    ("model/h0/ln_1/b", "offset", ("model", "h", "layer", "norm"), (0, 1)),
    ("model/h0/attn/c_attn/b", "bias", ("model", "h", "attention", "c", "attention"), (0,)),
]


@pytest.mark.parametrize("name,role,words,numbers", NAMES, ids=[n[0] for n in NAMES])
def test_name_parts(name, role, words, numbers):
    parts = _rules.name_parts(name.split("/"))
    assert (parts.role, parts.words, parts.numbers) == (role, words, numbers)


def bert_layer(prefix, hidden=32, heads=4, inner=64, legacy=True):
    """One BERT encoder layer's variables, as modeling.py (legacy) or KerasHub names them."""
    d = hidden // heads
    if legacy:
        rows = [("attention/self/{}/kernel".format(n), (hidden, hidden)) for n in ("query", "key", "value")]
        rows += [("attention/self/{}/bias".format(n), (hidden,)) for n in ("query", "key", "value")]
        rows += [("attention/output/dense/kernel", (hidden, hidden)), ("attention/output/dense/bias", (hidden,)),
                 ("attention/output/LayerNorm/beta", (hidden,)), ("attention/output/LayerNorm/gamma", (hidden,)),
                 ("intermediate/dense/kernel", (hidden, inner)), ("intermediate/dense/bias", (inner,)),
                 ("output/dense/kernel", (inner, hidden)), ("output/dense/bias", (hidden,)),
                 ("output/LayerNorm/beta", (hidden,)), ("output/LayerNorm/gamma", (hidden,))]
        axes = {}
    else:
        rows = [("self_attention_layer/{}/kernel".format(n), (hidden, heads, d)) for n in ("query", "key", "value")]
        rows += [("self_attention_layer/{}/bias".format(n), (heads, d)) for n in ("query", "key", "value")]
        rows += [("self_attention_layer/attention_output/kernel", (heads, d, hidden)),
                 ("self_attention_layer/attention_output/bias", (hidden,)),
                 ("self_attention_layer_norm/gamma", (hidden,)), ("self_attention_layer_norm/beta", (hidden,)),
                 ("feedforward_layer_norm/gamma", (hidden,)), ("feedforward_layer_norm/beta", (hidden,)),
                 ("feedforward_intermediate_dense/kernel", (hidden, inner)),
                 ("feedforward_intermediate_dense/bias", (inner,)),
                 ("feedforward_output_dense/kernel", (inner, hidden)), ("feedforward_output_dense/bias", (hidden,))]
        # EinsumDense equations: "abc,cde->abde" (query/key/value), "abcd,cde->abe" (attention output)
        axes = {"self_attention_layer/{}/kernel".format(n): ("in", "out", "out") for n in ("query", "key", "value")}
        axes["self_attention_layer/attention_output/kernel"] = ("in", "in", "out")
    return [Var(prefix + name, shape, axes=axes.get(name)) for name, shape in rows]


def expected_bert_pairs(legacy, port):
    """The legacy name -> port name a correct conversion makes (KerasHub's own converter's table)."""
    names = {"attention/self/": "self_attention_layer/", "attention/output/dense/": "self_attention_layer/"
             "attention_output/", "attention/output/LayerNorm/": "self_attention_layer_norm/",
             "intermediate/dense/": "feedforward_intermediate_dense/", "output/dense/": "feedforward_output_dense/",
             "output/LayerNorm/": "feedforward_layer_norm/"}
    table = {}
    for var in legacy:
        layer, _, rest = var.name.partition("/encoder/")[2].partition("/")
        for old, new in names.items():
            if rest.startswith(old):
                table[var.name] = "transformer_{}/{}{}".format(layer, new, rest[len(old):])
                break
    return table


def test_structure_pairs_bert_layers_into_keras_hub_names_in_any_order():
    legacy = bert_layer("bert/encoder/layer_0/") + bert_layer("bert/encoder/layer_1/")
    port = list(reversed(bert_layer("transformer_layer_1/", legacy=False) + bert_layer("transformer_layer_0/",
                                                                                        legacy=False)))
    pairs, left_old, left_new = pair(legacy, port)
    assert not left_old and not left_new
    assert {p.legacy.name: p.port.name for p in pairs} == expected_bert_pairs(legacy, port)
    assert {p.how for p in pairs} == {"structure"}
    reshaped = {p.legacy.name: p.describe() for p in pairs if p.reshaped}
    assert reshaped["bert/encoder/layer_1/attention/self/key/kernel"] == "structure (reshape 32x32->32x4x8)"
    assert reshaped["bert/encoder/layer_0/attention/output/dense/kernel"] == "structure (reshape 32x32->4x8x32)"
    assert len(reshaped) == 14


def test_a_reshape_whose_axes_disagree_is_not_made():
    """An EinsumDense kernel whose equation reads its input on the last axis
    ("abc,dec->abde": heads x d x in) cannot take an (in x out) legacy kernel
    without a transpose: left unpaired, never reshaped the wrong way."""
    legacy = [Var("att/query/kernel", (32, 32)), Var("att/query/bias", (32,))]
    wrong = [Var("attention/query/kernel", (4, 8, 32), axes=("out", "out", "in")),
             Var("attention/query/bias", (4, 8))]
    _, left_old, _ = pair(legacy, wrong, require_all=False)
    assert [v.name for v in left_old] == ["att/query/kernel", "att/query/bias"]
    right = [Var("attention/query/bias", (4, 8)), Var("attention/query/kernel", (32, 4, 8), axes=("in", "out", "out"))]
    pairs, left_old, _ = pair(legacy, right, require_all=False)  # (listed bias first: not by creation order)
    assert not left_old and all(p.how == "structure" for p in pairs)
    # Creation order checks the axes too: the wrong kernel never pairs by position either.
    _, left_old, _ = pair(legacy, list(wrong), require_all=False)
    assert [v.name for v in left_old] == ["att/query/kernel", "att/query/bias"]


def test_equally_good_matches_are_reported_not_guessed():
    legacy = [Var("encoder/dense/kernel", (8, 8)), Var("encoder/dense/bias", (8,))]
    port = [Var("left_dense/kernel", (8, 8)), Var("left_dense/bias", (8,)),
            Var("right_dense/kernel", (8, 8)), Var("right_dense/bias", (8,))]
    found = []
    pairs, left_old, _ = pair(legacy, port, require_all=False, ambiguities=found)
    assert not pairs and len(left_old) == 2
    assert found and "left_dense" in found[0] and "right_dense" in found[0] and "equally well" in found[0]
    with pytest.raises(UsageError, match="ambiguous: .*equally well"):
        pair(legacy, port)


def test_batch_norm_without_a_scale_pairs():
    legacy = [Var("conv1/weights", (3, 3, 1, 8)), Var("conv1/BatchNorm/beta", (8,)),
              Var("conv1/BatchNorm/moving_mean", (8,), trainable=False),
              Var("conv1/BatchNorm/moving_variance", (8,), trainable=False)]
    port = [Var("conv_1/kernel", (3, 3, 1, 8)), Var("batch_normalization_1/beta", (8,)),
            Var("batch_normalization_1/moving_mean", (8,), trainable=False),
            Var("batch_normalization_1/moving_variance", (8,), trainable=False)]
    pairs, left_old, left_new = pair(legacy, list(reversed(port)))
    assert not left_old and not left_new
    assert {p.legacy.name: p.port.name for p in pairs}["conv1/BatchNorm/moving_mean"] == \
        "batch_normalization_1/moving_mean"


def test_creation_order_never_pairs_two_roles():
    """TF1 creates a LayerNorm's beta before its gamma, Keras gamma first: the
    shapes line up in creation order, the roles do not."""
    legacy = [Var("ln/beta", (8,)), Var("ln/gamma", (8,))]
    port = [Var("layer_norm/gamma", (8,)), Var("layer_norm/beta", (8,))]
    pairs, _, _ = pair(legacy, port)
    assert {p.legacy.name: p.port.name for p in pairs} == {"ln/beta": "layer_norm/beta", "ln/gamma": "layer_norm/gamma"}
    assert {p.how for p in pairs} != {"creation order"}


def test_a_conv_head_pairs_with_a_dense_head_by_merging_axes():
    legacy = [Var("vgg_16/fc6/weights", (7, 7, 512, 64)), Var("vgg_16/fc6/biases", (64,))]
    port = [Var("fc1/kernel", (25088, 64)), Var("fc1/bias", (64,))]
    pairs, _, _ = pair(legacy, port)  # in creation order
    assert pairs[0].describe() == "creation order (reshape 7x7x512x64->25088x64)"
    pairs, _, _ = pair(legacy, port[::-1])  # by structure
    assert pairs[0].describe() == "structure (reshape 7x7x512x64->25088x64)"


RULES_ERRORS = [
    ("a/b", "a rule must be PATTERN -> REPLACEMENT"),
    ("a/(b -> c", "not a valid regular expression"),
    ("a/(b) -> c/\\2", "the replacement must use only escapes a replacement knows and groups the pattern has"),
    ("dense/kernel -> dense/\\1", "groups the pattern has (invalid group reference 1"),
    ("(dense)/kernel -> dense\\q", "groups the pattern has (bad escape \\q"),
    ("(dense)/kernel -> \\g<x>", "groups the pattern has (unknown group name"),
    ("a -> b transpose(1,1)", "each axis once"),
    ("a -> b flip", "takes only split(AXIS,PARTS,INDEX), concat(AXIS,PARTS,INDEX), transpose(AXES) and reshape"),
    ("a -> b split(1,1,0)", "cuts in 2 <= PARTS <= 65536 parts"),
    ("a -> b concat(0,3,3)", "concat(AXIS,PARTS,INDEX) cuts in 2 <= PARTS <= 65536 parts and takes part INDEX < PARTS"),
    ("a -> b split(1,3,3)", "INDEX < PARTS"),
    ("# only a comment", "holds no rule"),
]


@pytest.mark.parametrize("text,words", RULES_ERRORS, ids=[r[1] for r in RULES_ERRORS])
def test_bad_rules_files_name_the_line(text, words):
    with pytest.raises(UsageError, match=re.escape(words)) as caught:
        parse_rules(text, "family.rules")
    assert "family.rules" in str(caught.value)


# Patterns that try exponentially many ways on a long name that does not match (names from BERT).
HANGING = [r"(.|..)+e", r"(\w|\w\w|/)+e", r"(.|..)*/e"]


@pytest.mark.parametrize("pattern", HANGING)
def test_a_rule_that_would_backtrack_for_ever_is_one_error_in_about_a_second(pattern):
    import time

    (rule,) = parse_rules("{} -> x".format(pattern), "slow.rules")
    start = time.perf_counter()
    with pytest.raises(UsageError, match=r"slow\.rules:1: the pattern .* takes over 1 s to match the name "
                                         r"'bert/encoder/layer_11/attention/self/query/kernel'"):
        rule.target("bert/encoder/layer_11/attention/self/query/kernel")
    assert time.perf_counter() - start < 30  # Python's re takes longer than the universe here


def test_a_transpose_of_another_rank_than_the_tensor_is_one_error():
    legacy, port = [Var("dense/kernel", (3, 4))], [Var("dense/kernel", (4, 3))]
    with pytest.raises(UsageError, match=re.escape("rule r.rules:1 transposes dense/kernel (rank 2) with "
                                                   "transpose(0,1,2), which has 3 axes")):
        pair(legacy, port, parse_rules("dense/kernel -> dense/kernel transpose(0,1,2)", "r.rules"))


def test_keep_initial_patterns_are_bounded_too():
    port = [Var("bert/encoder/layer_11/attention/self/query/kernel", (2, 2), trainable=True)]
    with pytest.raises(UsageError, match=r"keep_initial \(--keep-initial\): the pattern .* takes over 1 s"):
        pair([], port, keep_initial=[re.compile(r"(.|..)+e")])


def test_rules_pair_with_groups_transposes_and_reshapes():
    legacy = [Var("enc/layer_0/q/kernel", (8, 8)), Var("enc/layer_1/q/kernel", (8, 8)),
              Var("head/w", (3, 8))]
    port = [Var("block_0/query/kernel", (8, 2, 4)), Var("block_1/query/kernel", (8, 2, 4)),
            Var("logits/kernel", (8, 3))]
    rules = parse_rules("enc/layer_(\\d+)/q/kernel -> block_\\1/query/kernel\n"
                        "head/w -> logits/kernel transpose(1,0)\n", "r")
    pairs, _, _ = pair(legacy, port, rules)
    assert [(p.port.name, p.how, p.transpose) for p in pairs] == [
        ("block_0/query/kernel", "rule r:1", None), ("block_1/query/kernel", "rule r:1", None),
        ("logits/kernel", "rule r:2", (1, 0))]
    import numpy as np

    value = np.arange(24, dtype=np.float32).reshape(3, 8)
    assert np.array_equal(pairs[2].to_port(value), value.T)
    assert np.array_equal(pairs[2].to_legacy(pairs[2].to_port(value)), value)


def test_a_rule_whose_target_is_missing_or_twice_is_refused():
    legacy = [Var("a/kernel", (2, 2)), Var("b/kernel", (2, 2))]
    port = [Var("x/kernel", (2, 2)), Var("y/kernel", (2, 2))]
    with pytest.raises(UsageError, match="rule r:1 must name exactly one port weight"):
        pair(legacy, port, [Rule("a/kernel", "z/kernel", source="r:1")])
    with pytest.raises(UsageError, match="pairs port weight x/kernel a second time"):
        pair(legacy, port, [Rule("(a|b)/kernel", "x/kernel", source="r:1")])


@pytest.mark.parametrize("mapping", [42, ["a=b"], {"a": 3}], ids=["int", "list-of-str", "non-string-value"])
def test_a_mapping_of_a_wrong_type_is_a_type_error_naming_it(mapping):
    with pytest.raises(TypeError, match="mapping"):
        pair([Var("a", (1,))], [Var("b", (1,))], mapping)


def test_emitted_rules_parse_back_and_match_only_their_own_names():
    text = _rules.format_rules([("bert/encoder/layer_0/attention/self/query/kernel",
                                 "transformer_layer_0/self_attention_layer/query/kernel", "reshape")])
    (rule,) = parse_rules(text, "emitted")
    assert rule.reshape and rule.target("bert/encoder/layer_0/attention/self/query/kernel") == \
        "transformer_layer_0/self_attention_layer/query/kernel"
    assert rule.target("bert/encoder/layer_0/attention/self/queryXkernel") is None


def fused():
    """GPT-2's attention: one kernel 1 x E x 3E (query, key, value side by
    side, cut by tf.split(..., 3, axis=2)) and its bias 3E, into three
    per-head kernels E x heads x d and biases heads x d."""
    legacy = [Var("model/h0/attn/c_attn/w", (1, 8, 24)), Var("model/h0/attn/c_attn/b", (24,))]
    port = [Var("layer_0/{}/{}".format(part, role), shape) for role, shape in (("kernel", (8, 2, 4)),
                                                                              ("bias", (2, 4)))
            for part in ("query", "key", "value")]
    return legacy, port


SPLIT_RULES = """
model/h(\\d+)/attn/c_attn/w -> layer_\\1/query/kernel split(2,3,0)
model/h(\\d+)/attn/c_attn/w -> layer_\\1/key/kernel split(2,3,1)
model/h(\\d+)/attn/c_attn/w -> layer_\\1/value/kernel split(2,3,2)
model/h(\\d+)/attn/c_attn/b -> layer_\\1/query/bias split(0,3,0)
model/h(\\d+)/attn/c_attn/b -> layer_\\1/key/bias split(0,3,1)
model/h(\\d+)/attn/c_attn/b -> layer_\\1/value/bias split(0,3,2)
"""


def test_split_rules_cut_one_key_into_several_weights_and_join_them_back():
    import numpy as np

    from compat_init.port._core.pairs import join

    legacy, port = fused()
    rules = parse_rules(SPLIT_RULES, "gpt2.rules")
    pairs, left_old, left_new = pair(legacy, port, rules)
    assert not left_old and not left_new and len(pairs) == 6
    kernel = np.arange(8 * 24, dtype=np.float32).reshape(1, 8, 24)
    kernels = [p for p in pairs if p.legacy.name.endswith("/w")]
    assert [p.port.name for p in kernels] == ["layer_0/query/kernel", "layer_0/key/kernel", "layer_0/value/kernel"]
    assert kernels[1].describe() == "rule gpt2.rules:3 (split 1 of 3 along axis 2; reshape 1x8x8->8x2x4)"
    for index, p in enumerate(kernels):  # each weight is its third of the last axis, heads-major
        assert np.array_equal(p.to_port(kernel), kernel[0, :, 8 * index:8 * (index + 1)].reshape(8, 2, 4))
    parts = [p.to_legacy(p.to_port(kernel)) for p in kernels]
    assert np.array_equal(join(kernels[::-1], parts[::-1]), kernel)


@pytest.mark.parametrize("rules,words", [
    (SPLIT_RULES.replace("key/bias", "query/bias"), "pairs port weight layer_0/query/bias a second time"),
    (SPLIT_RULES.replace("value/kernel split(2,3,2)", "value/kernel split(2,3,1)"),
     "must cut it one way and give each part a port weight once"),
    (SPLIT_RULES.replace("split(2,3,", "split(2,5,"), "does not divide its 24"),
    (SPLIT_RULES.replace("split(2,3,", "split(4,3,"), "which it does not have"),
], ids=["one-weight-per-part", "a-part-twice", "not-divisible", "no-such-axis"])
def test_split_rules_that_do_not_cut_whole_parts_are_refused(rules, words):
    legacy, port = fused()
    with pytest.raises(UsageError, match=re.escape(words)):
        pair(legacy, port, parse_rules(rules, "gpt2.rules"))


def test_emitted_split_rules_parse_back():
    text = _rules.format_rules([("model/h0/attn/c_attn/w", "layer_0/key/kernel", "split(2,3,1) reshape")])
    (rule,) = parse_rules(text, "emitted")
    assert rule.split == (2, 3, 1) and rule.reshape


def test_a_pair_no_word_decides_is_left_ambiguous_not_guessed():
    """GPT-2's ln_1 and ln_2 of block 1 share only "layer norm" with both
    LayerNorms of KerasHub's transformer_layer_1: the word-overlap score
    preferred the shorter name (feedforward_layer_norm for ln_1, a wrong
    model); now neither is paired, and the ambiguity is reported."""
    legacy = [Var("model/h1/ln_1/g", (8,)), Var("model/h1/ln_1/b", (8,)), Var("model/h1/ln_2/g", (8,)),
              Var("model/h1/ln_2/b", (8,)), Var("model/wte", (50, 8)), Var("model/wpe", (16, 8))]
    port = [Var("transformer_layer_1/self_attention_layer_norm/gamma", (8,)),
            Var("transformer_layer_1/self_attention_layer_norm/beta", (8,)),
            Var("transformer_layer_1/feedforward_layer_norm/gamma", (8,)),
            Var("transformer_layer_1/feedforward_layer_norm/beta", (8,)), Var("token_embedding/embeddings", (50, 8))]
    found = []
    pairs, _, left = pair(legacy, port, require_all=False, ambiguities=found)
    assert not [p for p in pairs if "ln_" in p.legacy.name] and len(left) == 4, pairs
    assert any("h1/ln_1" in a and "on no word" in a for a in found), found
    # A word only one candidate shares decides: attention/output/LayerNorm is the attention's.
    legacy = [Var("bert/encoder/layer_1/attention/output/LayerNorm/gamma", (8,)),
              Var("bert/encoder/layer_1/attention/output/LayerNorm/beta", (8,)),
              Var("bert/encoder/layer_1/output/LayerNorm/gamma", (8,)),
              Var("bert/encoder/layer_1/output/LayerNorm/beta", (8,)), Var("bert/wte", (50, 8)),
              Var("bert/wpe", (16, 8))]
    pairs, _, _ = pair(legacy, port[2:4] + port[:2] + port[4:], require_all=False)
    assert {(p.legacy.name.split("/")[3], p.port.name.split("/")[1]) for p in pairs if "Norm" in p.legacy.name} == {
        ("attention", "self_attention_layer_norm"), ("output", "feedforward_layer_norm")}, pairs


def test_concat_rules_fill_one_port_weight_from_several_keys_and_back():
    """``concat(AXIS,PARTS,INDEX)``: three legacy kernels into one fused port
    kernel, each part once; the values assembled, and taken apart again."""
    import numpy as np

    from compat_init.port._core.pairs import assemble

    legacy = [Var("q", (4, 2)), Var("k", (4, 2)), Var("v", (4, 2))]
    fused = Var("qkv", (4, 6))
    rules = parse_rules("q -> qkv concat(1,3,0)\nk -> qkv concat(1,3,1)\nv -> qkv concat(1,3,2)\n", "fuse.rules")
    pairs, left_old, left_new = pair(legacy, [fused], rules)
    assert not left_old and not left_new and [p.concat for p in pairs] == [(1, 3, 0), (1, 3, 1), (1, 3, 2)]
    values = [np.full((4, 2), i, "float32") for i in range(3)]
    whole = assemble(pairs, [p.to_port(v) for p, v in zip(pairs, values)])[fused.index]
    assert whole.shape == (4, 6) and np.array_equal(whole[:, 2:4], values[1])
    assert all(np.array_equal(p.to_legacy(whole), v) for p, v in zip(pairs, values))
    assert pairs[1].describe() == "rule fuse.rules:2 (concat 1 of 3 along axis 1)"
    # a part left out, or filled twice, is refused
    with pytest.raises(UsageError, match="concat rules filling port weight qkv .* fill each part once"):
        pair(legacy[:2], [fused], rules[:2])
    with pytest.raises(UsageError, match="must cut it one way and fill each part once"):
        pair(legacy, [fused], parse_rules("q -> qkv concat(1,3,0)\nk -> qkv concat(1,3,0)\nv -> qkv concat(1,3,2)\n",
                                          "fuse.rules"))
    with pytest.raises(UsageError, match="either splits the legacy tensor or concatenates"):
        parse_rules("q -> qkv concat(1,3,0) split(1,2,0)\n", "bad.rules")


#: Pieces rules files are made of, well and badly: words, regular-expression syntax, group references and
#: escapes (some unknown), options, comments, control characters.
PIECES = ["a", "kernel", "layer_", "/", "(", ")", "|", "*", "+", "?", "{2}", "{1,40}", "[", "]", "[a-z_/0-9]", ".",
          "^", "$", "\\", "\\1", "\\2", "\\g<x>", "\\g<1>", "\\q", "\\d", "(?P<x>", "(?i)", " -> ", "->", " ",
          "transpose(1,0)", "transpose(0,1,2)", "split(1,3,0)", "concat(0,2,1)", "reshape", "#", "\n", "\x00",
          "\x1b[31m", "\u00e9"]
NAMES = ["bert/encoder/layer_11/attention/self/query/kernel", "bert/embeddings/LayerNorm/gamma", "dense/kernel",
         "model/h0/attn/c_attn/w", "a" * 60]


def test_fuzzed_rules_files_are_rules_or_one_usage_error():
    """Issue 33: 3,000 generated rules files (seeded): each parses into rules or
    raises one UsageError naming the file, and every rule's match against
    real names ends (bounded) with a name, None or a UsageError; never another
    exception."""
    import random
    import time

    rng = random.Random(33)
    start = time.perf_counter()
    parsed = refused = 0
    for _ in range(3000):
        lines = []
        for _ in range(rng.randint(1, 3)):  # mostly rule-shaped lines, some anything at all
            pick = lambda most: "".join(rng.choice(PIECES) for _ in range(rng.randint(1, most)))  # noqa: E731
            if rng.random() < 0.3:  # a rule that matches and names a weight, with any options
                lines.append("{} -> {} {}".format(rng.choice(["dense/kernel", "(.*)/kernel", "dense/(kernel)", "a+"]),
                                                  rng.choice(["dense/kernel", "x", "a/b/\\1", "\\1"]), pick(2)))
                continue
            lines.append(pick(12) if rng.random() < 0.2 else "{} -> {}{}".format(
                pick(6), pick(3), " " + pick(2) if rng.random() < 0.3 else ""))
        text = "\n".join(lines)
        try:
            rules = parse_rules(text, "fuzz.rules")
        except UsageError as error:
            assert "fuzz.rules" in str(error), (text, str(error))
            refused += 1
            continue
        parsed += 1
        for rule in rules:
            for name in NAMES:
                try:
                    target = rule.target(name)
                except UsageError as error:
                    assert "fuzz.rules:" in str(error) and "takes over" in str(error), (text, str(error))
                    continue
                assert target is None or isinstance(target, str)
        try:  # and paired: a target that names no weight, a transpose of another rank, a split that does not cut
            pair([Var(n, (3, 4)) for n in NAMES], [Var(n, (4, 3)) for n in ("x", "dense/kernel", "a/b/kernel")],
                 rules, require_all=False)
        except UsageError as error:
            assert "fuzz.rules:" in str(error), (text, str(error))
    assert parsed > 100 and refused > 100, (parsed, refused)  # both kinds were tried
    assert time.perf_counter() - start < 600
