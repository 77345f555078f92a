"""Cost of initializing a k-way partitioned seeded variable (issue 4).

    python benchmarks/bench_partitions.py [--rows 1000000] [--cols 64] [--shards 8]

Times `variable.initializer` in a Session for the partitioned and the
unpartitioned variable (best of 5, constant folding off so that the seeded
draw is really computed), and prints the ratio.  Target: <= 1.5 for k = 8 on a
1,000,000 x 64 table.  On TF 1.x each shard draws the whole table and slices
its part (no counter-addressed stateless ops there): expect about k x.
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
    args = parser.parse_args()

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
        print("{:<15} {}x{} k={}: whole {:.3f} s, sharded {:.3f} s, ratio {:.2f} (target <= 1.5)".format(
            name, args.rows, args.cols, args.shards, times["whole"], times["sharded"],
            times["sharded"] / times["whole"]))


if __name__ == "__main__":
    main()
