"""Durable file writes: temp file, fsync, rename (or link), fsync the directory.

After ``write_atomic`` returns, the file survives a crash with either its old or its new
content, never a mix (the rename is atomic; both fsyncs make it durable). A folder it has to
create on the way is made durable too: the parent of each new folder is fsynced, else a power
loss could drop the new folder's entry, and with it the file.

A writer may keep its temp files in a ``scratch`` folder of its own on the same file system
(the vault uses ``.stigmem/local/tmp/``, which nobody watches): the folder the file lands in
then sees a single event, the file appearing whole, instead of a temp file being created,
written, closed and renamed. Where the scratch folder is on another file system, the temp
file goes beside the target as usual.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import threading
from pathlib import Path

from stigmem_vault.errors import StorageError


def write_atomic(path: Path, data: bytes, *, exclusive: bool = False, sync: bool = True,
                 scratch: Path | None = None, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically; with ``exclusive`` refuse to replace a file.
    ``mode``: the new file's permissions (0o600 for this clone's private state)."""
    try:
        make_dirs(path.parent, sync=sync)
        if scratch is not None:
            try:
                _write_via(scratch, path, data, exclusive, sync, mode)
                return
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        _write_via(path.parent, path, data, exclusive, sync, mode)
    except FileExistsError:
        raise
    except OSError as exc:
        raise StorageError(f"{path}: cannot write: {exc}") from exc


def _write_via(folder: Path, path: Path, data: bytes, exclusive: bool, sync: bool,
               mode: int) -> None:
    # Unique per process and thread: two writers of one path must never share a temp file.
    # A long name (an entity note's may have 255 bytes) is shortened: the temp name must fit too.
    name = path.name if len(path.name.encode("utf-8")) <= 200 \
        else hashlib.sha256(path.name.encode("utf-8")).hexdigest()[:16]
    tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        except FileNotFoundError:
            if folder == path.parent:
                raise
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
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
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def make_dirs(folder: Path, *, sync: bool = True) -> None:
    """``mkdir -p`` that makes each folder it creates durable (with ``sync``): after each
    ``mkdir`` the new folder's parent is fsynced, from the first existing folder down.

    An existing folder costs one system call (the ``mkdir`` that fails), as before.
    """
    try:
        os.mkdir(folder)
    except FileExistsError:
        return
    except FileNotFoundError:
        make_dirs(folder.parent, sync=sync)
        with contextlib.suppress(FileExistsError):  # a concurrent writer made it just now:
            os.mkdir(folder)                          # fsync its parent all the same
    if sync:
        fsync_dir(folder.parent)


def fsync_file(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path | str) -> None:
    fsync_file(directory)  # a folder is opened read-only and fsynced as a file is
