"""Federation test support: vaults with their own STIGMEM_HOME, bare remotes, a real
``git daemon`` on 127.0.0.1, a TCP relay that can cut a transfer mid-way, hand-made git
objects (an attacker's push) and scans of every object a remote holds.

Nothing here sleeps a fixed time: every wait polls a condition up to a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pygit2
from nacl.signing import SigningKey

from stigmem_vault.api.federation import SyncReport
from stigmem_vault.api.vault import Vault
from stigmem_vault.canonical.signing import format_timestamp, sign_claim
from stigmem_vault.errors import FormatError
from stigmem_vault.federation.declaration import fingerprint
from stigmem_vault.model.fact import Fact, make_claim
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.values import make_value
from stigmem_vault.vault import markdown
from stigmem_vault.vault.layout import fact_relpath

T = TypeVar("T")

ALLOWED = "gpg.ssh.allowedSignersFile=.stigmem/allowed_signers"
# The stock git CLI without the developer's or the system's configuration.
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0"}


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; fail clearly at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate!r}")
        time.sleep(0.01)


def git(cwd: Path, *args: str, check: bool = True, input: bytes | None = None) -> str:
    result = subprocess.run(["git", "-c", ALLOWED, *args], cwd=cwd, env=GIT_ENV, input=input,
                            capture_output=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode("utf-8", "replace")


def bare_repo(path: Path) -> Path:
    """An empty bare repository (the remote)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "--bare", "-q", str(path)], check=True, env=GIT_ENV)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def reserved_port() -> socket.socket:
    """A port bound but not listening: connecting to it is refused, and nothing else (not
    even a client connecting to itself) can take it until the socket is closed."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    return holder


# ------------------------------------------------------------------ nodes


@dataclass
class Node:
    """One vault with its own STIGMEM_HOME (its private keys)."""

    name: str
    vault: Vault
    home: Path

    @property
    def root(self) -> Path:
        return self.vault.root

    @property
    def node_id(self) -> str:
        assert self.vault.node is not None
        return self.vault.node.node_id

    @property
    def fingerprint(self) -> str:
        """The owner-key fingerprint an operator reads to a peer out of band."""
        return fingerprint(self.vault.config.owner_key)

    def say(self, relation: str, value: str, *, scope: str = "team", entity: str = "project:atlas",
            source: str | None = None) -> Fact:
        fact = self.vault.assert_fact(entity=entity, relation=relation, value=value, scope=scope,
                                      source=source)
        self.vault.flush()
        return fact

    def sync(self, remote: str | None = None, *, ok: bool = True) -> list[SyncReport]:
        reports = self.vault.sync(remote)
        if ok:
            assert all(r.error is None for r in reports), reports
        return reports

    def trust(self, other: Node) -> None:
        """Admit ``other`` with the fingerprint its operator told us."""
        self.vault.trust_peer(other.node_id, other.fingerprint)

    def fact_files(self) -> dict[str, Fact]:
        """Every fact file on disk, parsed: path -> fact."""
        found = {}
        for path in sorted((self.root / "facts").rglob("*.md")):
            rel = path.relative_to(self.root).as_posix()
            found[rel] = markdown.parse(path.read_text("utf-8"), rel).fact
        return found

    def fact_ids(self) -> list[str]:
        """The id of every fact file on disk (a list: duplicates would show)."""
        return sorted(f.id for f in self.fact_files().values())

    def audit_kinds(self) -> list[str]:
        return [entry.kind for entry in self.vault.audit_log()]


class Nodes:
    """Makes nodes under one directory and closes them all at the end of the test."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.made: list[Node] = []

    def __call__(self, name: str, owner: str | None = None, *identities: str) -> Node:
        home = self.base / f"home-{name}"
        vault = Vault.init(self.base / name, owner=owner or f"user:{name}", home=home,
                           commit_delay=None)
        for source in identities:
            vault.create_identity(source)
        node = Node(name, vault, home)
        self.made.append(node)
        return node

    def reopen(self, node: Node) -> Node:
        node.vault.close()
        node.vault = Vault.open(node.root, home=node.home, commit_delay=None)
        return node

    def close(self) -> None:
        for node in self.made:
            node.vault.close()


# ------------------------------------------------------------------ git daemon


