"""Core benchmarks: compat_init vs the native TensorFlow/Keras call, in one run.

    python benchmarks/bench_core.py          # or: make bench

Every figure is a ratio against the native call measured in the same process
(best of several repeats, so a busy machine inflates both sides alike), never
an absolute time asserted in a test.  Targets (issue 2):

* dispatch + call vs the native class: 1024x1024 kernel, 1000 small kernels: <= 1.05
* whole-process `import compat_init` vs `import tensorflow`: <= 1.05
* `compat-init --help`: <= 0.5 s
* seeded v1 path vs native v1 stateful initializer, 4096x4096 in a Session:
  throughput ratio >= 0.9
"""
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def best_of(fn, repeats=7, number=1):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def wall(argv, repeats=5):
    def run():
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return best_of(run, repeats=repeats)


def row(name, ours, native, target):
    ratio = ours / native
    print("{:<58} {:>10.4f} {:>10.4f} {:>7.3f}  {}".format(name, ours, native, ratio, target))
    return ratio


def main():
    import tensorflow as tf

    import compat_init as ci

    print("compat_init {} / TensorFlow {} / {}".format(ci.__version__, tf.__version__, ci.runtime_info().keras_flavour))
    print("{:<58} {:>10} {:>10} {:>7}  {}".format("benchmark", "ours (s)", "native (s)", "ratio", "target"))
    py = sys.executable
    row("process: import compat_init  vs  import tensorflow",
        wall([py, "-c", "import compat_init"]), wall([py, "-c", "import tensorflow"]), "<= 1.05")
    row("process: import + first initializer  vs  native the same",
        wall([py, "-c", "import compat_init; compat_init.glorot_uniform()"]),
        wall([py, "-c", "import tensorflow as tf; tf.keras.initializers.glorot_uniform()"]),
        "(info)")
    help_time = wall([py, "-m", "compat_init", "--help"])
    print("{:<58} {:>10.4f} {:>10} {:>7}  {}".format("compat-init --help (wall)", help_time, "", "", "<= 0.5 s"))

    if not ci._runtime.is_tf1():
        native_cls = tf.keras.initializers.GlorotUniform
        big = (1024, 1024)
        row("eager: dispatch + call, one 1024x1024 kernel",
            best_of(lambda: ci.glorot_uniform(seed=1)(big), number=5),
            best_of(lambda: native_cls(seed=1)(big), number=5), "<= 1.05")
        small = [(3, 3, 16, 16), (64, 10), (128,), (5, 5, 3, 8)]

        def many(factory):
            for i in range(250):
                for shape in small:
                    factory(seed=i)(shape)

        row("eager: dispatch + call, 1000 small kernels",
            best_of(lambda: many(ci.glorot_uniform), repeats=3),
            best_of(lambda: many(native_cls), repeats=3), "<= 1.05")

    # Constant folding is switched off: with a constant seed Grappler would
    # fold the stateless draw away and time nothing.
    config = tf.compat.v1.ConfigProto()
    config.graph_options.rewrite_options.constant_folding = 2  # RewriterConfig.OFF
    with tf.Graph().as_default():
        shape = (4096, 4096)
        ours = tf.compat.v1.get_variable("ours", shape, initializer=ci.glorot_uniform(seed=1, api="v1"))
        native = tf.compat.v1.get_variable("native", shape, initializer=tf.compat.v1.glorot_uniform_initializer(seed=1))
        with tf.compat.v1.Session(config=config) as session:
            session.run([ours.initializer, native.initializer])
            t_ours = best_of(lambda: session.run(ours.initializer), number=3)
            t_native = best_of(lambda: session.run(native.initializer), number=3)
    ratio = t_native / t_ours
    print("{:<58} {:>10.4f} {:>10.4f} {:>7.3f}  {}".format(
        "Session: seeded v1 4096x4096 init, throughput ours/native", t_ours, t_native, ratio, ">= 0.9"))

if __name__ == "__main__":
    main()
