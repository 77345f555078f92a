"""The legacy side of the BERT fixture, as google-research/bert builds it:
``bert.modeling.BertModel`` from PyPI's bert-tensorflow 1.0.4 (Google's own
``modeling.py``), at the fixture's config, on placeholders named as in
Google's run_classifier.py.  Its model code calls
``tf.contrib.layers.layer_norm`` and ``tf.variable_scope``: it runs on TF 1.x
only (the tf115 leg), where ``compat-init record`` records it for the proof of
the KerasHub port on TF 2 (tests/test_zoo_record.py)."""
import json
import os

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "zoo", "bert_tiny")
#: The batch of the fixture's io.npz: 3 sequences of 12 tokens, the last padded.
BATCH = os.path.join(FIXTURE, "batch.npz")


def build():
    """The encoder at inference (``is_training=False``), returning its two
    outputs under the names KerasHub's backbone gives them."""
    import tensorflow as tf
    from bert import modeling

    v1 = tf.compat.v1
    with open(os.path.join(FIXTURE, "bert_config.json")) as f:
        config = modeling.BertConfig.from_dict(json.load(f))
    inputs = {name: v1.placeholder(tf.int32, (3, 12), name=name)
              for name in ("input_ids", "input_mask", "token_type_ids")}
    model = modeling.BertModel(config, is_training=False, use_one_hot_embeddings=False, **inputs)
    return {"pooled_output": model.get_pooled_output(), "sequence_output": model.get_sequence_output()}
