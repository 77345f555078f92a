"""The subcommands' option types, each refusing with "OPTION must RULE;
received OPTION=VALUE", and the migration proof's shared options (their
choices from ``compat_init._choices``).  No TensorFlow, no numpy."""
from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any, Callable, Sequence

from compat_init import _validate
from compat_init._choices import LOSSES, OPTIMIZERS, PRECISIONS


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


def pattern_value(text: str) -> str:
    """A regular expression for Python's ``re`` and the bounded engine the
    patterns match on (their errors are ValueErrors)."""
    import re

    import regex

    if not text:
        raise ValueError
    re.compile(text)
    regex.compile(text)
    return text


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
                        help="with a legacy .meta graph (--migration MODEL.ckpt.meta PORT:BUILD, or convert --port "
                             "with the checkpoint's .meta beside it): the legacy tensors to compare, in the order of "
                             "the port's outputs (a dict's sorted keys)")
    parser.add_argument("--allow-io-ops", action="store_true",
                        help="with a legacy .meta graph: run its ops that read or write files or run Python "
                             "(WriteFile, ReadFile, PyFunc, readers, savers, ...) where the outputs compared or the "
                             "variables' initial values need them; refused by default (a .meta graph is a program)")
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
    parser.add_argument("--loss", choices=LOSSES,
                        default="categorical_crossentropy", help="the training loss (default categorical_crossentropy)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd",
                        help="plain SGD (default), momentum 0.9 or Adam: the same update on both sides")
    parser.add_argument("--learning-rate", type=option_type("--learning-rate", positive_float, "a positive number"),
                        default=0.01, help="the training learning rate (default 0.01)")
    if not port:
        return
    parser.add_argument("--forward-only", action="store_true",
                        help="with --inputs: prove the weights and the forward function only (a port converted to "
                             "serve): regularization and dropout differences are notes, not failures; no --steps")
    parser.add_argument("--precision", choices=tuple(PRECISIONS), default="float32",
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
