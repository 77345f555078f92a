"""openai/gpt-2 into KerasHub's GPT2Backbone (issue 32, fused tensors): the
legacy model is gpt-2's own ``model.py`` (as the gpt-2-simple package ships it,
ported to ``tf.compat.v1``), built in a TF1 graph and saved by a ``Saver``
with seeded non-trivial weights; the port is converted with the rules file
``tests/zoo/gpt2.rules``, whose ``split(2,3,i)`` rules cut each block's fused
``c_attn`` into query, key and value, and is proven from the ``.meta`` graph
beside the checkpoint.  KerasHub needs Keras 3: these run on leg 3."""
import os
import subprocess
import sys

import numpy as np
import pytest

from compat_init import _runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from zoo import gpt2_ports  # noqa: E402

pytest.importorskip("keras_hub", reason="KerasHub is installed on leg 3")
if gpt2_ports.gpt2_model() is None:
    pytest.skip("gpt-2-simple (openai/gpt-2's model.py for TF 2) is installed on leg 3", allow_module_level=True)
if _runtime.keras_flavour() != "keras3" or _runtime.keras_backend() != "tensorflow":
    pytest.skip("KerasHub ports are Keras 3 models; the legacy graph runs on TensorFlow", allow_module_level=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(checkpoint prefix, a batch of token ids, gpt-2's final LayerNorm
    output on it at the checkpoint's values)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    prefix = str(tmp_path_factory.mktemp("gpt2") / "model.ckpt")
    rng = np.random.RandomState(2)
    batch = rng.randint(0, gpt2_ports.SIZE["n_vocab"], (3, gpt2_ports.SEQUENCE)).astype(np.int32)
    with tf.Graph().as_default() as graph:
        gpt2_ports.legacy()
        hidden = graph.get_tensor_by_name("model/ln_f/add_1:0")
        with v1.Session() as session:
            for variable in v1.global_variables():
                shape = variable.shape.as_list()
                variable.load(rng.normal(0.0, 0.3, shape).astype(np.float32), session)
            expected = session.run(hidden, {"X:0": batch})
            v1.train.Saver().save(session, prefix)
    return prefix, batch, expected


def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.path.join(ROOT, "tests"))
    return subprocess.run([sys.executable, "-m", "compat_init", "convert"] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def test_gpt2_converts_into_keras_hub_by_split_rules(trained):
    from compat_init import checkpoint

    prefix, batch, expected = trained
    model, report = checkpoint.convert(prefix, gpt2_ports.port, mapping=gpt2_ports.RULES)
    assert report.ok and report.counts()["loaded"] == 2 + 2 * 12 + 2 + 2 * 4, str(report)  # 4 splits add 2 each
    split = [e for e in report.entries if e.split]
    assert len(split) == 2 * 6 and {e.split[1] for e in split} == {3}, str(report)
    out = np.asarray(model(batch))
    allowed = 64 * np.finfo(np.float32).eps * float(np.max(np.abs(expected)))
    assert np.max(np.abs(out - expected)) <= allowed, (np.max(np.abs(out - expected)), allowed)


def test_the_conversion_is_proven_from_the_meta_graph_and_a_wrong_rule_is_refused(trained, tmp_path):
    prefix, _, _ = trained
    good = run_cli("--port", "zoo.gpt2_ports:port", "--checkpoint", prefix, "--mapping", gpt2_ports.RULES,
                   "--out", str(tmp_path / "gpt2.weights.h5"))
    assert good.returncode == 0 and "verdict: the port agrees" in good.stdout, good.stderr[-3000:]
    assert "model/ln_f/add_1:0" in good.stdout, good.stdout[-3000:]  # the output found in the graph's dataflow
    # query and key swapped: every weight is filled, and the proof refuses to write it.
    with open(gpt2_ports.RULES) as f:
        swapped = f.read().replace("query/kernel split(2,3,0)", "QUERY").replace(
            "key/kernel split(2,3,1)", "query/kernel split(2,3,1)").replace("QUERY", "key/kernel split(2,3,0)")
    rules = tmp_path / "swapped.rules"
    rules.write_text(swapped)
    bad = run_cli("--port", "zoo.gpt2_ports:port", "--checkpoint", prefix, "--mapping", str(rules),
                  "--out", str(tmp_path / "bad.weights.h5"))
    assert bad.returncode == 1 and "nothing written" in bad.stderr, bad.stderr[-3000:]
    assert "verdict: the port DIFFERS" in bad.stdout, bad.stdout[-3000:]
    assert sorted(os.listdir(str(tmp_path))) == ["gpt2.weights.h5", "swapped.rules"]


def test_gpt2_converts_with_no_mapping_by_its_dataflow(trained, tmp_path):
    """``--port`` alone: the ``.meta`` graph beside the checkpoint is walked
    with the port's traced call; ``c_attn`` is found cut by its
    ``tf.split(..., 3, axis=2)`` and its parts pair with query, key and value;
    the pre-norm LayerNorms pair by what they feed, not by their names."""
    prefix, batch, expected = trained
    out = tmp_path / "gpt2.weights.h5"
    done = run_cli("--port", "zoo.gpt2_ports:port", "--checkpoint", prefix, "--out", str(out))
    assert done.returncode == 0 and "verdict: the port agrees" in done.stdout, (done.stdout[-3000:],
                                                                               done.stderr[-3000:])
    rows = [line for line in done.stdout.splitlines() if "c_attn/w" in line]
    assert len(rows) == 2 * 3 and all("(dataflow" in row for row in rows), "\n".join(rows)
    for layer in range(2):
        for index, head in enumerate(("query", "key", "value")):
            assert any("h{}/attn/c_attn/w".format(layer) in row and "transformer_layer_{}/self_attention/{}/kernel"
                       .format(layer, head) in row and "split {} of 3 along axis 2".format(index) in row
                       for row in rows), "\n".join(rows)
    norms = [line for line in done.stdout.splitlines() if "/ln_1/g" in line]
    assert all("self_attention_layer_norm/gamma" in row for row in norms) and len(norms) == 2, "\n".join(norms)
    model = gpt2_ports.port()
    model.load_weights(str(out))
    got = np.asarray(model(batch))
    allowed = 64 * np.finfo(np.float32).eps * float(np.max(np.abs(expected)))
    assert np.max(np.abs(got - expected)) <= allowed, (np.max(np.abs(got - expected)), allowed)
