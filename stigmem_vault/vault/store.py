"""Durable file writes: temp file, fsync, rename, fsync the directory.

After ``write_atomic`` returns, the file survives a crash with either its old or its new
content, never a mix (the rename is atomic; both fsyncs make it durable).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from stigmem_vault.errors import StorageError


def write_atomic(path: Path, data: bytes, *, exclusive: bool = False, sync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically; with ``exclusive`` refuse to replace a file."""
    # Unique per process and thread: two writers of one path must never share a temp file.
    tmp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            # link() fails if the target exists: no window where another writer's file is lost.
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        if sync:
            fsync_dir(path.parent)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write: {exc}") from exc


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
