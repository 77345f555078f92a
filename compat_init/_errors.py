"""compat_init's own exceptions.

Each subclasses the built-in exception a caller would catch anyway
(``ValueError``), so ``except ValueError`` keeps working; the command line maps
exactly :class:`UsageError` (and its subclasses) to one line on stderr and exit
code 2, and lets anything else surface as the bug it is.
"""
import re
from typing import Optional

#: Exit codes, defined once: the command line and ``MigrationReport.exit_code``
#: read them here (0 checked and equal, 1 checked and different, 2 bad usage,
#: 3 nothing could be proven, 4 an internal error, 130 interrupted).
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


class UsageError(ValueError):
    """Bad usage: an argument, a path, a module or a model that cannot be used
    as given.  The message names the argument, the rule and the value."""


class DrawError(UsageError):
    """An initializer drew something that cannot be tested (wrong shape or
    dtype, NaN/inf): a bug in that initializer, not a disagreement."""


class Terminated(BaseException):
    """SIGTERM, raised where the command is, as Ctrl-C raises
    ``KeyboardInterrupt``: the staged writes are undone on the way out.  Not a
    ``KeyboardInterrupt`` itself: CPython remembers one that crossed a C-level
    run of Python code and then ends the process by SIGINT (exit -2) instead
    of the command's exit code 130."""


#: Control characters (C0 and C1, DEL), a line break and a tab aside.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: The same and the line breaks: a one-line message stays one line.
_CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: The most characters of one message printed (a file's content quoted in an
#: error could be hundreds of MiB).
MESSAGE_MOST = 4000


def printable(text: str, lines: bool = False, most: Optional[int] = MESSAGE_MOST) -> str:
    """``text`` safe for a terminal: control characters (an escape sequence
    from a file's name or content, a NUL) written as ``\\xNN``, line breaks
    too unless ``lines``, and cut to ``most`` characters (None: whole)."""
    text = (_CONTROL if lines else _CONTROL_OR_BREAK).sub(lambda m: "\\x{:02x}".format(ord(m.group())), text)
    if most is not None and len(text) > most:
        text = text[:most] + "... ({} characters in all)".format(len(text))
    return text
