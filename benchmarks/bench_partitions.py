"""Cost of initializing a k-way partitioned seeded variable (issue 4).

    python benchmarks/bench_partitions.py [--rows 1000000] [--cols 64] [--shards 8]

Times `variable.initializer` in a Session for the partitioned and the
unpartitioned variable (best of 5, constant folding off so that the seeded
draw is really computed), and prints the ratio.  Targets for k = 8 on a
1,000,000 x 64 table: <= 1.5 on TF >= 2.7 (each shard starts at its own place
in the stateless stream), <= 1.3 on TF 1.x (no counter-addressed stateless ops
there: the shards slice one whole draw made once per graph).

--memory: also the peak resident memory of a fresh process that builds and
initializes each variable once (ru_maxrss), whole vs sharded.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000000)
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--memory", action="store_true", help="also measure peak memory")
    parser.add_argument("--one", choices=["whole", "sharded"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return peak(args)

    import tensorflow as tf

    import compat_init as ci
    from compat_init import _runtime

    v1 = tf.compat.v1
    config = v1.ConfigProto()
    config.graph_options.rewrite_options.constant_folding = 2  # RewriterConfig.OFF
    shape = (args.rows, args.cols)
    print("compat_init {} / TensorFlow {} / counter-addressed shards: {}".format(
        ci.__version__, tf.__version__, _runtime.stateless_counter_ops()))
    for name in ("glorot_uniform", "glorot_normal"):
        times = {}
        for label, partitioner in (("whole", None), ("sharded", v1.fixed_size_partitioner(args.shards))):
            with tf.Graph().as_default():
                variable = v1.get_variable("table", shape=shape, partitioner=partitioner,
                                           initializer=getattr(ci, name)(seed=1))
                init = v1.variables_initializer([variable] if partitioner is None else list(variable))
                with v1.Session(config=config) as session:
                    session.run(init)
                    best = float("inf")
                    for _ in range(5):
                        start = time.perf_counter()
                        session.run(init)
                        best = min(best, time.perf_counter() - start)
            times[label] = best
        print("{:<15} {}x{} k={}: whole {:.3f} s, sharded {:.3f} s, ratio {:.2f} (target <= {})".format(
            name, args.rows, args.cols, args.shards, times["whole"], times["sharded"],
            times["sharded"] / times["whole"], 1.5 if _runtime.stateless_counter_ops() else 1.3))
    if args.memory:
        import subprocess
        import sys

        rss = {}
        for label in ("whole", "sharded"):
            out = subprocess.run([sys.executable, __file__, "--one", label, "--rows", str(args.rows),
                                  "--cols", str(args.cols), "--shards", str(args.shards)],
                                 stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
            rss[label] = float(out.strip().splitlines()[-1])
        size = args.rows * args.cols * 4 / 2 ** 20
        print("peak memory (glorot_uniform, one init in a fresh process): whole {:.0f} MiB, sharded {:.0f} MiB "
              "(the variable is {:.0f} MiB)".format(rss["whole"], rss["sharded"], size))


def peak(args):
    """Builds and initializes one variable; prints the peak RSS in MiB."""
    import resource

    import tensorflow as tf

    import compat_init as ci

    v1 = tf.compat.v1
    config = v1.ConfigProto()
    config.graph_options.rewrite_options.constant_folding = 2
    partitioner = v1.fixed_size_partitioner(args.shards) if args.one == "sharded" else None
    with tf.Graph().as_default():
        variable = v1.get_variable("table", shape=(args.rows, args.cols), partitioner=partitioner,
                                   initializer=ci.glorot_uniform(seed=1))
        init = v1.variables_initializer([variable] if partitioner is None else list(variable))
        with v1.Session(config=config) as session:
            session.run(init)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


if __name__ == "__main__":
    main()
