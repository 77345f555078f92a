"""Bad input: a clear error naming the argument, the rule and the value."""
import re

import numpy as np
import pytest
import tensorflow as tf

import compat_init as ci
from compat_init import _runtime

from conftest import FLAVOUR, native_keras, to_numpy


BAD_INPUT = [
    # shapes
    (lambda: ci.glorot_uniform(seed=1)((-1, 3)), ValueError,
     "shape must contain non-negative integers; received shape=(-1, 3)"),
    (lambda: ci.glorot_uniform(seed=1)((2.5, 3)), ValueError,
     "shape must contain non-negative integers; received shape=(2.5, 3)"),
    (lambda: ci.glorot_uniform(seed=1)((None, 3)), ValueError,
     "shape must contain non-negative integers; received shape=(None, 3)"),
    (lambda: ci.glorot_uniform(seed=1)(5), TypeError,
     "shape must be a sequence of integers (tuple, list or TensorShape); received shape=5 (type int)"),
    (lambda: ci.compute_fans("3x3"), TypeError,
     "shape must be a sequence of integers (tuple, list or TensorShape); received shape='3x3' (type str)"),
    (lambda: ci.compute_fans((3, True)), ValueError,
     "shape must contain non-negative integers; received shape=(3, True)"),
    # seeds
    (lambda: ci.glorot_uniform(seed=1.5), TypeError,
     "seed must be an integer or None; received seed=1.5 (type float)"),
    (lambda: ci.he_normal(seed="42"), TypeError,
     "seed must be an integer or None; received seed='42' (type str)"),
    (lambda: ci.lecun_uniform(seed=-1), ValueError,
     "seed must be an integer in [0, 2**31 - 3], the range where Keras 2 and Keras 3 draw the same tensor; received seed=-1"),
    (lambda: ci.lecun_normal(seed=2 ** 40), ValueError,
     "seed must be an integer in [0, 2**31 - 3], the range where Keras 2 and Keras 3 draw the same tensor; received seed=1099511627776"),
    # api
    (lambda: ci.glorot_uniform(api="v3"), ValueError,
     "api must be one of 'auto', 'v1', 'v2'; received api='v3'"),
    (lambda: ci.use_api("tf1"), ValueError,
     "api must be one of 'auto', 'v1', 'v2'; received api='tf1'"),
    # variance scaling
    (lambda: ci.variance_scaling(mode="fan_sum"), ValueError,
     "mode must be one of 'fan_in', 'fan_out', 'fan_avg'; received mode='fan_sum'"),
    (lambda: ci.variance_scaling(distribution="gaussian"), ValueError,
     "distribution must be one of 'truncated_normal', 'untruncated_normal', 'uniform' (or the legacy 'normal'); received distribution='gaussian'"),
    (lambda: ci.variance_scaling(scale=0), ValueError,
     "scale must be a positive finite number; received scale=0"),
    (lambda: ci.variance_scaling(scale=-2.0), ValueError,
     "scale must be a positive finite number; received scale=-2.0"),
    (lambda: ci.variance_scaling(scale=float("nan")), ValueError,
     "scale must be a positive finite number; received scale=nan"),
    # dtypes
    (lambda: ci.glorot_uniform(seed=1)((2, 2), dtype="int32"), ValueError,
     "dtype must be a floating-point dtype (float16, bfloat16, float32, float64); received dtype=int32"),
    (lambda: ci.glorot_normal()((2, 2), dtype=tf.bool), ValueError,
     "dtype must be a floating-point dtype (float16, bfloat16, float32, float64); received dtype=bool"),
    (lambda: ci.xavier_initializer(dtype="int64"), ValueError,
     "dtype must be a floating-point dtype (float16, bfloat16, float32, float64); received dtype=int64"),
    (lambda: ci.glorot_uniform()((2, 2), dtype="floaty"), TypeError,
     "dtype must be a floating-point dtype (float16, bfloat16, float32, float64); received dtype='floaty'"),
    # other arguments
    (lambda: ci.xavier_initializer(uniform="yes"), TypeError,
     "uniform must be True or False; received uniform='yes'"),
    (lambda: ci.glorot_uniform(seed=1)((2, 2), partition_sizes=[1]), TypeError,
     "GlorotUniform() got unexpected keyword argument(s) partition_sizes"),
    # the rest of the random family
    (lambda: ci.truncated_normal(stddev=0), ValueError,
     "stddev must be a positive finite number; received stddev=0"),
    (lambda: ci.random_normal(stddev=float("nan")), ValueError,
     "stddev must be a positive finite number; received stddev=nan"),
    (lambda: ci.random_normal(mean=float("inf")), ValueError,
     "mean must be a finite number; received mean=inf"),
    (lambda: ci.truncated_normal(mean="0"), ValueError,
     "mean must be a finite number; received mean='0'"),
    (lambda: ci.random_uniform(minval=1.0, maxval=0.5), ValueError,
     "minval must be less than maxval; received minval=1.0, maxval=0.5"),
    (lambda: ci.random_uniform(maxval=None), ValueError,
     "maxval must be a finite number; received maxval=None"),
    (lambda: ci.orthogonal(gain=0), ValueError,
     "gain must be a non-zero finite number; received gain=0"),
    (lambda: ci.orthogonal(seed=2)((5,)), ValueError,
     "shape must have rank 2 or more for an orthogonal initializer; received shape=(5,)"),
    (lambda: ci.uniform_unit_scaling(factor=-1.0), ValueError,
     "factor must be a positive finite number; received factor=-1.0"),
    # sizes a tensor cannot have (TF: a conversion error, or an abort in a v1 Session)
    (lambda: ci.glorot_uniform(seed=1)((2 ** 63,)), ValueError,
     "shape must have at most 2**63 - 1 elements, the most a tensor can hold; received "
     "shape=(9223372036854775808,) (9223372036854775808 elements)"),
    (lambda: ci.glorot_uniform(seed=1)((2 ** 33, 2 ** 33)), ValueError,
     "shape must have at most 2**63 - 1 elements, the most a tensor can hold; received "
     "shape=(8589934592, 8589934592) (73786976294838206464 elements)"),
    # numbers that are not finite in the target dtype (were NaN/inf, silently)
    (lambda: ci.variance_scaling(scale=1e80, seed=1)((4, 4)), ValueError,
     "scale=1e+80, mode='fan_in', distribution='truncated_normal' give values around 1.137e+40 at "
     "shape=(4, 4), beyond float32's largest finite value 3.403e+38; use smaller arguments or a wider dtype"),
    (lambda: ci.variance_scaling(scale=1e80, distribution="uniform")((4, 4)), ValueError,
     "scale=1e+80, mode='fan_in', distribution='uniform' give values up to 8.66e+39 at "
     "shape=(4, 4), beyond float32's largest finite value 3.403e+38; use smaller arguments or a wider dtype"),
    (lambda: ci.random_normal(stddev=1e5, seed=1)((4, 4), dtype="float16"), ValueError,
     "mean=0.0, stddev=100000.0 give values around 1e+05 at shape=(4, 4), beyond float16's "
     "largest finite value 6.55e+04; use smaller arguments or a wider dtype"),
    (lambda: ci.random_uniform(-4e38, 4e38)((4, 4), dtype="float64"), None, None),
    # integer dtype codes (tf.as_dtype reads 1 as float32, 2 as float64)
    (lambda: ci.glorot_uniform()((2, 2), dtype=2), TypeError,
     "dtype must be a floating-point dtype (float16, bfloat16, float32, float64) or its name, not an "
     "integer; received dtype=2"),
    (lambda: ci.glorot_uniform()((2, 2), dtype=123), TypeError,
     "dtype must be a floating-point dtype (float16, bfloat16, float32, float64) or its name, not an "
     "integer; received dtype=123"),
    # partitions
    (lambda: ci.glorot_uniform()((2, 2), partition_shape=(3, 2)), ValueError,
     "the shard must lie inside the variable: shard shape (3, 2) at partition_offset=(0, 0) does not "
     "fit in the full shape (2, 2)"),
    (lambda: ci.glorot_uniform()((4, 2), partition_shape=(2, 2), partition_offset=(3, 0)), ValueError,
     "the shard must lie inside the variable: shard shape (2, 2) at partition_offset=(3, 0) does not "
     "fit in the full shape (4, 2)"),
    (lambda: ci.glorot_uniform()((2, 2), partition_info=1), TypeError,
     "partition_info must be what tf.compat.v1.get_variable passes (with full_shape and var_offset); "
     "received partition_info=1"),
    # constructors take exactly the native arguments
    (lambda: type(ci.truncated_normal())(stdev=0.1), TypeError,
     "TruncatedNormal(): got an unexpected keyword argument 'stdev'"),
]


