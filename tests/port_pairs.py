"""Legacy/port pairs that reproduce what real migrations look like (the
patterns of TensorFlow's migration guide and of public TF1/TF2 repositories),
each with a correct port and wrong ones.  Written here, in the style of that
code; none of it is copied.

Legacy builders run in a fresh v1 graph and return their output tensor(s);
port builders return the port.  Every builder is importable as
``tests.port_pairs:NAME`` for the command line.
"""
import tensorflow as tf

import compat_init as ci
from compat_init import _runtime

v1 = tf.compat.v1
keras = tf.keras
layers = tf.keras.layers
HAS_V1_LAYERS = _runtime.keras_flavour() != "keras3"  # tf.compat.v1.layers is gone under Keras 3
TF1 = _runtime.is_tf1()
L2 = 0.01
#: The operations Keras layers of the ports call: keras.ops under Keras 3 (on
#: every backend, so the proof runs these ports on JAX too), tf.* otherwise.
if _runtime.keras_flavour() == "keras3":
    import keras as _keras3

    ops = _keras3.ops
else:
    class ops:  # noqa: N801 - the keras.ops names, from TensorFlow
        matmul, relu, softmax, stop_gradient = tf.matmul, tf.nn.relu, tf.nn.softmax, tf.stop_gradient


def _dense_vars(name, shape, seed, regularizer=None):
    with v1.variable_scope(name):
        kernel = v1.get_variable("kernel", shape, initializer=ci.glorot_uniform(seed=seed), regularizer=regularizer)
        bias = v1.get_variable("bias", (shape[-1],), initializer=v1.zeros_initializer())
    return kernel, bias


def _l2(weight):
    return L2 * tf.reduce_sum(tf.square(weight))


def _dropout(x, rate, training):
    """A dropout switched by a training tensor: tf.compat.v1.layers.dropout
    where it exists, else the same learning-phase cond written out."""
    if HAS_V1_LAYERS:
        return v1.layers.dropout(x, rate=rate, training=training)
    return tf.cond(training, lambda: tf.nn.dropout(x, rate=rate), lambda: tf.identity(x))


# 1. An MLP with dropout under a training placeholder (the guide's CompatModel)


def legacy_dropout_mlp():
    x = v1.placeholder(tf.float32, (None, 20), name="x")
    training = v1.placeholder_with_default(False, (), name="is_training")
    kernel, bias = _dense_vars("hidden", (20, 16), 1)
    h = tf.nn.relu(tf.matmul(x, kernel) + bias)
    h = _dropout(h, 0.5, training)
    kernel, bias = _dense_vars("out", (16, 4), 2)
    return tf.nn.softmax(tf.matmul(h, kernel) + bias)


def _mlp(rate=0.5, activation="relu"):
    model = keras.Sequential([
        keras.Input((20,)),
        layers.Dense(16, activation=activation, kernel_initializer=ci.glorot_uniform(seed=1)),
    ] + ([layers.Dropout(rate)] if rate else []) + [
        layers.Dense(4, activation="softmax", kernel_initializer=ci.glorot_uniform(seed=2)),
    ])
    return model


def port_dropout_mlp():
    return _mlp()


def port_dropout_mlp_other_rate():
    return _mlp(rate=0.2)


def port_dropout_mlp_no_dropout():
    return _mlp(rate=0)


def port_dropout_mlp_no_relu():
    return _mlp(activation=None)


class IsTrainingMLP(keras.Model):
    """A public TF2 port's shape: its call takes ``is_training``, not
    ``training``, and passes it to its Dropout(0.5)."""

    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(16, activation="relu", kernel_initializer=ci.glorot_uniform(seed=1))
        self.drop = layers.Dropout(0.5)
        self.out = layers.Dense(4, activation="softmax", kernel_initializer=ci.glorot_uniform(seed=2))

    def call(self, inputs, is_training=False):
        return self.out(self.drop(self.hidden(inputs), training=is_training))


def port_is_training():
    return IsTrainingMLP()


def port_serving_mlp():
    """The port as converted to serve a model whose legacy graph was built for
    inference: Dropout(0.5) and an L2 regularizer the inference graph cannot show."""
    return keras.Sequential([
        keras.Input((20,)),
        layers.Dense(16, activation="relu", kernel_initializer=ci.glorot_uniform(seed=1),
                     kernel_regularizer=keras.regularizers.l2(L2)),
        layers.Dropout(0.5),
        layers.Dense(4, activation="softmax", kernel_initializer=ci.glorot_uniform(seed=2)),
    ])


