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
