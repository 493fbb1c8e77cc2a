"""The WAL-index header, read without a system call and without ever dropping a lock.

Every commit by any connection rewrites the two copies of the WAL-index header at the start of
the ``-shm`` file (https://www.sqlite.org/walformat.html) before it returns, so unchanged bytes
mean nobody committed since they were read: a check of 0.1 µs instead of ``PRAGMA
data_version`` (a read transaction, 1.5-3 µs). It is what keeps a warm read of the
working-memory tier at a few hundred thousand per second.

Mapping the file needs a descriptor, and POSIX locks belong to a process and a file: closing
*any* descriptor of the ``-shm`` file drops every lock the process holds on it, SQLite's
included (https://www.sqlite.org/howtocorrupt.html, 2.2). So a descriptor opened here is
**never closed while the file it names can be in use**: the mappings live in one table for the
whole process, one per ``-shm`` file, shared by every handle on that database, and are closed
only once the file they map was deleted (SQLite removed it when the last connection anywhere
closed): locks on a deleted file guard nothing. At most :data:`MAX_FILES` files are mapped
(the deleted ones are let go first); past that, handles ask ``data_version`` instead (both give
the same answers; see ``MemoryRepo._current``). mindbank opens no other descriptor on the
database's files (docs/memory-store.md, "One process, many connections").
"""

from __future__ import annotations

import mmap
import os
import sys
import threading
from pathlib import Path

__all__ = ["MAX_FILES", "header_reader"]

MAX_FILES = 64  # two descriptors each (Python's mmap keeps a duplicate)

_lock = threading.Lock()
_mapped: dict[str, tuple[int, int, int, mmap.mmap | None]] = {}  # path -> (dev, ino, fd, map)


class _Reader:
    """Reads one database's WAL-index header (see :func:`header_reader`)."""

    __slots__ = ("_map",)

    def __init__(self, mapped: mmap.mmap):
        self._map = mapped

    def __call__(self) -> bytes:
        return self._map[:96]


def header_reader(db_path: Path) -> _Reader | None:
    """A function that returns the current WAL-index header of the database at ``db_path``,
    or None when it cannot be read that way (no ``-shm`` yet, an unknown format, too many
    databases mapped). Call it only while a connection of this process to the database is
    open: then SQLite keeps the ``-shm`` file in place."""
    shm = os.path.realpath(db_path) + "-shm"
    with _lock:
        try:
            st = os.stat(shm)
        except OSError:
            return None
        known = _mapped.get(shm)
        if known is not None:
            dev, ino, fd, mapped = known
            if (dev, ino) == (st.st_dev, st.st_ino):
                return _checked(mapped)
            _forget(shm)  # the file this mapped was deleted; a new one took its path
        if len(_mapped) >= MAX_FILES:
            for old in [p for p, (d, i, _, _) in _mapped.items() if not _exists(p, d, i)]:
                _forget(old)
        if len(_mapped) >= MAX_FILES or st.st_size < 136:
            return None
        try:
            fd = os.open(shm, os.O_RDONLY)
        except OSError:
            return None
        st = os.fstat(fd)  # (the file opened, whatever happened since the stat)
        try:
            mapped = mmap.mmap(fd, 136, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            mapped = None  # the descriptor is kept all the same: closing it drops locks
        _mapped[shm] = (st.st_dev, st.st_ino, fd, mapped)
        return _checked(mapped)


def _exists(path: str, dev: int, ino: int) -> bool:
    """Whether ``path`` is still the file (dev, ino)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def _forget(shm: str) -> None:
    """Close the descriptors of a ``-shm`` file that was deleted (SQLite deletes it when the
    last connection anywhere closes): locks on a deleted file guard nothing, so closing them
    cannot hurt a connection; the path may have a new file, which is mapped anew."""
    _, _, fd, mapped = _mapped.pop(shm)
    if mapped is not None:
        mapped.close()
    os.close(fd)


def _checked(mapped: mmap.mmap | None) -> _Reader | None:
    # iVersion (native-endian u32 at 0) and isInit (u8 at 12) of the first copy.
    if mapped is None or int.from_bytes(mapped[0:4], sys.byteorder) != 3007000 or not mapped[12]:
        return None
    return _Reader(mapped)
