"""A model zoo's TF1 checkpoint into its Keras counterpart with no hand mapping
(issue 23): google-research/bert's BERT, written by its own modeling.py on TF
1.15 (tests/fixtures/write_bert_checkpoint.py), into KerasHub's
``BertBackbone``; its outputs must equal TF 1.15's own on the same batch.
KerasHub needs Keras 3 and Python 3.11+: these run on the Keras 3 legs."""
import os
import subprocess
import sys

import numpy as np
import pytest

from compat_init import _runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from zoo import bert_ports  # noqa: E402

keras_hub = pytest.importorskip("keras_hub", reason="KerasHub is installed on the Keras 3 legs (Python 3.11+)")
if _runtime.keras_flavour() != "keras3":
    pytest.skip("KerasHub ports are Keras 3 models", allow_module_level=True)

PREFIX = os.path.join(bert_ports.FIXTURE, "bert_model.ckpt")
IO = np.load(os.path.join(bert_ports.FIXTURE, "io.npz"))


def port_outputs(model):
    out = model({"token_ids": IO["input_ids"], "segment_ids": IO["token_type_ids"],
                 "padding_mask": IO["input_mask"]})
    return {k: np.asarray(out[k]) for k in ("sequence_output", "pooled_output")}


def assert_same_as_tf115(model):
    """float32 rounding of two implementations of the same function: a few
    dozen ulps of the outputs' scale (measured: 1.4e-6 on outputs up to 3.3)."""
    for name, value in port_outputs(model).items():
        expected = IO[name]
        allowed = 32 * np.finfo(np.float32).eps * float(np.max(np.abs(expected)))
        assert np.max(np.abs(value - expected)) <= allowed, (name, np.max(np.abs(value - expected)), allowed)


def test_bert_converts_into_keras_hub_with_no_mapping():
    from compat_init import checkpoint

    # The .meta beside the checkpoint is the legacy side: paired by dataflow (inputs too), proven.
    model, report = checkpoint.convert(PREFIX, bert_ports.backbone)
    counts = report.counts()
    assert counts == {"loaded": 39, "skipped": 5, "error": 0} and not report.missing, str(report)
    assert report.proof is not None and report.proof.passed, str(report)
    reshaped = [e for e in report.entries if "reshape" in e.how]
    # per layer: query/key/value kernels and biases (H -> heads x d) and the attention output kernel
    assert len(reshaped) == 2 * 7, str(report)
    assert all(e.how.startswith("dataflow") for e in report.entries if e.status == "loaded"), str(report)
    skipped = [e.key for e in report.entries if e.status == "skipped"]
    assert skipped and all(k.startswith("cls/") for k in skipped)
    assert all("not on the path" in e.reason for e in report.entries if e.status == "skipped")
    assert_same_as_tf115(model)
    # Unproven, no legacy side: names and structure pair the same keys.
    model, report = checkpoint.convert(PREFIX, bert_ports.backbone, prove=False)
    assert report.counts() == counts and report.proof is None, str(report)
    assert all(e.how.startswith("structure") for e in report.entries if e.status == "loaded"), str(report)
    assert all("no place for it" in e.reason for e in report.entries if e.status == "skipped")
    assert_same_as_tf115(model)


