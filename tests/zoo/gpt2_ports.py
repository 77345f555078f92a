"""GPT-2 both ways (issue 32, fused tensors): the legacy side is openai/gpt-2's
``model.py`` as the gpt-2-simple package ships it (``gpt_2_simple.src.model``,
ported to ``tf.compat.v1``: the same variables and arithmetic), run in a TF1
graph; the port is KerasHub's ``GPT2Backbone`` at the same size.  The rules
file beside this module (``gpt2.rules``) is the whole mapping: each block's
fused ``attn/c_attn`` (``1 x E x 3E``, cut by ``tf.split(..., 3, axis=2)``)
into query, key and value."""
import os

RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt2.rules")
SIZE = dict(n_vocab=50, n_ctx=16, n_embd=8, n_head=2, n_layer=2)
SEQUENCE = 12


def gpt2_model():
    """gpt-2's ``model.py`` module, loaded from the installed gpt-2-simple
    without its package ``__init__`` (which switches eager execution off for
    the whole process); None where gpt-2-simple is not installed."""
    import importlib.util

    found = importlib.util.find_spec("gpt_2_simple")
    if found is None or not found.submodule_search_locations:
        return None
    path = os.path.join(list(found.submodule_search_locations)[0], "src", "model.py")
    spec = importlib.util.spec_from_file_location("gpt2_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def legacy():
    """The legacy graph: gpt-2's ``model(hparams, X)`` on a token placeholder;
    its outputs are the logits (the port has no language-model head)."""
    import tensorflow as tf

    model = gpt2_model()

    hparams = model.default_hparams()
    hparams.override_from_dict(SIZE)
    tokens = tf.compat.v1.placeholder(tf.int32, (None, SEQUENCE), name="X")
    return model.model(hparams, tokens)["logits"]


def _backbone():
    import keras_hub

    return keras_hub.models.GPT2Backbone(
        vocabulary_size=SIZE["n_vocab"], num_layers=SIZE["n_layer"], num_heads=SIZE["n_head"],
        hidden_dim=SIZE["n_embd"], intermediate_dim=4 * SIZE["n_embd"], max_sequence_length=SIZE["n_ctx"],
        dropout=0.0)


def port():
    """``GPT2Backbone`` taking the legacy program's one input (every token
    attended: the padding mask all ones)."""
    import keras

    backbone = _backbone()
    tokens = keras.Input((None,), dtype="int32", name="X")
    return keras.Model(tokens, backbone({"token_ids": tokens, "padding_mask": keras.ops.ones_like(tokens)}))