@pytest.mark.parametrize("call,error,message", BAD_INPUT)
def test_bad_input_raises_a_clear_error(context, call, error, message):
    def attempt():
        if error is None:  # a valid call near a refused one
            call()
        else:
            with pytest.raises(error, match="^" + re.escape(message) + "$"):
                call()
        return tf.constant(0.0)

    context.run(attempt)


def test_environment_value_is_checked(monkeypatch):
    monkeypatch.setenv("COMPAT_INIT_API", "v9")
    with pytest.raises(ValueError, match=re.escape(
            "COMPAT_INIT_API must be one of 'auto', 'v1', 'v2'; received COMPAT_INIT_API='v9'")):
        ci.active_api()


@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 3, 0, 8), ()])
def test_zero_size_and_scalar_shapes_are_valid(context, shape):
    values = context.draw(lambda: ci.he_uniform(seed=4), shape)
    assert values.shape == shape


def test_unseeded_zero_size(context):
    values = context.draw(lambda: ci.glorot_normal(), (0, 7))
    assert values.shape == (0, 7)


def test_layout_is_taken_exactly_where_the_native_takes_it(context):
    """Keras 2 initializers take ``layout=`` (DTensor); Keras 3 and init_ops do not."""
    def attempt():
        init = ci.glorot_uniform(seed=1)
        native_takes_it = FLAVOUR in ("keras2", "tf_keras") and context.expected_api == "v2"
        if native_takes_it:
            message = "layout must be a tf.experimental.dtensor.Layout or None; received layout='x' (type str)"
        else:
            message = "GlorotUniform() got unexpected keyword argument(s) layout"
        with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
            init((2, 2), layout="x")
        return tf.constant(0.0)

    context.run(attempt)


