"""``compat-init record``: run the legacy model once where it runs (TF 1.15 included) and write what the
migration proof reads from it, for ``parity --migration REC PORT`` and ``convert --migration REC PORT`` on TF 2."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from compat_init import _validate
from compat_init._errors import UsageError, printable
from compat_init.commands._loading import inputs_of, legacy_builder, require_tensorflow
from compat_init.commands._options import function_options, int_in, option_type
from compat_init.commands._outputs import (
    check_output_path,
    force_option,
    guarded,
    refuse_overwrites,
    run_files,
)


def register(commands: Any) -> None:
    """Adds ``compat-init record`` to the subcommands."""
    parser = commands.add_parser(
        "record",
        help="record a legacy model's run (where its code runs) for the migration proof on TF 2",
        description="Build the legacy model (module:function, or a Saver's .meta graph with --outputs) in its own "
        "environment (TF 1.15 and Python 3.7 included), run it as the migration proof would on --inputs (and "
        "--steps training steps), and write a recording: its variables (names, shapes, dtypes, values, how each was "
        "initialized), the inputs, the outputs, dropout rates, regularization losses, the tensors the locator "
        "compares, each step's loss, gradients and weights (batch-norm statistics included), the versions, and "
        "the digest of --checkpoint. Then, on TF 2: compat-init parity --migration REC PORT:BUILD (or convert "
        "--migration REC PORT:BUILD --checkpoint CKPT --out ...) proves the port against it, with no legacy code. "
        "The file is written whole or not at all, never over an input. Exit 0: written; 2: bad usage; 4: internal "
        "error.",
    )
    parser.add_argument("legacy", metavar="V1MODULE:BUILD|MODEL.ckpt.meta",
                        help="the legacy model's builder, or the .meta graph a Saver wrote (with --outputs)")
    parser.add_argument("--out", metavar="REC", required=True, help="the recording to write (a new or replaced file)")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="record at this checkpoint's trained tensors (its digest is kept: the proof refuses "
                             "another checkpoint)")
    function_options(parser, port=False)
    parser.add_argument("--seed", type=option_type("--seed", int_in(0, _validate.SEED_MAX),
                                                    "an integer in [0, 2**31 - 3]"),
                        default=0, help="seed of the build, of a drawn input batch and of the labels (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress, no summary")
    force_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``record``: exit 0 written; 2 bad usage (nothing written); 4 internal error."""
    if args.steps and not args.inputs:
        raise UsageError("--steps needs --inputs (the steps train on that batch); received --steps={}".format(
            args.steps))
    check_output_path(args.out, "--out")
    require_tensorflow()
    old = legacy_builder(args, args.legacy, "record")
    if not callable(old):
        raise UsageError("record needs the legacy model (module:function or a .meta graph), not a recording; "
                         "received {}".format(args.legacy))
    from compat_init import checkpoint as checkpoints
    from compat_init.port import record

    inputs, owned = run_files(args, (old,), checkpoints)
    refuse_overwrites([("--out", args.out, [args.out])], inputs, owned, args.force)
    say = (lambda text: None) if args.quiet else (
        lambda text: print("compat-init record: " + printable(text), file=sys.stderr))
    recording = guarded(args, lambda: record(
        old, args.out, inputs=inputs_of(args), checkpoint=args.checkpoint, steps=args.steps, loss=args.loss,
        optimizer=args.optimizer, learning_rate=args.learning_rate, from_logits=args.from_logits, seed=args.seed,
        placeholders=args.placeholders.split(",") if args.placeholders else None,
        feeds=dict(args.feed) if args.feed else None, progress=say))
    if not args.quiet:
        m = recording.manifest
        print("written: {}".format(recording.describe()))
        print("  {} variable(s) ({} on the outputs' path), {} output(s), {} tensor(s) for the locator{}".format(
            len(m["variables"]), sum(1 for v in m["variables"] if v["on_path"]), len(m["outputs"]["names"]),
            len(m["candidates"]["tensors"]), ", {} left out (over the size budget)".format(
                m["candidates"]["left_out"]) if m["candidates"]["left_out"] else ""))
        for note in m["input_notes"]:
            print("  note: " + note)
        print("  prove a port against it on TF 2: compat-init parity --migration {} PORT_MODULE:BUILD".format(
            args.out))
    return 0
