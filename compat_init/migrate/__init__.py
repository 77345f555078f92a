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
import sys
import tempfile
from typing import IO, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from compat_init._errors import UsageError
from compat_init.migrate._rules import RULES, describe
from compat_init.migrate._transform import FileResult, migrate_source

__all__ = ["migrate_source", "migrate_paths", "run", "describe", "RULES", "FileResult", "collect"]

_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", ".nox", ".tox", "__pycache__", "node_modules", "build", "dist"}
TEMP_PREFIX = ".compat-init-"


class Source(NamedTuple):
    path: str  #: as the user sees it (the link, when given a link)
    real: str  #: the file that is read and written


class Collected(NamedTuple):
    sources: List[Source]
    #: files not taken, with the reason (dangling or outside links)
    passed_over: List[Tuple[str, str]]
    #: temporary files an interrupted run left
    stale: List[str]


def _is_temporary(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and (name.endswith(".tmp") or name.endswith(".py"))


def collect(paths: Sequence[str]) -> Collected:
    """Every ``.py`` file under ``paths`` (files are taken as given), each
    real file once, in path order."""
    roots = []
    for path in paths:
        if not os.path.lexists(path):
            raise UsageError("PATH must be an existing file or directory; received {}".format(path))
        roots.append(os.path.realpath(path))
    candidates: List[str] = []
    stale: List[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                for name in sorted(files):
                    full = os.path.normpath(os.path.join(root, name))
                    if _is_temporary(name):
                        stale.append(full)
                    elif name.endswith(".py"):
                        candidates.append(full)
        else:
            candidates.append(os.path.normpath(path))
    sources: List[Source] = []
    passed_over: List[Tuple[str, str]] = []
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
        if real in seen:
            continue
        seen.add(real)
        sources.append(Source(path, real))
    return Collected(sources, passed_over, stale)


def _migrate_file(source: Source) -> FileResult:
    try:
        with open(source.real, "rb") as f:
            data = f.read()
    except OSError as error:
        return FileResult(source.path, "", "", [], [], "cannot read: {}".format(error.strerror or error))
    return migrate_source(data, source.path)


def migrate_paths(paths: Sequence[str], jobs: int = 1) -> Iterator[FileResult]:
    """Yields one :class:`FileResult` per file, in file order (parallel when jobs > 1)."""
    yield from _results(collect(paths).sources, jobs)


def _results(sources: List[Source], jobs: int) -> Iterator[FileResult]:
    if jobs > 1 and len(sources) > 1:
        import multiprocessing

        with multiprocessing.Pool(jobs) as pool:
            yield from pool.imap(_migrate_file, sources, chunksize=8)
    else:
        for source in sources:
            yield _migrate_file(source)


def _diff_name(path: str) -> str:
    """A path as a diff header shows it after ``a/``: relative to the current
    folder when under it, else without its leading separator (``a/tmp/x.py``,
    not ``a//tmp/x.py``), with forward slashes."""
    absolute = os.path.abspath(path)
    here = os.getcwd()
    if absolute.startswith(here + os.sep):
        path = os.path.relpath(absolute, here)
    return path.replace(os.sep, "/").lstrip("/")


def read_only(path: str) -> bool:
    """The owner may not write the file (its mode, whoever runs: root too)."""
    return not os.stat(path).st_mode & stat.S_IWUSR


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
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if info.st_nlink > 1:
            with open(path, "r+b") as f:
                f.write(data)
                f.truncate()
                f.flush()
                os.fsync(f.fileno())
            os.unlink(tmp)
            return
        os.chmod(tmp, stat.S_IMODE(info.st_mode))
        if hasattr(os, "chown"):
            try:
                os.chown(tmp, info.st_uid, info.st_gid)
            except PermissionError:
                pass  # not ours to give away: the file keeps the runner's owner
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(paths: Sequence[str], *, write: bool = False, check: bool = False,
        report: Optional[str] = None, jobs: Optional[int] = None, quiet: bool = False,
        force: bool = False, out: Optional[IO[str]] = None, err: Optional[IO[str]] = None) -> int:
    """The ``compat-init migrate`` command; returns the exit code."""
    out = sys.stdout if out is None else out  # the streams of the moment, not of import time
    err = sys.stderr if err is None else err
    jobs = jobs or os.cpu_count() or 1
    collected = collect(paths)
    for path in collected.stale:
        if write:
            os.unlink(path)
            print("{}: removed: a temporary file an interrupted run left".format(path), file=err)
        else:
            print("{}: note: a temporary file an interrupted run left (--write removes it)".format(path),
                  file=err)
    for path, reason in collected.passed_over:
        print("{}: skipped: {}".format(path, reason), file=err)
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
    for result in _results(sources, jobs):
        if bar is not None:
            bar.update(1)
        entry: Dict[str, object] = {"path": result.path, "changed": result.changed, "skipped": result.error}
        files.append(entry)
        if result.error is not None:
            counts["files_skipped"] += 1
            print("{}: skipped: {}".format(result.path, result.error), file=err)
            continue
        findings = ([(r.line, "rewritten", r.spelling, r.new) for r in result.rewrites]
                    + [(s.line, "left alone", s.spelling, s.reason) for s in result.skipped_calls]
                    + [(u.line, "not resolved", u.spelling, u.reason) for u in result.unresolved]
                    + [(n.line, "note", n.spelling, n.message) for n in result.notes])
        for line, status, spelling, detail in sorted(findings, key=lambda f: f[0]):
            calls.append({"file": result.path, "line": line, "spelling": spelling, "status": status,
                          "detail": detail})
            if status == "left alone":
                print("{}:{}: left alone: {}".format(result.path, line, detail), file=err)
            elif status == "not resolved":
                print("{}:{}: not resolved: {} ({})".format(result.path, line, spelling, detail), file=err)
            elif status == "note":
                print("{}:{}: note: {}".format(result.path, line, detail), file=err)
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
                result.path), file=err)
            continue
        counts["changed"] += 1
        if write:
            write_file(real, result.new_bytes if result.new_bytes is not None
                       else result.new_source.encode("utf-8"))
        elif not check:
            out.writelines(difflib.unified_diff(
                result.source.splitlines(True), result.new_source.splitlines(True),
                "a/" + _diff_name(result.path), "b/" + _diff_name(result.path)))
    if bar is not None:
        bar.close()
    found = counts["rewritten"] + counts["left_alone"] + counts["unresolved"]
    if counts["keras3_notes"]:
        print("{} tf.compat.v1.layers calls noted: not available with Keras 3 (TF >= 2.16)".format(
            counts["keras3_notes"]), file=err)
    if counts["files_skipped"]:
        print("{} files skipped (see above)".format(counts["files_skipped"]), file=err)
    print("{} files changed, {} legacy calls found: {} rewritten, {} left alone, {} not resolved".format(
        counts["changed"], found, counts["rewritten"], counts["left_alone"], counts["unresolved"]), file=err)
    if report:
        with open(report, "w") as f:
            json.dump({"summary": dict(counts, files=len(sources), legacy_calls_found=found,
                                       files_passed_over=[{"path": p, "reason": r}
                                                          for p, r in collected.passed_over]),
                       "calls": calls, "files": files}, f, indent=2)
    return 1 if check and counts["changed"] else 0