@pytest.mark.skipif(FLAVOUR not in ("keras2", "tf_keras"), reason="only Keras 2 initializers take layout=")
def test_a_dtensor_layout_is_honoured():
    dtensor = tf.experimental.dtensor
    mesh = dtensor.create_mesh([("x", 1)], device_type="CPU")
    layout = dtensor.Layout.replicated(mesh, rank=2)
    values = ci.he_normal(seed=3)((6, 4), layout=layout)
    assert dtensor.fetch_layout(values) == layout
    np.testing.assert_array_equal(dtensor.unpack(values)[0].numpy(), ci.he_normal(seed=3)((6, 4)).numpy())


def test_fan_axes_are_checked():
    with pytest.raises(TypeError, match=re.escape(
            "input_axes must be None or a list of integer axes; received input_axes='0'")):
        ci.compute_fans((4, 5), input_axes="0", output_axes=[1])
    with pytest.raises(ValueError, match=re.escape(
            "output_axes must index the shape (rank 2); received output_axes=[2]")):
        ci.compute_fans((4, 5), input_axes=[0], output_axes=[2])
    assert ci.compute_fans((16, 2, 8), input_axes=[0], output_axes=[-2, -1]) == (16, 16)
    assert ci.compute_fans((16, 2, 8), input_axes=[0]) == (32, 128)  # one alone: ignored, as Keras does


