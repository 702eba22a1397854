"""A team on one machine (issue 13): N nodes, each with its own vault, keys and writers,
syncing through one bare hub served by ``git daemon`` on 127.0.0.1, each carrying only its
scopes.

    python bench/federation_sim.py [--nodes 10] [--facts 100000] [--rounds 10]
                                   [--transport daemon|file] [--max-passes 5] [--dir PARENT]
                                   [--keep]

Node i is owned by ``user:owner-i`` (its own STIGMEM_HOME) and writes as two agents of its
own (``agent:writer-i-a``, ``-b``). Its remote ``hub`` carries a subset of the shareable
scopes (``SUBSETS``, by i): the partial checkout a machine needs. It writes into its scopes and
into ``local`` (never shared). So node n must end up holding exactly: every fact it wrote, and
every fact of a scope it carries written by any node (a writer only writes scopes it carries).

Setup (not timed): every node writes one fact per carried scope and syncs, then syncs again and
admits every pending peer with the fingerprint of the peer's owner key (known out of band here:
all nodes are in this process); repeated until every node trusts every peer it can see.

Each of ``--rounds`` rounds: every node writes ``facts / (nodes x rounds)`` facts
(``write_claims`` in one batch, then one signed commit), then sync passes are run, every node
syncing (pull, verify, import, push) in turn, until every node holds exactly its expected set
(checked on the node's index: the ids of present, valid facts). The round's figures: write time,
passes, time to convergence (the sum of the pass times: nodes sync one after the other on this
machine; the slowest pass is shown too), per-sync time per node (median, max), what a sync
moves (bytes fetched and pushed, from libgit2's transfer counters), facts imported, and the
sizes (index rows, files in the work tree, loose objects per node; hub size and objects).

The timing of a sync's parts (fetch, examine, import, projection, push) reuses
bench/federation.py's wrappers. Exit 1 if a round does not converge within ``--max-passes``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2
from _common import OUT, check, load_note, machine, median
from federation import PART_NAMES, PARTS

from stigmem_vault.api.vault import Vault
from stigmem_vault.federation import transport
from stigmem_vault.federation.declaration import fingerprint
from stigmem_vault.model.fact import Claim, make_claim
from stigmem_vault.model.values import make_value

REMOTE = "hub"
# The scopes node i carries: SUBSETS[i % len(SUBSETS)]. Every shareable scope is carried by
# several nodes, some nodes carry one scope, one all three.
SUBSETS: tuple[tuple[str, ...], ...] = (
    ("team", "company"), ("team",), ("company", "public"), ("team", "company", "public"),
    ("team", "public"), ("company",), ("team", "company"), ("public",), ("team",),
    ("company", "team"))
SETUP_START = 10_000_000  # stream positions of the setup facts (k % len(scopes) covers each)
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0"}

# ---------------------------------------------------------------- bytes a sync moves (measured)

MOVED = {"fetched": 0, "pushed": 0}
_fetch = pygit2.remotes.Remote.fetch


def _counted_fetch(self: pygit2.remotes.Remote, *args: Any, **kwargs: Any) -> Any:
    stats = _fetch(self, *args, **kwargs)
    MOVED["fetched"] += stats.received_bytes
    return stats


def _push_progress(self: Any, objects_pushed: int, total_objects: int, bytes_pushed: int) -> None:
    self.bytes_pushed = bytes_pushed  # the last report is the total of this push


_live_callbacks: list[Any] = []
_init = transport._Callbacks.__init__


def _tracking_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    self.bytes_pushed = 0
    _live_callbacks.append(self)


def moved_pushed() -> int:
    total = sum(cb.bytes_pushed for cb in _live_callbacks)
    _live_callbacks.clear()
    return total


# Measure, not change: count in this process only.
pygit2.remotes.Remote.fetch = _counted_fetch  # type: ignore[method-assign]
transport._Callbacks.push_transfer_progress = _push_progress  # type: ignore[method-assign]
transport._Callbacks.__init__ = _tracking_init  # type: ignore[method-assign]


# ---------------------------------------------------------------- the hub


class Hub:
    """A bare repository, served by ``git daemon`` on 127.0.0.1 (or used as a file:// URL)."""

    def __init__(self, base: Path, transport_kind: str) -> None:
        self.base = base / "hubs"
        self.path = self.base / "hub.git"
        self.kind = transport_kind
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        subprocess.run(["git", "init", "--bare", "-q", str(self.path)], check=True, env=GIT_ENV)

    def start(self) -> str:
        if self.kind == "file":
            return self.path.as_uri()
        log = self.base / "git-daemon.log"
        for _attempt in range(5):  # a free port can be taken before the daemon binds it
            self.port = free_port()
            with open(log, "wb") as out:
                self.process = subprocess.Popen(
                    ["git", "daemon", "--export-all", "--enable=receive-pack", "--reuseaddr",
                     f"--base-path={self.base}", f"--port={self.port}", "--listen=127.0.0.1",
                     "--verbose", str(self.base)], env=GIT_ENV, stdout=subprocess.DEVNULL,
                    stderr=out, start_new_session=True)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.process.poll() is None:
                if b"] Ready to rumble" in log.read_bytes():  # printed once it listens
                    return f"git://127.0.0.1:{self.port}/hub.git"
                time.sleep(0.02)
            self.stop()
        raise SystemExit(f"git daemon did not start: {log.read_text()[-1000:]}")

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 15)
            self.process.wait(timeout=30)
            self.process = None

    def size(self) -> tuple[int, int, int]:
        """(bytes on disk, loose objects, packed objects)."""
        return disk_bytes(self.path), *objects(self.path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def disk_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total


def objects(path: Path) -> tuple[int, int]:
    out = subprocess.run(["git", "count-objects", "-v"], cwd=path, env=GIT_ENV,
                         capture_output=True, text=True, check=True).stdout
    counts = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return int(counts["count"]), int(counts["in-pack"])


def work_files(root: Path) -> int:
    count = 0
    for _dirpath, dirs, names in os.walk(root):
        if ".git" in dirs:
            dirs.remove(".git")
        count += len(names)
    return count


# ---------------------------------------------------------------- nodes


@dataclass
class Node:
    i: int
    scopes: tuple[str, ...]
    vault: Vault
    wrote: dict[str, str] = field(default_factory=dict)  # fact id -> scope

    @property
    def writers(self) -> tuple[str, str]:
        return (f"agent:writer-{self.i}-a", f"agent:writer-{self.i}-b")


def make_nodes(base: Path, count: int, url: str) -> list[Node]:
    nodes = []
    for i in range(count):
        vault = Vault.init(base / f"node-{i}", owner=f"user:owner-{i}",
                           home=base / f"home-{i}", commit_delay=None, commit_every=1 << 30)
        node = Node(i, SUBSETS[i % len(SUBSETS)], vault)
        for writer in node.writers:
            vault.create_identity(writer)
        vault.add_remote(REMOTE, url, list(node.scopes))
        nodes.append(node)
    return nodes


def write(node: Node, start: int, count: int) -> float:
    """``count`` facts by the node's writers into its scopes (every 10th ``local``); seconds."""
    claims: list[Claim] = []
    for k in range(start, start + count):
        scope = "local" if k % 10 == 9 else node.scopes[k % len(node.scopes)]
        claims.append(make_claim(
            entity=f"project:n{node.i}-e{k % 500:03d}", relation=f"memory:r{k // 500:04d}",
            value=make_value("string", f"node {node.i} fact {k}"),
            source=node.writers[k % 2], scope=scope))
    began = time.perf_counter()
    results = node.vault.write_claims(claims)
    node.vault.flush()
    seconds = time.perf_counter() - began
    for claim, result in zip(claims, results, strict=True):
        if isinstance(result, Exception):
            raise SystemExit(f"node {node.i} could not write: {result}")
        node.wrote[result.id] = claim.scope.value
    return seconds


def expected(node: Node, nodes: list[Node]) -> set[str]:
    ids = set(node.wrote)
    for other in nodes:
        if other is not node:
            ids.update(i for i, scope in other.wrote.items() if scope in node.scopes)
    return ids


def held(node: Node) -> tuple[set[str], int]:
    """The ids of the present, valid facts the node's index holds, and how many others."""
    index = node.vault.index
    with index.db.lock:
        rows = index.db.conn.execute("SELECT id, status FROM facts WHERE present = 1").fetchall()
    good = {fact_id for fact_id, status in rows if status == "valid"}
    return good, len(rows) - len(good)


def converged(nodes: list[Node]) -> tuple[bool, list[str]]:
    notes = []
    for node in nodes:
        have, other = held(node)
        want = expected(node, nodes)
        if have != want or other:
            notes.append(f"node {node.i}: {len(want - have)} missing, {len(have - want)} extra, "
                         f"{other} not valid")
    return not notes, notes


@dataclass
class Sync:
    seconds: float
    imported: int
    fetched: int
    pushed: int
    parts: dict[str, float]


def sync(node: Node) -> Sync:
    PARTS.clear()
    MOVED["fetched"] = 0
    moved_pushed()
    start = time.perf_counter()
    report = node.vault.sync(REMOTE)[0]
    seconds = time.perf_counter() - start
    if report.error:
        raise SystemExit(f"node {node.i}: sync failed: {report.error}")
    if report.quarantined or report.refused:
        raise SystemExit(f"node {node.i}: sync quarantined {report.quarantined}, refused "
                         f"{report.refused[:3]}")
    return Sync(seconds, report.imported, MOVED["fetched"], moved_pushed(), dict(PARTS))


def admit_everyone(nodes: list[Node]) -> None:
    """Setup: introduce every node, admit every peer seen, until each trusts all it can see."""
    owner_keys = {n.vault.node.node_id: fingerprint(n.vault.config.owner_key)  # type: ignore[union-attr]
                  for n in nodes}
    for node in nodes:
        write(node, SETUP_START, len(node.scopes))  # one fact per carried scope
    for attempt in range(12):
        admitted = 0
        for node in nodes:
            node.vault.sync(REMOTE)
            for peer in node.vault.peers():
                if peer.status == "pending":
                    node.vault.trust_peer(peer.node_id, owner_keys[peer.node_id])
                    admitted += 1
        print(f"  setup pass {attempt + 1}: {admitted} admissions", flush=True)
        if not admitted:
            return
    raise SystemExit("peers were still appearing after 12 passes")


# ---------------------------------------------------------------- the rounds


@dataclass
class Round:
    n: int
    write_seconds: list[float]
    passes: list[list[Sync]]
    converged: bool
    notes: list[str]
    rows: list[int]
    files: list[int]
    loose: list[int]
    hub: tuple[int, int, int]
    total_facts: int

    @property
    def convergence(self) -> float:
        return sum(s.seconds for p in self.passes for s in p)

    def syncs(self) -> list[Sync]:
        return [s for p in self.passes for s in p]


def one_round(n: int, nodes: list[Node], per_node: int, hub: Hub, max_passes: int) -> Round:
    writes = [write(node, n * per_node, per_node) for node in nodes]
    passes: list[list[Sync]] = []
    done, notes = False, []
    while not done and len(passes) < max_passes:
        passes.append([sync(node) for node in nodes])
        done, notes = converged(nodes)
    rows = [node.vault.index.counts()["facts"] for node in nodes]
    return Round(n, writes, passes, done, notes, rows, [work_files(node.vault.root) for node in nodes],
                 [objects(node.vault.root)[0] for node in nodes], hub.size(),
                 sum(len(node.wrote) for node in nodes))


def describe(r: Round) -> str:
    syncs = r.syncs()
    pass_times = [sum(s.seconds for s in p) for p in r.passes]
    first = r.passes[0]
    parts = " ".join(f"{name} {median([s.parts.get(name, 0.0) for s in first]):.2f}"
                     for name in PART_NAMES)
    return (f"round {r.n + 1}: {r.total_facts:,} facts written in all; write+commit median "
            f"{median(r.write_seconds):.2f} s/node\n"
            f"    {'converged' if r.converged else 'NOT converged'} after {len(r.passes)} "
            f"pass(es) in {r.convergence:.1f} s (passes {', '.join(f'{t:.1f}' for t in pass_times)}"
            f" s)\n"
            f"    sync per node: median {median([s.seconds for s in syncs]):.2f} s, max "
            f"{max(s.seconds for s in syncs):.2f} s; 1st pass median parts: {parts}\n"
            f"    moved: fetched {sum(s.fetched for s in syncs) / 1e6:.1f} MB, pushed "
            f"{sum(s.pushed for s in syncs) / 1e6:.1f} MB; imported {sum(s.imported for s in syncs):,}"
            f"\n    index rows per node {min(r.rows):,}..{max(r.rows):,}; work-tree files "
            f"{min(r.files):,}..{max(r.files):,}; loose objects {min(r.loose):,}..{max(r.loose):,};"
            f" hub {r.hub[0] / 1e6:.0f} MB, {r.hub[1]:,} loose + {r.hub[2]:,} packed objects")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--facts", type=int, default=100000, help="facts written in all")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--transport", choices=("daemon", "file"), default="daemon",
                        help="git daemon on 127.0.0.1 (default) or a file:// URL")
    parser.add_argument("--max-passes", type=int, default=5,
                        help="sync passes per round before giving up on convergence")
    parser.add_argument("--dir", type=Path, default=OUT, help=f"parent folder (default {OUT})")
    parser.add_argument("--keep", action="store_true", help="keep the nodes and the hub")
    args = parser.parse_args()
    per_node = args.facts // (args.nodes * args.rounds)
    if per_node < 1:
        raise SystemExit("--facts must be at least --nodes x --rounds")
    start_load = load_note()
    args.dir.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="sim-", dir=args.dir))
    hub = Hub(base, args.transport)
    rounds: list[Round] = []
    try:
        url = hub.start()
        began = time.perf_counter()
        nodes = make_nodes(base, args.nodes, url)
        admit_everyone(nodes)
        ok, notes = converged(nodes)
        print(f"{args.nodes} nodes set up and admitted each other in "
              f"{time.perf_counter() - began:.1f} s via {url}; converged: {ok} {notes[:3]}",
              flush=True)
        for n in range(args.rounds):
            r = one_round(n, nodes, per_node, hub, args.max_passes)
            rounds.append(r)
            print(describe(r), flush=True)
            if not r.converged:
                print("    " + "\n    ".join(r.notes), flush=True)
                break
        for node in nodes:
            node.vault.close()
    finally:
        hub.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"\nfederation_sim: {args.nodes} nodes, {args.facts:,} facts in {args.rounds} rounds "
          f"({per_node} per node per round), hub over {args.transport} "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; {start_load} at the start, "
          f"{load_note()} at the end)")
    print("  scopes per node: " + ", ".join(
        f"{i}:{'+'.join(SUBSETS[i % len(SUBSETS)])}" for i in range(args.nodes)))
    print("  round  facts   passes  converge s  sync p50 s  sync max s  fetched MB  pushed MB"
          "  rows/node (max)  files/node (max)  hub MB")
    for r in rounds:
        syncs = r.syncs()
        print(f"  {r.n + 1:5d}  {r.total_facts:7,d}  {len(r.passes):5d}  {r.convergence:10.1f}"
              f"  {median([s.seconds for s in syncs]):10.2f}  {max(s.seconds for s in syncs):10.2f}"
              f"  {sum(s.fetched for s in syncs) / 1e6:10.1f}  {sum(s.pushed for s in syncs) / 1e6:9.1f}"
              f"  {max(r.rows):15,d}  {max(r.files):16,d}  {r.hub[0] / 1e6:6.0f}")
    return check([(f"every round converged with every node holding exactly its scopes "
                   f"({len(rounds)}/{args.rounds} rounds)",
                   len(rounds) == args.rounds and all(r.converged for r in rounds))])


if __name__ == "__main__":
    sys.exit(main())
