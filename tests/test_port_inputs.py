"""The migration proof checks what it is given before the models run: each
bad builder result, input or mapping is one clear error (a ValueError naming
the argument and the value; one line and exit 2 on the command line), never
a traceback and never a verdict on nothing."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from compat_init import port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests import port_pairs as P  # noqa: E402

v1 = tf.compat.v1
MLP = (8, 20)


@pytest.mark.parametrize("result,words", [
    (None, "None"),
    (3, "a int (3)"),
    (len, "did you return the function instead of calling it?"),
    ([1, 2], "a list"),
], ids=["none", "int", "function", "list"])
def test_a_port_builder_returning_no_model_is_refused(result, words):
    with pytest.raises(ValueError, match="the port builder must return a Keras model or layer or a tf.Module; "
                                         "received .*" + words.replace("(", r"\(").replace(")", r"\)").replace(
                                             "?", r"\?")):
        port.check_migration(P.legacy_mlp, lambda: result)


@pytest.mark.parametrize("result", [None, 3, [1, 2]], ids=["none", "int", "list"])
def test_a_legacy_builder_returning_no_tensor_is_refused_when_functions_are_compared(result):
    def legacy():
        P.legacy_mlp()
        return result

    with pytest.raises(ValueError, match="the legacy builder must return its output tensor"):
        port.check_migration(legacy, P.port_module, inputs=MLP)


def test_inputs_of_the_wrong_shape_name_the_placeholder_and_both_shapes():
    with pytest.raises(ValueError, match=r"inputs for placeholder x must have shape \(None, 20\); received shape "
                                         r"\(4, 10\)"):
        port.check_migration(P.legacy_mlp, P.port_module, inputs=(4, 10))


def test_two_inputs_need_two_arrays():
    with pytest.raises(ValueError, match=r"the legacy graph has 2 input placeholder\(s\) \(a, b\) for 1 input"):
        port.check_migration(P.legacy_two_heads, P.port_two_heads, inputs=(5, 6))


@pytest.mark.parametrize("inputs,words", [
    ((4, 0), "inputs as a shape must have positive dimensions; received \\(4, 0\\)"),
    (np.zeros((0, 20), np.float32), "inputs must have at least one row; received shape \\(0, 20\\)"),
    (np.full((4, 20), np.nan, np.float32), "inputs must be finite; received 80 NaN or infinite"),
    (np.array([["a"] * 20] * 4), "inputs must be numeric arrays"),
    ((3000000, 1000000), "inputs shape \\(3000000, 1000000\\) needs .* GiB, over the 2 GiB budget"),
], ids=["zero-dim-shape", "empty-batch", "nan", "strings", "too-large"])
def test_bad_inputs_are_refused_before_the_models_run(inputs, words):
    with pytest.raises(ValueError, match=words):
        port.check_migration(P.legacy_mlp, P.port_module, inputs=inputs, steps=1)


def test_float64_inputs_are_cast_with_a_note():
    batch = np.random.RandomState(0).standard_normal(MLP)  # float64
    report = port.check_migration(P.legacy_mlp, P.port_module, inputs=batch)
    assert report.passed, str(report)
    assert "inputs for x cast from float64 to float32" in str(report)


def test_numpy_scalars_are_numbers():
    report = port.check_migration(P.legacy_mlp, P.port_module, inputs=MLP, steps=np.int64(2),
                                  learning_rate=np.float32(0.01), seed=np.int64(3))
    assert report.passed and len(report.function.steps) == 2, str(report)


def test_token_ids_out_of_range_are_a_clear_error():
    from examples_v1 import attention_pair as old
    from examples_v2 import attention_pair as new

    if not hasattr(tf.keras.layers, "MultiHeadAttention"):
        pytest.skip("MultiHeadAttention exists from TF 2.4")
    tokens = np.full((2, old.SEQUENCE), old.VOCAB + 5, np.int32)
    with pytest.raises(ValueError, match="inputs were refused by the legacy graph: InvalidArgumentError"):
        port.check_migration(old.build, new.build, inputs=tokens)


def legacy_float64_and_integer_outputs():
    probabilities = P.legacy_mlp()
    return {"probabilities": tf.cast(probabilities, tf.float64), "label": tf.argmax(probabilities, axis=-1)}


class DictPort(P.ModulePort):
    def __call__(self, x):
        probabilities = super().__call__(x)
        return {"probabilities": probabilities, "label": tf.argmax(probabilities, axis=-1)}


def test_dict_float64_and_integer_outputs_are_compared():
    report = port.check_migration(legacy_float64_and_integer_outputs, DictPort, inputs=MLP)
    assert report.passed, str(report)
    assert [o.name for o in report.function.outputs] == ["label", "probabilities"]


def legacy_string_output():
    P.legacy_mlp()
    return tf.constant(["a"])


def test_a_string_output_is_refused():
    with pytest.raises(ValueError, match="the legacy output Const must be numeric to compare; received dtype string"):
        port.check_migration(legacy_string_output, P.port_module, inputs=MLP)


def test_a_mapping_between_shapes_names_both():
    with pytest.raises(ValueError, match=r"legacy hidden/kernel has shape \(20, 16\) and port .*out/kernel.* has "
                                         r"shape \(16, 4\)"):
        port.check_migration(P.legacy_mlp, P.port_module, mapping={"hidden/kernel": "out/kernel"})
    with pytest.raises(ValueError, match="mapping names hidden/kernel twice"):
        port.check_migration(P.legacy_mlp, P.port_module, mapping={"hidden/kernel": "hidden/kernel",
                                                                   "out/kernel": "hidden/kernel"})


@pytest.mark.parametrize("steps,learning_rate,words", [
    (-1, 0.01, "steps must be a non-negative integer"),
    (1.5, 0.01, "steps must be an integer number; received steps=1.5"),
    (True, 0.01, "steps must be an integer number; received steps=True"),
    (1, "0.1", "learning_rate must be a number; received learning_rate='0.1'"),
    (1, float("nan"), "learning_rate must be a positive number"),
])
def test_training_arguments_are_checked(steps, learning_rate, words):
    with pytest.raises(ValueError, match=words):
        port.check_migration(P.legacy_mlp, P.port_module, inputs=MLP, steps=steps, learning_rate=learning_rate)


# --- on the command line: one line, exit 2 ------------------------------------------


def run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "compat_init", "parity", "--migration", "tests.port_pairs:legacy_mlp",
                           "tests.port_pairs:port_module"] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def _npy_files(folder):
    np.save(str(folder / "object.npy"), np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    (folder / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    (folder / "empty.npy").write_bytes(b"")
    return {"object": folder / "object.npy", "corrupt": folder / "corrupt.npy", "empty": folder / "empty.npy"}


@pytest.mark.parametrize("kind", ["object", "corrupt", "empty"])
def test_unreadable_npy_inputs_are_one_line(tmp_path, kind):
    path = _npy_files(tmp_path)[kind]
    result = run("--inputs", str(path))
    assert result.returncode == 2, result.stderr[-2000:]
    ours = [line for line in result.stderr.splitlines() if line.startswith("compat-init")]
    assert len(ours) == 1 and ours[0].startswith("compat-init: error: --inputs must be a readable numeric .npy"), \
        result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args,words", [
    (["--inputs", "3000000x1000000"], "needs"),
    (["--inputs", "4x10"], "inputs for placeholder x must have shape"),
    (["--inputs", "8x20", "--mapping", "hidden/kernel=out/kernel"], "mapping pairs variables of different shapes"),
])
def test_cli_input_errors_are_one_line(args, words):
    result = run(*args)
    assert result.returncode == 2, result.stderr[-2000:]
    ours = [line for line in result.stderr.splitlines() if line.startswith("compat-init")]
    assert len(ours) == 1 and words in ours[0], result.stderr


def legacy_images():
    x = v1.placeholder(tf.float32, (None, 28, 28, 1), name="images")
    kernel = v1.get_variable("dense/kernel", (784, 1), initializer=v1.zeros_initializer())
    bias = v1.get_variable("dense/bias", (1,), initializer=v1.zeros_initializer())
    return tf.matmul(tf.reshape(x, [-1, 784]), kernel) + bias


def port_flat_images():
    # a port written for flattened images, fed the legacy graph's 28x28x1 batch
    return tf.keras.Sequential([tf.keras.layers.Dense(1, kernel_initializer="zeros", input_shape=(784,))])


def test_a_port_that_cannot_take_the_inputs_says_so():
    # one line naming the inputs and the port's own first line, not a traceback or a locating failure
    with pytest.raises(ValueError, match=r"the port cannot (run on|take|be built by a call on) the inputs "
                                         r"\(shape \(4, 28, 28, 1\) float32\)"):
        port.check_migration(legacy_images, port_flat_images, inputs=(4, 28, 28, 1))
