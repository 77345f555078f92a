"""The migration proof on the pairs of TensorFlow's own migration guide.

    python benchmarks/bench_migration_pairs.py --docs DOCS [--steps 3] [--json PATH]

DOCS: a checkout of tensorflow/docs, or its git directory (the notebooks are
read with ``git show HEAD:...``).  Nothing of it is copied into this
repository: the guide's classes and functions are extracted from the
notebooks' code cells at run time (by name, with ``ast``) and executed here.

The pairs (legacy -> ports, as the guide writes them):

* ``model_mapping.ipynb``: ``CompatModel`` (tf.compat.v1.layers conv2d,
  flatten, dropout under ``training``, dense; l2 regularizers) ->
  ``PartiallyMigratedModel``, ``NearlyFullyNativeModel``, ``FullyNativeModel``;
  ``FunctionalStyleCompatModel`` (three conv2d) -> ``OOStyleCompatModel``,
  ``PartiallyNativeKerasLayersModel``, ``FullyNativeKerasLayersModel``;
* ``early_stopping.ipynb``: the Estimator ``_model_fn``'s network (its
  layer lines, up to the logits) -> the Keras ``Sequential`` (logits:
  ``from_logits``).

Each port also gets a wrong twin (its first Keras layer given a ``tanh``
activation), which must fail.  The legacy side runs its layer code as the
guide's TF1 program would: the body of ``call`` (without
``track_tf1_style_variables``) in a v1 Graph, a ``placeholder_with_default``
as ``training``.  The extracted code and these builders are written to a
temporary module, and each pair runs as ``compat-init parity --migration``
in its own process, as a user runs it: the exit code is the command's.  One
row per pair on this leg: verdict, exit code, what decided it, output
difference, largest weight difference after the steps, how the variables
were paired, seconds.
"""
import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from compat_init import _runtime  # noqa: E402

v1 = tf.compat.v1
NOTEBOOKS = "site/en/guide/migrate/"


def notebook_source(docs, name):
    """The code cells of one notebook (shell lines dropped)."""
    path = os.path.join(docs, NOTEBOOKS, name)
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = subprocess.run(["git", "--git-dir", docs, "show", "HEAD:" + NOTEBOOKS + name], check=True,
                              stdout=subprocess.PIPE, universal_newlines=True).stdout
    cells = json.loads(text)["cells"]
    code = []
    for cell in cells:
        if cell["cell_type"] == "code":
            lines = [line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("!", "%"))]
            code.append("\n".join(lines))
    return code


def definitions(cells, names):
    """The class and function definitions called ``names`` (the last of each
    name: notebooks redefine), as one module source."""
    found = {}
    for cell in cells:
        try:
            tree = ast.parse(cell)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in names:
                found[node.name] = ast.get_source_segment(cell, node) if hasattr(ast, "get_source_segment") \
                    else cell
    missing = [n for n in names if n not in found]
    if missing:
        raise SystemExit("the notebook defines no {}".format(", ".join(missing)))
    return "\n\n".join(found[n] for n in names)


HELPERS = '''
import os
import tensorflow as tf
import numpy as np

v1 = tf1 = tf.compat.v1


def undecorated(method):
    """``call`` without ``track_tf1_style_variables``: the TF1 program."""
    return getattr(method, "__wrapped__", method)


def legacy_from_layer(cls, shape, *args):
    def build():
        x = v1.placeholder(tf.float32, (None,) + shape, name="inputs")
        training = v1.placeholder_with_default(False, (), name="training")
        layer = cls(*args)
        call = undecorated(cls.call)
        try:
            return call(layer, x, training=training)
        except TypeError:
            return call(layer, x)
    return build


def port_from_layer(cls, *args, wrong=False):
    def build():
        layer = cls(*args)
        if wrong:  # the first Keras layer it holds gets an activation the legacy code does not have
            for value in vars(layer).values():
                if hasattr(value, "activation") and hasattr(value, "kernel_initializer"):
                    value.activation = tf.keras.activations.tanh
                    break
        return layer
    return build


def sequential(wrong=False):
    def build():
        model = eval(SEQUENTIAL)  # the guide's model expression
        if wrong:
            model.layers[1].activation = tf.keras.activations.tanh
        return model
    return build


def legacy_model_fn():
    return _model_fn(v1.placeholder(tf.float32, (None, 28, 28), name="features"))


compat_model = legacy_from_layer(CompatModel, (5, 5, 5), 10)
functional_style = legacy_from_layer(FunctionalStyleCompatModel, (10, 10, 10))
for _name in ("PartiallyMigratedModel", "NearlyFullyNativeModel", "FullyNativeModel"):
    globals()[_name] = port_from_layer(globals()[_name + "Class"], 10)
    globals()[_name + "_wrong"] = port_from_layer(globals()[_name + "Class"], 10, wrong=True)
for _name in ("OOStyleCompatModel", "PartiallyNativeKerasLayersModel", "FullyNativeKerasLayersModel"):
    globals()[_name] = port_from_layer(globals()[_name + "Class"])
    globals()[_name + "_wrong"] = port_from_layer(globals()[_name + "Class"], wrong=True)
Sequential = sequential()
Sequential_wrong = sequential(wrong=True)
'''
PORTS = ["PartiallyMigratedModel", "NearlyFullyNativeModel", "FullyNativeModel", "OOStyleCompatModel",
         "PartiallyNativeKerasLayersModel", "FullyNativeKerasLayersModel"]


