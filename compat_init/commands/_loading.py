"""What a run reads, turned into library arguments: TensorFlow checked, the
user's builders loaded (``module:function``, a ``.meta`` graph, a
recording), ``--inputs`` arrays, ``--mapping`` files, the proof's options."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Optional

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init.commands._options import NamedInput, NpzInputs, RulesFile


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

    builder = meta_graph(spec, [o.strip() for o in args.outputs.split(",") if o.strip()],
                         allow_io_ops=bool(getattr(args, "allow_io_ops", False)))
    builder.source = builder.spec = spec  # type: ignore[attr-defined]
    return builder


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

            rules.extend(read_rules(part, option="--mapping"))
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
