"""What the subcommands share: option types (each refusing with "OPTION must
RULE; received OPTION=VALUE"), output-path checks, loading the user's
builders, the internal-error guard and the proof's options.  No TensorFlow."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Callable, Optional, Sequence, Tuple

from compat_init import _runtime, _validate  # pure Python: no TensorFlow (_runtime imports it on first use)
from compat_init._errors import UsageError


def option_type(option: str, parse: Callable[[str], Any], rule: str) -> Callable[[str], Any]:
    """An argparse ``type=`` that refuses with "OPTION must RULE; received OPTION=VALUE"."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (ValueError, ArithmeticError):
            raise argparse.ArgumentTypeError(
                "{} must be {}; received {}={}".format(option, rule, option, text)) from None

    convert.__name__ = option.lstrip("-")  # argparse names the type in some messages
    return convert


def int_in(low: float, high: float) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError
        return value
    return parse


def alpha_value(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise ValueError
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError
    return value


class NamedInput(str):
    """``NAME=FILE.npy`` or ``NAME=SHAPE``: an input for the legacy
    placeholder ``name`` (the string is the file or the shape's text)."""

    name = ""
    shape: Any = None


class NpzInputs(str):
    """The path of an ``.npz`` file: one input per array, by its name."""


def inputs_value(text: str) -> Any:
    """A shape (a tuple), the path of an existing .npy file (a str), an
    existing .npz file (named arrays) or NAME=either of the first two."""
    name, sep, rest = text.partition("=")
    if sep:
        if not name.strip() or not rest.strip() or rest.endswith(".npz"):
            raise ValueError
        value = NamedInput(inputs_value(rest.strip()) if rest.endswith(".npy") else rest.strip())
        value.name = name.strip()
        value.shape = None if rest.endswith(".npy") else shape_value(rest.strip())
        return value
    if text.endswith(".npy") or text.endswith(".npz"):
        if not os.path.isfile(text):
            raise ValueError
        return NpzInputs(text) if text.endswith(".npz") else text
    return shape_value(text)


def map_value(text: str) -> tuple:
    """``LEGACY=PORT``: a legacy placeholder and the port input it feeds."""
    old, sep, new = text.partition("=")
    if not sep or not old.strip() or not new.strip():
        raise ValueError
    return old.strip(), new.strip()


def inputs_of(args: argparse.Namespace) -> Any:
    """--inputs as the proof takes them: a list (by position), or a dict
    ``{placeholder: array or shape}`` when they are named (NAME=..., .npz)."""
    if not args.inputs:
        return None
    named = [i for i in args.inputs if isinstance(i, (NamedInput, NpzInputs))]
    if not named:
        return [load_npy(i) if isinstance(i, str) else i for i in args.inputs]
    if len(named) != len(args.inputs):
        raise UsageError("--inputs must be all named (NAME=FILE.npy, NAME=SHAPE, FILE.npz) or all positional; "
                         "received {}".format(" ".join("--inputs={}".format(
                             i if not isinstance(i, tuple) else "x".join(map(str, i))) for i in args.inputs)))
    found: dict = {}
    for item in named:
        if isinstance(item, NpzInputs):
            arrays = load_npz(item)
        else:
            arrays = {item.name: item.shape if item.shape is not None else load_npy(str(item))}
        for key, value in arrays.items():
            if key in found:
                raise UsageError("--inputs names the placeholder {} twice; received {}".format(key, item))
            found[key] = value
    return found


def load_npz(path: str) -> dict:
    import numpy as np

    _readable_file(path, "--inputs")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as error:  # noqa: BLE001 - any unreadable file is bad usage
        raise UsageError("--inputs must be a readable .npz file of named numeric arrays; received --inputs={} "
                         "({}: {})".format(path, type(error).__name__, str(error).splitlines()[0] if str(error)
                                           else "")) from None
    if not arrays:
        raise UsageError("--inputs {} holds no array; received an empty .npz file".format(path))
    return arrays


def recording_spec(spec: str) -> bool:
    """The legacy side named on the command line is a file that is no .meta
    graph: a recording (``legacy_builder`` reads and checks it)."""
    return os.path.isfile(spec) and not spec.endswith(".meta")


def legacy_builder(args: argparse.Namespace, spec: str, option: str) -> Any:
    """The legacy side: ``module:function``, a ``Saver``'s ``.meta`` graph
    with --outputs naming the tensors to compare, or a recording
    (``compat-init record``: read and checked here)."""
    if recording_spec(spec):
        from compat_init.port import is_recording, read_recording

        if is_recording(spec) or ":" not in spec:
            if getattr(args, "outputs", None):
                raise UsageError("--outputs applies only to a legacy .meta graph (a recording names its outputs); "
                                 "received --outputs={} with {} {}".format(args.outputs, option, spec))
            return read_recording(spec)
    if not spec.endswith(".meta"):
        if getattr(args, "outputs", None):
            raise UsageError("--outputs applies only to a legacy .meta graph; received --outputs={} with {} "
                             "{}".format(args.outputs, option, spec))
        return load_callable(spec, option)
    if not os.path.isfile(spec):
        raise UsageError("{} must be module:function or an existing .meta graph file; received {}".format(
            option, spec))
    if not getattr(args, "outputs", None):
        raise UsageError("a legacy .meta graph needs --outputs NAME:0[,NAME:0] (the tensors to compare); received "
                         "{} {} without --outputs".format(option, spec))
    from compat_init.port import meta_graph

    builder = meta_graph(spec, [o.strip() for o in args.outputs.split(",") if o.strip()])
    builder.source = builder.spec = spec  # type: ignore[attr-defined]
    return builder


def feed_value(text: str) -> tuple:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ValueError
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return name.strip(), lowered == "true"
    number = float(value)
    return name.strip(), int(number) if value.strip().lstrip("+-").isdigit() else number


class MappingFile(dict):
    """A JSON mapping file's entries; ``source`` is its path (an input the
    run's outputs must not replace)."""

    source = ""


def mapping_value(text: str) -> Any:
    if text.endswith(".json"):
        if not os.path.isfile(text):  # a FIFO or a device would block the read
            raise ValueError
        try:
            with open(text) as f:
                data = json.load(f)
        except (OSError, ValueError):
            raise ValueError from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ValueError
        entries = MappingFile(data)
        entries.source = text
        return entries
    if os.path.exists(text):
        if not os.path.isfile(text):  # a FIFO or a device would block the read
            raise ValueError
        return RulesFile(text)
    old, sep, new = text.partition("=")
    if not sep or not old.strip() or not new.strip():
        raise ValueError
    return {old.strip(): new.strip()}


class RulesFile(str):
    """The path of a rules file (``PATTERN -> REPLACEMENT`` lines), read
    when the command runs (``compat_init.port.read_rules``)."""

    @property
    def source(self) -> str:
        return str(self)


def shape_value(text: str) -> tuple:
    dims = tuple(int(d) for d in text.lower().split("x"))
    if any(d <= 0 for d in dims) or len(dims) > _validate.MAX_RANK:
        raise ValueError
    if product(dims) > _validate.MAX_ELEMENTS:
        raise ValueError
    return dims


def product(dims: Sequence[int]) -> int:
    size = 1
    for dim in dims:
        size *= dim
    return size


def function_options(parser: argparse.ArgumentParser, port: bool = True) -> None:
    """The migration proof's options, shared by ``parity --migration``,
    ``convert`` and (``port=False``: none of the port's) ``record``."""
    parser.add_argument("--inputs", action="append", metavar="4x28x28x1|BATCH.npy",
                        type=option_type("--inputs", inputs_value, "a shape (positive integers joined by 'x'), "
                                          "an existing .npy or .npz file, or NAME= either of the first two"),
                        help="with --migration: also compare the two functions on this batch (a shape draws "
                             "a fixed random batch from --seed; repeatable, one per placeholder): positional, or "
                             "named by the legacy placeholder (NAME=BATCH.npy, NAME=SHAPE, or one .npz of named "
                             "arrays; integer arrays such as token ids are fed as they are)")
    parser.add_argument("--outputs", metavar="NAME:0,NAME:0",
                        help="with a legacy .meta graph (--migration MODEL.ckpt.meta PORT:BUILD): the legacy "
                             "tensors to compare, in the order of the port's outputs (a dict's sorted keys)")
    parser.add_argument("--placeholders", metavar="NAME,NAME",
                        help="with --inputs: the legacy graph's placeholders, in the order of --inputs")
    parser.add_argument("--feed", action="append", metavar="NAME=VALUE",
                        type=option_type("--feed", feed_value, "NAME=VALUE (a number, true or false)"),
                        help="with --migration: a value for another legacy placeholder (keep_prob=1.0, "
                             "is_training=false; repeatable)")
    parser.add_argument("--from-logits", action="store_true",
                        help="with --steps: the first output is logits (the crossentropy takes a softmax of it)")
    parser.add_argument("--traceback", action="store_true",
                        help="on an internal error (exit 4), print the whole traceback")
    parser.add_argument("--steps", type=option_type("--steps", int_in(0, 10000), "an integer in [0, 10000]"),
                        default=0, help="with --inputs: then train both models this many steps and compare")
    parser.add_argument("--loss", choices=("categorical_crossentropy", "sparse_categorical_crossentropy", "mse"),
                        default="categorical_crossentropy", help="the training loss (default categorical_crossentropy)")
    parser.add_argument("--optimizer", choices=("sgd", "momentum", "adam"), default="sgd",
                        help="plain SGD (default), momentum 0.9 or Adam: the same update on both sides")
    parser.add_argument("--learning-rate", type=option_type("--learning-rate", positive_float, "a positive number"),
                        default=0.01, help="the training learning rate (default 0.01)")
    if not port:
        return
    parser.add_argument("--forward-only", action="store_true",
                        help="with --inputs: prove the weights and the forward function only (a port converted to "
                             "serve): regularization and dropout differences are notes, not failures; no --steps")
    parser.add_argument("--precision", choices=("float32", "float16", "bfloat16"), default="float32",
                        help="with --inputs: the precision the port computes in (default float32); a float16 or "
                             "bfloat16 port fails a float32 proof unless this says so")
    parser.add_argument("--training-arg", metavar="NAME",
                        help="the argument of the port's call that switches training, where it is not 'training' "
                             "(is_training)")
    parser.add_argument("--input-map", action="append", metavar="LEGACY=PORT",
                        type=option_type("--input-map", map_value, "LEGACY=PORT (a legacy placeholder and the "
                                          "port's input it feeds)"),
                        help="with named --inputs: the port's input a legacy placeholder feeds, where the names "
                             "differ (input_ids=token_ids; repeatable); a port whose inputs carry the names is "
                             "called with a dict of them")
    parser.add_argument("--mapping", action="append", metavar="LEGACY=PORT|MAPPING.json|RULES",
                        type=option_type("--mapping", mapping_value, "LEGACY=PORT (variable names or name suffixes), "
                                          "an existing JSON file of {legacy: port} or an existing rules file"),
                        help="pair a legacy variable with a port weight (repeatable): LEGACY=PORT, a JSON file of "
                             "{legacy: port}, or a rules file of 'PATTERN -> REPLACEMENT' lines, each optionally "
                             "followed by transpose(AXES) and reshape (regular expressions over legacy names); the "
                             "rest pairs by creation order, names, structure and shapes")


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


def require_tensorflow() -> None:
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


def load_callable(spec: str, option: str, port: bool = False) -> Callable[[], Any]:
    """``module:function`` imported and checked callable; the result calls it
    and turns whatever it raises into a one-line UsageError (for a ``port``'s
    builder, naming the Keras backend where it is not TensorFlow)."""
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
            hint = ""
            if isinstance(error, ModuleNotFoundError):
                from compat_init._runtime import moved_module_hint

                hint = moved_module_hint(error)
            elif port:
                hint = _backend_hint(error)
            raise UsageError("{} {} raised {}: {}{}".format(option, spec, type(error).__name__, _one_line(error),
                                                           " ({})".format(hint) if hint else "")) from None

    call.source = getattr(module, "__file__", None) or ""  # type: ignore[attr-defined]
    call.spec = spec  # type: ignore[attr-defined]
    return call


def _one_line(error: BaseException) -> str:
    """An exception's message on one line (Keras wraps a layer's failure in
    several, with terminal colours)."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    return " ".join(text.split())


def _backend_hint(error: BaseException) -> str:
    """Where Keras runs on another backend than TensorFlow: the likely cause
    of a builder's failure, a layer calling tf.* on that backend's arrays
    (certain when TensorFlow's own code is in the traceback; Keras filters
    its tracebacks, so often only likely); "" on the TensorFlow backend."""
    import traceback

    if _runtime.keras_flavour() != "keras3" or _runtime.keras_backend() == "tensorflow":
        return ""
    backend = _runtime.keras_backend()
    chain: list = []
    seen: Optional[BaseException] = error
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    inside = any("{0}tensorflow{0}".format(os.sep) in frame.filename
                 for e in chain for frame in traceback.extract_tb(e.__traceback__))
    if inside:
        return ("the port runs on Keras' {} backend and this failure is inside TensorFlow: a port whose layers call "
                "tf.* runs on the TensorFlow backend only (KERAS_BACKEND=tensorflow)".format(backend))
    return ("the port runs on Keras' {} backend: if its layers call tf.*, it runs on the TensorFlow backend only "
            "(KERAS_BACKEND=tensorflow)".format(backend))


def _readable_file(path: str, option: str) -> None:
    """A file the command reads is a regular file (a FIFO would block)."""
    from compat_init._files import not_regular

    kind = not_regular(path)
    if kind:
        raise UsageError("{} must be a regular file; received {}={}, which is {}".format(option, option, path, kind))


def load_npy(path: str) -> Any:
    import numpy as np

    _readable_file(path, "--inputs")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - any unreadable file is bad usage
        raise UsageError("--inputs must be a readable numeric .npy file; received --inputs={} ({}: {})".format(
            path, type(error).__name__, str(error).splitlines()[0] if str(error) else "")) from None


def mapping_of(args: argparse.Namespace) -> Optional[list]:
    """The --mapping values as the pairing takes them: the literal entries
    (one dict) and every rules file's rules, in the order given."""
    mapping: dict = {}
    rules: list = []
    for part in args.mapping or []:
        if isinstance(part, RulesFile):
            from compat_init.port import read_rules

            rules.extend(read_rules(part))
            continue
        for key, value in part.items():
            if key in mapping:
                raise UsageError("--mapping names {} twice; received {}={} and {}={}".format(
                    key, key, mapping[key], key, value))
            mapping[key] = value
    return ([mapping] if mapping else []) + rules or None


def proof_options(args: argparse.Namespace) -> dict:
    """check_migration's keyword arguments from the shared options."""
    return dict(
        alpha=args.alpha, seed=args.seed,
        inputs=inputs_of(args), input_map=dict(args.input_map) if getattr(args, "input_map", None) else None,
        steps=args.steps, loss=args.loss, optimizer=args.optimizer, learning_rate=args.learning_rate,
        placeholders=args.placeholders.split(",") if args.placeholders else None,
        feeds=dict(args.feed) if args.feed else None, mapping=mapping_of(args), from_logits=args.from_logits,
        forward_only=args.forward_only, training_argument=args.training_arg, precision=args.precision)


class Internal(Exception):
    """An internal error, already printed as one line."""


def guarded(args: argparse.Namespace, work: Callable[[], Any]) -> Any:
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
        raise Internal() from None


def json_safe(value: Any) -> Any:
    """NaN and infinities as null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# Outputs never replace inputs ------------------------------------------------------------------


def _identity(path: str) -> Tuple[Any, ...]:
    """What makes two paths the same file: the device and inode where it
    exists (hard links, symbolic links), else the resolved path."""
    try:
        status = os.stat(path)
        return ("inode", status.st_dev, status.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


def read_files(args: argparse.Namespace, builders: Sequence[Any] = ()) -> list:
    """(what, files) that the shared options make the run read: --inputs
    arrays, --mapping files and the builders' modules."""
    found = [("--inputs", [str(i) for i in args.inputs or [] if isinstance(i, str) and not (
        isinstance(i, NamedInput) and i.shape is not None)]),
             ("--mapping", [m.source for m in getattr(args, "mapping", None) or [] if getattr(m, "source", "")])]
    found += [("the builder's module" if callable(b) else "the recording", [b.source]) for b in builders
              if getattr(b, "source", "")]
    return found


def refuse_overwrites(outputs: Sequence[Tuple[str, str, Sequence[str]]],
                      inputs: Sequence[Tuple[str, Sequence[str]]]) -> None:
    """One UsageError when a file an output would write is a file the run
    reads, or one another output writes.

    ``outputs``: (option, value, the files it writes); ``inputs``: (what it
    is, the files it reads).  Paths are compared resolved and by inode, so a
    link to an input is that input."""
    from compat_init._files import not_regular

    read: dict = {}
    for what, paths in inputs:
        for path in paths:
            kind = not_regular(path)
            if kind:  # opening it would block (a FIFO) or read a device
                raise UsageError("{} must be regular files; received {}, which is {}".format(what, path, kind))
            for key in {_identity(path), ("path", os.path.realpath(path))}:
                read.setdefault(key, (what, path))
    written: dict = {}
    for option, value, paths in outputs:
        for path in paths:
            kind = not_regular(path)
            if kind:  # never written into a device, a FIFO or over a folder
                raise UsageError("{} must be a regular file or a new path; received {}={}, where {} is {}".format(
                    option, option, value, path, kind))
            keys = {_identity(path), ("path", os.path.realpath(path))}
            for key in keys:
                if key in read:
                    what, source = read[key]
                    raise UsageError("{} must not overwrite a file this run reads; received {}={}, which would "
                                     "replace {} ({})".format(option, option, value, what, source))
                if key in written and written[key][0] != option:
                    other, other_value = written[key]
                    raise UsageError("{} and {} must not write the same file; received {}={} and {}={}".format(
                        other, option, other, other_value, option, value))
            for key in keys:
                written[key] = (option, value)


def write_atomically(path: str, text: str) -> None:
    """``text`` into ``path`` through a temporary file beside it, renamed into
    place: a failure leaves no partial file and the old one as it was."""
    from compat_init._files import not_regular, write_whole

    kind = not_regular(path)
    if kind:
        raise UsageError("cannot write {}: it is {}, not a regular file".format(path, kind))

    def write(temporary: str) -> None:
        with open(temporary, "w") as f:
            f.write(text)

    write_whole(path, write)


def json_text(report: Any) -> str:
    """The report as strict JSON (NaN and infinities as null)."""
    return json.dumps(json_safe(report.to_dict()), indent=2, allow_nan=False) + "\n"


def check_stdout() -> None:
    """Stdout can take the JSON (``--json -``): not a pipe whose reader has
    gone, which would fail only after the work (and any write) is done."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or no real stdout: nothing to tell
        return
    if any(mask & (select.POLLERR | select.POLLHUP) for _, mask in events):
        raise UsageError("--json - writes to stdout, whose reader has closed the pipe; received --json=-")


def emit_report(args: argparse.Namespace, report: Any, json_written: bool = False) -> Any:
    """The report as a table (stdout; stderr when the JSON goes to stdout)
    unless --quiet, and as JSON with --json (``-``: stdout; a file: written
    atomically, unless ``json_written``: staged and committed with the run's
    other outputs).  Returns the stream the table went to."""
    to_stdout = args.json == "-"
    stream = sys.stderr if to_stdout else sys.stdout
    if not args.quiet:
        print(report, file=stream)
    if args.json:
        if to_stdout:
            print(json_text(report), end="")
        elif not json_written:
            write_atomically(args.json, json_text(report))
    return stream