def guide_module(docs):
    """The module the command line imports: the guide's definitions (the port
    classes renamed ``...Class``), the model_fn cut at its logits, the
    Sequential expression, and the builders above."""
    mapping = notebook_source(docs, "model_mapping.ipynb")
    names = ["CompatModel", "FunctionalStyleCompatModel", "record_scope"] + PORTS
    source = definitions(mapping, names)
    for name in PORTS:
        source = source.replace("class {}(".format(name), "class {}Class(".format(name))
    stopping = notebook_source(docs, "early_stopping.ipynb")
    tree = ast.parse(definitions(stopping, ["_model_fn"]))
    function = tree.body[0]
    cut = next(i for i, node in enumerate(function.body) if isinstance(node, ast.Assign)
               and any(getattr(t, "id", "") == "logits" for t in node.targets))
    function.body = function.body[:cut + 1] + [ast.parse("return logits").body[0]]
    function.args.args = function.args.args[:1]
    cell = [c for c in stopping if "tf.keras.models.Sequential([" in c][0]
    start = cell.index("tf.keras.models.Sequential([")
    expression = cell[start:cell.index("])", start) + 2]
    return "\n\n".join([HELPERS.split("\n\ndef undecorated")[0], source, ast.unparse(tree),
                         "SEQUENTIAL = {!r}".format(expression), "def undecorated" +
                         HELPERS.split("\n\ndef undecorated")[1]])


def rows():
    """(notebook, legacy builder, port builder, inputs, options)."""
    found = []
    for name in PORTS[:3]:
        for port_name in (name, name + "_wrong"):
            found.append(("model_mapping", "compat_model", port_name, "10x5x5x5", ["--loss", "mse"]))
    for name in PORTS[3:]:
        for port_name in (name, name + "_wrong"):
            found.append(("model_mapping", "functional_style", port_name, "10x10x10x10", ["--loss", "mse"]))
    for port_name in ("Sequential", "Sequential_wrong"):
        found.append(("early_stopping", "legacy_model_fn", port_name, "8x28x28",
                      ["--loss", "sparse_categorical_crossentropy", "--from-logits"]))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", required=True, help="a tensorflow/docs checkout or git directory")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--json", help="write the rows as JSON")
    args = parser.parse_args()
    leg = "TF {} / {}".format(tf.__version__, _runtime.keras_flavour())
    commit = subprocess.run(["git", "--git-dir", args.docs if not os.path.isdir(os.path.join(args.docs, ".git"))
                             else os.path.join(args.docs, ".git"), "rev-parse", "--short", "HEAD"],
                            stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    print("tensorflow/docs @ {}; {}; {} steps".format(commit or "?", leg, args.steps))
    if not hasattr(v1.keras.utils, "track_tf1_style_variables") or sys.version_info < (3, 9):
        print("the guide's classes are decorated with tf.compat.v1.keras.utils.track_tf1_style_variables, which "
              "this TensorFlow does not have (TF >= 2.5), or this Python has no ast.unparse (3.9+): nothing to run")
        return 0
    if _runtime.keras_flavour() == "keras3":
        print("every guide pair's legacy side uses tf.compat.v1.layers, which Keras 3 removed: run this on a "
              "Keras 2 leg (TF <= 2.15, or TF_USE_LEGACY_KERAS=1 with tf_keras)")
        return 0
    header = ("notebook", "legacy", "port", "verdict", "exit", "decided by", "output diff", "weight diff",
              "pairs", "s")
    print(" | ".join(header))
    records = []
    folder = tempfile.mkdtemp(prefix="compat-init-guide-")
    try:
        with open(os.path.join(folder, "guide_pairs.py"), "w") as f:
            f.write(guide_module(args.docs))
        for notebook, legacy, ported, shape, options in rows():
            out = os.path.join(folder, "report.json")
            if os.path.exists(out):
                os.remove(out)
            start = time.perf_counter()
            # One process per pair, as a user runs the command (and as TF state is per process).
            result = subprocess.run(
                [sys.executable, "-m", "compat_init", "parity", "--migration", "guide_pairs:" + legacy,
                 "guide_pairs:" + ported, "--inputs", shape, "--steps", str(args.steps), "--json", out, "--quiet"]
                + options, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")))
            row = dict(notebook=notebook, legacy=legacy, port=ported, leg=leg, exit=result.returncode,
                       seconds=time.perf_counter() - start, verdict="-", decided="-", output=float("nan"),
                       weights=float("nan"), pairs="-", detail="")
            if os.path.exists(out):
                with open(out) as f:
                    data = json.load(f)
                function = data.get("function") or {}
                row.update(verdict=data["status"], decided=data["decided_by"],
                           output=max((o["max_abs"] for o in function.get("outputs", []) if o["max_abs"] is not None),
                                      default=float("nan")),
                           weights=max((w["max_abs"] for s in function.get("steps", []) for w in s["weights"]),
                                       default=0.0),
                           pairs=", ".join(sorted(set(p["how"] for p in data["pairs"]))),
                           detail=function.get("divergence") or "; ".join(function.get("reasons", [])) or (
                               "dropout rates legacy {} vs port {}".format(*function["dropout_rates"])
                               if function.get("dropout") and not function["dropout"]["passed"] else "") or (
                               "regularization loss differs by {:.3g}".format(function["regularization"]["max_abs"])
                               if function.get("regularization") and not function["regularization"]["passed"]
                               else ""))
            else:
                lines = [line for line in result.stderr.splitlines() if line.startswith("compat-init")]
                row.update(verdict={2: "usage error", 4: "internal error"}.get(result.returncode, "crash"),
                           detail=(lines or result.stderr.strip().splitlines()[-1:] or [""])[-1])
            records.append(row)
            print(" | ".join([notebook, legacy, ported, row["verdict"], str(row["exit"]), row["decided"],
                              "{:.3g}".format(row["output"]), "{:.3g}".format(row["weights"]), row["pairs"],
                              "{:.1f}".format(row["seconds"])]))
            if row["detail"] and row["verdict"] != "pass":
                print("    " + row["detail"][:400])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
