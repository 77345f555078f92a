"""The dataflow read from real TensorFlow graphs (``port._sides.flow``): a
TF1 graph built with ``tf.compat.v1`` and a Keras functional port traced by
``tf.function``; what each input meets first pairs the inputs (issue 32:
BERT's ``input_ids`` and KerasHub's ``token_ids``), and the terms of a sum
(a bias, a position embedding) pair whatever the order of the sum."""
import pytest

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init.port._core.dataflow import inputs_by_dataflow
from compat_init.port._core.pairing import pair
from compat_init.port._core.pairs import Var
from compat_init.port._sides.flow import graph_flow
from compat_init.port._sides.port import PortModel

tf = _runtime.tf()
V, L, E = 10, 5, 4  # vocabulary, sequence length, width


def legacy_graph():
    """Word and segment embeddings, then a position table added (the sum
    written word + segment + position), a dense layer, the mask multiplied
    into its output."""
    graph = tf.Graph()
    with graph.as_default():
        ids = tf.compat.v1.placeholder(tf.int32, (None, L), name="input_ids")
        segments = tf.compat.v1.placeholder(tf.int32, (None, L), name="token_type_ids")
        mask = tf.compat.v1.placeholder(tf.float32, (None, L), name="input_mask")
        init = tf.compat.v1.initializers.random_normal(seed=1)
        word = tf.compat.v1.get_variable("word_embeddings", (V, E), initializer=init)
        kinds = tf.compat.v1.get_variable("token_type_embeddings", (2, E), initializer=init)
        position = tf.compat.v1.get_variable("position_embeddings", (L, E), initializer=init)
        kernel = tf.compat.v1.get_variable("dense/kernel", (E, E), initializer=init)
        bias = tf.compat.v1.get_variable("dense/bias", (E,), initializer=init)
        x = tf.gather(word, ids) + tf.matmul(tf.one_hot(segments, 2), tf.tile(kinds[None], [tf.shape(ids)[0], 1, 1]))
        x = x + tf.reshape(tf.slice(position, [0, 0], [L, -1]), (1, L, E))
        y = tf.tensordot(x, kernel, 1) + bias
        out = tf.identity(y * mask[..., None], name="out")
    variables = {v.op.name: v for v in graph.get_collection("variables")}
    return graph, variables, out


def test_a_tf1_graph_says_what_each_input_meets_first_and_which_variables_are_terms():
    graph, variables, out = legacy_graph()
    flow = graph_flow(graph, {n: n for n in variables}, [out])
    assert flow.inputs == {"input_ids": {"word_embeddings"}, "token_type_ids": {"token_type_embeddings"},
                           "input_mask": set(variables)}
    # the position table is added to the data, so is the bias; the tables and the kernel are not
    assert flow.additive == {"position_embeddings", "dense/bias"}
    assert flow.deps["position_embeddings"] == {"word_embeddings", "token_type_embeddings"}


needs_trace = pytest.mark.skipif(not _runtime.can_evaluate_eagerly() or _runtime.keras_backend() != "tensorflow",
                                 reason="the port's call is traced by tf.function (TF 2, the TensorFlow backend)")


