"""The ``compat-init`` command: argument parsing only.

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
import json
import math
import os
import sys
from typing import Any, Callable, Optional, Sequence

import compat_init
from compat_init import _validate  # pure Python: no TensorFlow
from compat_init._errors import UsageError

__all__ = ["main", "main_parser", "entrypoint", "UsageError"]

DEFAULT_SHAPES = ["3x3x1x32", "5408x10", "25088x10"]
DEFAULT_INITIALIZERS = ["glorot_uniform", "glorot_normal"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors raised as UsageError (``main`` prints
    them), instead of usage text and ``exit(2)``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # "argument --seed: --seed must be ..." -> "--seed must be ..."
        head, _, rest = message.partition(": ")
        if head.startswith("argument ") and rest.startswith(head[len("argument "):].split("/")[0]):
            message = rest
        raise UsageError(message)


def _option_type(option: str, parse: Callable[[str], Any], rule: str) -> Callable[[str], Any]:
    """An argparse ``type=`` that refuses with "OPTION must RULE; received OPTION=VALUE"."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (ValueError, ArithmeticError):
            raise argparse.ArgumentTypeError(
                "{} must be {}; received {}={}".format(option, rule, option, text)) from None

    convert.__name__ = option.lstrip("-")  # argparse names the type in some messages
    return convert


def _int_in(low: float, high: float) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError
        return value
    return parse