def port_mlp_in(precision):
    """``legacy_mlp``'s port computing in float16 or bfloat16 (mixed
    precision: float32 weights)."""
    def build():
        policy = "mixed_" + precision
        return keras.Sequential([
            keras.Input((20,)),
            layers.Dense(16, activation="relu", kernel_initializer=ci.glorot_uniform(seed=1), dtype=policy),
            layers.Dense(4, kernel_initializer=ci.glorot_uniform(seed=2), dtype=policy),
            layers.Activation("softmax", dtype="float32"),
        ])
    return build


def port_mlp_scaled(ulps):
    """``legacy_mlp``'s port with its output scaled by (1 + ulps * eps): a
    difference of a known size, in units of float32 rounding."""
    factor = float(1.0 + ulps * 2.0 ** -23)

    def build():
        return keras.Sequential([
            keras.Input((20,)),
            layers.Dense(16, activation="relu", kernel_initializer=ci.glorot_uniform(seed=1)),
            layers.Dense(4, activation="softmax", kernel_initializer=ci.glorot_uniform(seed=2)),
            layers.Lambda(lambda x: x * factor),
        ])
    return build


def legacy_stateless():
    """No variable at all: a preprocessing function."""
    x = v1.placeholder(tf.float32, (None, 3), name="x")
    return tf.nn.relu(x)


def port_stateless():
    return keras.Sequential([keras.Input((3,)), layers.ReLU()])


def port_mlp_narrow():
    """``legacy_mlp``'s port with 8 hidden units where the legacy model has 16."""
    return keras.Sequential([
        keras.Input((20,)),
        layers.Dense(8, activation="relu", kernel_initializer=ci.glorot_uniform(seed=1)),
        layers.Dense(4, activation="softmax", kernel_initializer=ci.glorot_uniform(seed=2)),
    ])


# 2. Batch normalization under a training placeholder


def legacy_batch_norm():
    x = v1.placeholder(tf.float32, (None, 12), name="x")
    training = v1.placeholder_with_default(False, (), name="training")
    kernel, bias = _dense_vars("dense", (12, 8), 3)
    h = tf.matmul(x, kernel) + bias
    if HAS_V1_LAYERS:
        h = v1.layers.batch_normalization(h, training=training, momentum=0.99, epsilon=1e-3)
    else:  # the same layer written out: batch statistics in training, moving ones otherwise
        with v1.variable_scope("batch_normalization"):
            gamma = v1.get_variable("gamma", (8,), initializer=v1.ones_initializer())
            beta = v1.get_variable("beta", (8,), initializer=v1.zeros_initializer())
            moving_mean = v1.get_variable("moving_mean", (8,), initializer=v1.zeros_initializer(),
                                          trainable=False)
            moving_var = v1.get_variable("moving_variance", (8,), initializer=v1.ones_initializer(),
                                         trainable=False)
        mean, var = tf.nn.moments(h, [0])
        v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, v1.assign(moving_mean, moving_mean * 0.99 + mean * 0.01))
        v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, v1.assign(moving_var, moving_var * 0.99 + var * 0.01))
        mean, var = tf.cond(training, lambda: (mean, var), lambda: (tf.identity(moving_mean),
                                                                    tf.identity(moving_var)))
        h = tf.nn.batch_normalization(h, mean, var, beta, gamma, 1e-3)
    h = tf.nn.relu(h)
    kernel, bias = _dense_vars("out", (8, 3), 4)
    return tf.matmul(h, kernel) + bias


def _bn(momentum=0.99):
    return keras.Sequential([
        keras.Input((12,)),
        layers.Dense(8, kernel_initializer=ci.glorot_uniform(seed=3)),
        layers.BatchNormalization(momentum=momentum, epsilon=1e-3),
        layers.Activation("relu"),
        layers.Dense(3, kernel_initializer=ci.glorot_uniform(seed=4)),
    ])


def port_batch_norm():
    return _bn()


def port_batch_norm_other_momentum():
    return _bn(momentum=0.9)


# 3. keep_prob fed through a placeholder (TF 1 tutorials)


def legacy_keep_prob():
    x = v1.placeholder(tf.float32, (None, 20), name="x")
    keep_prob = v1.placeholder(tf.float32, (), name="keep_prob")
    kernel, bias = _dense_vars("hidden", (20, 16), 1)
    h = v1.nn.dropout(tf.nn.relu(tf.matmul(x, kernel) + bias), keep_prob=keep_prob)
    kernel, bias = _dense_vars("out", (16, 4), 2)
    return tf.nn.softmax(tf.matmul(h, kernel) + bias)


