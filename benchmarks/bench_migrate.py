"""`compat-init migrate` on real code, and its speed on a generated tree.

    python benchmarks/bench_migrate.py --corpus DIR [DIR ...]
    python benchmarks/bench_migrate.py [--files 2000] [--jobs 2]

--corpus: any local checkouts (e.g. public TF1 repositories).  Per checkout
and in total: files, files parsed, legacy calls found / rewritten / left alone
/ not resolved, tf.compat.v1.layers notes, and CPU time per parsed file (one
process, ``time.process_time`` around ``migrate_source`` on each file's bytes,
files without a trigger word included: they cost their read).  Also the
slowest file.

Without --corpus:

Generates FILES legacy modules (~60 lines, 4 initializer calls each, a mix of
tf.contrib, compat.v1 and Keras spellings) in a temporary folder, then times
`compat-init migrate --write --quiet` on it, as a separate process (what a user
runs).  Target: 2,000 files in <= 40 s on the project's 2-core machine.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

TEMPLATE = '''"""Legacy module {i}."""
from __future__ import absolute_import

import numpy as np
import tensorflow as tf
from tensorflow.contrib import layers

slim = tf.contrib.slim


def block_{i}(inputs, units={units}, training=False):
    """A dense block with hand-written variables."""
    with tf.variable_scope("block_{i}"):
        kernel = tf.get_variable(
            "kernel", [inputs.shape[-1], units],
            initializer=tf.contrib.layers.xavier_initializer(seed={i}))  # glorot
        bias = tf.get_variable("bias", [units], initializer=tf.zeros_initializer())
        hidden = tf.nn.relu(tf.matmul(inputs, kernel) + bias)
        gate = tf.get_variable(
            "gate", [units, units],
            initializer=layers.variance_scaling_initializer(factor=2.0, mode="FAN_IN"))
        hidden = hidden * tf.sigmoid(tf.matmul(hidden, gate))
        if training:
            hidden = tf.nn.dropout(hidden, keep_prob=0.9)
    return hidden


def head_{i}(features):
    weights = tf.get_variable("head", [{units}, 10], initializer=tf.glorot_uniform_initializer())
    extra = slim.xavier_initializer(uniform=False)
    logits = tf.matmul(features, weights)
    return logits, extra


def statistics_{i}(values):
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean()
    std = values.std()
    return {{"mean": mean, "std": std, "n": values.size}}


class Config{i}(object):
    learning_rate = 0.001
    batch_size = {units}
    epochs = 10

    def as_dict(self):
        return {{"learning_rate": self.learning_rate, "batch_size": self.batch_size,
                "epochs": self.epochs}}
'''


def corpus(folders):
    from compat_init.migrate import collect, migrate_source

    total = dict(files=0, parsed=0, found=0, rewritten=0, left=0, unresolved=0, notes=0, cpu=0.0)
    slowest = (0.0, "")
    print("{:<28} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>9}".format(
        "checkout", "files", "parsed", "found", "rewr.", "left", "unres.", "notes", "ms/parsed"))
    for folder in folders:
        row = dict(files=0, parsed=0, found=0, rewritten=0, left=0, unresolved=0, notes=0, cpu=0.0)
        for source in collect([folder]).sources:
            with open(source.real, "rb") as f:
                data = f.read()
            start = time.process_time()
            result = migrate_source(data, source.path)
            cpu = time.process_time() - start
            row["files"] += 1
            row["parsed"] += result.error is None
            row["cpu"] += cpu
            row["rewritten"] += len(result.rewrites)
            row["left"] += len(result.skipped_calls)
            row["unresolved"] += len(result.unresolved)
            row["notes"] += sum(1 for n in result.notes if n.kind == "keras3")
            slowest = max(slowest, (cpu, source.path))
        row["found"] = row["rewritten"] + row["left"] + row["unresolved"]
        for key in total:
            total[key] += row[key]
        _row(os.path.basename(os.path.normpath(folder)), row)
    _row("total", total)
    reported = total["found"]
    print("calls found: {} rewritten, {} left alone, {} not resolved (all reported: {:.0%} rewritten or "
          "reported); slowest file {:.0f} ms: {}".format(
              total["rewritten"], total["left"], total["unresolved"], 1.0 if reported else 0.0,
              1000 * slowest[0], slowest[1]))


def _row(name, row):
    print("{:<28} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>9.1f}".format(
        name, row["files"], row["parsed"], row["found"], row["rewritten"], row["left"], row["unresolved"],
        row["notes"], 1000 * row["cpu"] / max(1, row["parsed"])))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--corpus", nargs="+", metavar="DIR", help="local checkouts to migrate (dry run)")
    args = parser.parse_args()
    if args.corpus:
        corpus(args.corpus)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.files):
            folder = os.path.join(tmp, "pkg{}".format(i // 100))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "mod{}.py".format(i)), "w") as f:
                f.write(TEMPLATE.format(i=i, units=32 + i % 64))
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "compat_init", "migrate", tmp, "--write", "--quiet",
             "--jobs", str(args.jobs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True)
        elapsed = time.perf_counter() - start
        summary = result.stderr.strip().splitlines()[-1]
        again = subprocess.run(
            [sys.executable, "-m", "compat_init", "migrate", tmp, "--check", "--quiet",
             "--jobs", str(args.jobs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True)
    print("{} files, --jobs {}: {:.1f} s ({:.1f} ms/file); {}; second run --check exit {} (target <= 40 s)".format(
        args.files, args.jobs, elapsed, 1000 * elapsed / args.files, summary, again.returncode))


if __name__ == "__main__":
    main()
