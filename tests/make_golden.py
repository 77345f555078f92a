"""Regenerates tests/golden_digests.json from *native Keras* (not compat_init).

Run it once with Keras 3 (TF >= 2.16) and once with Keras 2 (TF 2.15 or
tf_keras); each run fills in the digests its flavour owns:

    python tests/make_golden.py            # updates tests/golden_digests.json

Digest: sha256 of the C-order bytes of the tensor.  float16, bfloat16 and
float32 are one table for every flavour; float64 uniform draws differ between
Keras 3 (bounds cast through float32) and Keras 2, so float64 has a table per
group ("keras3", "keras2").
"""
import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from compat_init._runtime import KERAS_CLASS_NAMES  # noqa: E402  (a name table only)

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "golden_digests.json")
# name -> Keras class name (glorot_uniform -> GlorotUniform, ...), family only
CLASSES = {k: v for k, v in KERAS_CLASS_NAMES.items() if k != "variance_scaling"}
SHAPES = [(64, 32), (3, 3, 1, 32), (3, 3, 16, 8), (7,), (0, 5)]
SEEDS = [0, 1337]
DTYPES = ["float16", "bfloat16", "float32", "float64"]


def key(name, shape, dtype, seed):
    return "{}|{}|{}|{}".format(name, "x".join(map(str, shape)), dtype, seed)


def main():
    module = tf.keras.initializers.VarianceScaling.__module__
    group = "keras3" if module.startswith("keras.src.initializers.random") else "keras2"
    data = {"shared": {}, "float64": {"keras3": {}, "keras2": {}}}
    if os.path.exists(PATH):
        with open(PATH) as f:
            data = json.load(f)
    for name, cls in CLASSES.items():
        for shape in SHAPES:
            for dtype in DTYPES:
                for seed in SEEDS:
                    value = getattr(tf.keras.initializers, cls)(seed=seed)(shape, dtype=dtype)
                    digest = hashlib.sha256(value.numpy().tobytes()).hexdigest()
                    k = key(name, shape, dtype, seed)
                    if dtype == "float64":
                        data["float64"][group][k] = digest
                    else:
                        old = data["shared"].setdefault(k, digest)
                        if old != digest:
                            sys.exit("flavours disagree on " + k)
    with open(PATH, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    print("wrote", PATH, "for", group, tf.__version__)


if __name__ == "__main__":
    main()