class GitDaemon:
    """``git daemon`` serving every repository under ``base`` on 127.0.0.1 (fetch and push).

    It runs in its own process group, so killing it also kills the upload-pack and
    receive-pack children serving a transfer in flight.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, port: int | None = None) -> GitDaemon:
        """Start listening on ``port`` (default: a free one). Readiness is the daemon's own
        "Ready to rumble" line, never a probe connection: probing a port nobody listens on
        can connect the probe to itself (TCP simultaneous open) and steal the port."""
        for _attempt in range(5):
            self.port = port or free_port()
            log_path = self.base.parent / f"git-daemon-{self.base.name}-{self.port}.log"
            log_path.unlink(missing_ok=True)
            with open(log_path, "wb") as log:
                self.process = subprocess.Popen(
                    ["git", "daemon", "--export-all", "--enable=receive-pack", "--reuseaddr",
                     f"--base-path={self.base}", f"--port={self.port}", "--listen=127.0.0.1",
                     "--informative-errors", "--verbose", str(self.base)],
                    env=GIT_ENV, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
            ready = b"] Ready to rumble"  # printed by git-daemon (a child of `git`) once bound
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.poll() is None:
                if ready in log_path.read_bytes():
                    return self
                time.sleep(0.01)
            self.kill()  # it could not bind the port (taken meanwhile): try again
        raise AssertionError("git daemon did not start listening")

    def url(self, repo: str) -> str:
        return f"git://127.0.0.1:{self.port}/{repo}"

    def kill(self) -> None:
        """SIGKILL the daemon and every transfer it is serving."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)  # its listening socket is closed with it
        self.process = None


# ------------------------------------------------------------------ a relay that cuts


class Relay:
    """A TCP relay 127.0.0.1:port -> target, which calls ``on_cut`` and drops every
    connection once more than ``cut_after`` bytes went in the watched direction.

    ``direction`` is "down" (server to client: a fetch's pack) or "up" (client to server: a
    push's pack). ``cut_after=None`` relays everything.
    """

    def __init__(self, target: int, direction: str = "down", cut_after: int | None = None,
                 on_cut: Callable[[], None] | None = None) -> None:
        self.target = target
        self.direction = direction
        self.cut_after = cut_after
        self.on_cut = on_cut
        self.moved = {"up": 0, "down": 0}
        self.cut = threading.Event()
        self.cut_done = threading.Event()  # on_cut ran and the connections are dropped
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def url(self, repo: str) -> str:
        return f"git://127.0.0.1:{self.port}/{repo}"

    def settle(self) -> None:
        """After a cut, wait until its handling is over: the client may see the connection die
        (the killed server's end closing) before on_cut has returned and the relay dropped it."""
        if self.cut.is_set():
            assert self.cut_done.wait(30), "the cut did not finish"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)  # a slow transfer under load is not a dead one
            ended: list[str] = []  # the directions of this connection that are over
            with self._lock:
                self._sockets += [client, server]
            for args in ((client, server, "up", ended), (server, client, "down", ended)):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str,
              ended: list[str]) -> None:
        """Copy one direction until its end closes, then pass the end-of-stream on. The
        other direction carries on (a server's last words after the client stopped sending
        must still arrive); the sockets are closed when both directions are over."""
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                with self._lock:
                    self.moved[direction] += len(chunk)
                    over = (self.cut_after is not None and direction == self.direction
                            and self.moved[direction] > self.cut_after and not self.cut.is_set())
                if over:
                    self.cut.set()
                    if self.on_cut is not None:
                        self.on_cut()
                    self._drop()
                    self.cut_done.set()
                    return
                dst.sendall(chunk)
        except OSError:
            pass  # this direction is broken; the other one may still finish
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with self._lock:  # never closed while _drop() shuts sockets down
                ended.append(direction)
                if len(ended) == 2:
                    for sock in (src, dst):
                        if sock in self._sockets:
                            self._sockets.remove(sock)
                        sock.close()

    def _drop(self) -> None:
        """Break every connection. Sockets are shut down, not closed: a thread about to use a
        closed socket's descriptor could hit another socket that reused the number; each
        connection's sockets are closed by its last pump."""
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        # Wake the blocked accept() and wait for its thread before closing the descriptor, or
        # the thread would go on accepting on whatever socket reuses the number (stealing
        # another relay's connections).
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(timeout=10)
        self._listener.close()
        self._drop()


# ------------------------------------------------------------------ what a remote holds


def all_objects(repo_path: Path) -> Iterator[tuple[str, str, bytes]]:
    """(type, oid, raw data) of every object in the repository, reachable or not, loose or packed."""
    repo = pygit2.Repository(str(repo_path))
    for oid in repo.odb:
        obj = repo[oid]
        data = obj.data if obj.type_str == "blob" else obj.read_raw()
        yield obj.type_str, str(oid), data


def tree_entry_names(repo_path: Path) -> set[str]:
    """Every name any tree object in the repository holds."""
    repo = pygit2.Repository(str(repo_path))
    return {entry.name for oid in repo.odb if (obj := repo[oid]).type_str == "tree"
            for entry in obj}  # type: ignore[attr-defined]


def tree_paths(repo_path: Path, ref: str) -> list[str]:
    out = git(repo_path, "ls-tree", "-r", "--name-only", ref)
    return out.splitlines()


