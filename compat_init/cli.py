"""The ``compat-init`` command: the parser, built from the subcommands'
modules (``compat_init.commands``), and the entry points.

Importing this module (and ``compat-init --help``) does not import TensorFlow;
each subcommand imports what it needs when it runs.

Bad usage is one line on stderr and exit code 2, before any work or any
write: every argument, output path, optional dependency and user module is
checked first.  Only :class:`compat_init._errors.UsageError` maps to exit 2;
anything else is a bug and surfaces as one.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import Optional, Sequence

import compat_init
from compat_init._errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, Terminated, UsageError, printable
from compat_init.commands import COMMANDS
from compat_init.commands._outputs import Internal
from compat_init.commands.parity import DEFAULT_INITIALIZERS, DEFAULT_SHAPES

__all__ = ["main", "main_parser", "entrypoint", "UsageError", "DEFAULT_INITIALIZERS", "DEFAULT_SHAPES"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors raised as UsageError (``main`` prints
    them), instead of usage text and ``exit(2)``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # "argument --seed: --seed must be ..." -> "--seed must be ..."
        head, _, rest = message.partition(": ")
        if head.startswith("argument ") and rest.startswith(head[len("argument "):].split("/")[0]):
            message = rest
        raise UsageError(message)


def main_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="compat-init",
        description=(
            "compat_init: the right weight initializer in TF1 Session code and in "
            "TF2/Keras code, with one seed giving one tensor."
        ),
    )
    parser.add_argument(
        "--version", action="version", version="compat-init " + compat_init.__version__
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = main_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        if getattr(args, "run", None) is not None:
            return args.run(args)
    except UsageError as error:
        print("compat-init: error: {}".format(printable(str(error))), file=sys.stderr)
        return EXIT_USAGE
    except Internal:
        return EXIT_INTERNAL
    except (KeyboardInterrupt, Terminated):
        # Ctrl-C, or SIGTERM (entrypoint): every write is staged, and the
        # staging is undone on the way out; no partial output stands.
        print("compat-init: interrupted: no partial output was left (an output is renamed into place only "
              "when whole)", file=sys.stderr)
        return EXIT_INTERRUPTED
    parser.print_help()
    return EXIT_USAGE


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the staged writes are undone on the way out; while
    the outputs are being committed, the run ends whole instead."""
    from compat_init._files import terminable

    if terminable():
        raise Terminated


def entrypoint() -> None:
    # TensorFlow's C++ INFO/WARNING lines would bury a one-line error.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    code = main()
    # The work is done and every file is closed.  Python's last garbage
    # collections would now walk TensorFlow's whole object graph (0.6-0.7 s
    # on a 2-core machine, a quarter of `import tensorflow`); freezing it
    # skips them, and the OS takes the memory back.  atexit handlers and
    # stream flushing still run.  Only here, never in main(): callers that
    # run main() in their own process keep a normal garbage collector.
    gc.freeze()
    raise SystemExit(code)