def _alpha(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise ValueError
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError
    return value


def _inputs(text: str) -> Any:
    """A shape (a tuple) or the path of an existing .npy file (a str)."""
    if text.endswith(".npy"):
        if not os.path.isfile(text):
            raise ValueError
        return text
    return _shape(text)


def _feed(text: str) -> tuple:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ValueError
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return name.strip(), lowered == "true"
    number = float(value)
    return name.strip(), int(number) if value.strip().lstrip("+-").isdigit() else number


def _mapping(text: str) -> dict:
    if text.endswith(".json"):
        try:
            with open(text) as f:
                data = json.load(f)
        except (OSError, ValueError):
            raise ValueError from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ValueError
        return data
    old, sep, new = text.partition("=")
    if not sep or not old.strip() or not new.strip():
        raise ValueError
    return {old.strip(): new.strip()}


def _shape(text: str) -> tuple:
    dims = tuple(int(d) for d in text.lower().split("x"))
    if any(d <= 0 for d in dims) or len(dims) > _validate.MAX_RANK:
        raise ValueError
    if _product(dims) > _validate.MAX_ELEMENTS:
        raise ValueError
    return dims


def _product(dims: Sequence[int]) -> int:
    size = 1
    for dim in dims:
        size *= dim
    return size


def _function_options(parser: argparse.ArgumentParser) -> None:
    """The migration proof's options, shared by ``parity --migration`` and ``convert``."""
    parser.add_argument("--inputs", action="append", metavar="4x28x28x1|BATCH.npy",
                        type=_option_type("--inputs", _inputs, "a shape (positive integers joined by 'x') or "
                                          "an existing .npy file"),
                        help="with --migration: also compare the two functions on this batch (a shape draws "
                             "a fixed random batch from --seed; repeatable, one per placeholder)")
    parser.add_argument("--placeholders", metavar="NAME,NAME",
                        help="with --inputs: the legacy graph's placeholders, in the order of --inputs")
    parser.add_argument("--feed", action="append", metavar="NAME=VALUE",
                        type=_option_type("--feed", _feed, "NAME=VALUE (a number, true or false)"),
                        help="with --migration: a value for another legacy placeholder (keep_prob=1.0, "
                             "is_training=false; repeatable)")
    parser.add_argument("--mapping", action="append", metavar="LEGACY=PORT|MAPPING.json",
                        type=_option_type("--mapping", _mapping, "LEGACY=PORT (variable names or name suffixes) "
                                          "or an existing JSON file of {legacy: port}"),
                        help="with --migration: pair a legacy variable with a port weight (repeatable; a JSON "
                             "file of {legacy: port} too); the rest pairs by creation order, else by name")
    parser.add_argument("--from-logits", action="store_true",
                        help="with --steps: the first output is logits (the crossentropy takes a softmax of it)")
    parser.add_argument("--traceback", action="store_true",
                        help="on an internal error (exit 4), print the whole traceback")
    parser.add_argument("--steps", type=_option_type("--steps", _int_in(0, 10000), "an integer in [0, 10000]"),
                        default=0, help="with --inputs: then train both models this many steps and compare")
    parser.add_argument("--loss", choices=("categorical_crossentropy", "sparse_categorical_crossentropy", "mse"),
                        default="categorical_crossentropy", help="the training loss (default categorical_crossentropy)")
    parser.add_argument("--optimizer", choices=("sgd", "momentum", "adam"), default="sgd",
                        help="plain SGD (default), momentum 0.9 or Adam: the same update on both sides")
    parser.add_argument("--learning-rate", type=_option_type("--learning-rate", _positive_float, "a positive number"),
                        default=0.01, help="the training learning rate (default 0.01)")


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
        "--model, --migration and --initializer/--shape exclude each other. "
        "Exit 0: all agree; 1: a disagreement (or nothing checked); 2: bad usage. With --migration: "
        "3: inconclusive (nothing failed, nothing proven: say why); 4: internal error (not a verdict).",
    )
    parity.add_argument("--initializer", action="append", metavar="NAME",
                        help="initializer name (repeatable); default glorot_uniform, glorot_normal")
    parity.add_argument("--shape", action="append", metavar="3x3x1x32",
                        type=_option_type("--shape", _shape, "positive integers joined by 'x' "
                                          "(e.g. 3x3x1x32), at most 254 of them, with at most 2**63 - 1 elements"),
                        help="kernel shape, dims joined by x (repeatable)")
    sources = parity.add_mutually_exclusive_group()
    sources.add_argument("--model", metavar="module:function",
                         help="check every kernel of the Keras model the callable returns")
    sources.add_argument("--migration", nargs=2, metavar=("V1MODULE:BUILD", "V2MODULE:BUILD"),
                         help="compare a legacy v1-graph builder with its Keras port, variable by variable")
    _function_options(parity)
    parity.add_argument("--checkpoint", metavar="PATH",
                        help="with --migration: both models start from this checkpoint's trained tensors")
    parity.add_argument("--alpha", type=_option_type("--alpha", _alpha, "a number in (0, 1)"),
                        default=1e-4, help="family-wise false-alarm rate (default 1e-4)")
    parity.add_argument("--seed", type=_option_type("--seed", _int_in(0, _validate.SEED_MAX),
                                                    "an integer in [0, 2**31 - 3]"),
                        default=0, help="seed of the whole report (default 0)")
    parity.add_argument("--samples", type=_option_type("--samples", _int_in(100, math.inf),
                                                       "an integer >= 100"),
                        default=None, help="values per side per kernel (default 30000)")
    parity.add_argument("--json", metavar="PATH|-", help="write the full report as JSON (- for stdout)")
    parity.add_argument("--plot", metavar="PATH.png", help="write histograms vs theory (needs matplotlib)")
    parity.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    convert = commands.add_parser(
        "convert",
        help="load a TF checkpoint's trained tensors into a Keras port and write its weights",
        description="Read a name-based TF1 checkpoint (Saver) or an object-based TF2 checkpoint (tf.train.Checkpoint, "
        "Keras 2 save_weights), pair its keys with the port's weights (with the legacy builder: by its creation "
        "order, as the migration proof does; with --port alone: by names and shapes, --mapping for the rest), load "
        "them and write the port's weights (Keras 3: .weights.h5; Keras 2: .h5 or a TF checkpoint) atomically. "
        "Every key is reported: loaded (into which weight, paired how), skipped (why) or an error. With --migration "
        "and --inputs, the migration proof runs at the trained weights first; nothing is written unless it passes. "
        "Exit 0: written; 1: the proof found a difference; 2: bad usage or a checkpoint that cannot be used; "
        "3: the proof was inconclusive; 4: internal error. Nothing is written unless the exit code is 0.",
    )
    sides = convert.add_mutually_exclusive_group(required=True)
    sides.add_argument("--migration", nargs=2, metavar=("V1MODULE:BUILD", "V2MODULE:BUILD"),
                       help="the legacy builder and the port's (pairs by the legacy creation order)")
    sides.add_argument("--port", metavar="V2MODULE:BUILD", help="the port's builder alone (pairs by names and shapes)")
    convert.add_argument("--checkpoint", metavar="PATH",
                         help="a checkpoint prefix, its .index, a `checkpoint` state file or its folder")
    convert.add_argument("--out", required=True, metavar="PORT.weights.h5",
                         help="where to write the port's weights (with --reverse: the legacy checkpoint prefix)")
    convert.add_argument("--reverse", action="store_true",
                         help="the way back (with --migration): the port's weights (--weights, or the builder's) "
                              "written as a name-based checkpoint the legacy program's Saver restores")
    convert.add_argument("--optimizer-state", action="store_true",
                         help="with --migration, --inputs and --optimizer adam|momentum: carry the legacy optimizer's "
                              "slots into the Keras optimizer, prove that --steps more steps (default 5) on both sides "
                              "give the same weights, and write its variables beside --out (OUT.optimizer.npz)")
    convert.add_argument("--dense-gradients", action="store_true",
                         help="with --optimizer-state: dense gradients for the Keras optimizer (Keras 3 applies an "
                              "embedding's sparse gradient otherwise than TF 1's Adam)")
    convert.add_argument("--weights", metavar="PORT.weights.h5",
                         help="with --reverse: a weights file the port's load_weights reads first")
    _function_options(convert)
    convert.add_argument("--seed", type=_option_type("--seed", _int_in(0, _validate.SEED_MAX),
                                                     "an integer in [0, 2**31 - 3]"),
                         default=0, help="seed of the builds and of a drawn input batch (default 0)")
    convert.add_argument("--alpha", type=_option_type("--alpha", _alpha, "a number in (0, 1)"), default=1e-4,
                         help=argparse.SUPPRESS)
    convert.add_argument("--json", metavar="PATH|-", help="write the conversion report as JSON (- for stdout)")
    convert.add_argument("--quiet", action="store_true", help="no report, only errors")
    migrate = commands.add_parser(
        "migrate",
        help="rewrite legacy initializer calls onto compat_init (libcst codemod)",
        description="Rewrite tf.contrib / tf.compat.v1 / tf.keras initializer calls "
        "onto compat_init. Dry run by default: a unified diff on stdout; every "
        "legacy call not rewritten (file:line: left alone: reason, or not resolved: "
        "NAME), every file not touched, notes and the summary go to stderr. "
        "Exit 0, or 1 with --check when anything would change; 2 on bad usage.",
    )
    migrate.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    migrate.add_argument("--write", action="store_true", help="rewrite the files (atomically)")
    migrate.add_argument("--check", action="store_true", help="exit 1 when anything would change")
    migrate.add_argument("--report", metavar="PATH.json", help="write a JSON report")
    migrate.add_argument("--jobs", type=_option_type("--jobs", _int_in(1, 4096), "an integer in [1, 4096]"),
                         default=None, metavar="N", help="parallel workers (default: the number of CPUs)")
    migrate.add_argument("--max-file-size", metavar="BYTES",
                         type=_option_type("--max-file-size", _int_in(1, 2 ** 62), "a positive integer (bytes)"),
                         default=None, help="skip files larger than this (default 10 MiB)")
    migrate.add_argument("--timeout-per-file", metavar="SECONDS",
                         type=_option_type("--timeout-per-file", _positive_float, "a number of seconds > 0"),
                         default=None, help="skip a file whose parse takes longer, and go on (default: 60 s "
                         "plus 120 s per MiB of the file)")
    migrate.add_argument("--force", action="store_true",
                         help="also rewrite read-only files (their mode is kept)")
    migrate.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def check_output_path(path: str, option: str) -> None:
    """``path`` can be written: not a directory, in an existing writable folder."""
    if os.path.isdir(path):
        raise UsageError("{} must be a file path, not a directory; received {}={}".format(option, option, path))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError("{} must be in an existing folder; received {}={} ({} does not exist)".format(
            option, option, path, folder))
    target = path if os.path.exists(path) else folder
    if not os.access(target, os.W_OK):
        raise UsageError("{} must be writable; received {}={} (permission denied)".format(option, option, path))


