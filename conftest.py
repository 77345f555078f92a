"""The documentation's code is tested: every ```python block of README.md and
docs/ runs (Sybil), each page's blocks in order in one namespace, in a scratch
folder.  A block that needs what a leg lacks is marked before it, e.g.
``<!-- skip: next if(TF1, reason="Keras ports need TF 2") -->``; the names a
condition may use are set in ``_setup``.  The pages' generated parts and the
tutorial's commands are checked by ``mkdocs build --strict`` (nox -s docs)."""
import importlib.util
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sybil import Sybil  # noqa: E402
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser  # noqa: E402


def _setup(namespace):
    from compat_init import _runtime

    namespace["TF1"] = _runtime.is_tf1()
    namespace["KERAS3"] = _runtime.keras_flavour() == "keras3"
    namespace["KERAS2"] = not namespace["TF1"] and not namespace["KERAS3"]
    namespace["KERAS_HUB"] = namespace["KERAS3"] and importlib.util.find_spec("keras_hub") is not None
    namespace["_home"] = os.getcwd()
    namespace["_scratch"] = tempfile.mkdtemp(prefix="compat-init-docs-")
    os.chdir(namespace["_scratch"])


def _teardown(namespace):
    os.chdir(namespace["_home"])
    shutil.rmtree(namespace["_scratch"], ignore_errors=True)


pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/*.md", "docs/*/*.md"],
    setup=_setup,
    teardown=_teardown,
).pytest()
