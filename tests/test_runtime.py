"""The runtime module: tested range, missing TensorFlow, global seeds."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf
from packaging.version import Version

import compat_init as ci
from compat_init import _runtime

from conftest import TF1, to_numpy

RANGE = [
    ("1.15.0", True),
    ("1.14.0", False),
    ("2.15.1", True),
    ("2.21.0", True),
    ("2.22.0", False),
    ("2.22.0.dev20261101", False),  # a nightly of the next release
    ("2.21.0rc1", True),
    ("3.0.0", False),
]


@pytest.mark.parametrize("version,tested", RANGE)
def test_tested_range(version, tested):
    assert _runtime.in_tested_range(Version(version)) is tested
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _runtime.warn_if_untested(version)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if tested:
        assert messages == []
    else:
        assert messages == ["compat_init is tested with 1.15.0 <= tensorflow < 2.22.0; found "
                            "tensorflow {}. Seeded values may differ from Keras on this "
                            "version.".format(version)]


def test_missing_tensorflow_says_how_to_install_it():
    code = (
        "import sys\n"
        "sys.modules['tensorflow'] = None  # as if TensorFlow were not installed\n"
        "import compat_init\n"
        "try:\n"
        "    compat_init.glorot_uniform()\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    assert out.startswith("compat_init needs TensorFlow, which could not be imported")
    assert 'pip install "compat-init[cpu]"' in out


@pytest.mark.skipif(TF1 or not hasattr(tf.keras.utils, "set_random_seed"),
                    reason="keras.utils.set_random_seed exists from TF 2.7")
def test_keras_set_random_seed_replays_unseeded_draws():
    def program():
        tf.keras.utils.set_random_seed(17)
        return to_numpy(ci.glorot_uniform()((6, 6)))

    np.testing.assert_array_equal(program(), program())


def test_untested_version_warning_names_the_users_line():
    code = (
        "import warnings, tensorflow\n"
        "tensorflow.__version__ = '3.0.0'\n"
        "import compat_init as ci\n"
        "init = ci.glorot_uniform(seed=1)\n"
    )
    result = subprocess.run([sys.executable, "-W", "always::RuntimeWarning", "-c", code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "RuntimeWarning" in line]
    # the -c program's line 4 (Python 3.7 names the program "-c", later ones "<string>")
    assert warning and warning[0].split(":4: RuntimeWarning: compat_init is tested with")[0] in (
        "<string>", "-c"), warning
