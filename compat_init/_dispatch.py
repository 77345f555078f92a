"""Which path (``"v1"`` or ``"v2"``) an initializer takes here and now.

Precedence: the ``api=`` argument > the innermost :func:`use_api` block >
the ``COMPAT_INIT_API`` environment variable > automatic detection.
"""
from __future__ import annotations

import threading
from typing import Any, List

from compat_init import _runtime, _validate

_local = threading.local()


def _stack() -> List[str]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


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
    stack = _stack()
    if stack:
        choice = stack[-1]
    else:
        choice = _runtime.env_api() or "auto"
        _validate.api(choice, "COMPAT_INIT_API")
    return _detect() if choice == "auto" else choice


def resolve(api: Any) -> str:
    """``api`` argument of a factory -> ``"v1"`` or ``"v2"``."""
    _validate.api(api)
    return active_api() if api == "auto" else api


class use_api:  # noqa: N801 - used like a function, as `tf.name_scope` is
    """Context manager that fixes the path for this thread.

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
        _stack().append(self.api)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        _stack().pop()

    def __repr__(self) -> str:
        return "use_api({!r})".format(self.api)
