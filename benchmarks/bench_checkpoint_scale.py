"""Checkpoint conversion at BERT-base scale (about 110 M parameters).

    python benchmarks/bench_checkpoint_scale.py --bert BERT [--tf1-python PY] [--work DIR]

BERT: a checkout of google-research/bert or its git directory; its
``modeling.py`` is read at run time (never committed) and run by a TensorFlow
1.15 interpreter (``--tf1-python``; default: the tf115 nox environment) to
build BERT-base's legacy graph and save it with a ``Saver`` (about 420 MiB).
Then, in this interpreter (TF 2), each in a fresh process:

* ``read``: every tensor read with ``tf.train.load_checkpoint`` (the floor);
* ``convert``: ``compat_init.checkpoint.convert`` into a Keras port of the same
  shapes (a layer with one weight per key, in the keys' order: paired by
  creation order, no legacy builder), port build included.

Prints the time of each (best of --runs), the ratio convert / read (target
<= 2), and the peak memory of each above the process's RSS after importing
TensorFlow, as a ratio to the checkpoint's size (target <= 2.5).
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WRITE = r'''
import json, os, sys
import tensorflow as tf
sys.path.insert(0, sys.argv[1])
import modeling
config = modeling.BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                             intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)
ids = tf.placeholder(tf.int32, (2, 128))
modeling.BertModel(config, is_training=False, input_ids=ids)
variables = tf.trainable_variables()
with tf.Session() as session:
    session.run(tf.global_variables_initializer())
    tf.train.Saver(variables).save(session, sys.argv[2], write_meta_graph=False, write_state=False)
json.dump([[v.op.name, v.shape.as_list()] for v in variables], open(sys.argv[2] + ".shapes.json", "w"))
print(sum(v.shape.num_elements() for v in variables))
'''

MEASURE = r'''
import json, os, resource, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf
sys.path.insert(0, sys.argv[3])
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
if sys.argv[1] == "convert":
    from compat_init import checkpoint  # the module's import is not the conversion
base = rss()
prefix = sys.argv[2]
start = time.perf_counter()
if sys.argv[1] == "read":
    reader = tf.train.load_checkpoint(prefix)
    for key in reader.get_variable_to_shape_map():
        reader.get_tensor(key)
else:
    shapes = json.load(open(prefix + ".shapes.json"))

    class Port(tf.keras.layers.Layer):
        """A port of BERT-base's shapes: one weight per checkpoint key, in the keys' order."""

        def build(self, input_shape):
            for name, shape in sorted(shapes):
                self.add_weight(name=name.split("/")[-1], shape=shape, initializer="zeros")

        def call(self, x):
            return x

    built = []

    def port():
        begin = time.perf_counter()
        layer = Port()
        layer.build(None)
        built.append(time.perf_counter() - begin)
        return layer

    model, report = checkpoint.convert(prefix, port, prove=False)  # the conversion alone: pair, read, load
    assert report.ok, report
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_above_import": peak - base,
                  "port_build": built[0] if sys.argv[1] == "convert" else 0.0}))
'''


def default_tf1_python():
    path = os.path.join(ROOT, ".nox", "tf115", "bin", "python")
    return path if os.path.exists(path) else None


def modeling_source(bert, folder):
    path = os.path.join(bert, "modeling.py")
    if os.path.exists(path):
        shutil.copy(path, folder)
        return
    text = subprocess.run(["git", "--git-dir", bert, "show", "HEAD:modeling.py"], check=True,
                          stdout=subprocess.PIPE, universal_newlines=True).stdout
    with open(os.path.join(folder, "modeling.py"), "w") as f:
        f.write(text)


def run(python, code, *args, env=None):
    result = subprocess.run([python, "-c", code] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {})))
    if result.returncode:
        raise SystemExit("failed:\n" + result.stderr[-3000:])
    return result.stdout.strip().splitlines()[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bert", required=True, help="a google-research/bert checkout or git directory")
    parser.add_argument("--tf1-python", default=default_tf1_python(), help="a Python with TensorFlow 1.15")
    parser.add_argument("--work", help="a folder for the checkpoint (default: a temporary one, removed)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.tf1_python:
        raise SystemExit("--tf1-python: no TensorFlow 1.15 interpreter (run `nox -s tf115` once, or name one)")
    work = args.work or tempfile.mkdtemp(prefix="compat-init-bert-")
    try:
        modeling_source(args.bert, work)
        prefix = os.path.join(work, "bert_base.ckpt")
        parameters = 0
        if not os.path.exists(prefix + ".index"):
            parameters = int(run(args.tf1_python, WRITE, work, prefix))
        size = sum(os.path.getsize(p) for p in glob.glob(prefix + ".*") if not p.endswith(".json"))
        print("BERT-base legacy checkpoint (TF 1.15, google-research/bert modeling.py): {}{:.1f} MiB".format(
            "{:,} parameters, ".format(parameters) if parameters else "", size / 2 ** 20))
        results = {}
        for mode in ("read", "convert"):
            runs = [json.loads(run(sys.executable, MEASURE, mode, prefix, ROOT)) for _ in range(args.runs)]
            best = min(runs, key=lambda r: r["seconds"])
            results[mode] = {"seconds": best["seconds"], "build": best["port_build"],
                             "peak": max(r["peak_above_import"] for r in runs)}
            print("{:8s} {:6.2f} s (best of {}{}), peak {:7.1f} MiB above import = {:.2f}x the checkpoint".format(
                mode, results[mode]["seconds"], args.runs,
                "; building the port {:.2f} s of it".format(best["port_build"]) if mode == "convert" else "",
                results[mode]["peak"] / 2 ** 20, results[mode]["peak"] / size))
        convert, read = results["convert"], results["read"]
        print("conversion (pair, read, load) / read: {:.2f}x the time (target <= 2); with building the port: {:.2f}x; "
              "convert peak {:.2f}x the checkpoint, the port's own weights included (target <= 2.5)".format(
                  (convert["seconds"] - convert["build"]) / read["seconds"], convert["seconds"] / read["seconds"],
                  convert["peak"] / size))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
