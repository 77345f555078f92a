"""Speed of `compat-init migrate` on a generated tree of legacy files (issue 5).

    python benchmarks/bench_migrate.py [--files 2000] [--jobs 2]

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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
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
