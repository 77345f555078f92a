"""``compat-init parity``: the v1 and v2 paths' distributions, a model's kernels, or (``--migration``) a legacy
model against its Keras port."""
from __future__ import annotations

import argparse
import math
import sys
from typing import Any, Optional

from compat_init import _validate
from compat_init._errors import UsageError
from compat_init.commands._loading import (
    legacy_builder,
    load_callable,
    proof_options,
    recording_spec,
    require_tensorflow,
)
from compat_init.commands._options import alpha_value, function_options, int_in, option_type, shape_value
from compat_init.commands._outputs import (
    check_output_path,
    emit_report,
    force_option,
    guarded,
    refuse_overwrites,
    run_files,
)

DEFAULT_SHAPES = ["3x3x1x32", "5408x10", "25088x10"]
DEFAULT_INITIALIZERS = ["glorot_uniform", "glorot_normal"]


def register(commands: Any) -> None:
    """Adds ``compat-init parity`` to the subcommands."""
    parser = commands.add_parser(
        "parity",
        help="prove that the v1 and v2 initializer paths draw the same distribution",
        description="Test v1 (Graph + Session) against v2 (eager) draws of each "
        "initializer x shape, and each against the exact theory (scipy.stats: "
        "Kolmogorov-Smirnov, two-sample KS, variance z-test), holding the "
        "report's false-alarm rate at --alpha. Default: the seed article's CNN "
        "kernels (3x3x1x32, 5408x10, 25088x10) x glorot_uniform, glorot_normal. "
        "--model, --migration and --initializer/--shape exclude each other. "
        "Exit 0: all agree; 1: a disagreement (or nothing checked); 2: bad usage. With --migration: "
        "3: inconclusive (nothing failed, nothing proven: say why); 4: internal error (not a verdict).",
    )
    parser.add_argument("--initializer", action="append", metavar="NAME",
                        help="initializer name (repeatable); default glorot_uniform, glorot_normal")
    parser.add_argument("--shape", action="append", metavar="3x3x1x32",
                        type=option_type("--shape", shape_value, "positive integers joined by 'x' "
                                          "(e.g. 3x3x1x32), at most 254 of them, with at most 2**63 - 1 elements"),
                        help="kernel shape, dims joined by x (repeatable)")
    sources = parser.add_mutually_exclusive_group()
    sources.add_argument("--model", metavar="module:function",
                         help="check every kernel of the Keras model the callable returns")
    sources.add_argument("--migration", nargs=2, metavar=("V1MODULE:BUILD", "V2MODULE:BUILD"),
                         help="compare a legacy v1-graph builder with its Keras port, variable by variable")
    function_options(parser)
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="with --migration: both models start from this checkpoint's trained tensors")
    parser.add_argument("--alpha", type=option_type("--alpha", alpha_value, "a number in (0, 1)"),
                        default=1e-4, help="family-wise false-alarm rate (default 1e-4)")
    parser.add_argument("--seed", type=option_type("--seed", int_in(0, _validate.SEED_MAX),
                                                    "an integer in [0, 2**31 - 3]"),
                        default=0, help="seed of the whole report (default 0)")
    parser.add_argument("--samples", type=option_type("--samples", int_in(100, math.inf),
                                                       "an integer >= 100"),
                        default=None, help="values per side per kernel (default 30000)")
    parser.add_argument("--json", metavar="PATH|-", help="write the full report as JSON (- for stdout)")
    parser.add_argument("--plot", metavar="PATH.png", help="write histograms vs theory (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    force_option(parser)
    parser.set_defaults(run=run)


def _progress(total: int, quiet: bool):
    if quiet or total <= 3 or not sys.stderr.isatty():
        return None, lambda: None
    try:
        from tqdm import tqdm
    except ImportError:
        return None, lambda: None
    bar = tqdm(total=total, unit="kernel", file=sys.stderr, desc="parity")
    return bar.update, bar.close


def _check_parity_arguments(args: argparse.Namespace) -> None:
    """Everything that needs no import: option combinations and output paths."""
    if (args.model or args.migration) and (args.initializer or args.shape):
        raise UsageError("--initializer/--shape do not apply with {}; received {}".format(
            "--model" if args.model else "--migration",
            " ".join("--initializer={}".format(n) for n in args.initializer or [])
            or " ".join("--shape={}".format("x".join(map(str, s))) for s in args.shape)))
    if args.plot and args.migration and not args.steps:
        raise UsageError("--plot with --migration draws the training curves: it needs --inputs and --steps; "
                         "received --plot={} without --steps".format(args.plot))
    function_options = [o for o, given in (("--inputs", args.inputs), ("--steps", args.steps),
                                           ("--placeholders", args.placeholders), ("--feed", args.feed),
                                           ("--mapping", args.mapping), ("--from-logits", args.from_logits),
                                           ("--checkpoint", args.checkpoint), ("--input-map", args.input_map),
                                           ("--outputs", args.outputs), ("--forward-only", args.forward_only),
                                           ("--training-arg", args.training_arg)) if given]
    if function_options and not args.migration:
        raise UsageError("{} apply only with --migration; received {}".format(
            "/".join(function_options), " ".join(function_options)))
    if args.steps and not args.inputs and not (args.migration and recording_spec(args.migration[0])):
        raise UsageError("--steps needs --inputs (both models train on that batch); received --steps={}".format(
            args.steps))
    if args.placeholders and len(args.placeholders.split(",")) != len(args.inputs or []):
        raise UsageError("--placeholders must name one placeholder per --inputs; received --placeholders={} "
                         "for {} --inputs".format(args.placeholders, len(args.inputs or [])))
    if args.json and args.json != "-":
        check_output_path(args.json, "--json")
    if args.plot:
        check_output_path(args.plot, "--plot")


def run(args: argparse.Namespace) -> int:
    _check_parity_arguments(args)
    from compat_init import _registry

    names = args.initializer or DEFAULT_INITIALIZERS
    for name in names:
        if name not in _registry.NAMES:
            raise UsageError("--initializer must be one of {}; received --initializer={}".format(
                ", ".join(_registry.NAMES), name))
    try:
        from compat_init import parity
    except ImportError as error:
        raise UsageError("compat-init parity needs scipy: pip install \"compat-init[parity]\" ({})".format(error))
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install \"compat-init[plot]\"") from None
    shapes = args.shape or [tuple(int(d) for d in s.split("x")) for s in DEFAULT_SHAPES]
    samples = args.samples if args.samples is not None else parity.DEFAULT_SAMPLES
    for shape in shapes:
        needed = parity.memory_needed(shape, samples)
        if needed > parity.MEMORY_BUDGET:
            raise UsageError(
                "--shape {} with --samples {} needs about {:.3g} GiB per kernel, over the {:.3g} GiB "
                "budget; use a smaller shape or fewer samples".format(
                    "x".join(map(str, shape)), samples, needed / 2 ** 30, parity.MEMORY_BUDGET / 2 ** 30))
    require_tensorflow()
    if args.migration:
        return _migration(args)
    untested: list = []
    if args.model:
        pairs, untested = parity.model_kernels(load_callable(args.model, "--model")())
        if not pairs:
            raise UsageError("--model {} has no kernel with a random initializer compat_init "
                             "knows ({} untested)".format(args.model, len(untested)))
    else:
        pairs = []
        for s in shapes:
            for n in names:
                try:
                    pairs.append(parity.make_pair(n, s, args.seed))
                except ValueError as error:  # the initializer refuses that shape: bad usage, one line
                    raise UsageError("--initializer {} --shape {}: {}".format(n, "x".join(map(str, s)), error)) \
                        from None
    update, close = _progress(len(pairs), args.quiet)
    keep: Optional[dict] = {} if args.plot else None
    try:
        report = parity.run_pairs(pairs, args.alpha, args.seed, args.samples, update, keep)
    finally:
        close()
    report.untested = untested
    return _finish(args, report, keep)