def legacy_with_labels():
    """The shape of public TF1 tutorials' convnets: images, labels only the
    loss reads (``Y``), and ``keep_prob``; returns the probabilities."""
    x = v1.placeholder(tf.float32, (None, 20), name="X")
    y = v1.placeholder(tf.float32, (None, 4), name="Y")
    keep_prob = v1.placeholder(tf.float32, name="keep_prob")
    kernel, bias = _dense_vars("hidden", (20, 16), 1)
    h = v1.nn.dropout(tf.nn.relu(tf.matmul(x, kernel) + bias), keep_prob=keep_prob)
    kernel, bias = _dense_vars("out", (16, 4), 2)
    logits = tf.matmul(h, kernel) + bias
    tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits), name="loss")
    return tf.nn.softmax(logits)


# 4. The port as one custom Layer holding Keras layers (the guide's FullyNativeModel)


class WrapperModel(layers.Layer):
    def __init__(self, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(4, 3, activation=activation, kernel_initializer=ci.glorot_uniform(seed=5),
                                  kernel_regularizer=keras.regularizers.l2(L2))
        self.flatten = layers.Flatten()
        self.dense = layers.Dense(5, kernel_initializer=ci.glorot_uniform(seed=6),
                                  kernel_regularizer=keras.regularizers.l2(L2))

    def call(self, inputs):
        return self.dense(self.flatten(self.conv(inputs)))


def legacy_conv():
    x = v1.placeholder(tf.float32, (None, 6, 6, 2), name="images")
    with v1.variable_scope("model"):
        with v1.variable_scope("conv2d"):
            kernel = v1.get_variable("kernel", (3, 3, 2, 4), initializer=ci.glorot_uniform(seed=5), regularizer=_l2)
            bias = v1.get_variable("bias", (4,), initializer=v1.zeros_initializer())
        h = tf.nn.relu(tf.nn.conv2d(x, kernel, [1, 1, 1, 1], "VALID") + bias)
        h = tf.reshape(h, [-1, 4 * 4 * 4])
        kernel, bias = _dense_vars("dense", (64, 5), 6, regularizer=_l2)
    return tf.matmul(h, kernel) + bias


def port_wrapper():
    return WrapperModel()


def port_wrapper_no_relu():
    return WrapperModel(activation=None)


class NoRegularizerWrapper(WrapperModel):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(5, kernel_initializer=ci.glorot_uniform(seed=6))


def port_wrapper_no_regularizer():
    return NoRegularizerWrapper()


# 5. An unbuilt subclassed model; 7. another creation order (bias first)


class Subclassed(keras.Model):
    def __init__(self, bias_first=False):
        super().__init__()
        self.bias_first = bias_first
        self.hidden = layers.Dense(16, activation="relu", kernel_initializer=ci.glorot_uniform(seed=1))
        self.out = layers.Dense(4, activation="softmax", kernel_initializer=ci.glorot_uniform(seed=2))

    def call(self, inputs, training=None):
        return self.out(self.hidden(inputs))


def legacy_mlp():
    x = v1.placeholder(tf.float32, (None, 20), name="x")
    kernel, bias = _dense_vars("hidden", (20, 16), 1)
    h = tf.nn.relu(tf.matmul(x, kernel) + bias)
    kernel, bias = _dense_vars("out", (16, 4), 2)
    return tf.nn.softmax(tf.matmul(h, kernel) + bias)


def port_subclassed():
    return Subclassed()  # not called: no weights yet


class BiasFirst(layers.Layer):
    """Variables created bias first, as the guide's track_tf1_style_variables
    ports do when a bias is made before its kernel."""

    def __init__(self, units, seed, activation, name):
        super().__init__(name=name)
        self.units, self.seed, self.activation = units, seed, activation

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.kernel = self.add_weight(name="kernel", shape=(int(input_shape[-1]), self.units),
                                      initializer=ci.glorot_uniform(seed=self.seed))

    def call(self, inputs):
        return self.activation(ops.matmul(inputs, self.kernel) + self.bias)


def port_bias_first():
    inputs = keras.Input((20,))
    h = BiasFirst(16, 1, ops.relu, "hidden")(inputs)
    return keras.Model(inputs, BiasFirst(4, 2, ops.softmax, "out")(h))


class TensorFlowDense(BiasFirst):
    """A Keras layer whose call is TensorFlow code: on Keras 3's other
    backends it runs on the TensorFlow backend only."""

    def call(self, inputs):
        return self.activation(tf.matmul(inputs, self.kernel) + self.bias)


def port_calling_tensorflow():
    inputs = keras.Input((20,))
    h = TensorFlowDense(16, 1, tf.nn.relu, "hidden")(inputs)
    return keras.Model(inputs, TensorFlowDense(4, 2, tf.nn.softmax, "out")(h))


# 6. Raw-variable ports: a tf.Module, and a Keras model holding tf.Variables


class ModulePort(tf.Module):
    def __init__(self, activation=tf.nn.relu):
        super().__init__()
        glorot = ci.glorot_uniform(seed=1, api="v2")
        self.w1 = tf.Variable(glorot((20, 16)), name="hidden/kernel")
        self.b1 = tf.Variable(tf.zeros((16,)), name="hidden/bias")
        self.w2 = tf.Variable(ci.glorot_uniform(seed=2, api="v2")((16, 4)), name="out/kernel")
        self.b2 = tf.Variable(tf.zeros((4,)), name="out/bias")
        self.activation = activation

    def __call__(self, x):
        return tf.nn.softmax(tf.matmul(self.activation(tf.matmul(x, self.w1) + self.b1), self.w2) + self.b2)


def port_module():
    return ModulePort()


def port_module_no_relu():
    return ModulePort(activation=tf.identity)


class RawKeras(keras.Model):
    def __init__(self):
        super().__init__()
        self.module = ModulePort()

    def call(self, x, training=None):
        return self.module(x)


def port_raw_keras():
    return RawKeras()


# 9. Logits (the early-stopping guide: Flatten, Dense(128, relu), Dense(10))


def legacy_logits():
    x = v1.placeholder(tf.float32, (None, 28, 28), name="x")
    flat = tf.reshape(x, [-1, 784])
    kernel, bias = _dense_vars("dense", (784, 32), 7)
    h = tf.nn.relu(tf.matmul(flat, kernel) + bias)
    kernel, bias = _dense_vars("dense_1", (32, 10), 8)
    return tf.matmul(h, kernel) + bias


def port_logits():
    return keras.Sequential([keras.Input((28, 28)), layers.Flatten(),
                             layers.Dense(32, activation="relu", kernel_initializer=ci.glorot_uniform(seed=7)),
                             layers.Dense(10, kernel_initializer=ci.glorot_uniform(seed=8))])


# 11. Two inputs, two outputs


def legacy_two_heads():
    a = v1.placeholder(tf.float32, (None, 6), name="a")
    b = v1.placeholder(tf.float32, (None, 3), name="b")
    kernel, bias = _dense_vars("joint", (9, 8), 9)
    h = tf.tanh(tf.matmul(tf.concat([a, b], axis=1), kernel) + bias)
    k1, b1 = _dense_vars("head_a", (8, 2), 10)
    k2, b2 = _dense_vars("head_b", (8, 1), 11)
    return [tf.matmul(h, k1) + b1, tf.sigmoid(tf.matmul(h, k2) + b2)]


def port_two_heads(second_activation="sigmoid"):
    a, b = keras.Input((6,)), keras.Input((3,))
    h = layers.Dense(8, activation="tanh", kernel_initializer=ci.glorot_uniform(seed=9))(
        layers.Concatenate()([a, b]))
    out_a = layers.Dense(2, kernel_initializer=ci.glorot_uniform(seed=10))(h)
    out_b = layers.Dense(1, activation=second_activation, kernel_initializer=ci.glorot_uniform(seed=11))(h)
    return keras.Model([a, b], [out_a, out_b])


def port_two_heads_wrong():
    return port_two_heads(second_activation="relu")


def legacy_query_key():
    """Two inputs of one shape (a query and a key), scored by one dense layer."""
    q = v1.placeholder(tf.float32, (None, 5), name="query")
    k = v1.placeholder(tf.float32, (None, 5), name="key")
    kernel, bias = _dense_vars("score", (10, 3), 12)
    return tf.matmul(tf.concat([q, k], axis=1), kernel) + bias


def port_query_key(swapped=False):
    q, k = keras.Input((5,), name="query"), keras.Input((5,), name="key")
    joined = layers.Concatenate()([k, q] if swapped else [q, k])
    return keras.Model([q, k], layers.Dense(3, kernel_initializer=ci.glorot_uniform(seed=12))(joined))


def port_query_key_swapped():
    return port_query_key(swapped=True)


# Raw tf.Variable legacy code, unseeded: its distribution is read from the graph


def legacy_raw_normal():
    x = v1.placeholder(tf.float32, (None, 300), name="x")
    w = tf.Variable(v1.random_normal((300, 200), stddev=0.05), name="w")
    b = tf.Variable(tf.zeros((200,)), name="b")
    return tf.matmul(x, w) + b


class RawNormal(tf.Module):
    def __init__(self, stddev):
        super().__init__()
        self.w = tf.Variable(tf.random.normal((300, 200), stddev=stddev), name="w")
        self.b = tf.Variable(tf.zeros((200,)), name="b")

    def __call__(self, x):
        return tf.matmul(x, self.w) + self.b


def port_raw_normal():
    return RawNormal(0.05)


def port_raw_normal_wrong_stddev():
    return RawNormal(0.08)


# Frozen weights (a stop_gradient on both sides): outputs depend on the inputs, nothing trains


def legacy_frozen():
    x = v1.placeholder(tf.float32, (None, 20), name="x")
    kernel, bias = _dense_vars("hidden", (20, 4), 1)
    return tf.nn.softmax(tf.stop_gradient(tf.matmul(x, kernel) + bias))


class FrozenDense(layers.Dense):
    def call(self, inputs):
        return ops.stop_gradient(super().call(inputs))


def port_frozen():
    return keras.Sequential([keras.Input((20,)), FrozenDense(4, activation="softmax",
                                                             kernel_initializer=ci.glorot_uniform(seed=1))])


# A saturated softmax: nothing trains


def legacy_saturated():
    x = v1.placeholder(tf.float32, (None, 20), name="x")
    kernel, bias = _dense_vars("hidden", (20, 4), 1)
    return tf.nn.softmax(1000.0 * (tf.matmul(x, kernel) + bias))


def port_saturated():
    return keras.Sequential([keras.Input((20,)), layers.Dense(4, kernel_initializer=ci.glorot_uniform(seed=1)),
                             layers.Lambda(lambda t: ops.softmax(1000.0 * t))])


# A port that cannot run at all (an internal error, not a verdict)


class Crashing(ModulePort):
    def __call__(self, x):
        raise RuntimeError("the port broke")


def port_crashing():
    return Crashing()


# An initializer nobody can read the distribution of (an orthogonal QR), unseeded on both sides


def legacy_orthogonal():
    x = v1.placeholder(tf.float32, (None, 20), name="x")
    w = tf.Variable(v1.orthogonal_initializer()((20, 16)), name="hidden/kernel")
    b = tf.Variable(tf.zeros((16,)), name="hidden/bias")
    return tf.matmul(x, w) + b


class OrthogonalPort(tf.Module):
    def __init__(self, transpose=False):
        super().__init__()
        q = tf.linalg.qr(tf.random.normal((20, 16)))[0]
        self.w = tf.Variable(q, name="hidden/kernel")
        self.b = tf.Variable(tf.zeros((16,)), name="hidden/bias")
        self.transpose = transpose

    def __call__(self, x):
        out = tf.matmul(x, self.w) + self.b
        return tf.transpose(out) if self.transpose else out


def port_orthogonal():
    return OrthogonalPort()


def port_orthogonal_transposed():
    return OrthogonalPort(transpose=True)


def write_mlp_checkpoint(prefix, scale=1.0, poison=None):
    """A name-based checkpoint of ``legacy_mlp``'s variables, as its Saver
    writes one (random values times ``scale``); ``poison``: a key whose first
    two values become NaN and inf.  Returns ``prefix``."""
    import numpy as np

    with tf.Graph().as_default():
        legacy_mlp()
        variables = v1.global_variables()
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            rng = np.random.RandomState(3)
            for v in variables:
                value = scale * rng.normal(0, 0.3, v.shape.as_list()).astype(np.float32)
                if v.op.name == poison:
                    value.flat[0], value.flat[1] = np.nan, np.inf
                v.load(value, session)
            v1.train.Saver(variables).save(session, prefix, write_state=False)
    return prefix


class RefusingInitializer:
    """An initializer that refuses to draw: a port built with it can still
    be converted, whose weights the checkpoint fills (no draw is made)."""

    def __call__(self, shape, dtype=None, **kwargs):
        raise RuntimeError("this initializer was asked to draw a {} weight".format(shape))

    def get_config(self):
        return {}


def port_mlp_refusing_initializers():
    return keras.Sequential([
        keras.Input((20,)),
        layers.Dense(16, activation="relu", kernel_initializer=RefusingInitializer()),
        layers.Dense(4, activation="softmax", kernel_initializer=RefusingInitializer()),
    ])
