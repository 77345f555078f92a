"""``compat-init migrate``: move legacy initializer calls onto compat_init.

Built on libcst (the ``migrate`` extra): formatting and comments are kept,
import aliases are followed, ``import compat_init`` is added once, and nothing
is silent: every legacy call is rewritten, or listed ``file:line: left alone:
reason``, or (when its callee cannot be resolved statically) ``file:line: not
resolved: NAME``; every file not touched says why.

Files: read as bytes (coding line and BOM honoured and written back);
symlinks are followed to their target, which is rewritten once and the link
kept (a target outside the given paths, or a dangling link, is noted and left
alone); a read-only file is left alone unless ``force``; a file with hard
links is rewritten in place after a complete temporary copy (same inode: the
links, owner, group and mode stay), any other file atomically (temporary file
in the same folder, then rename, with owner, group and mode restored).
Temporary files are named ``.compat-init-*.tmp``; a later ``--write`` run
removes those an interrupted run left.
"""
from __future__ import annotations

import difflib
import json
import os
import stat
import shutil
import sys
from typing import IO, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from compat_init._errors import UsageError
from compat_init._files import Temporary, abandoned
from compat_init.migrate import _pool
from compat_init.migrate._rules import RULES, describe
from compat_init.migrate._transform import TRIGGERS, FileResult, migrate_source

__all__ = ["migrate_source", "migrate_paths", "run", "describe", "RULES", "FileResult", "collect",
           "DEFAULT_MAX_FILE_SIZE", "show"]

_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", ".nox", ".tox", "__pycache__", "node_modules", "build", "dist"}
#: Files larger than this are skipped (``--max-file-size``): no Python module
#: of real code is near it, and reading a huge file would stall the run.
DEFAULT_MAX_FILE_SIZE = 10 * 2 ** 20


