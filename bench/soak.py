"""Soak and crash run: a busy team on one vault for minutes, then SIGKILLs of the node; nothing
acknowledged may be lost and the vault must come out whole (issue 9's acceptance run).

    python bench/soak.py [--duration 150] [--kill-rounds 5] [--kill-after 2,10]
                         [--http-writers 4] [--http-rate 25] [--cli-writers 2]
                         [--edit-every 1.0] [--draft-writers 2] [--autosave 1.5,3.0]
                         [--seed N] [--dir PARENT] [--quick] [--clean]

What runs, all at once, against one fresh vault (user:alice with agent:codex and agent:claude,
keys in a private STIGMEM_HOME; everything under ``--dir``, default bench/out/soak, kept after
the run for inspection):

* the node, `stigmem serve --auth token --read-rate 0 --write-rate 0` on 127.0.0.1, watcher on,
  stderr and stdout to ``node.log``;
* ``--http-writers`` threads (standard library http.client, one keep-alive connection each, one
  bearer token per source, source attestation enforced), each at about ``--http-rate``
  requests/s: mostly POST /v1/facts of varied facts, some POST /v1/facts/batch (some with an
  idempotency key, some atomic), some amendments (POST /v1/facts with ``supersedes`` = one of
  its own acknowledged facts, on that fact's key). Every 201 (every ``accepted`` batch item)
  is an **acknowledged** fact; every status code is counted; any 5xx is a failure;
* ``--cli-writers`` threads, each running `stigmem assert` processes in a loop (an id printed by
  an assert that exited 0 is acknowledged) interleaved with `stigmem status`, `stigmem list` and,
  every fifth round, `stigmem verify` (which may exit 1 while an edit is in flight: counted, not
  a failure during the run); every process has a timeout, and one that hits it is a failure;
* an "Obsidian" editor thread: every ``--edit-every`` s it edits a fact file in place as
  Obsidian saves (open with O_TRUNC, one write): it changes the ``value_string`` line of a fact
  a CLI assert just wrote (with no command in between), or of a fresh HTTP fact, then ticks
  its `sign` checkbox in a second save. Each file is edited once; the watcher must make each
  edit an amendment (a new owner fact that supersedes the original, which stays on disk and in
  git byte for byte);
* ``--draft-writers`` "Obsidian" threads typing inbox drafts (inbox/agent-claude/,
  inbox/user-alice/) from the fact template in three autosaves ``--autosave`` s apart (the
  editor re-reads the note, as Obsidian does after an outside change, and sets one property):
  the entity (relation still empty: the watcher annotates an agent's note), the relation
  (value still empty: annotated again), the value (a unique marker: the draft is signed and
  filed); a person's draft stays pending through these saves, untouched, until a fourth save
  ticks its `sign` checkbox.

After ``--duration`` s, ``--kill-rounds`` rounds: each waits a random time within
``--kill-after`` s while everything keeps writing, SIGKILLs the node, and starts it again (same
port) at once; writers that lose their connection reconnect (a request that got no answer is
not acknowledged). Then the writers stop, the node gets up to 60 s to settle (the inbox empty,
`git status` clean), and SIGTERM; the whole run is bounded by its deadlines.

Checks, printed as a table and PASS/FAIL, exit 1 on any FAIL (the acceptance figures of issue 9):

* acknowledged facts lost: each acknowledged id must be committed at HEAD at its path, verify
  as ``valid`` there and in the work tree, and be in the index (an edited fact's original too);
* ``id-mismatch`` (and every other non-valid verdict) among the facts/ blobs at HEAD, read with
  ``git ls-tree``/``git cat-file`` and verified with stigmem's own verifier;
* 5xx answers, and "database is locked" anywhere in the node's log, the CLI processes' output
  or an HTTP answer;
* `stigmem verify` exit code on the final vault;
* `stigmem reindex` == live index: the index as the node left it (facts: id, verdict, path,
  present, superseded_by, live, contradicted; conflicts) against the index rebuilt from the
  files; beside it, whether the file verdicts agree too and the reindex (a writer) found
  nothing to commit, i.e. whether the vault's files were in step with its index;
* every commit verifies with stock git (`git verify-commit`, allowed signers
  ``.stigmem/allowed_signers``);
* also: every edit became an amendment with the edited value, every draft was filed, no
  process hung. Informational: status counts, commits, kills, `git fsck`, what is left dirty.

The run's folder keeps the vault, node.log, cli.log, acknowledged.jsonl (one JSON line per
acknowledged fact) and reindex-diff.txt (rows only in the live or only in the rebuilt index)
for a post-mortem. ``--quick`` is a ~20 s trial (duration 12 s, 2 kill
rounds of up to 4 s).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from _common import OUT, SOURCES, load_note, machine, new_vault, spread_fact_kwargs

from stigmem_vault.model.fact import Fact
from stigmem_vault.model.hlc import HLC
from stigmem_vault.vault.config import read_vault_config
from stigmem_vault.vault.trust import TrustStore
from stigmem_vault.vault.verify import Verdict, verify_bytes, verify_file

STIGMEM = str(Path(sys.executable).parent / "stigmem")
SCOPES = ["local", "team", "company", "public"]
ALLOWED = "gpg.ssh.allowedSignersFile=.stigmem/allowed_signers"
LOCKED = "database is locked"
ENTITIES = 300  # spread over this many entities: conflicts happen, but stay rare
CLI_TIMEOUT = 120.0  # a CLI process that takes longer is hung: a failure


def slug(source: str) -> str:
    return source.replace("://", "-").replace(":", "-").replace("/", "-")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------- shared record of the run


@dataclass
class Acked:
    id: str
    path: str
    origin: str  # http, batch, amend, cli
    entity: str
    relation: str
    scope: str


@dataclass
class Record:
    """What every actor saw, under one lock."""

    log_dir: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, Acked] = field(default_factory=dict)
    http_status: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # 4xx the soak does not provoke
    no_answer: int = 0  # requests cut off by a kill (not acknowledged)
    cli_runs: Counter[str] = field(default_factory=Counter)  # "<command> rc=<n>"
    cli_failures: list[str] = field(default_factory=list)  # timeouts, unexpected exit codes
    edits: list[tuple[str, str, str]] = field(default_factory=list)  # (original id, path, value)
    edit_skipped: Counter[str] = field(default_factory=Counter)
    drafts: list[tuple[str, str, str]] = field(default_factory=list)  # (source, path, marker)
    draft_steps: int = 0
    locked_http: int = 0

    def __post_init__(self) -> None:
        self._acked_log = open(self.log_dir / "acknowledged.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._cli_log = open(self.log_dir / "cli.log", "a", encoding="utf-8")  # noqa: SIM115

    def ack(self, item: Acked) -> None:
        with self.lock:
            self.acked[item.id] = item
            self._acked_log.write(json.dumps(item.__dict__) + "\n")
            self._acked_log.flush()

    def cli(self, line: str) -> None:
        with self.lock:
            self._cli_log.write(line)
            self._cli_log.flush()

    def close(self) -> None:
        self._acked_log.close()
        self._cli_log.close()


# ---------------------------------------------------------------- the node


class Node:
    """`stigmem serve` in its own process on a fixed loopback port; restartable after a kill."""

    def __init__(self, root: Path, home: Path, log: Path) -> None:
        self.root, self.home, self.log = root, home, log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.up = threading.Event()

    def start(self, timeout: float = 120.0) -> float:
        env = {**os.environ, "STIGMEM_HOME": str(self.home)}
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            with open(self.log, "ab") as out:
                out.write(f"\n==== start {self.starts + 1} at {datetime.now(UTC):%H:%M:%S} "
                          f"====\n".encode())
                out.flush()
                self.process = subprocess.Popen(
                    [STIGMEM, "--vault", str(self.root), "serve", "--host", "127.0.0.1",
                     "--port", str(self.port), "--auth", "token", "--read-rate", "0",
                     "--write-rate", "0", "--sync-interval", "0"],
                    env=env, stdout=out, stderr=subprocess.STDOUT)
            self.starts += 1
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                if self._healthy():
                    self.up.set()
                    return time.monotonic() - t0
                time.sleep(0.05)
            else:
                self.kill()
                raise RuntimeError(f"the node did not answer within {timeout} s; see {self.log}")
            # It exited. The port of the killed node can linger for a moment: try again.
            if time.monotonic() >= deadline:
                raise RuntimeError(f"the node exited ({self.process.returncode}); see {self.log}")
            time.sleep(0.2)

    def _healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def kill(self) -> None:
        self.up.clear()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait: the node commits what is pending before it exits."""
        self.up.clear()
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
            raise RuntimeError(f"the node ignored SIGTERM for {timeout} s") from None