def _migrate(args: argparse.Namespace) -> int:
    try:
        from compat_init import migrate
    except ImportError as error:
        raise UsageError('compat-init migrate needs libcst: pip install "compat-init[migrate]" ({})'.format(error))
    if args.report:
        check_output_path(args.report, "--report")
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


def _require_tensorflow() -> None:
    """TensorFlow imports and ``COMPAT_INIT_API`` is valid, or a UsageError."""
    from compat_init import _runtime, _validate

    try:  # first: it needs no TensorFlow
        _validate.api(_runtime.env_api() or "auto", "COMPAT_INIT_API")
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        _runtime.tf()
    except ImportError as error:
        raise UsageError(str(error)) from None


def _load_callable(spec: str, option: str) -> Callable[[], Any]:
    """``module:function`` imported and checked callable; the result calls it
    and turns whatever it raises into a one-line UsageError."""
    import importlib

    module_name, _, function = spec.partition(":")
    if not module_name or not function:
        raise UsageError("{} must be module:function; received {}={}".format(option, option, spec))
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, ".")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - the user's module: any failure is bad usage
        raise UsageError("{} {} cannot be imported: {}: {}".format(
            option, spec, type(error).__name__, error)) from None
    builder = getattr(module, function, None)
    if builder is None:
        raise UsageError("{} {} cannot be imported: module {!r} has no attribute {!r}".format(
            option, spec, module_name, function))
    if not callable(builder):
        raise UsageError("{} {} must name a callable; received a {}".format(option, spec, type(builder).__name__))

    def call() -> Any:
        try:
            return builder()
        except UsageError:
            raise
        except Exception as error:  # noqa: BLE001 - the user's builder failed
            raise UsageError("{} {} raised {}: {}".format(option, spec, type(error).__name__, error)) from None

    return call


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
                                           ("--checkpoint", args.checkpoint)) if given]
    if function_options and not args.migration:
        raise UsageError("{} apply only with --migration; received {}".format(
            "/".join(function_options), " ".join(function_options)))
    if args.steps and not args.inputs:
        raise UsageError("--steps needs --inputs (both models train on that batch); received --steps={}".format(
            args.steps))
    if args.placeholders and len(args.placeholders.split(",")) != len(args.inputs or []):
        raise UsageError("--placeholders must name one placeholder per --inputs; received --placeholders={} "
                         "for {} --inputs".format(args.placeholders, len(args.inputs or [])))
    if args.json and args.json != "-":
        check_output_path(args.json, "--json")
    if args.plot:
        check_output_path(args.plot, "--plot")