def _migration(args: argparse.Namespace) -> int:
    """``parity --migration``: exit 0 same, 1 different, 3 inconclusive, 4
    internal error (one line; ``--traceback`` for the whole of it)."""
    old = legacy_builder(args, args.migration[0], "--migration")
    new = load_callable(args.migration[1], "--migration", port=True)
    from compat_init import checkpoint, port

    inputs, owned = run_files(args, (old, new), checkpoint)
    refuse_overwrites([(option, path, [path]) for option, path in (("--json", args.json), ("--plot", args.plot))
                       if path and path != "-"], inputs, owned, args.force)
    options = proof_options(args)

    report = guarded(args, lambda: port.check_migration(old, new, checkpoint=args.checkpoint, **options))
    _finish(args, report, None)
    return report.exit_code


def _finish(args: argparse.Namespace, report: Any, keep: Optional[dict]) -> int:
    table_stream = emit_report(args, report)
    if args.plot and (keep is not None or getattr(report, "function", None) is not None):
        from compat_init.parity._plot import plot, plot_training

        if keep is not None:
            plot(report, keep, args.plot)
        else:
            plot_training(report.function, args.plot)
        if not args.quiet:
            print("plot written to {}".format(args.plot), file=table_stream)
    passed, failed = report.counts
    function = getattr(report, "function", None)
    if function is not None and getattr(function, "status", None) == "inconclusive":
        # the function check neither passed nor failed: counted as what it is
        print("{} passed, {} failed, 1 inconclusive".format(passed, failed - 1), file=table_stream)
    else:
        print("{} passed, {} failed".format(passed, failed), file=table_stream)
    return 0 if report.passed else 1