# ---------------------------------------------------------------- HTTP writers


class HttpWriter(threading.Thread):
    def __init__(self, k: int, node: Node, token: str, source: str, rec: Record,
                 stop: threading.Event, rate: float, edit_pool: queue.Queue[Acked],
                 seed: int) -> None:
        super().__init__(name=f"http-{k}", daemon=True)
        self.k, self.node, self.source, self.rec, self.stop = k, node, source, rec, stop
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.rate, self.edit_pool = rate, edit_pool
        self.rng = random.Random(seed * 100 + k)
        self.mine: list[Acked] = []  # own acknowledged facts that may still be amended
        self.conn: http.client.HTTPConnection | None = None
        self.n = 0

    def body(self) -> dict[str, object]:
        self.n += 1
        kw = spread_fact_kwargs(self.rng.randrange(10**9), ENTITIES)
        value = kw["value"]
        if kw["value_type"] == "string":
            value = f"{value} h{self.k}-{self.n}"  # unique: an edit of it is recognisable
        return {"entity": kw["entity"], "relation": kw["relation"],
                "value": {"type": kw["value_type"], "v": value}, "source": self.source,
                "confidence": kw["confidence"], "trust": kw["trust"], "scope": kw["scope"]}

    def request(self, method: str, path: str, payload: object) -> tuple[int, bytes] | None:
        """One request; None when no answer came (the node was killed or is restarting)."""
        data = None if payload is None else json.dumps(payload).encode()
        for _attempt in range(2):
            if self.conn is None:
                if not self.node.up.wait(timeout=2.0):
                    return None
                self.conn = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=60.0)
            try:
                self.conn.request(method, path, body=data, headers=self.headers)
                reply = self.conn.getresponse()
                return reply.status, reply.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                # A request sent but not answered may have been written: not acknowledged,
                # and not retried (the retry would be another fact).
                with self.rec.lock:
                    self.rec.no_answer += 1
                return None
        return None

    def note(self, what: str, status: int, text: bytes) -> None:
        with self.rec.lock:
            self.rec.http_status[f"{what} {status}"] += 1
            if LOCKED.encode() in text:
                self.rec.locked_http += 1
            if status >= 500:
                self.rec.server_errors.append(f"{what} {status} {text[:300]!r}")
            elif status not in (200, 201):
                self.rec.unexpected.append(f"{what} {status} {text[:300]!r}")

    def keep(self, record: dict[str, object], origin: str) -> None:
        item = Acked(str(record["id"]), str(record["path"]), origin, str(record["entity"]),
                     str(record["relation"]), str(record["scope"]))
        self.rec.ack(item)
        value = record.get("value")
        if isinstance(value, dict) and value.get("type") == "string" and self.rng.random() < 0.3:
            try:
                self.edit_pool.put_nowait(item)  # a person may edit this one: not amended here
            except queue.Full:
                self.mine.append(item)
        else:
            self.mine.append(item)

    def run(self) -> None:
        pause = 1.0 / self.rate if self.rate > 0 else 0.0
        while not self.stop.is_set():
            t0 = time.monotonic()
            roll = self.rng.random()
            if roll < 0.08:
                self.batch()
            elif roll < 0.16 and self.mine:
                self.amend()
            else:
                body = self.body()
                answer = self.request("POST", "/v1/facts", body)
                if answer is not None:
                    status, text = answer
                    self.note("POST /v1/facts", status, text)
                    if status == 201:
                        self.keep(json.loads(text), "http")
            rest = pause - (time.monotonic() - t0)
            if rest > 0:
                self.stop.wait(rest)
        if self.conn is not None:
            self.conn.close()

    def amend(self) -> None:
        target = self.mine.pop(self.rng.randrange(len(self.mine)))
        kw = spread_fact_kwargs(self.rng.randrange(10**9), ENTITIES)
        body = {"entity": target.entity, "relation": target.relation,
                "value": {"type": "string", "v": f"amended {target.id[:8]} by h{self.k}"},
                "source": self.source, "confidence": kw["confidence"], "trust": "observed",
                "scope": target.scope, "supersedes": target.id}
        answer = self.request("POST", "/v1/facts", body)
        if answer is not None:
            status, text = answer
            self.note("POST /v1/facts supersedes", status, text)
            if status == 201:
                self.keep(json.loads(text), "amend")

    def batch(self) -> None:
        items = [self.body() for _ in range(self.rng.randint(2, 8))]
        payload: dict[str, object] = {"facts": items, "atomic": self.rng.random() < 0.3}
        if self.rng.random() < 0.5:
            payload["idempotency_key"] = f"soak-{self.k}-{self.n}"
        answer = self.request("POST", "/v1/facts/batch", payload)
        if answer is None:
            return
        status, text = answer
        self.note("POST /v1/facts/batch", status, text)
        if status != 200:
            return
        result = json.loads(text)
        accepted = [r["fact_id"] for r in result["results"] if r["status"] == "accepted"]
        rejected = [r for r in result["results"] if r["status"] != "accepted"]
        if rejected:
            with self.rec.lock:
                self.rec.unexpected.append(f"batch item rejected: {rejected[0]!r:.300}")
        # The batch answer has ids only: the path comes from GET /v1/facts/{id}.
        for fact_id in accepted:
            got = self.request("GET", f"/v1/facts/{fact_id}", None)
            if got is None or got[0] != 200:
                # Acknowledged all the same; its path is found at the end.
                self.rec.ack(Acked(fact_id, "", "batch", "", "", ""))
                if got is not None:
                    self.note("GET /v1/facts/{id}", got[0], got[1])
                continue
            self.note("GET /v1/facts/{id}", got[0], got[1])
            self.keep(json.loads(got[1]), "batch")


