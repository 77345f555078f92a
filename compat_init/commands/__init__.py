"""The subcommands of ``compat-init``, one module each (as pip's ``commands/``).

Each module has ``register(subparsers)``, which adds its parser and sets
``run``, and ``run(args) -> int``, which does the work and returns the exit
code.  ``cli.main_parser()`` is built from :data:`COMMANDS`, in this order.
Importing them imports no TensorFlow: each ``run`` imports what it needs.
"""
from __future__ import annotations

from compat_init.commands import convert, info, migrate, parity, record

#: The subcommands, in the order ``compat-init --help`` lists them.
COMMANDS = (info, parity, convert, record, migrate)
