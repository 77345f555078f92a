"""Model-level migration parity: a v1-graph model against its Keras port."""
import os
import subprocess
import sys

import pytest
import tensorflow as tf

import compat_init as ci
from compat_init import parity


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from examples_v1 import cnn_pair as old_cnn  # noqa: E402
from examples_v2 import cnn_pair as new_cnn  # noqa: E402

v1 = tf.compat.v1


def legacy(seeded=True, scale=1.0):
    def build():
        seed = (lambda s: s) if seeded else (lambda s: None)
        v1.get_variable("w", (600, 40), initializer=ci.glorot_uniform(seed=seed(3)))
        v1.get_variable("b", (40,), initializer=v1.zeros_initializer())
    return build


def keras(seeded=True, init=None):
    def build():
        seed = 3 if seeded else None
        return tf.keras.Sequential([tf.keras.layers.Dense(
            40, input_shape=(600,), kernel_initializer=init or ci.glorot_uniform(seed=seed))])
    return build


def test_the_article_cnn_pair_is_bit_equal():
    report = parity.check_migration(old_cnn.build, new_cnn.build)
    assert [k.verdict for k in report.kernels] == ["bit-equal"] * 4, str(report)
    assert [k.shape for k in report.kernels] == [(3, 3, 1, 32), (32,), (5408, 10), (10,)]


def test_unseeded_pair_agrees_statistically():
    report = parity.check_migration(legacy(seeded=False), keras(seeded=False))
    kernel, bias = report.kernels
    assert kernel.verdict == "agree" and kernel.tests, str(report)
    assert bias.verdict == "bit-equal"


def test_a_wrong_scale_in_the_port_is_caught():
    wrong = ci.variance_scaling(2.0, "fan_avg", "uniform")
    report = parity.check_migration(legacy(seeded=False), keras(seeded=False, init=wrong))
    assert not report.passed
    assert report.kernels[0].verdict == "DISAGREE", str(report)


def test_mapping_overrides_creation_order():
    def reversed_legacy():
        v1.get_variable("b", (40,), initializer=v1.zeros_initializer())
        v1.get_variable("w", (600, 40), initializer=ci.glorot_uniform(seed=3))

    with pytest.raises(ValueError, match="same shapes in creation order"):
        parity.check_migration(reversed_legacy, keras())
    report = parity.check_migration(reversed_legacy, keras(), mapping={"w": "kernel", "b": "bias"})
    assert [k.verdict for k in report.kernels] == ["bit-equal", "bit-equal"], str(report)
    with pytest.raises(ValueError, match="mapping must name exactly one v2 variable"):
        parity.check_migration(reversed_legacy, keras(), mapping={"w": "no_such_weight"})


def test_cli_migration_command():
    result = subprocess.run(
        [sys.executable, "-m", "compat_init", "parity", "--migration",
         "examples_v1.cnn_pair:build", "examples_v2.cnn_pair:build"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "4 passed, 0 failed"
    assert result.stdout.count("bit-equal") == 4