def show(path: str) -> str:
    """A path as it can be printed whatever the locale: undecodable bytes as
    ``\\xNN``, control characters (a newline in a name) escaped."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else "\\x{:02x}".format(ord(c)) if ord(c) < 256
                   else c.encode("unicode_escape").decode("ascii") for c in text)


class Stamp(NamedTuple):
    """What a file was when the worker read it: replaced only if it still is."""

    size: int
    mtime_ns: int
    inode: int
    digest: str


def _stamp(path: str, data: bytes) -> Optional[Stamp]:
    import hashlib

    try:
        info = os.stat(path)
    except OSError:
        return None
    return Stamp(info.st_size, info.st_mtime_ns, info.st_ino, hashlib.sha256(data).hexdigest())


def _unchanged(path: str, stamp: Optional[Stamp]) -> Optional[str]:
    """None when ``path`` is still what was read; else why not."""
    import hashlib

    try:
        info = os.stat(path)
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return "vanished during the run; left alone"
    except OSError as error:
        return "cannot be read again before the write ({}); left alone".format(error.strerror or error)
    if stamp is None or (info.st_size, info.st_mtime_ns, info.st_ino) != stamp[:3] or \
            hashlib.sha256(data).hexdigest() != stamp.digest:
        return "changed during the run; left alone: run again"
    return None


class Source(NamedTuple):
    path: str  #: as the user sees it (the link, when given a link)
    real: str  #: the file that is read and written
    size: int = 0  #: its size when collected (bytes), for its time limit


class Collected(NamedTuple):
    sources: List[Source]
    #: files not taken, with the reason (dangling or outside links)
    passed_over: List[Tuple[str, str]]
    #: temporary files an interrupted run left
    stale: List[str]


def collect(paths: Sequence[str], max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> Collected:
    """Every ``.py`` file under ``paths`` (files are taken as given), each
    real file once, in path order.  Only regular files are taken: a FIFO, a
    device or a socket (or a link to one) is passed over with the reason, as
    is a file over ``max_file_size`` bytes or a folder that cannot be read."""
    roots = []
    for path in paths:
        if not os.path.lexists(path):
            raise UsageError("PATH must be an existing file or directory; received {}".format(path))
        roots.append(os.path.realpath(path))
    candidates: List[str] = []
    stale: List[str] = []
    passed_over: List[Tuple[str, str]] = []

    def unreadable(error: OSError) -> None:
        passed_over.append((error.filename or "?", "cannot read the folder ({}); its files are left alone".format(
            error.strerror or error)))

    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path, onerror=unreadable):
                # A killed run's private temporaries folder (its lock held by nobody): reported, never a source.
                stale += [os.path.normpath(os.path.join(root, d)) for d in sorted(dirs)
                          if abandoned(os.path.join(root, d))]
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                for name in sorted(files):
                    if name.endswith(".py"):
                        candidates.append(os.path.normpath(os.path.join(root, name)))
        else:
            candidates.append(os.path.normpath(path))
    sources: List[Source] = []
    seen = set()
    for path in candidates:
        real = os.path.realpath(path)
        if os.path.islink(path):
            if not os.path.exists(real):
                passed_over.append((path, "dangling symlink (to {}); left alone".format(os.readlink(path))))
                continue
            if not any(real == r or real.startswith(r + os.sep) for r in roots):
                passed_over.append((path, "symlink to {}, outside the given paths; left alone".format(real)))
                continue
        try:
            info = os.stat(real)
        except OSError as error:
            passed_over.append((path, "cannot stat ({}); left alone".format(error.strerror or error)))
            continue
        if not stat.S_ISREG(info.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a file")
            passed_over.append((path, "not a regular file ({}); left alone".format(kind)))
            continue
        if info.st_size > max_file_size:
            passed_over.append((path, "larger than --max-file-size ({} bytes > {}); left alone".format(
                info.st_size, max_file_size)))
            continue
        if real in seen:
            continue
        seen.add(real)
        sources.append(Source(path, real, info.st_size))
    return Collected(sources, passed_over, stale)


def _migrate_file(source: Source) -> Tuple[FileResult, Optional[Stamp]]:
    try:
        with open(source.real, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return FileResult(source.path, "", "", [], [], "vanished before it was read; left alone"), None
    except OSError as error:
        return FileResult(source.path, "", "", [], [], "cannot read: {}".format(error.strerror or error)), None
    if b"\0" in data:
        return FileResult(source.path, "", "", [], [], "contains a NUL byte (not Python source); left alone"), None
    return migrate_source(data, source.path), _stamp(source.real, data)


def migrate_paths(paths: Sequence[str], jobs: int = 1,
                  timeout_per_file: Optional[float] = None) -> Iterator[FileResult]:
    """Yields one :class:`FileResult` per file, in file order, parsed in
    ``jobs`` worker processes (see :func:`run` for ``timeout_per_file``)."""
    for result, _ in _results(collect(paths).sources, jobs, timeout_per_file):
        yield result


def _failed(source: Source, why: str) -> Tuple[FileResult, Optional[Stamp]]:
    return FileResult(source.path, _peek(source.real), "", [], [], why), None


def _peek(path: str) -> str:
    """The text of a file whose parse did not finish, for the legacy-spelling
    check of ``--check`` (empty when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _results(sources: List[Source], jobs: int,
             timeout_per_file: Optional[float]) -> Iterator[Tuple[FileResult, Optional[Stamp]]]:
    """Results in file order, each file parsed in a worker process
    (``_pool``): a worker that dies or stalls past the file's time limit
    costs that file only, said.  Files nested deeper than the parser takes are
    skipped before it runs (``_transform.nesting``)."""
    if not sources:
        return
    limits = [timeout_per_file if timeout_per_file is not None else _pool.default_limit(s.size)
              for s in sources]
    yield from _pool.run(_migrate_file, sources, jobs, limits, _failed)


def _diff_name(path: str) -> str:
    """A path as a diff header shows it after ``a/``: relative to the current
    folder when under it, else without its leading separator (``a/tmp/x.py``,
    not ``a//tmp/x.py``), with forward slashes."""
    absolute = os.path.abspath(path)
    here = os.getcwd()
    if absolute.startswith(here + os.sep):
        path = os.path.relpath(absolute, here)
    return path.replace(os.sep, "/").lstrip("/")


def _diff_header(side: str, path: str) -> str:
    """``a/NAME``, or git's quoted form ``"a/NA\\tME"`` when the name holds
    characters a header cannot show as they are."""
    name = side + _diff_name(path)
    shown = show(name)
    if shown == name and '"' not in name and "\\" not in name:
        return name
    return '"{}"'.format(shown.replace('"', '\\"'))


def read_only(path: str) -> bool:
    """The owner may not write the file (its mode, whoever runs: root too);
    False for a file that is gone (the write then says it vanished)."""
    try:
        return not os.stat(path).st_mode & stat.S_IWUSR
    except FileNotFoundError:
        return False


def write_file(path: str, data: bytes) -> None:
    """Writes ``data`` over the file at ``path`` (a real path, not a link),
    keeping its inode's owner, group and mode.

    * One link: a complete temporary file in the same folder (same mode,
      owner, group), then an atomic rename over the file.
    * Hard links: the same complete temporary copy first, then the bytes
      written in place, so every link sees them (not atomic: a kill during the
      in-place write can leave the file partly written; the copy is removed).
    """
    info = os.stat(path)
    folder = os.path.dirname(os.path.abspath(path))
    with Temporary(folder, ".tmp") as temporary:
        _write_over(path, data, info, temporary.path)


def _write_over(path: str, data: bytes, info: os.stat_result, tmp: str) -> None:
    """``data`` over ``path`` through ``tmp`` (see ``write_file``)."""
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if info.st_nlink > 1:
        with open(path, "r+b") as f:
            f.write(data)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())
        return
    os.chmod(tmp, stat.S_IMODE(info.st_mode))
    if hasattr(os, "chown"):
        try:
            os.chown(tmp, info.st_uid, info.st_gid)
        except PermissionError:
            pass  # not ours to give away: the file keeps the runner's owner
    os.replace(tmp, path)


