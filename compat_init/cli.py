"""The ``compat-init`` command: argument parsing only.

Importing this module (and ``compat-init --help``) does not import TensorFlow;
each subcommand imports what it needs when it runs.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
from typing import Callable, Optional, Sequence

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
    parity = commands.add_parser(
        "parity",
        help="prove that the v1 and v2 initializer paths draw the same distribution",
        description="Test v1 (Graph + Session) against v2 (eager) draws of each "
        "initializer x shape, and each against the exact theory (scipy.stats: "
        "Kolmogorov-Smirnov, two-sample KS, variance z-test), holding the "
        "report's false-alarm rate at --alpha. Default: the seed article's CNN "
        "kernels (3x3x1x32, 5408x10, 25088x10) x glorot_uniform, glorot_normal. "
        "Exit 0: all agree; 1: a disagreement; 2: bad usage.",
    )
    parity.add_argument("--initializer", action="append", metavar="NAME",
                        help="initializer name (repeatable); default glorot_uniform, glorot_normal")
    parity.add_argument("--shape", action="append", metavar="3x3x1x32",
                        help="kernel shape, dims joined by x (repeatable)")
    parity.add_argument("--model", metavar="module:function",
                        help="check every kernel of the Keras model the callable returns")
    parity.add_argument("--migration", nargs=2, metavar=("V1MODULE:BUILD", "V2MODULE:BUILD"),
                        help="compare a legacy v1-graph builder with its Keras port, variable by variable")
    parity.add_argument("--alpha", type=float, default=1e-4, help="family-wise false-alarm rate (default 1e-4)")
    parity.add_argument("--seed", type=int, default=0, help="seed of the whole report (default 0)")
    parity.add_argument("--samples", type=int, default=None, help="values per side per kernel (default 30000)")
    parity.add_argument("--json", metavar="PATH|-", help="write the full report as JSON (- for stdout)")
    parity.add_argument("--plot", metavar="PATH.png", help="write histograms vs theory (needs matplotlib)")
    parity.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    migrate = commands.add_parser(
        "migrate",
        help="rewrite legacy initializer calls onto compat_init (libcst codemod)",
        description="Rewrite tf.contrib / tf.compat.v1 / tf.keras initializer calls "
        "onto compat_init. Dry run by default: a unified diff on stdout; notes, "
        "left-alone calls (file:line: reason) and the summary go to stderr. "
        "Exit 0, or 1 with --check when anything would change; 2 on bad usage.",
    )
    migrate.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    migrate.add_argument("--write", action="store_true", help="rewrite the files (atomically)")
    migrate.add_argument("--check", action="store_true", help="exit 1 when anything would change")
    migrate.add_argument("--report", metavar="PATH.json", help="write a JSON report")
    migrate.add_argument("--jobs", type=int, default=None, metavar="N",
                         help="parallel workers (default: the number of CPUs)")
    migrate.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _migrate(args: argparse.Namespace) -> int:
    try:
        from compat_init import migrate
    except ImportError as error:
        raise UsageError('compat-init migrate needs libcst: pip install "compat-init[migrate]" ({})'.format(error))
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be a positive integer; received --jobs={}".format(args.jobs))
    try:
        return migrate.run(args.paths, write=args.write, check=args.check, report=args.report,
                           jobs=args.jobs, quiet=args.quiet)
    except migrate.UsageError as error:
        raise UsageError(str(error)) from None


DEFAULT_SHAPES = ["3x3x1x32", "5408x10", "25088x10"]
DEFAULT_INITIALIZERS = ["glorot_uniform", "glorot_normal"]


class UsageError(Exception):
    """Bad command-line input: one line on stderr, exit code 2."""


def _parse_shape(text: str) -> tuple:
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
        if any(d <= 0 for d in dims):
            raise ValueError
        return dims
    except ValueError:
        raise UsageError("--shape must be positive integers joined by 'x' (e.g. 3x3x1x32); "
                         "received --shape={}".format(text)) from None


def _load_callable(spec: str, option: str = "--model") -> Callable[[], object]:
    import importlib

    module_name, _, function = spec.partition(":")
    if not module_name or not function:
        raise UsageError("{} must be module:function; received {}={}".format(option, option, spec))
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, ".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, function)
    except (ImportError, AttributeError) as error:
        raise UsageError("{} {} cannot be imported: {}".format(option, spec, error)) from None


def _progress(total: int, quiet: bool):
    if quiet or total <= 3 or not sys.stderr.isatty():
        return None, lambda: None
    try:
        from tqdm import tqdm
    except ImportError:
        return None, lambda: None
    bar = tqdm(total=total, unit="kernel", file=sys.stderr, desc="parity")
    return bar.update, bar.close


def _parity(args: argparse.Namespace) -> int:
    try:
        from compat_init import parity
    except ImportError as error:
        raise UsageError("compat-init parity needs scipy: pip install \"compat-init[parity]\" ({})".format(error))
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install \"compat-init[plot]\"") from None
    names = args.initializer or DEFAULT_INITIALIZERS
    for name in names:
        if name not in parity.NAMES:
            raise UsageError("--initializer must be one of {}; received --initializer={}".format(
                ", ".join(parity.NAMES), name))
    if not 0.0 < args.alpha < 1.0:
        raise UsageError("--alpha must be in (0, 1); received --alpha={}".format(args.alpha))
    if args.samples is not None and args.samples < 100:
        raise UsageError("--samples must be >= 100; received --samples={}".format(args.samples))
    shapes = [_parse_shape(s) for s in (args.shape or DEFAULT_SHAPES)]
    if args.migration:
        old, new = (_load_callable(spec, "--migration") for spec in args.migration)
        try:
            report = parity.check_migration(old, new, alpha=args.alpha, seed=args.seed)
        except ValueError as error:  # the two models' variables do not pair up
            raise UsageError(str(error)) from None
        return _finish(args, report, None)
    untested: list = []
    if args.model:
        pairs, untested = parity.model_kernels(_load_callable(args.model)())
        if not pairs:
            raise UsageError("--model {} has no kernel with a random initializer compat_init "
                             "knows ({} untested)".format(args.model, len(untested)))
    else:
        pairs = [parity.make_pair(n, s, args.seed) for s in shapes for n in names]
    update, close = _progress(len(pairs), args.quiet)
    keep = {} if args.plot else None
    try:
        report = parity.run_pairs(pairs, args.alpha, args.seed, args.samples, update, keep)
    except ValueError as error:  # an initializer of the model drew something untestable
        raise UsageError(str(error)) from None
    finally:
        close()
    report.untested = untested
    return _finish(args, report, keep)


def _finish(args: argparse.Namespace, report: object, keep: Optional[dict]) -> int:
    json_to_stdout = args.json == "-"
    table_stream = sys.stderr if json_to_stdout else sys.stdout
    if not args.quiet:
        print(report, file=table_stream)
    if args.json:
        text = json.dumps(report.to_dict(), indent=2)
        if json_to_stdout:
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    if args.plot and keep is not None:
        from compat_init.parity._plot import plot

        plot(report, keep, args.plot)
        if not args.quiet:
            print("plot written to {}".format(args.plot), file=table_stream)
    passed, failed = report.counts
    print("{} passed, {} failed".format(passed, failed), file=table_stream)
    return 0 if report.passed else 1


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
    try:
        if args.command == "info":
            return _info(args)
        if args.command == "parity":
            return _parity(args)
        if args.command == "migrate":
            return _migrate(args)
    except UsageError as error:
        print("compat-init: error: {}".format(error), file=sys.stderr)
        return 2
    parser.print_help()
    return 2


def entrypoint() -> None:
    code = main()
    # The work is done and every file is closed.  Python's last garbage
    # collections would now walk TensorFlow's whole object graph (0.6-0.7 s
    # on a 2-core machine, a quarter of `import tensorflow`); freezing it
    # skips them, and the OS takes the memory back.  atexit handlers and
    # stream flushing still run.  Only here, never in main(): callers that
    # run main() in their own process keep a normal garbage collector.
    gc.freeze()
    raise SystemExit(code)
