"""One seed, one tensor: Keras' golden values in every context on every leg."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci

from packaging.version import Version

from compat_init import _runtime
from conftest import (FLAVOUR, KERAS_STATELESS, NOT_STATELESS_REASON, TF1, digest, missing_dtype, native_keras,
                      to_numpy)

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "golden_digests.json")) as f:
    GOLDEN = json.load(f)

from make_golden import CLASSES, ORTHOGONAL_SHAPES, ORTHOGONAL_VALUES, SHAPES  # the reference table

FAMILY = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"]
RANDOM = ["truncated_normal", "random_normal", "random_uniform", "orthogonal"]


def make(name, seed):
    """compat_init's initializer with the arguments of the golden table."""
    return getattr(ci, name)(seed=seed, **CLASSES[name][1])
# float64 uniform bounds: Keras 3 casts through float32, Keras 2 and init_ops do not.
FLOAT64_GROUP = "keras3" if FLAVOUR == "keras3" else "keras2"


def golden(name, shape, dtype, seed):
    key = "{}|{}|{}|{}".format(name, "x".join(map(str, shape)), dtype, seed)
    if dtype == "float64":
        return GOLDEN["float64"][FLOAT64_GROUP][key]
    return GOLDEN["shared"][key]


CASES = [
    # dense kernels
    ("glorot_uniform", (64, 32), "float32", 1337),
    ("glorot_normal", (64, 32), "float32", 0),
    ("he_uniform", (64, 32), "float16", 1337),
    ("he_normal", (64, 32), "bfloat16", 1337),
    ("lecun_uniform", (64, 32), "float64", 0),
    ("lecun_normal", (64, 32), "float64", 1337),
    # conv kernels
    ("glorot_uniform", (3, 3, 1, 32), "float32", 0),
    ("glorot_normal", (3, 3, 16, 8), "float64", 1337),
    ("he_uniform", (3, 3, 16, 8), "float64", 0),
    ("he_normal", (3, 3, 1, 32), "float32", 1337),
    ("lecun_uniform", (3, 3, 16, 8), "bfloat16", 0),
    ("lecun_normal", (3, 3, 1, 32), "float16", 0),
    # bias-like and empty
    ("glorot_uniform", (7,), "float32", 1337),
    ("he_normal", (0, 5), "float32", 0),
    # the rest of the random family, with non-default arguments
    ("truncated_normal", (64, 32), "float32", 1337),
    ("truncated_normal", (3, 3, 16, 8), "bfloat16", 0),
    ("random_normal", (3, 3, 1, 32), "float64", 0),
    ("random_normal", (7,), "float16", 1337),
    ("random_uniform", (64, 32), "float64", 1337),
    ("random_uniform", (3, 3, 16, 8), "float32", 0),
    ("random_uniform", (0, 5), "bfloat16", 0),
    ("orthogonal", (64, 32), "float32", 0),
    ("orthogonal", (32, 64), "float64", 1337),
    ("orthogonal", (3, 3, 16, 8), "float32", 1337),
]


#: TF's QR gives Keras' orthogonal matrices bit for bit where this holds
#: (measured on TF 2.15 and 2.21: Keras 2, tf_keras, Keras 3); TF 1.15's QR,
#: and that of the older TF 2 releases the sweep found, round differently.
ORTHOGONAL_EXACT = not TF1 and _runtime.tf_version() >= Version("2.15")
ORTHOGONAL_NOT_EXACT = "this TensorFlow's QR differs from TF 2.15+'s in the last bits (tested with a tolerance)"


def _exact_on_this_leg(name):
    return name != "orthogonal" or ORTHOGONAL_EXACT


@pytest.mark.parametrize("name,shape,dtype,seed", CASES)
def test_golden_digest_in_every_context(context, name, shape, dtype, seed):
    if not _exact_on_this_leg(name):
        pytest.skip(ORTHOGONAL_NOT_EXACT)
    if context.name == "eager" and missing_dtype(dtype):
        pytest.skip(missing_dtype(dtype))
    values = context.draw(lambda: make(name, seed), shape, dtype)
    assert values.shape == shape
    assert values.dtype == tf.as_dtype(dtype).as_numpy_dtype
    assert digest(values) == golden(name, shape, dtype, seed)


@pytest.mark.parametrize("name", FAMILY + RANDOM)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_whole_golden_table_eager_or_graph(name, dtype):
    """Every member, shape, dtype and seed of the table on the default path."""
    orthogonal = name == "orthogonal"
    if orthogonal and dtype in ("float16", "bfloat16"):
        pytest.skip("not in the golden table (see tests/make_golden.py)")
    if not _exact_on_this_leg(name):
        pytest.skip(ORTHOGONAL_NOT_EXACT)
    if missing_dtype(dtype):
        pytest.skip(missing_dtype(dtype))
    for shape in ORTHOGONAL_SHAPES if orthogonal else SHAPES:
        for seed in (0, 1337):
            if TF1:
                with tf.Graph().as_default():
                    tensor = make(name, seed)(shape, dtype=dtype)
                    with tf.compat.v1.Session() as session:
                        values = session.run(tensor)
            else:
                values = to_numpy(make(name, seed)(shape, dtype=dtype))
            assert digest(values) == golden(name, shape, dtype, seed), (shape, seed)


