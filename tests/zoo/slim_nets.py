"""TF-Slim's own nets (``tf_slim.nets``, installed from PyPI with the test
extra, run as legacy graph code) and the ``keras.applications`` ports users
convert them into (issue 32).  TF-Slim 1.1's ``batch_norm`` runs on TF 1.x
(and TF 2 up to 2.13): the TF 1.15 leg writes the checkpoints, with their
``.meta`` graphs, and leg 3 converts them with ``--port`` alone."""
import os

import numpy as np

NETS = {
    # name: (input side, the end point the logits are)
    "inception_v3": 299,
    "resnet_v1_50": 224,
}


def build(name):
    """The net in the current graph, on an ``images`` placeholder, under
    its own arg scope (batch norm, no conv biases); returns its logits."""
    import tensorflow as tf
    import tf_slim as slim
    from tf_slim.nets import inception_v3, resnet_v1

    side = NETS[name]
    images = tf.compat.v1.placeholder(tf.float32, (None, side, side, 3), name="images")
    if name == "inception_v3":  # with its AuxLogits head, which the Keras port lacks
        with slim.arg_scope(inception_v3.inception_v3_arg_scope()):
            logits, _ = inception_v3.inception_v3(images, num_classes=1000, is_training=False)
    else:
        with slim.arg_scope(resnet_v1.resnet_arg_scope()):
            logits, _ = resnet_v1.resnet_v1_50(images, num_classes=1000, is_training=False)
    return logits


def write(name, folder, seed=3):
    """The net with every variable set to seeded values of a trained net's
    scale (no zero bias or unit variance hides a wrong pair), saved by a
    ``Saver`` (with its ``.meta``) in ``folder``, with a batch and TF 1's
    logits on it (``batch.npy``, ``logits.npy``)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    rng = np.random.RandomState(seed)
    os.makedirs(folder, exist_ok=True)
    with tf.Graph().as_default():
        logits = build(name)
        with v1.Session() as session:
            for variable in v1.global_variables():
                shape, leaf = variable.shape.as_list(), variable.op.name.split("/")[-1]
                if leaf in ("moving_variance", "gamma"):
                    value = rng.uniform(0.5, 1.5, shape)
                elif leaf in ("moving_mean", "beta", "biases"):
                    value = rng.normal(0.0, 0.1, shape)
                else:
                    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
                    value = rng.normal(0.0, (2.0 / fan_in) ** 0.5, shape)
                variable.load(value.astype(np.float32), session)
            side = NETS[name]
            batch = rng.rand(2, side, side, 3).astype(np.float32)
            np.save(os.path.join(folder, "batch.npy"), batch)
            np.save(os.path.join(folder, "logits.npy"), session.run(logits, {"images:0": batch}))
            v1.train.Saver().save(session, os.path.join(folder, "model.ckpt"))


def inception_v3():
    import keras

    return keras.applications.InceptionV3(weights=None, classifier_activation=None)


def resnet50():
    import keras

    return keras.applications.ResNet50(weights=None, classifier_activation=None)


def resnet50_slim():
    """``keras.applications``' ResNet50 layers (their names, their conv
    biases) wired as TF-Slim's ``resnet_v1_50`` computes (``tf_slim/nets/
    resnet_v1.py``): pool1 a 3x3 max pool padded SAME (Keras pads with
    zeros, then pools VALID), and each block's stride in its last unit, on
    the 3x3 convolution (padded as ``conv2d_same`` pads) with a strided
    shortcut (Keras strides its first unit's 1x1 convolutions)."""
    import keras
    from keras import layers

    def bn(name):
        return layers.BatchNormalization(axis=3, epsilon=1.001e-5, name=name)

    x = inputs = keras.Input((NETS["resnet_v1_50"], NETS["resnet_v1_50"], 3))
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Activation("relu", name="conv1_relu")(bn("conv1_bn")(layers.Conv2D(64, 7, 2, name="conv1_conv")(x)))
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool1_pool")(x)
    for stage, (filters, units, stride) in enumerate([(64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)], 2):
        for unit in range(1, units + 1):
            name = "conv{}_block{}_".format(stage, unit)
            step = stride if unit == units else 1
            if unit == 1:
                shortcut = bn(name + "0_bn")(layers.Conv2D(4 * filters, 1, step, name=name + "0_conv")(x))
            else:
                shortcut = x if step == 1 else layers.MaxPooling2D(1, step, name=name + "0_subsample")(x)
            y = layers.Activation("relu", name=name + "1_relu")(
                bn(name + "1_bn")(layers.Conv2D(filters, 1, name=name + "1_conv")(x)))
            if step > 1:
                y = layers.ZeroPadding2D(1, name=name + "2_pad")(y)
            y = layers.Conv2D(filters, 3, step, padding="same" if step == 1 else "valid", name=name + "2_conv")(y)
            y = layers.Activation("relu", name=name + "2_relu")(bn(name + "2_bn")(y))
            y = bn(name + "3_bn")(layers.Conv2D(4 * filters, 1, name=name + "3_conv")(y))
            x = layers.Activation("relu", name=name + "out")(layers.Add(name=name + "add")([shortcut, y]))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, layers.Dense(1000, name="predictions")(x), name="resnet50_slim")
