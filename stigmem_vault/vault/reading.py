"""Reading a file of the vault without trusting what is at its path.

Anyone can put anything in a vault folder: a FIFO (whose ``open`` blocks until a writer
comes), a socket, a device, a symlink out of the vault, a huge file. Every reader of vault
files opens them here: non-blocking, without following symlinks, and checks the opened file
(not the path, which can change in between) is a regular file before reading a byte.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from stigmem_vault.errors import FormatError


class NotRegularFile(FormatError):
    """The path holds something other than a regular file (FIFO, socket, device, symlink,
    folder), or a file over the size limit."""


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symlink"))


def describe(mode: int) -> str:
    """What kind of file ``mode`` (from stat) is, in words."""
    return next((name for check, name in _KINDS if check(mode)), "not a regular file")


def read_regular(path: Path, rel: str, limit: int) -> bytes:
    """The bytes of the regular file at ``path`` (``rel`` names it in errors), at most
    ``limit`` of them; NotRegularFile for anything else or a larger file; OSError as is."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
            raise NotRegularFile(rel, "is a symlink; only regular files are read") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(rel, f"is {describe(st.st_mode)}; only regular files are read")
        if st.st_size > limit:
            raise NotRegularFile(rel, f"is {st.st_size} bytes, over the {limit}-byte limit")
        chunks = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(limit + 1 - total, 1 << 20) or 1)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise NotRegularFile(rel, f"grew over the {limit}-byte limit while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)