@pytest.mark.skipif(not _runtime.keras_fan_axes(), reason="input_axes/output_axes are Keras >= 3.15 arguments")
def test_native_fan_axes_are_taken_and_honoured():
    ours = type(ci.he_uniform())(seed=3, input_axes=[0], output_axes=[1, 2])
    theirs = native_keras("HeUniform", seed=3, input_axes=[0], output_axes=[1, 2])
    np.testing.assert_array_equal(to_numpy(ours((16, 2, 8))), to_numpy(theirs((16, 2, 8))))
    clone = type(ours).from_config(ours.get_config())
    assert clone.get_config() == theirs.get_config()
    np.testing.assert_array_equal(to_numpy(clone((16, 2, 8))), to_numpy(theirs((16, 2, 8))))
    with pytest.raises(TypeError, match=re.escape(
            "input_axes must be None or a list of integer axes; received input_axes='a'")):
        type(ours)(input_axes="a")


@pytest.mark.skipif(FLAVOUR != "keras3", reason="SeedGenerator seeds are Keras 3's")
def test_a_keras_seed_generator_is_honoured():
    import keras

    ours = ci.glorot_uniform()
    ours = type(ours)(seed=keras.random.SeedGenerator(5))
    theirs = native_keras("GlorotUniform", seed=keras.random.SeedGenerator(5))
    first = to_numpy(ours((6, 4)))
    np.testing.assert_array_equal(first, to_numpy(theirs((6, 4))))
    np.testing.assert_array_equal(to_numpy(ours((6, 4))), to_numpy(theirs((6, 4))))
    assert not np.array_equal(first, to_numpy(ours((6, 4))))


FACTORIES = {
    "glorot_uniform": lambda seed, api: ci.glorot_uniform(seed, api=api),
    "he_normal": lambda seed, api: ci.he_normal(seed, api=api),
    "variance_scaling": lambda seed, api: ci.variance_scaling(2.0, "fan_out", "uniform", seed=seed, api=api),
    "orthogonal": lambda seed, api: ci.orthogonal(seed=seed, api=api),
    "random_normal": lambda seed, api: ci.random_normal(seed=seed, api=api),
    "truncated_normal": lambda seed, api: ci.truncated_normal(seed=seed, api=api),
    "random_uniform": lambda seed, api: ci.random_uniform(seed=seed, api=api),
}


@pytest.mark.skipif(FLAVOUR != "keras3", reason="SeedGenerator seeds are Keras 3's")
@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("form", ["object", "config"])
def test_the_factories_take_what_their_classes_take(name, form):
    """``ci.variance_scaling(seed=keras.random.SeedGenerator())`` as Keras 3.15's
    ``test_serialization_with_seed_generator`` builds initializers (issue 18)."""
    import keras

    def seed():
        generator = keras.random.SeedGenerator(7)
        return generator if form == "object" else keras.saving.serialize_keras_object(generator)

    ours = FACTORIES[name](seed(), "v2")
    theirs = native_keras(type(ours)._ci_native.__name__, **dict(ours.get_config(), seed=keras.random.SeedGenerator(7)))
    for _ in range(2):  # the generator's state moves on the same way on both
        np.testing.assert_array_equal(to_numpy(ours((6, 4))), to_numpy(theirs((6, 4))))
    with pytest.raises(TypeError, match=re.escape("seed must be an integer or None on the v1 path (tf.compat.v1 "
                                                  "initializers take no Keras SeedGenerator")):
        FACTORIES[name](seed(), "v1")


@pytest.mark.skipif(FLAVOUR == "keras3", reason="Keras 3 takes a SeedGenerator (tested above)")
def test_a_seed_object_is_a_clear_error_without_keras_3():
    with pytest.raises(TypeError, match=r"seed must be an integer or None; received seed=<object object at .*> "
                                        r"\(type object\)"):
        ci.glorot_uniform(object())
