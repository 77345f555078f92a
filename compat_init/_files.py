"""Files compat_init writes: whole or not at all, with a new file's mode."""
from __future__ import annotations

import os
import stat
import tempfile
from typing import Callable, Optional


def default_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file under the current
    umask (a temporary file is created 0600; renamed into place, it gets this)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_whole(path: str, write: Callable[[str], None], suffix: str = ".tmp") -> None:
    """``write(temporary)`` fills a temporary file beside ``path``, which is
    then renamed into place: a failure (or an interrupt) leaves no partial
    file and whatever was at ``path`` as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".compat-init-", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, default_mode())
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
