"""``compat-init migrate``: legacy initializer calls rewritten onto compat_init (libcst)."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from compat_init._errors import UsageError
from compat_init.commands._options import int_in, option_type, positive_float
from compat_init.commands._outputs import check_output_path, refuse_overwrites


def register(commands: Any) -> None:
    """Adds ``compat-init migrate`` to the subcommands."""
    parser = commands.add_parser(
        "migrate",
        help="rewrite legacy initializer calls onto compat_init (libcst codemod)",
        description="Rewrite tf.contrib / tf.compat.v1 / tf.keras initializer calls "
        "onto compat_init. Dry run by default: a unified diff on stdout; every "
        "legacy call not rewritten (file:line: left alone: reason, or not resolved: "
        "NAME), every file not touched, notes and the summary go to stderr. "
        "Exit 0, or 1 with --check when anything would change; 2 on bad usage.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    parser.add_argument("--write", action="store_true", help="rewrite the files (atomically)")
    parser.add_argument("--check", action="store_true", help="exit 1 when anything would change")
    parser.add_argument("--report", metavar="PATH.json", help="write a JSON report")
    parser.add_argument("--jobs", type=option_type("--jobs", int_in(1, 4096), "an integer in [1, 4096]"),
                         default=None, metavar="N", help="parallel workers (default: the number of CPUs)")
    parser.add_argument("--max-file-size", metavar="BYTES",
                         type=option_type("--max-file-size", int_in(1, 2 ** 62), "a positive integer (bytes)"),
                         default=None, help="skip files larger than this (default 10 MiB)")
    parser.add_argument("--timeout-per-file", metavar="SECONDS",
                         type=option_type("--timeout-per-file", positive_float, "a number of seconds > 0"),
                         default=None, help="skip a file whose parse takes longer, and go on (default: 60 s "
                         "plus 120 s per MiB of the file)")
    parser.add_argument("--force", action="store_true",
                         help="also rewrite read-only files (their mode is kept)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from compat_init import migrate
    except ImportError as error:
        raise UsageError('compat-init migrate needs libcst: pip install "compat-init[migrate]" ({})'.format(error))
    if args.report:
        check_output_path(args.report, "--report")
        # The report never replaces a file it migrates: a path given, or a
        # Python file below a folder given.
        given = [p for p in args.paths if os.path.isfile(p)]
        if args.report.endswith(".py"):
            given += [args.report for p in args.paths if os.path.isdir(p) and os.path.realpath(args.report).startswith(
                os.path.join(os.path.realpath(p), ""))]
        refuse_overwrites([("--report", args.report, [args.report])], [("a file to migrate", given)])
    try:
        return migrate.run(args.paths, write=args.write, check=args.check, report=args.report,
                           jobs=args.jobs, quiet=args.quiet, force=args.force,
                           max_file_size=args.max_file_size or migrate.DEFAULT_MAX_FILE_SIZE,
                           timeout_per_file=args.timeout_per_file)
    except BrokenPipeError:
        # The reader of the diff went away (`| head`): stop, one line, and no
        # second error when Python flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise UsageError("the output was closed before the diff was complete (broken pipe); nothing was "
                         "written") from None
    except OSError as error:
        if args.report and error.filename in (None, args.report):
            raise UsageError("--report {} cannot be written: {}".format(args.report, error.strerror or error)) \
                from None
        raise
