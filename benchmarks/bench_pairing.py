"""Pairing by dataflow as the graph grows (issue 32): a legacy TF1 graph of N
pre-norm residual blocks (``get_variable`` + ``tf.nn``: a scale and an
offset, a dense kernel and bias each) and its Keras port (``LayerNormalization``,
``Dense``, ``Add``), 4 N variables a side.

    python benchmarks/bench_pairing.py [--layers 8,32,128,512] [--runs 3] [--plot PNG]

For each N, in this process after the imports, best of --runs:

* ``legacy graph``: the legacy graph's dataflow read (``LegacyModel.flow``);
* ``port trace``: the port's call traced by ``tf.function`` and its dataflow
  read (``PortModel.flow``);
* ``walk``: both graphs walked together (``pair`` with the flows);
* ``creation order``: ``pair`` without them, the yardstick (the same pairs
  here: the port creates its variables in the order it uses them).

Prints a table of seconds and the ratio (legacy graph + port trace + walk) /
creation order; ``--plot`` draws seconds against layers (matplotlib, the
``parity`` extra).  Building either model is not counted.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

WIDTH = 16


def legacy(blocks):
    """The legacy builder: N pre-norm residual blocks on ``x``."""
    import tensorflow as tf

    v1 = tf.compat.v1

    def build():
        h = v1.placeholder(tf.float32, (None, WIDTH), name="x")
        for i in range(blocks):
            with v1.variable_scope("block{}".format(i)):
                mean, variance = tf.nn.moments(h, [-1], keepdims=True)
                scale = v1.get_variable("ln/gamma", (WIDTH,), initializer=v1.ones_initializer())
                offset = v1.get_variable("ln/beta", (WIDTH,), initializer=v1.zeros_initializer())
                y = (h - mean) * tf.math.rsqrt(variance + 1e-3) * scale + offset
                kernel = v1.get_variable("dense/kernel", (WIDTH, WIDTH))
                bias = v1.get_variable("dense/bias", (WIDTH,), initializer=v1.zeros_initializer())
                h = h + tf.nn.relu(tf.matmul(y, kernel) + bias)
        return h

    return build


def port(blocks):
    """The Keras port of ``legacy(blocks)``."""
    import keras

    def build():
        x = keras.Input((WIDTH,), name="x")
        h = x
        for _ in range(blocks):
            y = keras.layers.LayerNormalization(epsilon=1e-3)(h)
            h = keras.layers.Add()([h, keras.layers.Dense(WIDTH, activation="relu")(y)])
        return keras.Model(x, h)

    return build


def best(runs, work):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def measure(blocks, runs):
    from compat_init.port._core.pairing import pair
    from compat_init.port._sides.legacy import LegacyModel
    from compat_init.port._sides.port import PortModel

    old = LegacyModel(legacy(blocks), 0, need_outputs=True)
    new = PortModel(port(blocks), 0, None, read_values=False)
    try:
        legacy_time, old_flow = best(runs, old.flow)
        port_time, (new_flow, why) = best(runs, new.flow)
        if new_flow is None:
            raise SystemExit("the port cannot be traced here: {}".format(why))
        walk_time, (walked, _, _) = best(runs, lambda: pair(old.vars, new.vars, flows=lambda: (old_flow, new_flow)))
        creation_time, (ordered, _, _) = best(runs, lambda: pair(old.vars, new.vars))
    finally:
        old.close()
        new.close()
    hows = {p.how for p in walked}
    if hows != {"dataflow"}:
        raise SystemExit("the walk did not pair every variable at {} blocks: {}".format(blocks, sorted(hows)))
    same = {(p.legacy.name, p.port.name) for p in walked} == {(p.legacy.name, p.port.name) for p in ordered}
    return {"blocks": blocks, "variables": len(old.vars), "legacy graph": legacy_time, "port trace": port_time,
            "walk": walk_time, "creation order": creation_time, "same pairs": same}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="8,32,128,512", help="block counts, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plot", help="write a PNG of seconds against layers here")
    args = parser.parse_args(argv)
    rows = [measure(int(n), args.runs) for n in args.layers.split(",")]
    print("| blocks | variables a side | legacy graph | port trace | walk | creation order (yardstick) | "
          "dataflow total / creation order | same pairs |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        total = r["legacy graph"] + r["port trace"] + r["walk"]
        print("| {} | {} | {:.3f} s | {:.3f} s | {:.3f} s | {:.3f} s | {:.1f}× | {} |".format(
            r["blocks"], r["variables"], r["legacy graph"], r["port trace"], r["walk"], r["creation order"],
            total / r["creation order"], "yes" if r["same pairs"] else "no"))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(6, 4))
        layers = [r["blocks"] * 2 for r in rows]  # a LayerNorm and a Dense per block
        for key in ("legacy graph", "port trace", "walk", "creation order"):
            axes.plot(layers, [r[key] for r in rows], marker="o", label=key)
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("layers a side (weighted)")
        axes.set_ylabel("seconds (best of {})".format(args.runs))
        axes.set_title("pairing by dataflow as the graph grows")
        axes.legend()
        figure.tight_layout()
        figure.savefig(args.plot, dpi=100)
        print("plot written: {}".format(args.plot))


if __name__ == "__main__":
    main()