def run_cli(*args, cwd=ROOT):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.path.join(ROOT, "tests"))
    return subprocess.run([sys.executable, "-m", "compat_init", "convert"] + list(args), cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def test_cli_plan_emit_mapping_and_convert(tmp_path):
    rules = tmp_path / "bert.rules"
    plan = run_cli("--port", "zoo.bert_ports:backbone", "--checkpoint", PREFIX, "--plan", "--emit-mapping",
                   str(rules))
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "(dataflow (reshape 32x32->32x4x8))" in plan.stdout and "39 loaded, 5 skipped" in plan.stdout
    # The pooler and the pretraining head's dense tie on shapes and variable counts: the plan tells them apart by
    # the ops making the port's outputs (a tanh, a normalization's add), running nothing.
    found = [line for line in plan.stdout.splitlines() if "found in the graph's dataflow" in line]
    assert found and "made by the ops that make the port's (Tanh, Add)): bert/pooler/dense/Tanh:0, " \
        "bert/encoder/layer_1/output/LayerNorm/batchnorm/add_1:0 (tied with" in found[0], found
    assert sorted(os.listdir(str(tmp_path))) == ["bert.rules"]  # the plan wrote no weights
    out = tmp_path / "bert.weights.h5"
    done = run_cli("--port", "zoo.bert_ports:backbone", "--checkpoint", PREFIX, "--out", str(out), "--mapping",
                   str(rules))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(rule bert.rules:" in done.stdout and "structure" not in done.stdout.split("written to")[0].replace(
        "no place", "")
    model = bert_ports.backbone()
    model.load_weights(str(out))
    assert_same_as_tf115(model)


def test_a_rules_file_that_would_backtrack_for_ever_is_one_line_and_exit_2(tmp_path):
    rules = tmp_path / "slow.rules"
    rules.write_text("(.|..)+e -> x\n")
    done = run_cli("--port", "zoo.bert_ports:backbone", "--checkpoint", PREFIX, "--plan", "--mapping", str(rules))
    ours = [line for line in done.stderr.splitlines() if line.startswith("compat-init")]
    assert done.returncode == 2 and len(ours) == 1, done.stderr[-3000:]
    assert "slow.rules:1: the pattern '(.|..)+e' takes over 1 s to match the name" in ours[0], ours


# A whole family in a few lines: the rules KerasHub's and Hugging Face's hand-written converters spell out.
FAMILY_RULES = r"""
bert/embeddings/word_embeddings -> token_embedding/embeddings
bert/embeddings/token_type_embeddings -> segment_embedding/embeddings
bert/embeddings/position_embeddings -> position_embedding/embeddings
bert/embeddings/LayerNorm/(gamma|beta) -> embeddings_layer_norm/\1
bert/encoder/layer_(\d+)/attention/self/(query|key|value)/(kernel|bias) -> transformer_layer_\1/self_attention_layer/\2/\3
bert/encoder/layer_(\d+)/attention/output/dense/(kernel|bias) -> transformer_layer_\1/self_attention_layer/attention_output/\2
bert/encoder/layer_(\d+)/attention/output/LayerNorm/(gamma|beta) -> transformer_layer_\1/self_attention_layer_norm/\2
bert/encoder/layer_(\d+)/intermediate/dense/(kernel|bias) -> transformer_layer_\1/feedforward_intermediate_dense/\2
bert/encoder/layer_(\d+)/output/dense/(kernel|bias) -> transformer_layer_\1/feedforward_output_dense/\2
bert/encoder/layer_(\d+)/output/LayerNorm/(gamma|beta) -> transformer_layer_\1/feedforward_layer_norm/\2
bert/pooler/dense/(kernel|bias) -> pooled_dense/\1
"""


def test_a_ten_line_rules_file_converts_the_family():
    from compat_init import checkpoint, port

    rules = port.parse_rules(FAMILY_RULES, "bert.rules")
    model, report = checkpoint.convert(PREFIX, bert_ports.backbone, mapping=rules)
    assert report.counts()["loaded"] == 39 and all(e.how.startswith("rule bert.rules:")
                                                   for e in report.entries if e.status == "loaded"), str(report)
    assert_same_as_tf115(model)


def test_a_kernel_that_needs_a_transpose_is_never_reshaped_silently():
    """A rule that sends the attention output kernel (in x out) into the query
    kernel (in x heads x d) would read the legacy axes the wrong way round:
    refused, naming the shapes, unless the rule says transpose."""
    from compat_init import checkpoint, port
    from compat_init._errors import UsageError

    wrong = port.parse_rules(r"bert/encoder/layer_0/attention/output/dense/kernel -> "
                             r"transformer_layer_0/self_attention_layer/attention_output/kernel transpose(1,0)", "r")
    with pytest.raises(UsageError, match="pairs variables of different shapes"):
        checkpoint.plan(PREFIX, bert_ports.backbone, mapping=wrong + port.parse_rules(FAMILY_RULES, "f"))


def test_a_port_of_another_size_leaves_weights_unfilled_with_a_short_message():
    from compat_init import checkpoint

    with pytest.raises(ValueError) as caught:
        checkpoint.convert(PREFIX, lambda: bert_ports.backbone(intermediate_dim=48))
    message = str(caught.value)
    assert "port weight(s) unfilled" in message and "convert --plan" in message and len(message) < 2500, message
    assert "feedforward_intermediate_dense/kernel" in message


# --- the proof: the legacy side from the checkpoint's .meta graph, no legacy Python code ---------------

GRAPH = __import__("json").load(open(os.path.join(bert_ports.FIXTURE, "graph.json")))
OUTPUTS = [GRAPH["pooled_output"], GRAPH["sequence_output"]]  # the port's dict outputs, in sorted-key order
INPUT_MAP = {"input_ids": "token_ids", "input_mask": "padding_mask", "token_type_ids": "segment_ids"}


def prove(port_builder, **options):
    from compat_init import port

    legacy = port.meta_graph(PREFIX + ".meta", OUTPUTS)
    inputs = options.pop("inputs", {k: IO[k] for k in INPUT_MAP})
    return port.check_migration(legacy, port_builder, checkpoint=PREFIX, inputs=inputs, input_map=INPUT_MAP,
                                **options)


def test_the_proof_from_the_meta_graph_passes_for_keras_hub():
    report = prove(bert_ports.backbone)
    assert report.exit_code == 0, str(report)
    hows = [p["how"].split(" (reshape")[0] for p in report.pairs]
    # query and key of each block are alike in the dataflow (q.k is symmetric): creation order, said, and proven
    assert len(hows) == 39 and hows.count("dataflow") == 35, hows
    assert hows.count("dataflow (a tie broken by creation order)") == 4, hows
    assert sum("not on the path to the outputs" in u for u in report.unpaired) == 5  # the cls/ head
    assert any("dropout rates not comparable" in n for n in report.function.notes), str(report)


@pytest.mark.parametrize("wrong,where", [
    ("swapped_inputs", "the inputs are swapped: fed as "),
    ("exact_gelu", "the first layer whose output differs is feedforward_intermediate_dense (Dense, output 3x12x64)"),
])
def test_the_proof_fails_for_wrong_ports_and_says_where(wrong, where):
    report = prove(getattr(bert_ports, wrong))
    assert report.exit_code == 1 and report.decided_by == "forward", str(report)
    assert report.function.divergence.startswith(where), str(report)


def test_a_shape_for_token_ids_draws_ids_in_the_vocabulary():
    report = prove(bert_ports.backbone, inputs={k: (3, 12) for k in INPUT_MAP})
    assert report.exit_code == 0, str(report)
    notes = " ".join(report.function.notes)
    assert "input_ids drawn as integers in [0, 97)" in notes and "token_type_ids drawn as integers in [0, 2)" in notes


def test_cli_convert_with_the_proof_from_the_meta_graph(tmp_path):
    batch = tmp_path / "batch.npz"
    np.savez(str(batch), **{k: IO[k] for k in INPUT_MAP})
    common = ["--outputs", ",".join(OUTPUTS), "--checkpoint", PREFIX, "--inputs", str(batch)]
    common += [a for k, v in INPUT_MAP.items() for a in ("--input-map", "{}={}".format(k, v))]
    good = run_cli("--migration", PREFIX + ".meta", "zoo.bert_ports:backbone", "--out", str(tmp_path / "good.weights.h5"),
                   *common)
    assert good.returncode == 0 and "verdict: the port agrees" in good.stdout, good.stderr[-3000:]
    bad = run_cli("--migration", PREFIX + ".meta", "zoo.bert_ports:swapped_inputs", "--out",
                  str(tmp_path / "bad.weights.h5"), *common)
    assert bad.returncode == 1 and "nothing written" in bad.stderr, bad.stderr[-3000:]
    assert sorted(os.listdir(str(tmp_path))) == ["batch.npz", "good.weights.h5"]


def test_cli_convert_port_proves_from_the_meta_graph_beside_the_checkpoint(tmp_path):
    """--port alone: the .meta beside the checkpoint is the legacy side, its
    outputs found in its dataflow (the sequence output, not the pretraining
    head on top of it; the pooler's tanh), the inputs by --input-map."""
    maps = [a for k, v in INPUT_MAP.items() for a in ("--input-map", "{}={}".format(k, v))]
    good = run_cli("--port", "zoo.bert_ports:backbone", "--checkpoint", PREFIX, "--out",
                   str(tmp_path / "good.weights.h5"), *maps)
    assert good.returncode == 0 and "verdict: the port agrees" in good.stdout, good.stderr[-3000:]
    found = [line for line in good.stdout.splitlines() if "found in the graph's dataflow" in line]
    assert found and "bert/pooler/dense/Tanh:0" in found[0] and "cls/" not in found[0].replace(
        "Tensordot/transpose", ""), found
    bad = run_cli("--port", "zoo.bert_ports:exact_gelu", "--checkpoint", PREFIX, "--out",
                  str(tmp_path / "bad.weights.h5"), *maps)
    assert bad.returncode == 1 and "nothing written" in bad.stderr, bad.stderr[-3000:]
    assert "the first layer whose output differs is feedforward_intermediate_dense" in bad.stdout, bad.stdout[-3000:]
    assert sorted(os.listdir(str(tmp_path))) == ["good.weights.h5"]


def test_cli_convert_writes_a_keras_hub_preset(tmp_path):
    preset = tmp_path / "bert_tiny_preset"
    done = run_cli("--port", "zoo.bert_ports:backbone", "--checkpoint", PREFIX, "--out", str(preset))
    assert done.returncode == 0, done.stderr[-3000:]
    # Three inputs named otherwise than the placeholders: paired by the variables each meets first, and proven.
    assert "not proven" not in done.stderr and "verdict: the port agrees" in done.stdout, done.stderr[-3000:]
    assert ("the legacy inputs paired with the port's by the variables each meets first (dataflow): input_ids -> "
            "token_ids, input_mask -> padding_mask, token_type_ids -> segment_ids") in done.stdout, done.stdout[-3000:]
    assert "pairs made by dataflow (35), dataflow (a tie broken by creation order) (4)" in done.stdout
    assert sorted(os.listdir(str(tmp_path))) == ["bert_tiny_preset"]  # no staging folder left
    assert_same_as_tf115(keras_hub.models.BertBackbone.from_preset(str(preset)))
    again = run_cli("--port", "zoo.bert_ports:backbone", "--checkpoint", PREFIX, "--out", str(preset))
    assert again.returncode == 2 and "must not exist yet" in again.stderr, again.stderr[-2000:]


def test_a_preset_folder_for_a_port_without_presets_is_refused(tmp_path):
    done = run_cli("--port", "examples_v2.cnn_pair:build", "--checkpoint",
                   os.path.join(ROOT, "tests", "fixtures", "tf115", "cnn_sgd"), "--out", str(tmp_path / "cnn"))
    assert done.returncode == 2 and "has no save_to_preset" in done.stderr, done.stderr[-2000:]
    assert os.listdir(str(tmp_path)) == []
