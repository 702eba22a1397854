"""Signed git history: batched commits signed in the SSH signature format (SSHSIG).

We sign with the node's Ed25519 key directly (no ssh-keygen, no agent): the SSHSIG blob is
built as OpenSSH's PROTOCOL.sshsig describes, with namespace ``git`` and SHA-512, armored and
stored in the commit's ``gpgsig`` header. Stock ``git verify-commit`` checks it against
``.stigmem/allowed_signers``, which lists every key in the trust store.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TypeVar

import pygit2
from nacl.signing import SigningKey, VerifyKey

from stigmem_vault.errors import StorageError
from stigmem_vault.vault.index_lag import Entry, LaggingIndex, StatEntry, apply_entry
from stigmem_vault.vault.packing import Packer
from stigmem_vault.vault.packwrite import (
    OBJ_BLOB,
    OBJ_COMMIT,
    OBJ_TREE,
    PackObject,
    commit_payload,
    pack_object,
    signed_commit_body,
    update_tree,
    write_pack,
)
from stigmem_vault.vault.store import fsync_dir, fsync_file, make_dirs, write_atomic

BRANCH = "main"
_SSHSIG_MAGIC = b"SSHSIG"
# Temp files of loose objects in objects/: ours are tmp_stigmem_<pid>_<thread>, libgit2's
# tmp_object_git2_<random>. (Stock git keeps its own in the fan-out folders and packs/, and
# prunes them in `git gc`: we never list those folders.)
_OWN_TMP = "tmp_stigmem_"
_TMP_PREFIX = "tmp_"
_IO_THREADS = 16
_THREADED_FROM = 16  # blobs in a commit
_T = TypeVar("_T")
_R = TypeVar("_R")
# A temp object file whose writer we cannot name (libgit2's, git's) is left alone until it is
# this old: a live writer touches its file as it writes (a fetched pack grows), and writing
# one loose object takes milliseconds.
STALE_TMP_SECONDS = 3600
# A git lock file (``index.lock``, ``refs/heads/main.lock``) left by a process killed
# mid-commit blocks every later commit. Ours are held for milliseconds, under the vault's
# write lock; one untouched this long was left by a crashed process (or a person's stock git
# gone idle) and is removed, so that the queued commit's retry goes through.
STALE_LOCK_SECONDS = 30


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def ssh_public_key_blob(verify_key: VerifyKey) -> bytes:
    return _ssh_string(b"ssh-ed25519") + _ssh_string(bytes(verify_key))


def ssh_public_key_line(verify_key: VerifyKey) -> str:
    """``ssh-ed25519 AAAA...`` as in authorized_keys and allowed_signers."""
    return "ssh-ed25519 " + base64.b64encode(ssh_public_key_blob(verify_key)).decode()


def sshsig(key: SigningKey, message: bytes, namespace: str = "git") -> str:
    """An armored SSH signature of ``message`` (what ``ssh-keygen -Y sign`` would produce)."""
    digest = hashlib.sha512(message).digest()
    to_sign = (_SSHSIG_MAGIC + _ssh_string(namespace.encode()) + _ssh_string(b"")
               + _ssh_string(b"sha512") + _ssh_string(digest))
    raw = key.sign(to_sign).signature
    blob = (_SSHSIG_MAGIC + struct.pack(">I", 1) + _ssh_string(ssh_public_key_blob(key.verify_key))
            + _ssh_string(namespace.encode()) + _ssh_string(b"") + _ssh_string(b"sha512")
            + _ssh_string(_ssh_string(b"ssh-ed25519") + _ssh_string(raw)))
    encoded = base64.b64encode(blob).decode()
    lines = [encoded[i:i + 70] for i in range(0, len(encoded), 70)]
    return "-----BEGIN SSH SIGNATURE-----\n" + "\n".join(lines) + "\n-----END SSH SIGNATURE-----"


class GitRepo:
    """The vault's git repository, written only through signed commits under a file lock."""

    def __init__(self, repo: pygit2.Repository, lock_path: Path) -> None:
        # Process-wide: libgit2 fsyncs every object, ref, reflog and pack it writes, and the
        # folder it lands in. Its index writes are not fsynced: LaggingIndex.write does that.
        pygit2.settings.enable_fsync_gitdir(True)
        self.repo = repo
        self.root = Path(repo.workdir)
        self._lock_path = lock_path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._lock_handle: IO[str] | None = None
        # Where loose objects go, if we may write them ourselves (SHA-1 repositories).
        sha1 = all(v is not None and v.lower() == "sha1"
                   for v in repo.config.get_multivar("extensions.objectformat"))
        self._objects: str | None = os.path.join(repo.path, "objects") if sha1 else None
        self._swept = False  # crashed writers' temp objects removed (by the first commit)
        self.packer = Packer(repo.path)  # packs loose objects in the background
        self.git_index = LaggingIndex(repo.path)  # written behind the commits

    @classmethod
    def init(cls, root: Path, lock_path: Path) -> GitRepo:
        pygit2.settings.enable_fsync_gitdir(True)
        try:
            make_dirs(root)
            repo = pygit2.init_repository(str(root), initial_head=BRANCH)
            # libgit2 creates the skeleton (HEAD, config, objects/, refs/) without fsync.
            _fsync_tree(Path(repo.path))
        except (pygit2.GitError, OSError) as exc:
            raise StorageError(f"{root}: cannot initialise a git repository: {exc}") from exc
        return cls(repo, lock_path)

    @classmethod
    def open(cls, root: Path, lock_path: Path) -> GitRepo:
        try:
            repo = pygit2.Repository(str(root))
        except pygit2.GitError as exc:
            raise StorageError(f"{root}: not a git repository: {exc}") from exc
        return cls(repo, lock_path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise writers across processes (CLI, watcher, node) on one vault.

        Re-entrant within a process: flock belongs to an open file, so a nested call that
        opened the lock file again would wait for itself forever.
        """
        with self._thread_lock:
            if self._depth == 0:
                self._lock_path.parent.mkdir(parents=True, exist_ok=True)
                self._lock_handle = open(self._lock_path, "a")  # noqa: SIM115 - held across yield
                fcntl.flock(self._lock_handle, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_handle is not None:
                    fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
                    self._lock_handle.close()
                    self._lock_handle = None

    def commit(self, changes: Iterable[tuple[str, bytes | None]], message: str,
               key: SigningKey, name: str, email: str) -> str | None:
        """Make one signed commit of ``changes``: (path, the bytes to record, or None to
        remove the path). None if nothing changed.

        The bytes are the ones a writer handed over, never re-read from the work tree: a
        file changed since it was written (a person editing it) is committed as written, and
        shows as modified afterwards. The tree is HEAD's with these changes, whatever git's
        index holds. The caller holds ``locked()``. When it returns, the commit survives a
        power loss: its objects (one pack and its index, each fsynced, then their folder),
        the branch and its reflog are fsynced, objects before the branch that names them.
        git's index file is written then too, or in a large vault a little later
        (vault/index_lag.py).
        """
        try:
            if not self._swept:
                self._swept = True
                self.remove_stale_temp_objects()
            self.remove_stale_locks(f"refs/heads/{BRANCH}")
            items = list(dict(changes).items())
            parents = [] if self.repo.head_is_unborn else [ref_oid(self.repo.head)]
            now = int(time.time())
            offset = (time.localtime(now).tm_gmtoff or 0) // 60
            who = pygit2.Signature(name, email, now, offset)
            with self._io(len(items)) as each:
                # Blobs are hashed and compressed (loose: stored) by several threads at once.
                prepared = each(self._prepare, items)
            # The pack first: libgit2 adds an entry to the index only if its blob exists.
            oid = None
            if self._objects is not None:
                oid = self._store_packed(items, prepared, parents, who, message, key)
            entries: list[tuple[str, Entry]] = [
                (path, entry) for (path, _data), (entry, _obj) in zip(items, prepared, strict=True)]
            if self._objects is None:
                oid = self._store_loose(entries, parents, who, message, key)
            # git's index file is written behind the commits (vault/index_lag.py).
            self.git_index.committed(entries, str(parents[0]) if parents else None,
                                     None if oid is None else str(oid))
            if oid is None:  # the tree did not change
                self.git_index.settle()
                return None
            ref = f"refs/heads/{BRANCH}"
            if self.repo.head_is_unborn:
                self.repo.references.create(ref, oid)
                # libgit2 fsyncs the new reflog's folder but not the folders it made for it.
                for folder in ("logs/refs", "logs", ""):
                    fsync_dir(os.path.join(self.repo.path, folder))
            else:
                self.repo.references[self.repo.head.name].set_target(oid)
            self.git_index.settle()
            self.packer.after_commit()  # starts a background repack if objects piled up
            return str(oid)
        except (pygit2.GitError, OSError) as exc:
            raise StorageError(f"git commit failed: {exc}") from exc

    def _store_packed(self, items: list[tuple[str, bytes | None]],
                      prepared: list[tuple[pygit2.IndexEntry | None, PackObject | None]],
                      parents: list[pygit2.Oid], who: pygit2.Signature, message: str,
                      key: SigningKey) -> pygit2.Oid | None:
        """Write the commit's blobs, trees and the signed commit as one pack (fsynced with its
        index and folder); the commit's id, or None if the tree did not change."""
        assert self._objects is not None
        objects = [obj for _entry, obj in prepared if obj is not None]
        blobs = {path: None if obj is None else obj.oid
                 for (path, _data), (_entry, obj) in zip(items, prepared, strict=True)}
        base = lookup_commit(self.repo, parents[0]).tree if parents else None
        tree = update_tree(self.repo, base, blobs, objects)
        if tree is None:  # every file removed: the empty tree
            empty = pack_object(OBJ_TREE, b"")
            objects.append(empty)
            tree = empty.oid
        if base is not None and base.id.raw == tree:
            return None
        payload = commit_payload(tree.hex(), [str(p) for p in parents], who, message)
        commit = pack_object(OBJ_COMMIT, signed_commit_body(
            payload, sshsig(key, payload.encode("utf-8"))))
        objects.append(commit)
        write_pack(self._objects, objects)
        return pygit2.Oid(raw=commit.oid)

    def _store_loose(self, entries: list[tuple[str, Entry]], parents: list[pygit2.Oid],
                     who: pygit2.Signature, message: str, key: SigningKey) -> pygit2.Oid | None:
        """libgit2 writes the trees and the commit as loose objects (repositories whose object
        format is not SHA-1, which write_pack does not write), the tree from git's index with
        the commit's entries applied."""
        with self.git_index.holding() as index:
            for path, entry in entries:
                apply_entry(index, path, entry)
            tree = index.write_tree()
        if parents and lookup_commit(self.repo, parents[0]).tree_id == tree:
            return None
        return create_signed_commit(self.repo, key, who, message, tree, parents)

    @contextmanager
    def _io(self, count: int) -> Iterator[Callable[[Callable[[_T], _R], list[_T]], list[_R]]]:
        """A ``map`` for a commit's blobs: on threads when there are several (zlib and the
        reads of the work-tree files release the GIL)."""
        # libgit2's create_blob: one thread only. A few blobs are done before a thread pool
        # would have started.
        if self._objects is None or count < _THREADED_FROM:
            yield lambda fn, items: [fn(item) for item in items]
            return
        with ThreadPoolExecutor(max_workers=min(_IO_THREADS, count),
                                thread_name_prefix="stigmem-commit") as pool:
            yield lambda fn, items: list(pool.map(fn, items))

    def remove_stale_temp_objects(self, now: float | None = None) -> list[str]:
        """Remove ``objects/tmp_*`` files that crashed writers left behind; return their names.

        Ours name their process (``tmp_stigmem_<pid>_<thread>``) and go once that process is
        gone. libgit2's (and any other ``tmp_*`` file there) carry no process id, and a git
        program in another process may be writing one right now (this vault's own writers do
        not: they commit under ``locked()``, which the caller holds), so they go once
        untouched for STALE_TMP_SECONDS.
        """
        objects = os.path.join(self.repo.path, "objects")
        now = time.time() if now is None else now
        removed: list[str] = []
        names = [n for n in _listdir(objects) if n.startswith(_TMP_PREFIX)]
        # The commits' packs are written beside the others (git's own temp files there are
        # git gc's to remove).
        names += [f"pack/{n}" for n in _listdir(os.path.join(objects, "pack"))
                  if n.startswith(_OWN_TMP)]
        for rel in names:
            path, name = os.path.join(objects, rel), os.path.basename(rel)
            if name.startswith(_OWN_TMP):
                pid = name[len(_OWN_TMP):].split("_", 1)[0]
                stale = pid.isdigit() and not _pid_alive(int(pid))
            else:
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue
                stale = stat.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_TMP_SECONDS
            if stale:
                try:
                    os.unlink(path)
                except OSError:
                    continue  # gone already, or not ours to remove: never fail a commit for it
                removed.append(rel)
        return removed

    def remove_stale_locks(self, *refs: str, now: float | None = None) -> list[str]:
        """Remove git lock files that a crashed process left behind (the index's, HEAD's,
        ``packed-refs``' and those of ``refs``), once untouched for STALE_LOCK_SECONDS;
        return their paths relative to the git folder. The caller holds ``locked()``."""
        now = time.time() if now is None else now
        removed = []
        for name in ("index", "HEAD", "packed-refs", *refs):
            rel = f"{name}.lock"
            path = os.path.join(self.repo.path, rel)
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_LOCK_SECONDS:
                try:
                    os.unlink(path)
                except OSError:
                    continue  # gone already: never fail a commit for it
                removed.append(rel)
        return removed

    def _prepare(self, item: tuple[str, bytes | None]
                 ) -> tuple[pygit2.IndexEntry | None, PackObject | None]:
        """The index entry of ``path`` and its blob, ready for the commit's pack (stored by
        libgit2 where there is no pack to write); (None, None) for a removal. The entry
        carries the work-tree file's stat data if the file holds exactly these bytes (so
        ``git status`` sees it clean without re-reading it).

        ``index.add(path)`` would read the work tree (whatever is there now, a symlink or a
        FIFO included) and look up .gitattributes filters in every parent folder of every
        file (some 60 system calls per fact file); our files are stored exactly as written.
        """
        path, data = item
        if data is None:
            return None, None
        blob = None
        if self._objects is not None:
            blob = pack_object(OBJ_BLOB, data)
            oid = pygit2.Oid(raw=blob.oid)
        else:
            oid = self.repo.create_blob(data)
        entry = pygit2.IndexEntry(path, oid, pygit2.enums.FileMode.BLOB)
        try:  # non-blocking: a FIFO put at the path must not stop the commit
            fd = os.open(os.path.join(self.root, path),
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return entry, blob  # gone, a symlink, ...: recorded as written, shows as changed
        with open(fd, "rb") as handle:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_size == len(data) \
                    and handle.read(len(data) + 1) == data:
                entry = StatEntry(path, oid, pygit2.enums.FileMode.BLOB, st)
        return entry, blob

    def dirty_paths(self) -> tuple[list[str], list[str]]:
        """Paths changed in the work tree but not committed: (changed or new, deleted)."""
        added, removed = [], []
        try:
            status = self.repo.status(untracked_files="all")
        except pygit2.GitError as exc:
            raise StorageError(f"git status failed: {exc}") from exc
        for path, flags in status.items():
            if flags & pygit2.enums.FileStatus.WT_DELETED:
                removed.append(path)
            elif flags & (pygit2.enums.FileStatus.WT_NEW | pygit2.enums.FileStatus.WT_MODIFIED
                          | pygit2.enums.FileStatus.WT_TYPECHANGE):
                added.append(path)
        return added, removed

    def blob_at_head(self, relpath: str) -> bytes | None:
        """The committed content of ``relpath`` at HEAD, or None if it is not committed."""
        if self.repo.head_is_unborn:
            return None
        try:
            found = self.repo.revparse_single(f"HEAD:{relpath}")
        except (KeyError, pygit2.GitError):
            return None
        return found.data if isinstance(found, pygit2.Blob) else None  # else a folder is there

    def tracked_paths(self) -> Iterator[str]:
        """The paths in git's index, this process's unwritten entries included."""
        with self.git_index.holding() as index:
            paths = [entry.path for entry in index]
        yield from paths

    def write_index(self) -> None:
        """Write git's index file now, in step with HEAD, if any commit is not in it yet."""
        self.git_index.write()

    def close(self) -> None:
        """Write what git's index owes (a writer that is done), and stop its timer."""
        self.git_index.cancel()
        self.write_index()

    def log_for(self, relpath: str, limit: int = 20) -> list[tuple[str, str]]:
        """(commit id, message first line) of commits that touched ``relpath``, newest first."""
        found: list[tuple[str, str]] = []
        if self.repo.head_is_unborn:
            return found
        for commit in self.repo.walk(self.repo.head.target, pygit2.enums.SortMode.TIME):
            entry_now = _tree_entry(commit.tree, relpath)
            parent_entry = _tree_entry(commit.parents[0].tree, relpath) if commit.parents else None
            if entry_now != parent_entry:
                found.append((str(commit.id), commit.message.splitlines()[0]))
                if len(found) >= limit:
                    break
        return found


# Typed access to git objects. pygit2 types ``repo[oid]`` as a plain Object (of which its
# stubs do not even make Commit a subclass, as it is at run time), so each lookup checks the
# kind the caller expects: a missing object raises KeyError as ``repo[oid]`` does, one of
# another kind TypeError.

def lookup_commit(repo: pygit2.Repository, oid: pygit2.Oid | str) -> pygit2.Commit:
    found: object = repo[oid]  # as object: the stubs' Object would not narrow to Commit
    if not isinstance(found, pygit2.Commit):
        raise TypeError(f"{oid} is not a commit")
    return found


def lookup_tree(repo: pygit2.Repository, oid: pygit2.Oid | str) -> pygit2.Tree:
    found = repo[oid]
    if not isinstance(found, pygit2.Tree):
        raise TypeError(f"{oid} is not a tree")
    return found


def lookup_blob(repo: pygit2.Repository, oid: pygit2.Oid | str) -> pygit2.Blob:
    found = repo[oid]
    if not isinstance(found, pygit2.Blob):
        raise TypeError(f"{oid} is not a blob")
    return found


def ref_oid(ref: pygit2.Reference) -> pygit2.Oid:
    """The object ``ref`` names. (pygit2 types ``target`` as ``Oid | str``: a symbolic
    reference's target is the name of another one, which resolve() follows.)"""
    target = ref.resolve().target
    if not isinstance(target, pygit2.Oid):
        raise TypeError(f"{ref.name} does not name an object")
    return target


def create_signed_commit(repo: pygit2.Repository, key: SigningKey, who: pygit2.Signature,
                         message: str, tree: pygit2.Oid,
                         parents: Sequence[pygit2.Oid | str]) -> pygit2.Oid:
    """Write a commit object signed with ``key`` (SSHSIG in its ``gpgsig`` header); no
    reference is moved."""
    # pygit2's stubs say create_commit_string returns an Oid: it returns the commit's text.
    payload: object = repo.create_commit_string(who, who, message, tree, list(parents))
    if not isinstance(payload, str):
        raise TypeError(f"pygit2 returned {type(payload).__name__} for a commit's text")
    return repo.create_commit_with_signature(payload, sshsig(key, payload.encode("utf-8")), "gpgsig")


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _fsync_tree(top: Path) -> None:
    """fsync every file and folder under ``top`` (a new repository's skeleton), and the
    folder that holds ``top``."""
    for dirpath, _dirnames, filenames in os.walk(top):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                fsync_file(path)
        fsync_dir(dirpath)
    fsync_dir(top.parent)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _tree_entry(tree: pygit2.Tree, relpath: str) -> str | None:
    try:
        return str(tree[relpath].id)
    except KeyError:
        return None


def write_allowed_signers(path: Path, entries: Iterable[tuple[str, VerifyKey]]) -> bool:
    """Write the allowed-signers file; return True if its content changed."""
    lines = sorted({f'{principal} namespaces="git" {ssh_public_key_line(vk)}'
                    for principal, vk in entries})
    text = "".join(line + "\n" for line in lines)
    if path.exists() and path.read_text() == text:
        return False
    write_atomic(path, text.encode())
    return True


def sshsig_signer(armored: str, message: bytes, namespace: str = "git") -> str | None:
    """The ``ed25519:`` key id that made this SSH signature of ``message``, or None if invalid."""
    import nacl.exceptions

    try:
        body = "".join(line for line in armored.strip().splitlines() if not line.startswith("-----"))
        blob = base64.b64decode(body, validate=True)
        if not blob.startswith(_SSHSIG_MAGIC):
            return None
        reader = _Reader(blob[len(_SSHSIG_MAGIC):])
        if struct.unpack(">I", reader.take(4))[0] != 1:
            return None
        public = _Reader(reader.string())
        sig_namespace, reserved, hash_alg = reader.string(), reader.string(), reader.string()
        signature = _Reader(reader.string())
        if public.string() != b"ssh-ed25519" or signature.string() != b"ssh-ed25519":
            return None
        raw_key, raw_sig = public.string(), signature.string()
        if sig_namespace != namespace.encode() or hash_alg not in (b"sha512", b"sha256"):
            return None
        digest = (hashlib.sha512 if hash_alg == b"sha512" else hashlib.sha256)(message).digest()
        signed = (_SSHSIG_MAGIC + _ssh_string(sig_namespace) + _ssh_string(reserved)
                  + _ssh_string(hash_alg) + _ssh_string(digest))
        key = VerifyKey(raw_key)
        key.verify(signed, raw_sig)
    except (ValueError, struct.error, nacl.exceptions.CryptoError, nacl.exceptions.TypeError):
        return None
    from stigmem_vault.canonical.signing import key_id

    return key_id(key)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def take(self, size: int) -> bytes:
        if self._at + size > len(self._data):
            raise ValueError("truncated SSH signature")
        chunk = self._data[self._at:self._at + size]
        self._at += size
        return chunk

    def string(self) -> bytes:
        return self.take(struct.unpack(">I", self.take(4))[0])