def _parity(args: argparse.Namespace) -> int:
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
    _require_tensorflow()
    if args.migration:
        return _migration(args)
    untested: list = []
    if args.model:
        pairs, untested = parity.model_kernels(_load_callable(args.model, "--model")())
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


def _load_npy(path: str) -> Any:
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - any unreadable file is bad usage
        raise UsageError("--inputs must be a readable numeric .npy file; received --inputs={} ({}: {})".format(
            path, type(error).__name__, str(error).splitlines()[0] if str(error) else "")) from None


def _mapping_of(args: argparse.Namespace) -> Optional[dict]:
    mapping: dict = {}
    for part in args.mapping or []:
        for key, value in part.items():
            if key in mapping:
                raise UsageError("--mapping names {} twice; received {}={} and {}={}".format(
                    key, key, mapping[key], key, value))
            mapping[key] = value
    return mapping or None


def _proof_options(args: argparse.Namespace) -> dict:
    """check_migration's keyword arguments from the shared options."""
    return dict(
        alpha=args.alpha, seed=args.seed,
        inputs=[_load_npy(i) if isinstance(i, str) else i for i in args.inputs] if args.inputs else None,
        steps=args.steps, loss=args.loss, optimizer=args.optimizer, learning_rate=args.learning_rate,
        placeholders=args.placeholders.split(",") if args.placeholders else None,
        feeds=dict(args.feed) if args.feed else None, mapping=_mapping_of(args), from_logits=args.from_logits)


class _Internal(Exception):
    """An internal error, already printed as one line."""


