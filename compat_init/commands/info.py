"""``compat-init info``: the TensorFlow/Keras runtime compat_init sees."""
from __future__ import annotations

import argparse
import json
from typing import Any

import compat_init
from compat_init.commands._loading import require_tensorflow


def register(commands: Any) -> None:
    """Adds ``compat-init info`` to the subcommands."""
    parser = commands.add_parser(
        "info",
        help="print the TensorFlow/Keras runtime compat_init sees",
        description="Print compat_init.runtime_info(): TF version, Keras flavour, "
        "eager state, the path api='auto' picks, and whether this TF is tested.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require_tensorflow()
    info = compat_init.runtime_info()
    if args.json:
        print(json.dumps({k: str(v) if not isinstance(v, bool) else v for k, v in info._asdict().items()}, indent=2))
    else:
        print(info)
    return 0