def remote_branches(repo_path: Path) -> dict[str, str]:
    """branch name (without refs/heads/) -> commit id."""
    out = git(repo_path, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/")
    return {ref.removeprefix("refs/heads/"): oid for ref, oid in
            (line.split() for line in out.splitlines())}


# ------------------------------------------------------------------ hand-made facts and pushes


def signed_fact(key: SigningKey, *, source: str, relation: str, value: str, scope: str = "team",
                entity: str = "project:atlas", wall_ms: int | None = None,
                node: str = "attacker") -> Fact:
    """A fact signed with ``key`` outside any vault, stamped ``wall_ms`` (default: now)."""
    claim = make_claim(entity=entity, relation=relation, value=make_value("string", value),
                       source=source, scope=scope)
    now = datetime.now(UTC)
    stamp = HLC(wall_ms if wall_ms is not None else int(now.timestamp() * 1000), 0, node)
    return sign_claim(claim, stamp, format_timestamp(now), key)


def fact_bytes(fact: Fact) -> bytes:
    return markdown.render(fact).encode("utf-8")


def canonical_path(fact: Fact) -> str:
    return str(fact_relpath(fact))


def parse_or_none(data: bytes, path: str) -> Fact | None:
    try:
        return markdown.parse(data.decode("utf-8"), path).fact
    except (FormatError, UnicodeDecodeError):
        return None


@dataclass
class Workspace:
    """An attacker's own bare repository, talking to the remote with the stock git CLI."""

    path: Path
    remote_url: str

    @classmethod
    def create(cls, path: Path, remote_url: str) -> Workspace:
        bare_repo(path)
        work = cls(path, remote_url)
        work.git("fetch", "-q", remote_url, "+refs/heads/*:refs/heads/*")
        return work

    def git(self, *args: str, input: bytes | None = None) -> str:
        return git(self.path, *args, input=input)

    def blob(self, data: bytes) -> str:
        return self.git("hash-object", "-w", "--stdin", input=data).strip()

    def blob_from_file(self, path: Path) -> str:
        return self.git("hash-object", "-w", str(path)).strip()

    def tree_with(self, base: str | None, entries: list[tuple[str, str, str]]) -> str:
        """A tree: ``base``'s tree (a commit or tree id) plus ``entries`` (mode, oid, path).

        Built with ``git mktree`` level by level, so entry names git's index would refuse
        (``..``) can be made too. A path segment may not contain '/', so ``a/../b`` means the
        folder ``a`` holding a folder named ``..`` holding ``b``.
        """
        existing: dict[str, tuple[str, str]] = {}
        if base is not None:
            for line in self.git("ls-tree", "-r", "--full-tree", base).splitlines():
                meta, path = line.split("\t", 1)
                mode, _type, oid = meta.split()
                existing[path] = (mode, oid)
        for mode, oid, path in entries:
            if mode == "delete":
                existing.pop(path, None)
            else:
                existing[path] = (mode, oid)
        return self._mktree(existing)

    def _mktree(self, files: dict[str, tuple[str, str]]) -> str:
        here: list[str] = []
        folders: dict[str, dict[str, tuple[str, str]]] = {}
        for path, (mode, oid) in files.items():
            head, sep, rest = path.partition("/")
            if sep:
                folders.setdefault(head, {})[rest] = (mode, oid)
            else:
                kind = "blob" if mode != "040000" else "tree"
                here.append(f"{mode} {kind} {oid}\t{head}")
        for name, content in folders.items():
            here.append(f"040000 tree {self._mktree(content)}\t{name}")
        return self.git("mktree", input=("\n".join(here) + "\n").encode()).strip()

    def raw_tree(self, entries: list[tuple[str, str, str]]) -> str:
        """One tree level written byte by byte: (mode, name, oid) with no check that the
        object's type matches the mode, which ``git mktree`` would refuse."""
        data = b"".join(f"{mode} {name}".encode() + b"\0" + bytes.fromhex(oid)
                        for mode, name, oid in sorted(entries, key=lambda e: e[1]))
        return self.git("hash-object", "-t", "tree", "--literally", "-w", "--stdin",
                        input=data).strip()

    def commit(self, tree: str, parent: str | None, message: str = "crafted") -> str:
        args = ["commit-tree", tree, "-m", message]
        if parent:
            args += ["-p", parent]
        env_args = ["-c", "user.name=mallory", "-c", "user.email=mallory@example.invalid"]
        return git(self.path, *env_args, *args).strip()

    def push(self, commit: str, branch: str, *, force: bool = False) -> None:
        spec = f"{'+' if force else ''}{commit}:refs/heads/{branch}"
        self.git("push", "-q", self.remote_url, spec)

    def fetch(self) -> None:
        self.git("fetch", "-q", self.remote_url, "+refs/heads/*:refs/heads/*")


def sparse_zero_file(path: Path, size: int) -> Path:
    """A file of ``size`` zero bytes that takes no disk space and is never held in memory."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path