# ---------------------------------------------------------------- CLI writers


def run_cli(args: list[str], root: Path, home: Path, rec: Record, what: str,
            ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str] | None:
    env = {**os.environ, "STIGMEM_HOME": str(home)}
    t0 = time.monotonic()
    try:
        done = subprocess.run([STIGMEM, "--vault", str(root), *args], env=env,
                              capture_output=True, text=True, timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        with rec.lock:
            rec.cli_failures.append(f"{what}: no exit within {CLI_TIMEOUT:.0f} s (hung)")
        rec.cli(f"[{what}] TIMEOUT\n{exc.stderr or ''}\n")
        return None
    took = time.monotonic() - t0
    with rec.lock:
        rec.cli_runs[f"{what} rc={done.returncode}"] += 1
        if done.returncode not in ok_codes:
            rec.cli_failures.append(f"{what} exit {done.returncode}: {done.stderr.strip()[:300]}")
    text = done.stdout if what != "assert" else ""
    rec.cli(f"[{what} rc={done.returncode} {took:.2f}s] {' '.join(args[:3])}\n"
            f"{text[-2000:] if what == 'verify' and done.returncode else ''}{done.stderr}")
    return done


class CliWriter(threading.Thread):
    def __init__(self, j: int, root: Path, home: Path, rec: Record, stop: threading.Event,
                 fresh: queue.Queue[Acked], seed: int) -> None:
        super().__init__(name=f"cli-{j}", daemon=True)
        self.j, self.root, self.home, self.rec, self.stop = j, root, home, rec, stop
        self.fresh = fresh
        self.rng = random.Random(seed * 1000 + 7 + j)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            source = SOURCES[(self.j + n) % len(SOURCES)]
            kw = spread_fact_kwargs(self.rng.randrange(10**9), ENTITIES)
            scope = SCOPES[n % len(SCOPES)]
            done = run_cli(["--json", "assert", "--entity", str(kw["entity"]), "--relation",
                            "memory:note", "--value", f"cli {self.j}-{n}", "--source", source,
                            "--scope", scope], self.root, self.home, self.rec, "assert")
            if done is not None and done.returncode == 0:
                out = json.loads(done.stdout)
                item = Acked(out["id"], out["path"], "cli", out["entity"], out["relation"],
                             out["scope"])
                self.rec.ack(item)
                if self.rng.random() < 0.35:
                    # the editor edits it right away: no command in between
                    with contextlib.suppress(queue.Full):
                        self.fresh.put_nowait(item)
            if self.stop.is_set():
                break
            read = ("status", "list", "status", "list", "verify")[n % 5]
            if read == "status":
                run_cli(["status"], self.root, self.home, self.rec, "status")
            elif read == "list":
                run_cli(["list", "--entity", str(kw["entity"]), "--limit", "20"], self.root,
                        self.home, self.rec, "list")
            else:  # verify may find an edit the watcher has not turned into an amendment yet
                run_cli(["verify"], self.root, self.home, self.rec, "verify", ok_codes=(0, 1))


# ---------------------------------------------------------------- the person in Obsidian


def write_in_place(path: Path, data: bytes) -> None:
    """Obsidian's save (Node's fs.writeFile): open with O_TRUNC, one write, close."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def set_property(text: str, name: str, value: str) -> str | None:
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f"{name}:"):
            lines[i] = f"{name}: {value}"
            return "\n".join(lines)
    return None


def tick_sign(text: str) -> str:
    """Tick the `sign` checkbox as Obsidian's Properties editor does: the ``sign:`` line set
    to true, or ``sign: true`` added as the last property."""
    ticked = set_property(text, "sign", "true")
    if ticked is not None:
        return ticked
    lines = text.split("\n")
    end = lines.index("---", 1)
    return "\n".join([*lines[:end], "sign: true", *lines[end:]])


class Editor(threading.Thread):
    """Edits fact files in place: a CLI fact just asserted first, else a fresh HTTP fact."""

    def __init__(self, root: Path, rec: Record, stop: threading.Event, every: float,
                 fresh: queue.Queue[Acked], pool: queue.Queue[Acked]) -> None:
        super().__init__(name="editor", daemon=True)
        self.root, self.rec, self.stop, self.every = root, rec, stop, every
        self.fresh, self.pool = fresh, pool
        self.n = 0

    def run(self) -> None:
        next_pool_edit = time.monotonic() + self.every
        while not self.stop.is_set():
            try:
                item = self.fresh.get(timeout=0.05)
            except queue.Empty:
                if time.monotonic() < next_pool_edit:
                    continue
                next_pool_edit = time.monotonic() + self.every
                try:
                    item = self.pool.get_nowait()
                except queue.Empty:
                    continue
            self.edit(item)

    def edit(self, item: Acked) -> None:
        path = self.root / item.path
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            with self.rec.lock:
                self.rec.edit_skipped[f"unreadable: {type(exc).__name__}"] += 1
            return
        self.n += 1
        value = f"edited by a person {self.n}"
        edited = set_property(text, "value_string", json.dumps(value))
        if edited is None:
            with self.rec.lock:
                self.rec.edit_skipped["no value_string line"] += 1
            return
        write_in_place(path, edited.encode("utf-8"))  # pending: nothing signed on a save
        self.stop.wait(0.2)
        write_in_place(path, tick_sign(edited).encode("utf-8"))  # then the person ticks `sign`
        with self.rec.lock:
            self.rec.edits.append((item.id, item.path, value))


TEMPLATE = """---
entity: ""
relation: ""
value_type: "string"
value_string: ""
source: ""
confidence: 1
trust: "observed"
scope: "team"
sign: false
---
Typed in Obsidian by the soak run.
"""


class Drafter(threading.Thread):
    """Types inbox drafts in three autosaves, re-reading the note before each (as Obsidian
    reloads a note changed on disk): entity, then relation, then the value."""

    def __init__(self, j: int, source: str, root: Path, rec: Record, stop: threading.Event,
                 autosave: tuple[float, float], seed: int) -> None:
        super().__init__(name=f"drafts-{j}", daemon=True)
        self.j, self.source, self.root, self.rec, self.stop = j, source, root, rec, stop
        self.autosave = autosave
        self.rng = random.Random(seed * 10 + j)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            marker = f"draft {self.j}-{n} typed in the inbox"
            rel = f"inbox/{slug(self.source)}/Untitled {n}.md"
            path = self.root / rel
            kw = spread_fact_kwargs(self.rng.randrange(10**9), ENTITIES)
            steps = [("entity", json.dumps(kw["entity"])), ("relation", '"memory:draft"'),
                     ("value_string", json.dumps(marker))]
            if self.source.startswith("user:"):  # a person's draft is signed once ticked
                steps.append(("sign", "true"))
            for i, (name, value) in enumerate(steps):
                try:
                    current = path.read_bytes().decode("utf-8") if i else TEMPLATE
                except (OSError, UnicodeDecodeError):
                    current = TEMPLATE  # gone or unreadable: the editor's buffer wins
                    if i == 2:  # ... and carries what was typed before
                        current = set_property(set_property(current, "entity", steps[0][1])
                                               or current, "relation", steps[1][1]) or current
                text = set_property(current, name, value)
                if text is None:  # the watcher's annotation dropped it? type it into the template
                    text = set_property(TEMPLATE, name, value) or TEMPLATE
                write_in_place(path, text.encode("utf-8"))
                with self.rec.lock:
                    self.rec.draft_steps += 1
                if i < len(steps) - 1:
                    self.stop.wait(self.rng.uniform(*self.autosave))
            with self.rec.lock:
                self.rec.drafts.append((self.source, rel, marker))
            self.stop.wait(self.rng.uniform(*self.autosave))


# ---------------------------------------------------------------- checks at the end


def git(root: Path, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-c", ALLOWED, *args], cwd=root, capture_output=True,
                          text=True, timeout=timeout, check=False)


def head_fact_blobs(root: Path) -> dict[str, bytes]:
    """path -> bytes of every facts/ file committed at HEAD."""
    listing = git(root, "ls-tree", "-r", "-z", "HEAD", "--", "facts").stdout
    entries = []
    for entry in listing.split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        _mode, kind, oid = meta.split()
        if kind == "blob" and path.endswith(".md"):
            entries.append((path, oid))
    proc = subprocess.run(["git", "cat-file", "--batch"], cwd=root, capture_output=True,
                          input="".join(f"{oid}\n" for _, oid in entries).encode(),
                          timeout=300, check=True)
    out, pos, blobs = proc.stdout, 0, {}
    for path, _oid in entries:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        blobs[path] = out[header_end + 1:header_end + 1 + size]
        pos = header_end + 1 + size + 1
    return blobs


def index_snapshot(root: Path) -> dict[str, set[tuple[object, ...]]]:
    """The index's facts, conflicts and file verdicts (no stat data), read without opening
    the vault (opening it would bring the index up to date first)."""
    db = sqlite3.connect(f"file:{root / '.stigmem/index/index.sqlite3'}?mode=ro", uri=True,
                         timeout=30)
    try:
        return {
            "facts": set(db.execute("SELECT id, status, path, present, superseded_by, live, "
                                    "contradicted FROM facts")),
            "conflicts": set(db.execute("SELECT id, fact_a, fact_b, status, resolution "
                                        "FROM conflicts")),
            "files": set(db.execute("SELECT path, status, reason, fact_id FROM files")),
        }
    finally:
        db.close()


def settle(root: Path, node: Node, timeout: float) -> tuple[float, list[str]]:
    """Wait until the watcher has nothing left: no inbox note, `git status` clean."""
    t0 = time.monotonic()
    left: list[str] = []
    while time.monotonic() - t0 < timeout:
        status = git(root, "status", "--porcelain", "--untracked-files=all").stdout
        left = [line for line in status.splitlines() if line]
        inbox = root / "inbox"
        drafts = [p for p in inbox.rglob("*.md")] if inbox.exists() else []
        if not left and not drafts:
            break
        time.sleep(0.5)
    return time.monotonic() - t0, left


def counted(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items()))


@dataclass
class Figures:
    rows: list[tuple[str, str]] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def row(self, name: str, value: object) -> None:
        self.rows.append((name, str(value)))

    def check(self, name: str, ok: bool, detail: object = "", acceptance: bool = True) -> None:
        self.checks.append((("" if acceptance else "[beyond issue 9's list] ") + name, ok,
                            str(detail)))


def final_checks(root: Path, home: Path, rec: Record, node_log: Path, fig: Figures) -> None:
    env = {**os.environ, "STIGMEM_HOME": str(home)}

    def cli(*args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([STIGMEM, "--vault", str(root), *args], env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    # 1. The live index, as the node left it (before anything opens the vault again).
    live = index_snapshot(root)

    # 2. Every facts/ blob at HEAD, through stigmem's verifier.
    config = read_vault_config(root)
    trust = TrustStore.load(root, config.owner_keys())
    blobs = head_fact_blobs(root)
    verdicts: Counter[str] = Counter()
    at_head: dict[str, tuple[str, Verdict]] = {}  # fact id -> (path, verdict)
    head_facts = {}
    bad_at_head = []
    for path, data in blobs.items():
        item = verify_bytes(path, data, trust)
        verdicts[item.verdict.value] += 1
        if item.fact is not None:
            at_head[item.fact.id] = (path, item.verdict)
            head_facts[item.fact.id] = item.fact
        if item.verdict is not Verdict.VALID:
            bad_at_head.append(f"{path}: {item.verdict.value}: {item.reason}")
    fig.row("fact files at HEAD", f"{len(blobs):,} ({counted(verdicts)})")
    mismatch = verdicts.get(Verdict.ID_MISMATCH.value, 0)
    fig.check("0 id-mismatch at HEAD", mismatch == 0, f"{mismatch}")
    fig.check("every fact file at HEAD verifies (valid)", not bad_at_head,
              f"{len(bad_at_head)} not valid" + (f"; first: {bad_at_head[0]}" if bad_at_head else ""),
              acceptance=False)

    # HLCs against the signing time: peers refuse a stamp over 5 minutes ahead (spec 5.3).
    leads = []
    for fact in head_facts.values():
        signed_ms = datetime.fromisoformat(fact.timestamp.replace("Z", "+00:00")).timestamp()
        leads.append((HLC.parse(fact.hlc).wall_ms / 1000 - signed_ms, fact.source, fact.id))
    lead = max(leads, default=(0.0, "", ""))
    fig.row("HLC ahead of signing time", f"max {lead[0]:.1f} s ({lead[1]} {lead[2][:12]}); "
            f"{sum(1 for x in leads if x[0] > 5):,} facts over 5 s")
    fig.check("every HLC within the 300 s skew bound of its signing time (spec 5.3)",
              lead[0] <= 300, f"max {lead[0]:.1f} s", acceptance=False)
    hlc_of = {fid: f.hlc for fid, f in head_facts.items()}
    inverted = [fid for fid, f in head_facts.items()
                if f.supersedes in hlc_of and f.hlc < hlc_of[f.supersedes]]
    fig.row("amendments stamped before the fact they supersede", f"{len(inverted):,}")

    # 3. Acknowledged facts: committed at HEAD, valid there and on disk, and indexed.
    indexed = {row[0]: row for row in live["facts"]}
    lost: Counter[str] = Counter()
    lost_examples: list[str] = []
    for fact_id, item in rec.acked.items():
        why = None
        if fact_id not in at_head:
            why = "not committed at HEAD"
        elif at_head[fact_id][1] is not Verdict.VALID:
            why = f"{at_head[fact_id][1].value} at HEAD"
        else:
            path = at_head[fact_id][0]
            if item.path and item.path != path:
                why = f"at HEAD under {path}, acknowledged at {item.path}"
            elif not verify_file(root, path, trust).ok:
                why = f"work tree: {verify_file(root, path, trust).verdict.value}"
            elif fact_id not in indexed or indexed[fact_id][1] != "valid":
                why = "not indexed as valid"
        if why:
            lost[why.split(":")[0]] += 1
            if len(lost_examples) < 5:
                lost_examples.append(f"{fact_id[:12]} ({item.origin}, {item.path}): {why}")
    origins = Counter(a.origin for a in rec.acked.values())
    fig.row("acknowledged facts", f"{len(rec.acked):,} ({counted(origins)})")
    fig.check("0 acknowledged facts lost", not lost, f"{sum(lost.values())} lost {dict(lost)}"
              + (f"; e.g. {lost_examples}" if lost_examples else ""))

    # 4. Edits became amendments; drafts were filed.
    by_supersedes: dict[str, list[Fact]] = {}
    values: Counter[tuple[str, str]] = Counter()
    for fact in head_facts.values():
        if fact.supersedes:
            by_supersedes.setdefault(fact.supersedes, []).append(fact)
        values[(fact.source, json.dumps(fact.value.v))] += 1
    missing_edits = [f"{orig[:12]} {rel}" for orig, rel, value in rec.edits
                     if not any(f.value.v == value and f.source == config.owner
                                for f in by_supersedes.get(orig, []))]
    fig.row("in-place edits", f"{len(rec.edits)} made, {len(rec.edits) - len(missing_edits)} became "
            f"amendments at HEAD" + (f"; skipped {dict(rec.edit_skipped)}" if rec.edit_skipped else ""))
    fig.check("every in-place edit became an amendment", not missing_edits,
              f"{len(missing_edits)} not" + (f"; first: {missing_edits[:3]}" if missing_edits else ""),
              acceptance=False)
    missing_drafts = [rel for source, rel, marker in rec.drafts
                      if not values.get((source, json.dumps(marker)))]
    duplicated = [rel for source, rel, marker in rec.drafts
                  if values.get((source, json.dumps(marker)), 0) > 1]
    inbox = root / "inbox"
    leftover = sorted(str(p.relative_to(root)) for p in inbox.rglob("*") if p.is_file()) \
        if inbox.exists() else []
    fig.row("inbox drafts", f"{len(rec.drafts)} typed ({rec.draft_steps} autosaves), "
            f"{len(rec.drafts) - len(missing_drafts)} filed as facts, {len(duplicated)} filed "
            f"more than once, {len(leftover)} notes left in inbox/")
    fig.check("every inbox draft filed as a fact", not missing_drafts and not leftover,
              f"{len(missing_drafts)} missing; left {leftover[:3]}" if missing_drafts or leftover
              else "", acceptance=False)

    # 5. HTTP status codes and 5xx.
    fig.row("HTTP answers", ", ".join(f"{k}: {v:,}" for k, v in sorted(rec.http_status.items())))
    fig.row("HTTP requests cut off by a kill", rec.no_answer)
    if rec.unexpected:
        fig.row("unexpected 4xx / rejected items", f"{len(rec.unexpected)}; first: {rec.unexpected[0]}")
    fig.check("0 5xx", not rec.server_errors,
              f"{len(rec.server_errors)}" + (f"; first: {rec.server_errors[0]}" if rec.server_errors else ""))

    # 6. CLI runs.
    fig.row("CLI runs", ", ".join(f"{k}: {v:,}" for k, v in sorted(rec.cli_runs.items())))
    fig.check("no CLI process hung or failed", not rec.cli_failures,
              f"{len(rec.cli_failures)}" + (f"; first: {rec.cli_failures[0]}" if rec.cli_failures else ""),
              acceptance=False)

    # 7. "database is locked" anywhere.
    node_text = node_log.read_text("utf-8", "replace")
    cli_text = (rec.log_dir / "cli.log").read_text("utf-8", "replace")
    locked = node_text.count(LOCKED) + cli_text.count(LOCKED) + rec.locked_http
    tracebacks = node_text.count("Traceback")
    fig.row("node log", f"{len(node_text.splitlines()):,} lines, {tracebacks} tracebacks")
    fig.check('0 "database is locked"', locked == 0,
              f"{locked} (node log {node_text.count(LOCKED)}, CLI {cli_text.count(LOCKED)}, "
              f"HTTP {rec.locked_http})")

    # 8. stigmem verify on the final vault.
    done = cli("--json", "verify")
    counts = json.loads(done.stdout)["counts"] if done.stdout.startswith("{") else done.stderr
    fig.check("stigmem verify exit 0", done.returncode == 0, f"exit {done.returncode}; {counts}")

    # 9. reindex == the live index: the facts (verdict, path, liveness, replacer, conflict
    # flag) and the conflicts are the acceptance figure; the file verdicts, and whether the
    # reindex (a writer) had anything to write, tell whether the vault itself was in step.
    head_before = git(root, "rev-parse", "HEAD").stdout.strip()
    done = cli("reindex")
    rebuilt = index_snapshot(root)
    wrote = git(root, "log", "--format=%s", f"{head_before}..HEAD").stdout.split("\n")
    wrote = [line for line in wrote if line]
    diffs: dict[str, str] = {}
    for table_name in ("facts", "conflicts", "files"):
        only_live = live[table_name] - rebuilt[table_name]
        only_rebuilt = rebuilt[table_name] - live[table_name]
        if only_live or only_rebuilt:
            diffs[table_name] = (f"{table_name}: {len(only_live)} rows only live, "
                                 f"{len(only_rebuilt)} only rebuilt (e.g. "
                                 f"{sorted(only_live, key=str)[:1]} / "
                                 f"{sorted(only_rebuilt, key=str)[:1]})")
    with open(rec.log_dir / "reindex-diff.txt", "w", encoding="utf-8") as out:
        for table_name in ("facts", "conflicts", "files"):
            for row in sorted(live[table_name] - rebuilt[table_name], key=str):
                out.write(f"only live     {table_name}: {row}\n")
            for row in sorted(rebuilt[table_name] - live[table_name], key=str):
                out.write(f"only rebuilt  {table_name}: {row}\n")
    fig.row("index rows (live)", ", ".join(f"{k} {len(v):,}" for k, v in live.items()))
    index_diffs = [diffs[t] for t in ("facts", "conflicts") if t in diffs]
    fig.check("reindex == live index (facts: verdict, path, liveness; conflicts)",
              done.returncode == 0 and not index_diffs,
              f"reindex exit {done.returncode}; "
              + ("; ".join(index_diffs) if index_diffs else "identical"))
    fig.check("the reindex found the vault in step: same file verdicts, nothing to commit",
              "files" not in diffs and not wrote,
              "; ".join([*([diffs["files"]] if "files" in diffs else []),
                         *([f"it committed: {wrote[:3]}"] if wrote else [])]) or "yes",
              acceptance=False)

    # 10. Every commit verifies with stock git.
    commits = git(root, "rev-list", "HEAD").stdout.split()
    unsigned = []
    for oid in commits:
        result = git(root, "verify-commit", oid, timeout=60)
        if result.returncode != 0:
            unsigned.append(f"{oid[:12]}: {result.stderr.strip()[:200]}")
    merges = git(root, "rev-list", "--merges", "HEAD").stdout.split()
    fig.row("commits", f"{len(commits):,} ({len(merges)} merges)")
    fig.check("every commit verifies with git verify-commit", not unsigned and bool(commits),
              f"{len(unsigned)} of {len(commits)} do not" + (f"; first: {unsigned[0]}" if unsigned else ""))
    fsck = git(root, "fsck", "--no-dangling", timeout=600)
    fig.row("git fsck", "clean" if fsck.returncode == 0 and not fsck.stdout.strip()
            else f"exit {fsck.returncode}: {(fsck.stdout + fsck.stderr).strip()[:300]}")


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=150.0,
                        help="seconds of steady writing before the kill rounds (default 150)")
    parser.add_argument("--kill-rounds", type=int, default=5, help="SIGKILL rounds (default 5)")
    parser.add_argument("--kill-after", default="2,10",
                        help="each round kills the node after a random time in this range, s "
                             "(default 2,10)")
    parser.add_argument("--http-writers", type=int, default=4, help="HTTP writer threads (4)")
    parser.add_argument("--http-rate", type=float, default=25.0,
                        help="requests/s per HTTP writer, 0 unlimited (default 25)")
    parser.add_argument("--cli-writers", type=int, default=2,
                        help="threads running CLI processes in a loop (default 2)")
    parser.add_argument("--edit-every", type=float, default=1.0,
                        help="s between in-place edits of HTTP facts; CLI facts are edited "
                             "as soon as asserted (default 1.0)")
    parser.add_argument("--draft-writers", type=int, default=2,
                        help="threads typing inbox drafts (default 2)")
    parser.add_argument("--autosave", default="1.5,3.0",
                        help="s between a draft's autosaves, random in this range (1.5,3.0)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="s to wait at the end for the watcher to finish (default 60)")
    parser.add_argument("--dir", type=Path, default=OUT / "soak",
                        help="parent of the run folders (default bench/out/soak)")
    parser.add_argument("--quick", action="store_true",
                        help="a ~20 s trial: duration 12 s, 2 kill rounds of 1-4 s")
    parser.add_argument("--clean", action="store_true", help="remove earlier runs, then exit")
    args = parser.parse_args()
    if args.clean:
        shutil.rmtree(args.dir, ignore_errors=True)
        print(f"removed {args.dir}")
        return 0
    if args.quick:
        args.duration, args.kill_rounds, args.kill_after = 12.0, 2, "1,4"
    kill_lo, kill_hi = (float(x) for x in args.kill_after.split(","))
    autosave = tuple(float(x) for x in args.autosave.split(","))
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    start_load = load_note()

    args.dir.mkdir(parents=True, exist_ok=True)
    run_dir = args.dir / f"soak-{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.getpid()}"
    run_dir.mkdir()
    root, home = run_dir / "vault", run_dir / "home"
    print(f"soak: run folder {run_dir} (seed {seed})", flush=True)
    with new_vault(root, home) as vault:
        tokens = {s: vault.create_token(s, scopes=SCOPES, perms=["read", "write"])[0]
                  for s in SOURCES}
    rec = Record(run_dir)
    node = Node(root, home, run_dir / "node.log")
    print(f"node ready in {node.start():.2f} s on 127.0.0.1:{node.port}", flush=True)

    stop = threading.Event()
    fresh: queue.Queue[Acked] = queue.Queue(maxsize=50)
    pool: queue.Queue[Acked] = queue.Queue(maxsize=200)
    actors: list[threading.Thread] = []
    for k in range(args.http_writers):
        source = SOURCES[k % len(SOURCES)]
        actors.append(HttpWriter(k, node, tokens[source], source, rec, stop, args.http_rate,
                                 pool, seed))
    for j in range(args.cli_writers):
        actors.append(CliWriter(j, root, home, rec, stop, fresh, seed))
    actors.append(Editor(root, rec, stop, args.edit_every, fresh, pool))
    for j in range(args.draft_writers):
        actors.append(Drafter(j, ("agent:claude", "user:alice")[j % 2], root, rec, stop,
                              (autosave[0], autosave[1]), seed))
    t_start = time.monotonic()
    for actor in actors:
        actor.start()

    kills: list[str] = []
    try:
        next_report = time.monotonic() + 15
        while time.monotonic() - t_start < args.duration:
            time.sleep(0.5)
            if time.monotonic() >= next_report:
                next_report += 15
                print(f"  {time.monotonic() - t_start:5.0f} s: {len(rec.acked):,} acknowledged, "
                      f"{len(rec.edits)} edits, {len(rec.drafts)} drafts, "
                      f"{len(rec.server_errors)} 5xx, {len(rec.cli_failures)} CLI failures",
                      flush=True)
        for r in range(args.kill_rounds):
            wait = rng.uniform(kill_lo, kill_hi)
            time.sleep(wait)
            node.kill()
            t_kill = time.monotonic()
            try:
                back = node.start()
            except RuntimeError as exc:  # it does not come back: a finding, then the checks
                kills.append(f"{wait:.1f} s, NOT BACK: {exc}")
                tail = node.log.read_text("utf-8", "replace").strip().splitlines()[-1:]
                print(f"  kill round {r + 1}: the node did not come back: {tail}", flush=True)
                break
            kills.append(f"{wait:.1f} s, back in {back:.2f} s")
            print(f"  kill round {r + 1}: SIGKILL after {wait:.1f} s, node answering again "
                  f"{time.monotonic() - t_kill:.2f} s later; {len(rec.acked):,} acknowledged",
                  flush=True)
    finally:
        stop.set()
        for actor in actors:
            actor.join(CLI_TIMEOUT + 10)
        alive = [a.name for a in actors if a.is_alive()]
        if alive:
            print(f"  actors still running after their deadline: {alive}", flush=True)
        ran = time.monotonic() - t_start
        settled, left = (settle(root, node, args.settle) if node.up.is_set() else (0.0, []))
        node_exit = node.stop()
        rec.close()
    print(f"writers stopped after {ran:.0f} s; settled in {settled:.1f} s"
          + (f" (still dirty: {left[:5]})" if left else "") + f"; node exit {node_exit}",
          flush=True)

    fig = Figures()
    fig.row("run", f"{args.duration:.0f} s steady + {args.kill_rounds} kill rounds = {ran:.0f} s; "
            f"{args.http_writers} HTTP writers at {args.http_rate:g}/s, {args.cli_writers} CLI "
            f"writers, 1 editor, {args.draft_writers} draft writers; seed {seed}")
    fig.row("kills", "; ".join(kills) if kills else "none")
    if left:
        fig.row("dirty after settling", f"{len(left)}: {left[:5]}")
    fig.check("the vault is clean after settling: every file committed, inbox empty", not left,
              f"{len(left)} paths", acceptance=False)
    fig.check("the node comes back after every SIGKILL", not any("NOT BACK" in k for k in kills),
              "; ".join(k for k in kills if "NOT BACK" in k)[:300] or "yes", acceptance=False)
    fig.check("every actor stopped by its deadline", not alive, ", ".join(alive), acceptance=False)
    fig.check("node exits 0 on SIGTERM", node_exit == 0, f"exit {node_exit}", acceptance=False)
    t0 = time.monotonic()
    final_checks(root, home, rec, node.log, fig)
    fig.row("checks took", f"{time.monotonic() - t0:.1f} s")

    print(f"\nsoak: `stigmem serve` + writers on 127.0.0.1 ({datetime.now(UTC):%Y-%m-%d %H:%M} "
          f"UTC; {machine()}; {start_load} at the start, {load_note()} at the end)")
    width = max(len(name) for name, _ in fig.rows)
    for name, value in fig.rows:
        print(f"  {name:<{width}}  {value}")
    failed = 0
    for name, ok, detail in fig.checks:
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""))
    print(f"run folder: {run_dir}")
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
