"""Reading a file from the vault safely: only regular files, never blocking, never too much.

Anyone who can write into the vault folder can also put there what is not a file: a FIFO
(``mkfifo x.md``), a socket, a device, or a symlink pointing anywhere. A plain ``open()`` of a
FIFO blocks until some process opens its other end, so one ``mkfifo`` would stop the watcher,
the scan, ``verify`` and every commit (they read while holding the vault's lock). Every read
of a vault file goes through ``read_regular``:

1. ``lstat`` the path (or take the caller's): anything but a regular file is refused without
   being opened, with a reason naming its kind ("not a regular file: a FIFO");
2. open it with ``O_NONBLOCK | O_NOFOLLOW``, so that a file swapped for a FIFO or a symlink
   between the check and the open can neither block nor lead outside the vault, and ``fstat``
   the open descriptor: what is read is what was checked;
3. read at most ``limit`` bytes; a larger file is refused, not read.

Every refusal is a ``FormatError`` naming the file and the reason, so callers turn it into a
file status like any other bad file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from stigmem_vault.errors import FormatError

MAX_NOTE_BYTES = 1024 * 1024  # the largest fact file or note stigmem reads

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words: "a FIFO", "a symlink", "a regular file"..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a file"


def special_reason(path: Path | str, mode: int) -> str | None:
    """Why a file of this ``st_mode`` (from ``lstat``) is never read; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            return "is a symlink; notes and fact files must be regular files"
        return f"is a symlink (to {target}); notes and fact files must be regular files"
    return f"is not a regular file: {file_kind(mode)}; it is never opened"


def read_regular_stat(path: Path | str, rel: str, limit: int = MAX_NOTE_BYTES,
                      st: os.stat_result | None = None) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file at ``path`` and its ``fstat`` after reading.

    ``rel`` names the file in errors; ``st`` is its ``lstat`` if the caller has it already.
    Raises ``FormatError`` for anything that is not a regular file (never opened, or opened
    without blocking and closed again), for a file over ``limit`` bytes, and if it cannot be
    read (gone, no permission).
    """
    try:
        if st is None:
            st = os.lstat(path)
        reason = special_reason(path, st.st_mode)
        if reason is not None:
            raise FormatError(rel, reason)
        _check_size(rel, st.st_size, limit)
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO):  # became a symlink or a socket since
                raise FormatError(rel, special_reason(path, os.lstat(path).st_mode)
                                  or "changed while being read") from None
            raise
        try:
            fresh = os.fstat(fd)
            if not stat.S_ISREG(fresh.st_mode):  # swapped for a FIFO or device since the lstat
                raise FormatError(rel, f"is not a regular file: {file_kind(fresh.st_mode)}; "
                                       "it is never read")
            _check_size(rel, fresh.st_size, limit)
            data = _read_at_most(fd, fresh.st_size, limit)
            if len(data) > limit:
                raise FormatError(rel, f"is over the {limit}-byte limit")
            return data, os.fstat(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise FormatError(rel, f"cannot be read: {exc.strerror or exc}") from None


def read_regular(path: Path | str, rel: str, limit: int = MAX_NOTE_BYTES,
                 st: os.stat_result | None = None) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    The one way to read a note, fact file or draft from the vault (see the module docstring):
    a FIFO, socket, device, folder or symlink is refused with a ``FormatError`` naming ``rel``
    and what the file is, and is never read (a FIFO is never opened for blocking).
    """
    return read_regular_stat(path, rel, limit, st)[0]


def _check_size(rel: str, size: int, limit: int) -> None:
    if size > limit:
        raise FormatError(rel, f"is {size} bytes, over the {limit}-byte limit")


def _read_at_most(fd: int, size: int, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes: ask for the size the file has plus one byte, not for the
    limit (a read of the limit costs a buffer of that size per file); a file that grew since
    is read on up to one byte past the limit, so the caller sees it is too large."""
    chunks = [os.read(fd, min(size, limit) + 1)]
    total = len(chunks[0])
    while chunks[-1] and total <= limit and total > size:
        chunks.append(os.read(fd, limit + 1 - total))
        total += len(chunks[-1])
    return b"".join(chunks)
