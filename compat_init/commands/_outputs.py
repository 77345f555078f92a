"""What a run writes, and how it ends: output paths checked, outputs that
would replace an input refused, files written whole, the report as a table
and as JSON, and the internal-error guard (exit 4, never a verdict)."""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from typing import Any, Callable, Sequence, Tuple

from compat_init._errors import UsageError, printable
from compat_init.commands._options import NamedInput


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
              "--traceback and report it)".format(type(error).__name__, printable(lines[0]) if lines else ""),
              file=sys.stderr)
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


#: Names of files that hold what a user trained, recorded or converted: a TF
#: checkpoint's index, data shards, graph and state file, a recording, Keras
#: weights.  An existing one is never an output unless --force.
OWNED = re.compile(r"(\.index|\.data-\d+-of-\d+|\.meta|\.rec|\.h5|\.keras)$|^checkpoint$")


def force_option(parser: argparse.ArgumentParser) -> None:
    """``--force``: what ``refuse_overwrites`` lets an output replace."""
    parser.add_argument("--force", action="store_true",
                        help="let an output replace an existing file that holds a checkpoint's, a recording's or "
                             "weights (.index, .data-*, .meta, checkpoint, .rec, .h5, .keras) or a file of the "
                             "folder named by --checkpoint; never a file the run reads")


def checkpoint_folder(checkpoints: Any, given: str) -> Tuple[list, list]:
    """What ``--checkpoint GIVEN`` makes the run read, and what it must not
    write: (the checkpoint's files, as ``read_files`` gives them), and (every
    file of the folder the user named, which --force alone lets an output
    replace; its ``checkpoint`` state file name, which nothing takes).  A
    copied folder's state file names the original's files: the copy's are
    the user's too."""
    from compat_init._files import named_folder

    read = [("the checkpoint's files", checkpoints.files_of(checkpoints.resolve(given)))]
    folder = named_folder(given)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        names = []
    owned = [("a file of the checkpoint's folder {}".format(folder),
              [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))], True),
             ("the checkpoint folder's state file name", [os.path.join(folder, "checkpoint")], False)]
    return read, owned


def run_files(args: argparse.Namespace, builders: Sequence[Any], checkpoints: Any) -> Tuple[list, list]:
    """(what the run reads: ``read_files`` and --checkpoint's files), (what
    no output may replace besides: ``checkpoint_folder``'s), for
    ``refuse_overwrites``."""
    inputs: list = read_files(args, builders)
    owned: list = []
    if getattr(args, "checkpoint", None):
        read, owned = checkpoint_folder(checkpoints, args.checkpoint)
        inputs += read
    return inputs, owned


def refuse_overwrites(outputs: Sequence[Tuple[str, str, Sequence[str]]],
                      inputs: Sequence[Tuple[str, Sequence[str]]],
                      owned: Sequence[Tuple[str, Sequence[str], bool]] = (), force: bool = False) -> None:
    """One UsageError when a file an output would write is a file the run
    reads, or one another output writes, or (unless ``force``) an existing
    file that looks like a checkpoint's, a recording or weights (``OWNED``),
    or a file ``owned`` names.

    ``outputs``: (option, value, the files it writes); ``inputs``: (what it
    is, the files it reads); ``owned``: (what it is, the files, whether
    ``force`` lets an output replace them).  Paths are compared resolved and
    by inode, so a link to an input is that input."""
    from compat_init._files import not_regular

    read: dict = {}
    for what, paths in inputs:
        for path in paths:
            kind = not_regular(path)
            if kind:  # opening it would block (a FIFO) or read a device
                raise UsageError("{} must be regular files; received {}, which is {}".format(what, path, kind))
            for key in {_identity(path), ("path", os.path.realpath(path))}:
                read.setdefault(key, (what, path))
    kept: dict = {}
    for what, paths, forcible in owned:
        for path in paths:
            if not (force and forcible):
                for key in {_identity(path), ("path", os.path.realpath(path))}:
                    kept.setdefault(key, (what, path, forcible))
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
                if key in kept:
                    what, source, forcible = kept[key]
                    raise UsageError("{} must not {} {} ({}){}; received {}={}".format(
                        option, "replace" if os.path.lexists(source) else "take", what, source,
                        ": --force writes over it" if forcible else "", option, value))
                if key in written and written[key][0] != option:
                    other, other_value = written[key]
                    raise UsageError("{} and {} must not write the same file; received {}={} and {}={}".format(
                        other, option, other, other_value, option, value))
            if not force and os.path.lexists(path) and OWNED.search(os.path.basename(path)):
                raise UsageError("{} must not replace an existing file that holds a checkpoint's, a recording's or "
                                 "weights ({}): --force writes over it; received {}={}".format(
                                     option, path, option, value))
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
        print(printable(str(report), lines=True, most=None), file=stream)
    if args.json:
        if to_stdout:
            print(json_text(report), end="")
        elif not json_written:
            write_atomically(args.json, json_text(report))
    return stream
