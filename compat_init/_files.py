"""Files compat_init writes: whole or not at all, with a new file's mode,
never into a FIFO or a device, with room for them checked first; the
temporary files of a run that was killed are removed by the next one."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from typing import Callable, Iterator, Optional

#: Every temporary file or folder compat_init makes starts with this, then
#: the writing process's id: ``.compat-init-<pid>-...``.
TEMP_PREFIX = ".compat-init-"
_STALE = re.compile(r"^\.compat-init-(\d+)-")


def temp_prefix() -> str:
    """The prefix of this process's temporary names (``clean_stale`` knows them)."""
    return "{}{}-".format(TEMP_PREFIX, os.getpid())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def clean_stale(folder: str) -> list:
    """Removes the temporary files and folders a killed compat_init run left
    in ``folder`` (its process is gone); returns their names."""
    removed: list = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _STALE.match(name)
        if not match or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed.append(name)
        except OSError:
            pass
    return removed


class NoSpace(OSError):
    """Not enough free space for what a run would write."""


def check_space(folder: str, nbytes: int, what: str) -> None:
    """``nbytes`` (plus a margin) fit in ``folder``'s file system, or NoSpace."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    needed = int(nbytes * 1.05) + (1 << 20)
    if needed > free:
        raise NoSpace("{} needs about {:.3g} MiB and {} has {:.3g} MiB free".format(
            what, needed / 2 ** 20, folder, free / 2 ** 20))


def default_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file under the current
    umask (a temporary file is created 0600; renamed into place, it gets this)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


#: Whether SIGTERM is held back: the command's outputs are being committed.
_COMMITTING = [False]


@contextlib.contextmanager
def committing() -> Iterator[None]:
    """While the outputs are written and renamed into place, SIGTERM does not
    interrupt (the command line's handler asks :func:`terminable`): a
    signal between two renames would leave some outputs without the others.
    The run then ends whole, with its usual exit code."""
    _COMMITTING[0] = True
    try:
        yield
    finally:
        _COMMITTING[0] = False


def terminable() -> bool:
    """False while :func:`committing`: SIGTERM is ignored then."""
    return not _COMMITTING[0]


def stage(path: str, write: Callable[[str], None], suffix: str = ".tmp") -> str:
    """``write(temporary)`` fills a temporary file beside ``path`` (with a new
    file's mode); returns it, for the caller to rename into place once every
    output of the run is staged.  A failure removes it."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=temp_prefix(), suffix=suffix, dir=folder)
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, default_mode())
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return temporary


def write_whole(path: str, write: Callable[[str], None], suffix: str = ".tmp") -> None:
    """``write(temporary)`` fills a temporary file beside ``path``, which is
    then renamed into place: a failure (or an interrupt) leaves no partial
    file and whatever was at ``path`` as it was."""
    temporary = stage(path, write, suffix)
    try:
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def not_regular(path: str) -> Optional[str]:
    """What ``path`` is when it exists and is not a regular file ("a FIFO",
    "a character device", ...; links followed), else None.  Opening a FIFO
    or a device would block, read forever or write into a device."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"
