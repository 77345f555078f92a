"""Keras ports of the BERT fixture (tests/fixtures/zoo/bert_tiny, written by
google-research/bert's modeling.py on TF 1.15): KerasHub's ``BertBackbone``
at the fixture's config, as a user would build it, and wrong ports to catch."""
import json
import os

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "zoo", "bert_tiny")


def config():
    with open(os.path.join(FIXTURE, "bert_config.json")) as f:
        return json.load(f)


def backbone(**overrides):
    """``keras_hub.models.BertBackbone`` sized from the legacy ``bert_config.json``."""
    import keras_hub

    c = config()
    options = dict(vocabulary_size=c["vocab_size"], num_layers=c["num_hidden_layers"],
                   num_heads=c["num_attention_heads"], hidden_dim=c["hidden_size"],
                   intermediate_dim=c["intermediate_size"], dropout=c["hidden_dropout_prob"],
                   max_sequence_length=c["max_position_embeddings"], num_segments=c["type_vocab_size"])
    options.update(overrides)
    return keras_hub.models.BertBackbone(**options)


def swapped_inputs():
    """A wrong port: the backbone with its segment ids and padding mask swapped."""
    import keras

    inner = backbone()
    inputs = {name: keras.Input((None,), dtype="int32", name=name)
              for name in ("token_ids", "segment_ids", "padding_mask")}
    outputs = inner({"token_ids": inputs["token_ids"], "segment_ids": inputs["padding_mask"],
                     "padding_mask": inputs["segment_ids"]})
    return keras.Model(inputs, outputs)


def exact_gelu():
    """A wrong port: the exact GELU where google-research/bert uses the tanh approximation."""
    import keras

    model = backbone()
    for layer in model._flatten_layers():
        if type(layer).__name__ == "Dense" and layer.name == "feedforward_intermediate_dense":
            layer.activation = lambda x: keras.activations.gelu(x, approximate=False)
    return model
