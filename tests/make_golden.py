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

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "golden_digests.json")
# name -> (Keras class name, constructor arguments besides the seed).  Written
# out here, not read from compat_init: this is the reference.
CLASSES = {
    "glorot_uniform": ("GlorotUniform", {}),
    "glorot_normal": ("GlorotNormal", {}),
    "he_uniform": ("HeUniform", {}),
    "he_normal": ("HeNormal", {}),
    "lecun_uniform": ("LecunUniform", {}),
    "lecun_normal": ("LecunNormal", {}),
    # not the defaults, so that a parameter dropped on the way shows
    "truncated_normal": ("TruncatedNormal", {"mean": 0.1, "stddev": 0.2}),
    "random_normal": ("RandomNormal", {"mean": -0.1, "stddev": 0.3}),
    "random_uniform": ("RandomUniform", {"minval": -0.2, "maxval": 0.6}),
    "orthogonal": ("Orthogonal", {"gain": 1.3}),
}
SHAPES = [(64, 32), (3, 3, 1, 32), (3, 3, 16, 8), (7,), (0, 5)]
# Orthogonal needs rank >= 2 and has no bfloat16 QR in Keras; TF's float16
# QR changed between 2.15 and 2.21 (float32/float64 did not), so float16 is
# compared with the leg's own Keras (tests/test_seeds.py), not here.
ORTHOGONAL_SHAPES = [(64, 32), (32, 64), (3, 3, 1, 32), (3, 3, 16, 8)]
#: TF 1.15's QR rounds differently: these values are compared with a tolerance there.
ORTHOGONAL_VALUES = ((30, 20), "float32", 0)
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
    for name, (cls, kwargs) in CLASSES.items():
        orthogonal = name == "orthogonal"
        for shape in ORTHOGONAL_SHAPES if orthogonal else SHAPES:
            for dtype in DTYPES:
                if orthogonal and dtype in ("bfloat16", "float16"):
                    continue
                for seed in SEEDS:
                    init = getattr(tf.keras.initializers, cls)(seed=seed, **kwargs)
                    value = init(shape, dtype=dtype)
                    digest = hashlib.sha256(value.numpy().tobytes()).hexdigest()
                    k = key(name, shape, dtype, seed)
                    if dtype == "float64":
                        data["float64"][group][k] = digest
                    else:
                        old = data["shared"].setdefault(k, digest)
                        if old != digest:
                            sys.exit("flavours disagree on " + k)
    shape, dtype, seed = ORTHOGONAL_VALUES
    cls, kwargs = CLASSES["orthogonal"]
    values = getattr(tf.keras.initializers, cls)(seed=seed, **kwargs)(shape, dtype=dtype)
    data.setdefault("orthogonal_values", {})[key("orthogonal", shape, dtype, seed)] = [
        float(v) for v in values.numpy().ravel()]
    with open(PATH, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    print("wrote", PATH, "for", group, tf.__version__)


if __name__ == "__main__":
    main()