def _guarded(args: argparse.Namespace, work: Callable[[], Any]) -> Any:
    """``work()``; anything but a UsageError is an internal error: one line
    (``--traceback`` for the whole of it), never a verdict."""
    try:
        return work()
    except UsageError:
        raise
    except Exception as error:  # noqa: BLE001 - never a raw traceback: an internal error, exit 4
        if args.traceback:
            import traceback

            traceback.print_exc()
        lines = str(error).strip().splitlines()
        print("compat-init: internal error: {}: {} (the check could not run: this is not a verdict; rerun with "
              "--traceback and report it)".format(type(error).__name__, lines[0] if lines else ""), file=sys.stderr)
        raise _Internal() from None


def _migration(args: argparse.Namespace) -> int:
    """``parity --migration``: exit 0 same, 1 different, 3 inconclusive, 4
    internal error (one line; ``--traceback`` for the whole of it)."""
    old, new = (_load_callable(spec, "--migration") for spec in args.migration)
    options = _proof_options(args)
    from compat_init import port

    report = _guarded(args, lambda: port.check_migration(old, new, checkpoint=args.checkpoint, **options))
    _finish(args, report, None)
    return report.exit_code


def _convert(args: argparse.Namespace) -> int:
    """``convert``: exit 0 written; 1 / 3 the proof at the trained weights
    failed / was inconclusive (nothing written); 2 bad usage; 4 internal."""
    proof_only = [o for o, given in (("--steps", args.steps), ("--placeholders", args.placeholders),
                                     ("--feed", args.feed), ("--from-logits", args.from_logits)) if given]
    if args.reverse:
        if not args.migration or args.checkpoint:
            raise UsageError("--reverse needs --migration (the legacy builder names the keys) and no --checkpoint "
                             "(it writes one: --out); received {}".format(
                                 "--port" if args.port else "--checkpoint={}".format(args.checkpoint)))
    elif not args.checkpoint:
        raise UsageError("convert needs --checkpoint PATH (or --reverse); received none")
    elif args.weights:
        raise UsageError("--weights applies only with --reverse; received --weights={}".format(args.weights))
    if args.optimizer_state and not (args.migration and args.inputs and args.optimizer in ("adam", "momentum")):
        raise UsageError("--optimizer-state needs --migration, --inputs and --optimizer adam or momentum (the legacy "
                         "optimizer); received --optimizer={}{}{}".format(
                             args.optimizer, "" if args.migration else " without --migration",
                             "" if args.inputs else " without --inputs"))
    if args.dense_gradients and not args.optimizer_state:
        raise UsageError("--dense-gradients applies only with --optimizer-state; received --dense-gradients")
    if args.port and proof_only:
        raise UsageError("{} apply only with --migration (the proof needs the legacy model); received {}".format(
            "/".join(proof_only), " ".join(proof_only)))
    if args.steps and not args.inputs:
        raise UsageError("--steps needs --inputs (both models train on that batch); received --steps={}".format(
            args.steps))
    check_output_path(args.out, "--out")
    if args.json and args.json != "-":
        check_output_path(args.json, "--json")
    _require_tensorflow()
    try:
        from compat_init import checkpoint, port
    except ImportError as error:
        raise UsageError("compat-init convert needs scipy: pip install \"compat-init[parity]\" ({})".format(error))
    if args.weights and not os.path.exists(args.weights) and not os.path.exists(args.weights + ".index"):
        raise UsageError("--weights must be an existing weights file or checkpoint; received --weights={}".format(
            args.weights))
    if not args.reverse:
        checkpoint.check_output(args.out)
    specs = args.migration or [None, args.port]
    old = _load_callable(specs[0], "--migration") if specs[0] else None
    new = _load_callable(specs[1], "--migration" if args.migration else "--port")
    options = _proof_options(args)

    def work() -> Any:
        if args.reverse:
            assert old is not None  # --reverse needs --migration (checked above)
            return checkpoint.reverse(new, old, args.out, weights=args.weights, mapping=options["mapping"],
                                      inputs=options["inputs"], seed=args.seed), 0
        model, report = checkpoint.convert(args.checkpoint, new, old, mapping=options["mapping"],
                                           inputs=options["inputs"], seed=args.seed)
        if old is not None and options["inputs"] is not None and not args.optimizer_state:
            report.proof = port.check_migration(old, new, checkpoint=args.checkpoint, **options)
            if not report.proof.passed:
                return report, report.proof.exit_code
        state = None
        if args.optimizer_state:
            from compat_init.port._checkpoint import NOT_CARRIED, resume

            assert old is not None  # --optimizer-state needs --migration (checked above)
            state, steps, notes = resume(args.checkpoint, old, new, inputs=options["inputs"], optimizer=args.optimizer,
                                         learning_rate=args.learning_rate, steps=args.steps or 5, loss=args.loss,
                                         from_logits=args.from_logits, seed=args.seed, mapping=options["mapping"],
                                         dense_gradients=args.dense_gradients)
            report.notes += notes
            for s in steps:
                report.notes.append("resumed step {}: loss legacy {:.6g} port {:.6g}; largest weight diff {:.3g} ({}), "
                                    "allowed {:.3g}: {}".format(s["step"], s["loss_v1"], s["loss_v2"],
                                                                s["max_weight_diff"], s["weight"], s["tolerance"],
                                                                "agree" if s["passed"] else "DIFFER"))
            for entry in report.entries:  # the slots this state carried
                if entry.status == "skipped" and entry.reason.endswith(NOT_CARRIED):
                    entry.status, entry.weight, entry.how, entry.reason = (
                        "loaded", "the Keras {} optimizer's state".format(type(state).__name__), "optimizer state", "")
            if not all(s["passed"] for s in steps):
                return report, 1
        report.written = checkpoint.save(model, args.out)
        if state is not None:
            import numpy as np

            state_path = args.out + ".optimizer.npz"
            temporary = state_path + ".compat-init-tmp.npz"
            np.savez(temporary, *[np.asarray(v) for v in state.variables])
            os.replace(temporary, state_path)
            report.notes.append("optimizer state ({} variables, {} order) written to {}".format(
                len(state.variables), type(state).__name__, state_path))
        return report, 0

    report, code = _guarded(args, work)
    to_stdout = args.json == "-"
    if not args.quiet:
        print(report, file=sys.stderr if to_stdout else sys.stdout)
    if args.json:
        text = json.dumps(_json_safe(report.to_dict()), indent=2, allow_nan=False)
        if to_stdout:
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    if code:
        print("compat-init: nothing written: the {} {}".format(
            "resumed training" if args.optimizer_state else "migration proof at the trained weights",
            "found a difference" if code == 1 else "was inconclusive"), file=sys.stderr)
    return code


