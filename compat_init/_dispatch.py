"""Which path (``"v1"`` or ``"v2"``) an initializer takes here and now.

Precedence: the ``api=`` argument > the innermost :func:`use_api` block >
the ``COMPAT_INIT_API`` environment variable > automatic detection.
"""
from __future__ import annotations

import contextvars
import sys
from typing import Any, Tuple

from compat_init import _runtime, _validate

#: The open ``use_api`` blocks of this context, innermost last, as
#: ``(block, api)`` pairs.  A ContextVar, so each thread and each asyncio task
#: has its own (Python 3.7+); a generator runs in its caller's context.
_BLOCKS: "contextvars.ContextVar[Tuple[Tuple[object, str], ...]]" = contextvars.ContextVar(
    "compat_init_use_api", default=())


def _detect() -> str:
    return "v2" if _runtime.executing_eagerly_outside_functions() else "v1"


def active_api() -> str:
    """Returns ``"v1"`` or ``"v2"``: what ``api="auto"`` picks here and now.

    * ``"v2"`` when ``tf.compat.v1.executing_eagerly_outside_functions()`` is
      true: eager code, and code inside ``tf.function`` in a TF2 program.
    * ``"v1"`` inside a v1 graph (``with tf.Graph().as_default():``), after
      ``tf.compat.v1.disable_eager_execution()``, and on TF 1.x unless eager
      execution was enabled.

    A :func:`use_api` block or the ``COMPAT_INIT_API`` environment variable
    (``v1``, ``v2`` or ``auto``) overrides the detection.
    """
    blocks = _BLOCKS.get()
    if blocks:
        choice = blocks[-1][1]
    else:
        choice = _runtime.env_api() or "auto"
        _validate.api(choice, "COMPAT_INIT_API")
    return _detect() if choice == "auto" else choice


def resolve(api: Any) -> str:
    """``api`` argument of a factory -> ``"v1"`` or ``"v2"``."""
    _validate.api(api)
    return active_api() if api == "auto" else api


class use_api:  # noqa: N801 - used like a function, as `tf.name_scope` is
    """Context manager that fixes the path for the current context.

    The choice lives in a ``contextvars.ContextVar``: it holds for this thread
    and this asyncio task only (a task created inside the block inherits it,
    as tasks copy their creator's context).  A generator runs in its caller's
    context: a ``with use_api(...)`` suspended at a ``yield`` holds for the
    caller too until the generator resumes and leaves the block.  Leaving a
    block removes that block's own entry, never another's, so generators
    closed in any order leave the rest as they were.

    Args:
      api: ``"v1"``, ``"v2"`` or ``"auto"`` (detection, overriding
        ``COMPAT_INIT_API``).

    Raises:
      ValueError: ``api`` is not one of those.

    Examples:

    >>> import compat_init as ci
    >>> with ci.use_api("v1"):
    ...     ci.active_api()
    'v1'
    """

    def __init__(self, api: str) -> None:
        self.api = _validate.api(api)

    def __enter__(self) -> "use_api":
        _BLOCKS.set(_BLOCKS.get() + ((self, self.api),))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        blocks = _BLOCKS.get()
        # The innermost entry of this block (the same object may be entered
        # twice, nested).
        for index in range(len(blocks) - 1, -1, -1):
            if blocks[index][0] is self:
                _BLOCKS.set(blocks[:index] + blocks[index + 1:])
                return

    def __repr__(self) -> str:
        return "use_api({!r})".format(self.api)


def runtime_info() -> _runtime.RuntimeInfo:
    """Describes the TensorFlow/Keras installation and the current context."""
    return _runtime.RuntimeInfo(
        tf_version=_runtime.tf_version(),
        keras_flavour=_runtime.keras_flavour(),
        keras_version=_runtime.keras_version(),
        executing_eagerly_outside_functions=_runtime.executing_eagerly_outside_functions(),
        active_api=active_api(),
        in_tested_range=_runtime.in_tested_range(_runtime.tf_version()),
        tested_range="{} <= tensorflow < {}".format(_runtime.TESTED_MIN, _runtime.TESTED_MAX_EXCLUSIVE),
        python=sys.version.split()[0],
    )
