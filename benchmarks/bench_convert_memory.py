"""Peak memory of ``compat-init convert`` through the command line, for one
large variable (issue 25, row 6: target <= 2.5x the checkpoint).

    python benchmarks/bench_convert_memory.py [--gib 2] [--work DIR]

Writes a name-based checkpoint holding a ``dense/kernel`` of ``--gib`` GiB
(and its bias), as a TF 1 ``Saver`` does, then runs, each in a fresh process
measured by its peak resident memory (``ru_maxrss`` of the child):

* ``import``: Python importing TensorFlow and Keras (the floor subtracted);
* ``convert``: ``compat-init convert --port`` into a Keras ``Dense`` of that
  shape (its default ``glorot_uniform`` initializer) and ``--out`` a weights
  file: the port's construction, the load and the save.

Prints the peak above the imports as a ratio to the checkpoint's size.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PORT = r'''
import os
import tensorflow as tf

ROWS, COLUMNS = int(os.environ["BENCH_ROWS"]), int(os.environ["BENCH_COLUMNS"])


def build():
    return tf.keras.Sequential([tf.keras.Input((ROWS,)), tf.keras.layers.Dense(COLUMNS, name="dense")])
'''

WRITE = r'''
import os, sys
import numpy as np
import tensorflow as tf
rows, columns, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
v1 = tf.compat.v1
with tf.Graph().as_default():
    with v1.variable_scope("dense"):
        kernel = v1.get_variable("kernel", (rows, columns), initializer=v1.ones_initializer())
        bias = v1.get_variable("bias", (columns,), initializer=v1.zeros_initializer())
    with v1.Session() as session:
        session.run(v1.global_variables_initializer())
        v1.train.Saver([kernel, bias]).save(session, prefix, write_meta_graph=False, write_state=False)
'''


#: Runs a command and prints its peak resident memory (its own children only).
MEASURE = r'''
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
if done.returncode != 0:
    sys.exit(done.stderr[-3000:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
'''


def peak(command, env):
    """The command's peak resident memory in bytes, measured by a fresh
    intermediate process (Linux ru_maxrss is KiB)."""
    done = subprocess.run([sys.executable, "-c", MEASURE] + command, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    if done.returncode != 0:
        sys.exit("failed: {}\n{}".format(" ".join(command), done.stderr[-3000:]))
    return int(done.stdout.strip().splitlines()[-1]) * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=2.0, help="the kernel's size in GiB (default 2)")
    parser.add_argument("--work", help="a folder for the checkpoint (default: a temporary one, removed)")
    args = parser.parse_args()
    columns = 16384
    rows = int(args.gib * 2 ** 30 / 4 / columns)
    work = args.work or tempfile.mkdtemp(prefix="bench-convert-memory-")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", BENCH_ROWS=str(rows), BENCH_COLUMNS=str(columns),
               PYTHONPATH=work + os.pathsep + ROOT)
    try:
        with open(os.path.join(work, "bench_port.py"), "w") as f:
            f.write(PORT)
        prefix = os.path.join(work, "model.ckpt")
        subprocess.run([sys.executable, "-c", WRITE, str(rows), str(columns), prefix], env=env, check=True)
        size = sum(os.path.getsize(p) for p in [prefix + ".index", prefix + ".data-00000-of-00001"])
        floor = peak([sys.executable, "-c", "import tensorflow, keras"], env)
        out = os.path.join(work, "port.weights.h5")
        top = peak([sys.executable, "-m", "compat_init", "convert", "--port", "bench_port:build", "--checkpoint",
                    prefix, "--out", out, "--quiet"], env)
        print("checkpoint {:.3g} GiB; imports {:.3g} GiB; convert peak {:.3g} GiB: {:.2f}x the checkpoint above the "
              "imports (target <= 2.5)".format(size / 2 ** 30, floor / 2 ** 30, top / 2 ** 30, (top - floor) / size))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
