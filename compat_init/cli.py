"""The ``compat-init`` command: argument parsing only.

Importing this module (and ``compat-init --help``) does not import TensorFlow;
each subcommand imports what it needs when it runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional, Sequence

import compat_init


def main_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    info = commands.add_parser(
        "info",
        help="print the TensorFlow/Keras runtime compat_init sees",
        description="Print compat_init.runtime_info(): TF version, Keras flavour, "
        "eager state, the path api='auto' picks, and whether this TF is tested.",
    )
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _info(args: argparse.Namespace) -> int:
    info = compat_init.runtime_info()
    if args.json:
        print(json.dumps({k: str(v) if not isinstance(v, bool) else v for k, v in info._asdict().items()}, indent=2))
    else:
        print(info)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = main_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.command == "info":
        return _info(args)
    parser.print_help()
    return 2


def entrypoint() -> None:
    raise SystemExit(main())
