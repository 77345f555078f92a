"""Dispatch: the right native class for the context, and the override order."""
import threading

import pytest
import tensorflow as tf

import compat_init as ci
from compat_init import _runtime

from conftest import TF1

FAMILY = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"]
RANDOM = ["truncated_normal", "random_normal", "random_uniform", "orthogonal", "uniform_unit_scaling"]
# Written out here, not read from compat_init's registry: the test checks it.
V1_NATIVE = {
    "glorot_uniform": "glorot_uniform_initializer",
    "glorot_normal": "glorot_normal_initializer",
    "truncated_normal": "truncated_normal_initializer",
    "random_normal": "random_normal_initializer",
    "random_uniform": "random_uniform_initializer",
    "orthogonal": "orthogonal_initializer",
}
KERAS_NAMES = {
    "glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal",
    "he_uniform": "HeUniform", "he_normal": "HeNormal",
    "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal",
    "variance_scaling": "VarianceScaling", "truncated_normal": "TruncatedNormal",
    "random_normal": "RandomNormal", "random_uniform": "RandomUniform",
    "orthogonal": "Orthogonal",
    # no Keras class: Keras' VarianceScaling(factor**2, "fan_in", "uniform")
    "uniform_unit_scaling": "VarianceScaling",
}


def native_v1(name):
    if name == "uniform_unit_scaling":
        from tensorflow.python.ops import init_ops

        return init_ops.UniformUnitScaling
    return type(getattr(tf.compat.v1, V1_NATIVE.get(name, "variance_scaling_initializer"))())


def native_v2(name):
    module = tf.keras.initializers
    for candidate in (getattr(module, KERAS_NAMES[name], None), getattr(module, name, None)):
        if isinstance(candidate, type):
            return candidate
    return module.VarianceScaling  # TF 1.15: he_*/lecun_* are functions


@pytest.mark.parametrize("name", FAMILY + ["variance_scaling"] + RANDOM)
def test_auto_gives_the_native_class_of_the_context(context, name):
    seen = {}

    def build():
        seen["api"] = ci.active_api()
        seen["init"] = getattr(ci, name)(seed=1)
        return tf.constant(0.0)

    context.run(build)
    assert seen["api"] == context.expected_api
    native = native_v1(name) if context.expected_api == "v1" else native_v2(name)
    assert isinstance(seen["init"], native)
    assert type(seen["init"]).__name__ == native.__name__


@pytest.mark.skipif(TF1, reason="tf.keras.initializers.GlorotUniform does not exist on TF 1.15")
def test_v2_isinstance_checks_users_write():
    assert isinstance(ci.glorot_uniform(), tf.keras.initializers.GlorotUniform)
    if isinstance(getattr(tf.keras.initializers, "HeNormal", None), type):  # TF >= 2.3
        assert isinstance(ci.he_normal(), tf.keras.initializers.HeNormal)
    assert isinstance(ci.variance_scaling(), tf.keras.initializers.VarianceScaling)
    assert isinstance(ci.glorot_uniform(api="v1"), type(tf.compat.v1.glorot_uniform_initializer()))


def test_explicit_api_beats_everything(monkeypatch):
    monkeypatch.setenv("COMPAT_INIT_API", "v2")
    with ci.use_api("v2"):
        assert isinstance(ci.glorot_uniform(api="v1"), native_v1("glorot_uniform"))
    with ci.use_api("v1"):
        assert isinstance(ci.glorot_uniform(api="v2"), native_v2("glorot_uniform"))


def test_use_api_beats_environment_and_nests(monkeypatch):
    monkeypatch.setenv("COMPAT_INIT_API", "v1")
    assert ci.active_api() == "v1"
    with ci.use_api("v2"):
        assert ci.active_api() == "v2"
        with ci.use_api("v1"):
            assert ci.active_api() == "v1"
        with ci.use_api("auto"):  # detection, ignoring the environment
            assert ci.active_api() == ("v1" if TF1 else "v2")
        assert ci.active_api() == "v2"
    assert ci.active_api() == "v1"


def test_environment_beats_detection(monkeypatch):
    flipped = "v2" if TF1 else "v1"
    monkeypatch.setenv("COMPAT_INIT_API", flipped)
    assert ci.active_api() == flipped
    monkeypatch.setenv("COMPAT_INIT_API", "auto")
    assert ci.active_api() == ("v1" if TF1 else "v2")


def test_use_api_is_thread_local():
    seen = []
    with ci.use_api("v1"):
        thread = threading.Thread(target=lambda: seen.append(ci.active_api()))
        thread.start()
        thread.join()
        assert ci.active_api() == "v1"
    assert seen == ["v1" if TF1 else "v2"]


def test_graph_after_disable_eager_execution_is_v1():
    """`disable_eager_execution` is process-wide: checked in a fresh process."""
    import subprocess
    import sys

    code = (
        "import tensorflow as tf, compat_init as ci\n"
        "tf.compat.v1.disable_eager_execution()\n"
        "native = type(tf.compat.v1.glorot_uniform_initializer())\n"
        "print(ci.active_api(), isinstance(ci.glorot_uniform(), native))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         check=True, universal_newlines=True).stdout.split()
    assert out == ["v1", "True"]


def test_runtime_info_is_consistent():
    info = ci.runtime_info()
    assert info.tf_version == _runtime.tf_version()
    assert info.keras_flavour in ("tf1", "keras2", "tf_keras", "keras3")
    assert info.in_tested_range
    assert info.active_api == ci.active_api()
    assert str(info.tf_version) in str(info)


def test_repr_names_the_path():
    text = repr(ci.he_normal(seed=3, api="v1"))
    assert "api='v1'" in text and "seed=3" in text


def test_use_api_is_isolated_between_asyncio_tasks():
    import asyncio

    async def holds_v1(entered, release):
        with ci.use_api("v1"):
            entered.set()
            await release.wait()
            return ci.active_api()

    async def looks(entered, release):
        await entered.wait()
        seen = ci.active_api()
        release.set()
        return seen

    async def main():
        entered, release = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(holds_v1(entered, release), looks(entered, release))

    inside, other = asyncio.new_event_loop().run_until_complete(main())
    assert inside == "v1"
    assert other == ("v1" if TF1 else "v2")  # the other task never sees the block


def test_closing_generators_in_any_order_removes_only_their_own_block():
    def block(api):
        with ci.use_api(api):
            yield ci.active_api()

    outer = "v1" if not TF1 else "v2"
    with ci.use_api(outer):
        first, second = block("v2" if outer == "v1" else "v1"), block(outer)
        next(first)
        next(second)
        # generators run in their caller's context: the innermost open block wins
        assert ci.active_api() == outer
        first.close()  # leaves the middle block: the caller keeps second's and its own
        assert ci.active_api() == outer
        second.close()
        assert ci.active_api() == outer
    assert ci.active_api() == ("v1" if TF1 else "v2")
