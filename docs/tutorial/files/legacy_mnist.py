"""A TF 1.x digit classifier as public TF1 code was written: placeholders,
variable scopes, get_variable, an Adam optimizer and a Saver checkpoint.

It has been through TF's own `tf_upgrade_v2` (hence `tensorflow.compat.v1`),
but `tf.contrib` is gone from TF 2: this file still fails there until
`compat-init migrate` moves its initializers.

    python legacy_mnist.py --steps 200 --out train/
"""
import argparse

import numpy as np
import tensorflow.compat.v1 as tf


def build():
    """The model: 784 -> 128 (ReLU) -> 10 (softmax)."""
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    with tf.variable_scope("hidden"):
        w = tf.get_variable("kernel", [784, 128],
                            initializer=tf.contrib.layers.xavier_initializer(seed=1))
        b = tf.get_variable("bias", [128], initializer=tf.zeros_initializer())
        h = tf.nn.relu(tf.matmul(x, w) + b)
    with tf.variable_scope("logits"):
        w = tf.get_variable("kernel", [128, 10],
                            initializer=tf.truncated_normal_initializer(stddev=0.1, seed=2))
        b = tf.get_variable("bias", [10], initializer=tf.zeros_initializer())
        return tf.nn.softmax(tf.matmul(h, w) + b)


def data(count, seed=0):
    """Synthetic digits: noise, with the label's band of 78 pixels brighter."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(10, size=count)
    x = rng.rand(count, 784).astype(np.float32) * 0.8
    x[:, :780].reshape(count, 10, 78)[np.arange(count), labels] += 0.2
    return x, np.eye(10, dtype=np.float32)[labels]


def train(steps, out):
    tf.disable_v2_behavior()
    probabilities = build()
    y = tf.placeholder(tf.float32, [None, 10], name="y")
    loss = tf.reduce_mean(-tf.reduce_sum(y * tf.log(probabilities + 1e-9), axis=1))
    step = tf.train.AdamOptimizer(1e-3).minimize(loss)
    saver = tf.train.Saver()
    x_train, y_train = data(2000)
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        for i in range(steps):
            batch = slice(i * 50 % 2000, i * 50 % 2000 + 50)
            _, value = session.run([step, loss], {"x:0": x_train[batch], y: y_train[batch]})
            if i % 50 == 0 or i == steps - 1:
                print("step {:4d}  loss {:.4f}".format(i, value))
        print("saved", saver.save(session, out + "model.ckpt", global_step=steps))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default="train/")
    args = parser.parse_args()
    train(args.steps, args.out)