@pytest.mark.skipif(ORTHOGONAL_EXACT, reason="orthogonal draws are compared bit for bit on this TensorFlow")
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_orthogonal_is_keras_within_rounding(api):
    """TF 1.15 (and older TF 2) draw Keras' normal matrix bit for bit; their QR
    rounds differently from TF 2.15+'s (measured on TF 1.15: max 2.2e-7 at
    300 x 200): the same matrix within 4 ulp of the gain, and orthogonal to
    float32 rounding."""
    shape, dtype, seed = ORTHOGONAL_VALUES
    keras_values = np.array(GOLDEN["orthogonal_values"]["orthogonal|30x20|float32|0"],
                            dtype=np.float32).reshape(shape)
    with tf.Graph().as_default():
        tensor = ci.orthogonal(seed=seed, api=api, **CLASSES["orthogonal"][1])(shape, dtype=dtype)
        with tf.compat.v1.Session() as session:
            values = session.run(tensor)
    gain = CLASSES["orthogonal"][1]["gain"]
    np.testing.assert_allclose(values, keras_values, rtol=0, atol=4 * gain * np.finfo(np.float32).eps)
    gram = values.T.astype(np.float64) @ values / gain ** 2
    assert np.abs(gram - np.eye(shape[1])).max() < 1e-5


@pytest.mark.skipif(TF1, reason="TF 1.15's tf.keras initializers are stateful (no Keras reference)")
@pytest.mark.skipif(not KERAS_STATELESS, reason=NOT_STATELESS_REASON)
@pytest.mark.parametrize("name", FAMILY + RANDOM)
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_equals_native_keras_of_this_leg(name, api):
    cls, kwargs = CLASSES[name]
    native = native_keras(cls, seed=42, **kwargs)
    dtypes = ("float16", "float32", "float64") if name == "orthogonal" else (
        "float16", "bfloat16", "float32", "float64")  # Keras has no bfloat16 QR
    for dtype in (d for d in dtypes if not missing_dtype(d)):
        expected = to_numpy(native((11, 13), dtype=dtype))
        with ci.use_api(api):
            got = make(name, 42)((11, 13), dtype=dtype)
        if api == "v1":
            assert not tf.executing_eagerly() or hasattr(got, "numpy")
        np.testing.assert_array_equal(to_numpy(got), expected)


@pytest.mark.skipif(not (KERAS_STATELESS and ORTHOGONAL_EXACT), reason=ORTHOGONAL_NOT_EXACT)
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_large_orthogonal_equals_this_machines_keras(api):
    """A large QR's last bits depend on the CPU kind, natively too (a seeded
    300 x 200 matrix has one digest on one x86 machine and another on an
    AVX-512 one): so large matrices are compared with the same machine's
    native Keras, bit for bit, not with a fixed digest (issue 18)."""
    native = to_numpy(native_keras("Orthogonal", seed=7)((300, 200)))
    with ci.use_api(api):
        ours = ci.orthogonal(seed=7)((300, 200))
    np.testing.assert_array_equal(to_numpy(ours), native)


@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
def test_variance_scaling_paths_agree(context, distribution, mode):
    make = lambda: ci.variance_scaling(0.7, mode, distribution, seed=5)  # noqa: E731
    values = context.draw(make, (20, 30))
    if TF1:
        with tf.Graph().as_default():
            tensor = ci.variance_scaling(0.7, mode, distribution, seed=5, api="v1")((20, 30))
            with tf.compat.v1.Session() as session:
                reference = session.run(tensor)
    else:
        reference = to_numpy(ci.variance_scaling(0.7, mode, distribution, seed=5, api="v2")((20, 30)))
        if KERAS_STATELESS:
            native = native_keras("VarianceScaling", seed=5, scale=0.7, mode=mode, distribution=distribution)
            np.testing.assert_array_equal(reference, to_numpy(native((20, 30))))
    np.testing.assert_array_equal(values, reference)


@pytest.mark.skipif(not KERAS_STATELESS, reason=NOT_STATELESS_REASON)
def test_seed_upper_bound_matches_keras():
    seed = 2 ** 31 - 3
    values = ci.glorot_uniform(seed=seed, api="v1")
    native = to_numpy(native_keras("GlorotUniform", seed=seed)((4, 4)))
    np.testing.assert_array_equal(to_numpy(values((4, 4))), native)


def test_xavier_aliases():
    assert ci.xavier_uniform is ci.glorot_uniform
    assert ci.xavier_normal is ci.glorot_normal
    for uniform, name in ((True, "glorot_uniform"), (False, "glorot_normal")):
        a = ci.xavier_initializer(uniform=uniform, seed=3)
        b = getattr(ci, name)(seed=3)
        assert type(a) is type(b)
        if not TF1:
            np.testing.assert_array_equal(to_numpy(a((9, 9))), to_numpy(b((9, 9))))


def test_xavier_initializer_dtype_is_the_default():
    init = ci.xavier_initializer(seed=3, dtype="float16")
    if TF1:
        with tf.Graph().as_default():
            assert init((4, 4)).dtype == tf.float16
            assert init((4, 4), dtype=tf.float64).dtype == tf.float64
    else:
        assert to_numpy(init((4, 4))).dtype == np.float16
        if not missing_dtype("float64"):
            assert to_numpy(init((4, 4), dtype=tf.float64)).dtype == np.float64


@pytest.mark.skipif(not TF1, reason="TF 1.15 only: eager mode must be enabled at program start")
def test_tf1_eager_mode_gives_the_same_tensor():
    code = (
        "import tensorflow as tf, compat_init as ci, hashlib\n"
        "tf.compat.v1.enable_eager_execution()\n"
        "print(ci.active_api())\n"
        "v = ci.glorot_uniform(seed=1337)((64, 32)).numpy()\n"
        "print(hashlib.sha256(v.tobytes()).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, check=True,
        universal_newlines=True,
    ).stdout.split()
    assert out[-2:] == ["v2", golden("glorot_uniform", (64, 32), "float32", 1337)]
