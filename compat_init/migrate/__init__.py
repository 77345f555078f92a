"""``compat-init migrate``: move legacy initializer calls onto compat_init.

Built on libcst (the ``migrate`` extra): formatting and comments are kept,
import aliases are followed, ``import compat_init`` is added once, and a call
that cannot be mapped safely is left alone with a ``file:line: reason``.
"""
from __future__ import annotations

import difflib
import json
import os
import stat
import sys
import tempfile
from typing import IO, Iterator, List, Optional, Sequence

from compat_init._errors import UsageError
from compat_init.migrate._rules import RULES, describe
from compat_init.migrate._transform import FileResult, migrate_source

__all__ = ["migrate_source", "migrate_paths", "run", "describe", "RULES", "FileResult"]

_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", ".nox", ".tox", "__pycache__", "node_modules", "build", "dist"}




def python_files(paths: Sequence[str]) -> List[str]:
    """Every ``.py`` file under ``paths`` (files are taken as given), sorted."""
    found = []
    for path in paths:
        if os.path.isfile(path):
            found.append(os.path.normpath(path))
        elif os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                found.extend(os.path.normpath(os.path.join(root, f))
                             for f in sorted(files) if f.endswith(".py"))
        else:
            raise UsageError("PATH must be an existing file or directory; received {}".format(path))
    return found


def _migrate_file(path: str) -> FileResult:
    try:
        with open(path, "rb") as f:
            raw = f.read()
        source = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return FileResult(path, "", "", [], [], "cannot read: {}".format(error))
    return migrate_source(source, path)


def migrate_paths(paths: Sequence[str], jobs: int = 1) -> Iterator[FileResult]:
    """Yields one :class:`FileResult` per file, in file order (parallel when jobs > 1)."""
    files = python_files(paths)
    if jobs > 1 and len(files) > 1:
        import multiprocessing

        with multiprocessing.Pool(jobs) as pool:
            for result in pool.imap(_migrate_file, files, chunksize=8):
                yield result
    else:
        for path in files:
            yield _migrate_file(path)


def _diff_name(path: str) -> str:
    """A path as a diff header shows it after ``a/``: relative to the current
    folder when under it, else without its leading separator (``a/tmp/x.py``,
    not ``a//tmp/x.py``), with forward slashes."""
    absolute = os.path.abspath(path)
    here = os.getcwd()
    if absolute.startswith(here + os.sep):
        path = os.path.relpath(absolute, here)
    return path.replace(os.sep, "/").lstrip("/")


def write_atomically(path: str, text: str) -> None:
    """Temporary file in the same folder, then rename; the file mode is kept."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".compat-init-", suffix=".py", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(paths: Sequence[str], *, write: bool = False, check: bool = False,
        report: Optional[str] = None, jobs: Optional[int] = None, quiet: bool = False,
        out: Optional[IO[str]] = None, err: Optional[IO[str]] = None) -> int:
    """The ``compat-init migrate`` command; returns the exit code."""
    out = sys.stdout if out is None else out  # the streams of the moment, not of import time
    err = sys.stderr if err is None else err
    jobs = jobs or os.cpu_count() or 1
    files = python_files(paths)
    bar = None
    if not quiet and len(files) > 20 and err.isatty():
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(files), unit="file", file=err, desc="migrate")
        except ImportError:
            bar = None
    changed = rewritten = skipped = 0
    entries = []
    for result in migrate_paths(files, jobs):
        if bar is not None:
            bar.update(1)
        entry = {"path": result.path, "changed": result.changed,
                 "rewrites": [r._asdict() for r in result.rewrites],
                 "left_alone": [s._asdict() for s in result.skipped_calls],
                 "skipped": result.error}
        entries.append(entry)
        if result.error is not None:
            skipped += 1
            print("{}: skipped: {}".format(result.path, result.error), file=err)
            continue
        for skip in result.skipped_calls:
            skipped += 1
            print("{}:{}: {}".format(result.path, skip.line, skip.reason), file=err)
        if not result.changed:
            continue
        changed += 1
        rewritten += len(result.rewrites)
        if write:
            write_atomically(result.path, result.new_source)
        elif not check:
            out.writelines(difflib.unified_diff(
                result.source.splitlines(True), result.new_source.splitlines(True),
                "a/" + _diff_name(result.path), "b/" + _diff_name(result.path)))
    if bar is not None:
        bar.close()
    summary = "{} files changed, {} calls rewritten, {} skipped".format(changed, rewritten, skipped)
    print(summary, file=err)
    if report:
        with open(report, "w") as f:
            json.dump({"summary": {"files_changed": changed, "calls_rewritten": rewritten,
                                   "skipped": skipped, "files": len(files)},
                       "files": entries}, f, indent=2)
    return 1 if check and changed else 0