def _write_text(out: IO[str], text: str) -> None:
    """``text`` to ``out``; where the stream's encoding cannot hold it
    (PYTHONIOENCODING=ascii and a non-ASCII line), its UTF-8 bytes go to the
    stream's binary buffer: a diff keeps the file's characters."""
    try:
        out.write(text)
    except UnicodeEncodeError:
        buffer = getattr(out, "buffer", None)
        if buffer is None:
            out.write(text.encode("ascii", "backslashreplace").decode("ascii"))
            return
        out.flush()
        buffer.write(text.encode("utf-8"))
        buffer.flush()


def run(paths: Sequence[str], *, write: bool = False, check: bool = False,
        report: Optional[str] = None, jobs: Optional[int] = None, quiet: bool = False,
        force: bool = False, out: Optional[IO[str]] = None, err: Optional[IO[str]] = None,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE, timeout_per_file: Optional[float] = None) -> int:
    """The ``compat-init migrate`` command; returns the exit code.

    Files are parsed in ``jobs`` worker processes (default: the number of
    CPUs).  A file whose worker dies, or takes longer than
    ``timeout_per_file`` seconds (default: 60 s plus 120 s per MiB of the
    file), is skipped with the reason and the run goes on."""
    if timeout_per_file is not None and not (isinstance(timeout_per_file, (int, float))
                                             and 0 < timeout_per_file < float("inf")):
        raise ValueError("timeout_per_file must be a number of seconds > 0 or None; received "
                         "timeout_per_file={!r}".format(timeout_per_file))
    out = sys.stdout if out is None else out  # the streams of the moment, not of import time
    err = sys.stderr if err is None else err
    jobs = jobs or os.cpu_count() or 1
    collected = collect(paths, max_file_size)
    for path in collected.stale:
        if write:
            shutil.rmtree(path, ignore_errors=True)
            print("{}: removed: the temporaries folder of an interrupted run".format(show(path)), file=err)
        else:
            print("{}: note: the temporaries folder of an interrupted run (--write removes it)".format(show(path)),
                  file=err)
    for path, reason in collected.passed_over:
        print("{}: skipped: {}".format(show(path), reason), file=err)
    sources = collected.sources
    bar = None
    if not quiet and len(sources) > 20 and err.isatty():
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(sources), unit="file", file=err, desc="migrate")
        except ImportError:
            bar = None
    real_paths = {s.path: s.real for s in sources}
    counts: Dict[str, int] = {"changed": 0, "rewritten": 0, "left_alone": 0, "unresolved": 0,
                              "keras3_notes": 0, "notes": 0, "files_skipped": len(collected.passed_over)}
    calls: List[Dict[str, object]] = []
    files: List[Dict[str, object]] = []
    counts["unparsed_legacy"] = 0
    for result, stamp in _results(sources, jobs, timeout_per_file):
        if bar is not None:
            bar.update(1)
        entry: Dict[str, object] = {"path": result.path, "changed": result.changed, "skipped": result.error}
        files.append(entry)
        if result.error is not None:
            counts["files_skipped"] += 1
            legacy = sorted(t for t in TRIGGERS if t in result.source)
            if legacy:  # not parsed, and it may hold legacy calls: --check must not pass it
                counts["unparsed_legacy"] += 1
                result = result._replace(error="{}; it holds legacy-looking spellings ({}): migrate it by "
                                               "hand".format(result.error, ", ".join(legacy[:3])))
                entry["skipped"] = result.error
            print("{}: skipped: {}".format(show(result.path), result.error), file=err)
            continue
        findings = ([(r.line, "rewritten", r.spelling, r.new) for r in result.rewrites]
                    + [(s.line, "left alone", s.spelling, s.reason) for s in result.skipped_calls]
                    + [(u.line, "not resolved", u.spelling, u.reason) for u in result.unresolved]
                    + [(n.line, "note", n.spelling, n.message) for n in result.notes])
        for line, status, spelling, detail in sorted(findings, key=lambda f: f[0]):
            calls.append({"file": result.path, "line": line, "spelling": spelling, "status": status,
                          "detail": detail})
            if status == "left alone":
                print("{}:{}: left alone: {}".format(show(result.path), line, detail), file=err)
            elif status == "not resolved":
                print("{}:{}: not resolved: {} ({})".format(show(result.path), line, spelling, detail), file=err)
            elif status == "note":
                print("{}:{}: note: {}".format(show(result.path), line, detail), file=err)
        counts["rewritten"] += len(result.rewrites)
        counts["left_alone"] += len(result.skipped_calls)
        counts["unresolved"] += len(result.unresolved)
        counts["keras3_notes"] += sum(1 for n in result.notes if n.kind == "keras3")
        counts["notes"] += sum(1 for n in result.notes if n.kind != "keras3")
        if not result.changed:
            continue
        real = real_paths[result.path]
        if write and read_only(real) and not force:
            counts["files_skipped"] += 1
            counts["rewritten"] -= len(result.rewrites)
            counts["left_alone"] += len(result.rewrites)
            entry["skipped"] = "read-only; left alone (--force rewrites it)"
            print("{}: skipped: read-only; left alone (--force rewrites it, keeping the mode)".format(
                show(result.path)), file=err)
            continue
        if write:
            why = _unchanged(real, stamp)
            if why is None:
                try:
                    write_file(real, result.new_bytes if result.new_bytes is not None
                               else result.new_source.encode("utf-8"))
                except OSError as error:  # a read-only folder (no temporary file), a full disk, ...
                    why = "cannot be written ({}); left alone".format(error.strerror or error)
            if why is not None:
                counts["files_skipped"] += 1
                counts["rewritten"] -= len(result.rewrites)
                counts["left_alone"] += len(result.rewrites)
                entry["skipped"] = why
                print("{}: skipped: {}".format(show(result.path), why), file=err)
                continue
        counts["changed"] += 1
        if not write and not check:
            _write_text(out, "".join(difflib.unified_diff(
                result.source.splitlines(True), result.new_source.splitlines(True),
                _diff_header("a/", result.path), _diff_header("b/", result.path))))
    if bar is not None:
        bar.close()
    found = counts["rewritten"] + counts["left_alone"] + counts["unresolved"]
    if counts["keras3_notes"]:
        print("{} tf.compat.v1.layers calls noted: not available with Keras 3 (TF >= 2.16)".format(
            counts["keras3_notes"]), file=err)
    if counts["files_skipped"]:
        print("{} files skipped (see above)".format(counts["files_skipped"]), file=err)
    if counts["unparsed_legacy"]:
        print("{} files could not be parsed and hold legacy-looking spellings (see above)".format(
            counts["unparsed_legacy"]), file=err)
    print("{} files changed, {} legacy calls found: {} rewritten, {} left alone, {} not resolved".format(
        counts["changed"], found, counts["rewritten"], counts["left_alone"], counts["unresolved"]), file=err)
    if report:
        with open(report, "w") as f:
            json.dump({"summary": dict(counts, files=len(sources), legacy_calls_found=found,
                                       files_passed_over=[{"path": p, "reason": r}
                                                          for p, r in collected.passed_over]),
                       "calls": calls, "files": files}, f, indent=2)
    return 1 if check and (counts["changed"] or counts["unparsed_legacy"]) else 0
