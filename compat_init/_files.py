"""Files compat_init writes: whole or not at all, with a new file's mode,
never into a FIFO or a device, with room for them checked first; the
temporaries of a run that was killed are removed by the next one, and only
those: each temporary lives in a private folder holding a lock file that
its run keeps locked while it works (``Temporary``)."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from typing import Callable, Iterator, Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; nothing is taken for abandoned
    fcntl = None  # type: ignore[assignment]

#: Every temporary folder compat_init makes starts with this, then the
#: writing process's id: ``.compat-init-<pid>-XXXXXXXX.tmpd``.
TEMP_PREFIX = ".compat-init-"
#: The private folder's suffix and its lock file's name and first bytes.
HOLDER_SUFFIX = ".tmpd"
_LOCK = "lock"
_MAGIC = b"compat-init temporary folder: held by its run while in use; removed by the next run once abandoned\n"
_HOLDER = re.compile(r"^\.compat-init-\d+-[A-Za-z0-9_]+\.tmpd$")


def temp_prefix() -> str:
    """The prefix of this process's temporary folders."""
    return "{}{}-".format(TEMP_PREFIX, os.getpid())


class Temporary:
    """A path for a temporary file (or, ``directory``, a new folder) in
    ``folder``, made inside a private folder
    (``.compat-init-<pid>-XXXXXXXX.tmpd``) with a lock file this run holds
    locked until ``close()``: the proof that it is ours and in use.  A killed
    run's lock is released by the system, and the next run removes the
    folder (``clean_stale``); nothing else is ever removed."""

    def __init__(self, folder: str, suffix: str = "", directory: bool = False) -> None:
        self.holder = tempfile.mkdtemp(prefix=temp_prefix(), suffix=HOLDER_SUFFIX, dir=folder)
        self._lock: Optional[int] = None
        try:
            self._lock = os.open(os.path.join(self.holder, _LOCK), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            if fcntl is not None:
                fcntl.flock(self._lock, fcntl.LOCK_EX)  # before the mark: marked means held
            os.write(self._lock, _MAGIC)
            self.path = os.path.join(self.holder, "temporary" + suffix)
            if directory:
                os.mkdir(self.path)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Removes the private folder and what is left in it, then lets the lock go."""
        shutil.rmtree(self.holder, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> "Temporary":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def abandoned(path: str) -> bool:
    """Whether ``path`` is a private temporaries folder compat_init made
    (its name, a real folder, its lock file marked) whose run is gone (its
    lock held by nobody)."""
    if fcntl is None or not _HOLDER.match(os.path.basename(path)):
        return False
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        handle = os.open(os.path.join(path, _LOCK), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) |
                         getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a live run's, in this or another pid namespace
            return False
        return os.read(handle, len(_MAGIC) + 1) == _MAGIC
    finally:
        os.close(handle)


def clean_stale(folder: str) -> list:
    """Removes the private temporaries folders that killed compat_init runs
    left in ``folder`` (``abandoned``); returns their names."""
    removed: list = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(folder, name)
        if abandoned(path):
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.lexists(path):
                removed.append(name)
    return removed


def named_folder(path: str) -> str:
    """The folder a user named with a checkpoint ``path``: itself, or the
    folder of the prefix, ``.index`` or state file named."""
    path = os.fspath(path)
    return os.path.abspath(path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)))


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


def stage(path: str, write: Callable[[str], None], suffix: str = ".tmp") -> Temporary:
    """``write(temporary.path)`` fills a temporary file beside ``path`` (with
    a new file's mode); returns it, for the caller to rename into place once
    every output of the run is staged, then close.  A failure removes it."""
    temporary = Temporary(os.path.dirname(os.path.abspath(path)), suffix)
    try:
        with open(temporary.path, "wb"):
            pass
        write(temporary.path)
        os.chmod(temporary.path, default_mode())
    except BaseException:
        temporary.close()
        raise
    return temporary


def write_whole(path: str, write: Callable[[str], None], suffix: str = ".tmp") -> None:
    """``write(temporary)`` fills a temporary file beside ``path``, which is
    then renamed into place: a failure (or an interrupt) leaves no partial
    file and whatever was at ``path`` as it was."""
    with stage(path, write, suffix) as temporary:
        os.replace(temporary.path, path)


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
