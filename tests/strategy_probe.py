"""Run in fresh processes by tests/test_strategies.py: tf.distribute strategies
that need a cluster (loopback servers) and process-wide configuration.

    python strategy_probe.py ps P0 P1 P2 P3   # ParameterServerStrategy, one process (2 workers, 2 ps ports)
    python strategy_probe.py mwms INDEX PORT0 PORT1   # one of two MultiWorkerMirroredStrategy workers

Prints one JSON line.
"""
import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def digest(array):
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def parameter_servers(ports):
    """A loopback cluster in this process (chief = this process, 2 workers,
    2 ps), a FixedShardsPartitioner(2): Embedding(1000, 64) and Dense(64 -> 32)
    with compat_init (seeded, unseeded) and native Keras seeded initializers."""
    import numpy as np
    import tensorflow as tf

    import compat_init as ci

    workers, ps = ports[:2], ports[2:]
    cluster = tf.train.ClusterSpec({"worker": ["127.0.0.1:%d" % p for p in workers],
                                    "ps": ["127.0.0.1:%d" % p for p in ps]})
    servers = [tf.distribute.Server(cluster, job_name=job, task_index=i, protocol="grpc", start=True)
               for job, count in (("worker", 2), ("ps", 2)) for i in range(count)]
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(cluster, rpc_layer="grpc")
    strategy = tf.distribute.experimental.ParameterServerStrategy(
        resolver, variable_partitioner=tf.distribute.experimental.partitioners.FixedShardsPartitioner(2))
    K = tf.keras.initializers

    def build(embedding_init, dense_init):
        with strategy.scope():
            embedding = tf.keras.layers.Embedding(1000, 64, embeddings_initializer=embedding_init)
            embedding.build((None,))
            dense = tf.keras.layers.Dense(32, kernel_initializer=dense_init)
            dense.build((None, 64))
        out = []
        for variable in (embedding.embeddings, dense.kernel):
            shards = getattr(variable, "variables", [variable])
            out.append({"shards": len(shards), "values": [np.asarray(v.numpy()) for v in shards]})
        return out

    tf.random.set_seed(0)
    result = {"servers": len(servers)}
    for label, make in (("compat_seeded", lambda: (ci.glorot_uniform(seed=3), ci.he_normal(seed=4))),
                        ("compat_unseeded", lambda: (ci.glorot_uniform(), ci.he_normal())),
                        ("native_seeded", lambda: (K.GlorotUniform(seed=3), K.HeNormal(seed=4)))):
        built = build(*make())
        result[label] = [{"shards": b["shards"], "digests": [digest(v) for v in b["values"]],
                          "whole_digest": digest(np.concatenate(b["values"], axis=0)),
                          "std": float(np.concatenate(b["values"], axis=0).astype(np.float64).std()),
                          "max": float(np.abs(np.concatenate(b["values"], axis=0)).max())}
                         for b in built]
    print(json.dumps(result))


def multi_worker(index, ports):
    """One of two workers of a MultiWorkerMirroredStrategy on loopback."""
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": ["127.0.0.1:%d" % p for p in ports]},
        "task": {"type": "worker", "index": index}})
    import numpy as np
    import tensorflow as tf

    import compat_init as ci

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    result = {"workers": strategy.cluster_resolver.cluster_spec().num_tasks("worker"), "index": index}
    # Each worker its own global seed: unseeded draws differ between the
    # processes, so equal weights show the strategy's broadcast at work.
    tf.random.set_seed(100 + index)
    for label, seeded in (("seeded", True), ("unseeded", False)):
        with strategy.scope():
            model = tf.keras.Sequential([
                tf.keras.Input((28, 28, 1)),
                tf.keras.layers.Conv2D(8, 3, kernel_initializer=ci.glorot_uniform(
                    seed=1 if seeded else None)),
                tf.keras.layers.Flatten(),
                tf.keras.layers.Dense(10, kernel_initializer=ci.truncated_normal(
                    stddev=0.02, seed=2 if seeded else None)),
            ])
        result[label] = [digest(np.asarray(w)) for w in model.get_weights()]
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1] == "ps":
        parameter_servers([int(p) for p in sys.argv[2:6]])
    else:
        multi_worker(int(sys.argv[2]), [int(p) for p in sys.argv[3:5]])