def _json_safe(value: Any) -> Any:
    """NaN and infinities as null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _finish(args: argparse.Namespace, report: Any, keep: Optional[dict]) -> int:
    json_to_stdout = args.json == "-"
    table_stream = sys.stderr if json_to_stdout else sys.stdout
    if not args.quiet:
        print(report, file=table_stream)
    if args.json:
        text = json.dumps(_json_safe(report.to_dict()), indent=2, allow_nan=False)
        if json_to_stdout:
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
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


def _info(args: argparse.Namespace) -> int:
    _require_tensorflow()
    info = compat_init.runtime_info()
    if args.json:
        print(json.dumps({k: str(v) if not isinstance(v, bool) else v for k, v in info._asdict().items()}, indent=2))
    else:
        print(info)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = main_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        if args.command == "info":
            return _info(args)
        if args.command == "parity":
            return _parity(args)
        if args.command == "migrate":
            return _migrate(args)
        if args.command == "convert":
            return _convert(args)
    except UsageError as error:
        print("compat-init: error: {}".format(error), file=sys.stderr)
        return 2
    except _Internal:
        return 4
    parser.print_help()
    return 2


def entrypoint() -> None:
    # TensorFlow's C++ INFO/WARNING lines would bury a one-line error.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    code = main()
    # The work is done and every file is closed.  Python's last garbage
    # collections would now walk TensorFlow's whole object graph (0.6-0.7 s
    # on a 2-core machine, a quarter of `import tensorflow`); freezing it
    # skips them, and the OS takes the memory back.  atexit handlers and
    # stream flushing still run.  Only here, never in main(): callers that
    # run main() in their own process keep a normal garbage collector.
    gc.freeze()
    raise SystemExit(code)
