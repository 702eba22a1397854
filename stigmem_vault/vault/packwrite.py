"""One pack per commit: a commit's new objects written as a git pack and its index.

A commit stores a blob per file, a tree per folder on each changed path, and the commit. As
loose objects that is a file and a folder fsync each (some 30 fsyncs for a one-fact commit
under ``facts/<scope>/<kind>/...``); as one pack it is the pack, its index and their folder.
Objects are stored whole (no deltas, zlib level 1): background repacking (``packing``)
merges the packs and finds deltas later.

Formats: ``Documentation/gitformat-pack.txt`` (pack version 2, index version 2).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import pygit2

from stigmem_vault.vault.store import fsync_dir, make_dirs

OBJ_COMMIT, OBJ_TREE, OBJ_BLOB = 1, 2, 3
_TYPE_NAMES = {OBJ_COMMIT: b"commit", OBJ_TREE: b"tree", OBJ_BLOB: b"blob"}
TREE_MODE = 0o040000
BLOB_MODE = 0o100644
_IDX_MAGIC = b"\xfftOc"
_LARGE = 0x80000000  # offsets from here on go to the index's 8-byte table
# Temp files carry the writer's process id (as loose objects' do), so that the sweep of
# crashed writers' temp files (GitRepo.remove_stale_temp_objects) knows them.
OWN_TMP = "tmp_stigmem_"


@dataclass(frozen=True, slots=True)
class PackObject:
    """One object, ready for a pack: its name, and its entry (header + zlib data)."""

    oid: bytes  # 20 bytes
    entry: bytes

    @property
    def hex(self) -> str:
        return self.oid.hex()


def pack_object(kind: int, body: bytes) -> PackObject:
    """Name and compress one object (``kind`` is OBJ_COMMIT, OBJ_TREE or OBJ_BLOB)."""
    oid = hashlib.sha1(b"%s %d\0" % (_TYPE_NAMES[kind], len(body)) + body,
                       usedforsecurity=False).digest()
    return PackObject(oid, _entry_header(kind, len(body)) + zlib.compress(body, 1))


def _entry_header(kind: int, size: int) -> bytes:
    """Type and size, little-endian base 128: 4 size bits in the first byte, 7 in the rest."""
    out = bytearray([(kind << 4) | (size & 0x0F)])
    size >>= 4
    while size:
        out[-1] |= 0x80
        out.append(size & 0x7F)
        size >>= 7
    return bytes(out)


def tree_body(entries: dict[str, tuple[int, bytes]]) -> bytes:
    """A tree object's bytes: ``<mode in octal> <name>\\0<20-byte id>`` per entry, in git's
    order (a folder sorts as if its name ended with ``/``)."""
    def key(item: tuple[str, tuple[int, bytes]]) -> bytes:
        name, (mode, _oid) = item
        return name.encode() + (b"/" if mode == TREE_MODE else b"")

    return b"".join(b"%o %s\0" % (mode, name.encode()) + oid
                    for name, (mode, oid) in sorted(entries.items(), key=key))


def update_tree(repo: pygit2.Repository, base: pygit2.Tree | None,
                changes: dict[str, bytes | None], out: list[PackObject]) -> bytes | None:
    """The id of ``base`` with ``changes`` applied (path -> blob id, None to remove it),
    appending every new tree to ``out``; None if the result is empty. Only the folders on
    changed paths are rebuilt: the others keep their ids."""
    entries: dict[str, tuple[int, bytes]] = {}
    if base is not None:
        entries = {entry.name or "": (entry.filemode, entry.id.raw) for entry in base}
    inner: dict[str, dict[str, bytes | None]] = {}
    for path, oid in changes.items():
        head, sep, rest = path.partition("/")
        if sep:
            inner.setdefault(head, {})[rest] = oid
        elif oid is None:
            entries.pop(head, None)
        else:
            entries[head] = (BLOB_MODE, oid)
    for name, sub in inner.items():
        old = entries.get(name)
        old_tree = None
        if old is not None and old[0] == TREE_MODE:
            found = repo[pygit2.Oid(raw=old[1])]
            old_tree = found if isinstance(found, pygit2.Tree) else None
        new = update_tree(repo, old_tree, sub, out)
        if new is None:
            entries.pop(name, None)
        else:
            entries[name] = (TREE_MODE, new)
    if not entries:
        return None
    made = pack_object(OBJ_TREE, tree_body(entries))
    if base is None or made.oid != base.id.raw:
        out.append(made)
    return made.oid


def signed_commit_body(payload: str, signature: str, field: str = "gpgsig") -> bytes:
    """A commit's bytes with ``signature`` in a header after the others, each of its lines
    after the first indented by one space (what libgit2's commit_create_with_signature
    writes)."""
    end = payload.index("\n\n")
    value = signature.replace("\n", "\n ")
    return (payload[:end + 1] + f"{field} {value}" + ("" if value.endswith("\n") else "\n")
            + payload[end + 1:]).encode()


def commit_payload(tree: str, parents: list[str], who: pygit2.Signature, message: str) -> str:
    """The unsigned commit text (what libgit2's commit_create_buffer writes)."""
    sign = "-" if who.offset < 0 else "+"
    hours, minutes = divmod(abs(who.offset), 60)
    person = f"{who.name} <{who.email}> {who.time} {sign}{hours:02d}{minutes:02d}"
    return (f"tree {tree}\n" + "".join(f"parent {p}\n" for p in parents)
            + f"author {person}\ncommitter {person}\n\n{message}")


def write_pack(objects_dir: str, objects: list[PackObject]) -> str:
    """Write ``objects`` as one pack and its index in ``objects/pack/``: each fsynced, then
    linked into place (the pack before the index that makes git see it), then the folder
    fsynced. Returns the pack's name (``pack-<sha1>``)."""
    unique = {obj.oid: obj for obj in objects}  # one entry per object
    ordered = list(unique.values())
    pack = bytearray(b"PACK" + struct.pack(">II", 2, len(ordered)))
    offsets: dict[bytes, tuple[int, int]] = {}  # oid -> (offset, crc32 of its entry)
    for obj in ordered:
        offsets[obj.oid] = (len(pack), zlib.crc32(obj.entry))
        pack += obj.entry
    checksum = hashlib.sha1(pack, usedforsecurity=False).digest()
    pack += checksum
    index = _index(offsets, checksum)
    folder = os.path.join(objects_dir, "pack")
    make_dirs(Path(folder))  # libgit2 makes it with the repository; a person may remove it
    name = f"pack-{checksum.hex()}"
    tmp = os.path.join(folder, f"{OWN_TMP}{os.getpid()}_{threading.get_ident()}")
    for suffix, data in ((".pack", bytes(pack)), (".idx", index)):
        _write_synced(tmp + suffix, data)
    try:
        for suffix in (".pack", ".idx"):
            # Already there: the same objects in the same order, the same bytes.
            with contextlib.suppress(FileExistsError):
                os.link(tmp + suffix, os.path.join(folder, name + suffix))
    finally:
        for suffix in (".pack", ".idx"):
            os.unlink(tmp + suffix)
    fsync_dir(folder)
    return name


def _index(offsets: dict[bytes, tuple[int, int]], checksum: bytes) -> bytes:
    names = sorted(offsets)
    fanout = [0] * 256
    for oid in names:
        fanout[oid[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    small: list[int] = []
    large: list[int] = []
    for oid in names:
        offset = offsets[oid][0]
        if offset < _LARGE:
            small.append(offset)
        else:
            small.append(_LARGE | len(large))
            large.append(offset)
    body = (_IDX_MAGIC + struct.pack(">I", 2) + struct.pack(">256I", *fanout) + b"".join(names)
            + b"".join(struct.pack(">I", offsets[oid][1]) for oid in names)
            + struct.pack(f">{len(small)}I", *small) + struct.pack(f">{len(large)}Q", *large)
            + checksum)
    return body + hashlib.sha1(body, usedforsecurity=False).digest()


def _write_synced(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o444)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