def keras_port(position_first):
    """The same function as a Keras port whose inputs are named otherwise;
    the position table added first or last."""
    keras = tf.keras
    token_ids = keras.Input((L,), dtype="int32", name="token_ids")
    segment_ids = keras.Input((L,), dtype="int32", name="segment_ids")
    padding_mask = keras.Input((L,), dtype="float32", name="padding_mask")

    class Position(keras.layers.Layer):
        def build(self, shape):
            self.table = self.add_weight(name="embeddings", shape=(L, E))

        def call(self, x):
            return x + self.table[None]

    class Mask(keras.layers.Layer):
        def call(self, x, mask):
            return x * mask[..., None]

    words = keras.layers.Embedding(V, E, name="token_embedding")(token_ids)
    kinds = keras.layers.Embedding(2, E, name="segment_embedding")(segment_ids)
    position = Position(name="position_embedding")
    x = keras.layers.Add()([position(words), kinds]) if position_first else position(keras.layers.Add()(
        [words, kinds]))
    y = keras.layers.Dense(E, name="dense")(x)
    return keras.Model({"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
                       Mask()(y, padding_mask))


@needs_trace
@pytest.mark.parametrize("position_first", [False, True], ids=["same-sum-order", "position-added-first"])
def test_inputs_named_otherwise_pair_by_the_variables_they_meet_first(position_first):
    graph, variables, out = legacy_graph()
    old = graph_flow(graph, {n: n for n in variables}, [out])
    port = PortModel(lambda: keras_port(position_first), 0, None)
    new, why = port.flow()
    assert new is not None, why
    legacy = [Var(n, tuple(v.shape.as_list()), "float32", True, i) for i, (n, v) in enumerate(variables.items())]
    pairs, left_old, left_new = pair(legacy, port.vars, require_all=False, flows=lambda: (old, new))
    assert not left_old and not left_new and {p.how for p in pairs} == {"dataflow"}, [
        (p.legacy.name, p.port.name, p.how) for p in pairs]
    assert {p.legacy.name: p.port.name.split("/")[0] for p in pairs}["position_embeddings"] == "position_embedding"
    assert inputs_by_dataflow((old, new), pairs) == ({"input_ids": "token_ids", "token_type_ids": "segment_ids",
                                                      "input_mask": "padding_mask"}, "")


@needs_trace
def test_inputs_that_meet_the_same_variables_are_not_paired():
    """Two legacy inputs that meet one table (summed ids): no pairing is made."""
    graph, variables, out = legacy_graph()
    old = graph_flow(graph, {n: n for n in variables}, [out])
    old.inputs["token_type_ids"] = old.inputs["input_ids"]
    port = PortModel(lambda: keras_port(False), 0, None)
    new, _ = port.flow()
    legacy = [Var(n, tuple(v.shape.as_list()), "float32", True, i) for i, (n, v) in enumerate(variables.items())]
    pairs, _, _ = pair(legacy, port.vars, require_all=False, flows=lambda: (old, new))
    found, why = inputs_by_dataflow((old, new), pairs)
    assert found == {} and "two legacy inputs meet the same port input's variables" == why


# A port that fuses what the legacy program keeps apart (issue 32, concat):
# three dense layers on one input, their outputs joined after an activation
# each; the port computes them with one Dense of thrice the width, cut by a split.
WIDTH = 4


def separate_legacy():
    v1 = tf.compat.v1
    x = v1.placeholder(tf.float32, (None, 5), name="x")
    outs = []
    for name, act in (("query", tf.nn.relu), ("key", tf.tanh), ("value", tf.identity)):
        with v1.variable_scope(name):
            kernel = v1.get_variable("kernel", (5, WIDTH), initializer=v1.initializers.random_normal(seed=3))
            bias = v1.get_variable("bias", (WIDTH,), initializer=v1.initializers.random_normal(seed=4))
        outs.append(act(tf.matmul(x, kernel) + bias))
    return tf.concat(outs, -1, name="out")


def fused_port(first=tf.nn.relu, second=tf.tanh):
    keras = tf.keras
    x = keras.Input((5,), name="x")
    y = keras.layers.Dense(3 * WIDTH, name="qkv")(x)

    def heads(t):
        q, k, v = tf.split(t, 3, axis=-1)
        return tf.concat([first(q), second(k), v], -1)

    return keras.Model(x, keras.layers.Lambda(heads)(y))


def fused_port_tanh_first():
    return fused_port(tf.tanh, tf.nn.relu)


@needs_trace
def test_a_port_that_fuses_three_kernels_converts_by_dataflow_and_is_proven(tmp_path):
    from compat_init import checkpoint

    with tf.Graph().as_default():
        out = separate_legacy()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            prefix = tf.compat.v1.train.Saver().save(session, str(tmp_path / "model.ckpt"))
            batch = np.random.RandomState(0).standard_normal((3, 5)).astype("float32")
            expected = session.run(out, {"x:0": batch})
    model, report = checkpoint.convert(prefix, fused_port)
    assert report.proof is not None and report.proof.passed, str(report)
    loaded = [e for e in report.entries if e.status == "loaded"]
    assert sorted((e.key, e.concat) for e in loaded) == [
        ("key/bias", (0, 3, 1)), ("key/kernel", (1, 3, 1)), ("query/bias", (0, 3, 0)), ("query/kernel", (1, 3, 0)),
        ("value/bias", (0, 3, 2)), ("value/kernel", (1, 3, 2))], str(report)
    assert all(e.how.startswith("dataflow") for e in loaded), str(report)
    assert np.allclose(np.asarray(model(batch)), expected, atol=1e-6)
    # And back: the fused weight cut into the three keys again, equal to the originals.
    with pytest.raises(UsageError, match="out must be a checkpoint prefix in an existing folder"):
        checkpoint.reverse(lambda: model, separate_legacy, str(tmp_path / "nowhere" / "model.ckpt"))
    (tmp_path / "back").mkdir()
    back = checkpoint.reverse(lambda: model, separate_legacy, str(tmp_path / "back" / "model.ckpt"))
    assert sorted(e.key for e in back.entries) == sorted(e.key for e in loaded), str(back)
    assert all(e.how.startswith("dataflow") and "concat" in e.how for e in back.entries), str(back)
    original, again = tf.train.load_checkpoint(prefix), tf.train.load_checkpoint(str(tmp_path / "back" / "model.ckpt"))
    for e in loaded:
        assert np.array_equal(original.get_tensor(e.key), again.get_tensor(e.key)), e.key
    # A port whose first part goes through the tanh: the tie (three alike parts) decided by creation order
    # gives another function, which the proof refuses: nothing handed back.
    with pytest.raises(checkpoint.ConversionRefused, match="found a difference") as refused:
        checkpoint.convert(prefix, fused_port_tanh_first)
    assert refused.value.exit_code == 1 and not refused.value.report.proof.passed
