"""Federation over git: how long new facts take to reach a peer, verified and indexed.

    python bench/federation.py [--facts 10000] [--rounds 3] [--big 100000] [--small 10]
                               [--small-rounds 5] [--bulk-target 15] [--small-target 1]
                               [--skip-bulk] [--skip-small] [--rebuild] [--cache DIR] [--dir PARENT]

Two nodes, A (user:alice, with agent:codex and agent:claude) and B (user:bob), each with its own
STIGMEM_HOME, share a bare git repository (a local path) as the remote ``hub`` for scope team.
Before anything is timed, A has published its peer declaration, B has trusted A (with the owner
key fingerprint) and has synced once, so B already knows A's identities.

Bulk (issue 5: 10,000 facts in <= 15 s): each round makes fresh nodes; A asserts ``--facts`` team
facts (_common.spread_fact_kwargs, every value type; signed, committed) and pushes them with
``A.sync("hub")``; then ``B.sync("hub")`` is timed: fetch, check every new fact (signature,
signer binding, scope, path, clock skew), write the files, index them and commit. Every fact must
arrive, valid, in B's index.

Small change, big vault (issue 5: 10 facts into a 100,000-fact vault in <= 1 s): A and B hold
``--big`` team facts already synced (built once, a few minutes for 100,000, and cached in
bench/out/fed-<big>/, gitignored, with the nodes' keys). Each round A asserts ``--small`` facts
and syncs (push), then B.sync() is timed. The vaults grow by ``--small`` facts a round.

A's sync time (pull + push) is reported for both cases; each sync is also split into fetch,
examine (the checks, git objects only), import (files, index, commit), rescan (a stat scan of
the vault, if any), projection (building the projection commit, including the check of what
changed since the last one for files that must not leave) and push; "other" is the rest. Best and
median of the rounds are shown. Exit 1 and MISSED if a target is missed (median round).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2
from _common import (
    OUT,
    SOURCES,
    check,
    load_note,
    machine,
    median,
    spread_entities,
    spread_fact_kwargs,
    table,
)

import stigmem_vault.api.federation as sync_module
from stigmem_vault.api.federation import Federation, SyncReport
from stigmem_vault.api.index_keeper import IndexKeeper
from stigmem_vault.api.vault import Vault
from stigmem_vault.federation.declaration import fingerprint

REMOTE = "hub"
SCOPES = ["team"]

# ---------------------------------------------------------------- timing the parts of a sync

PARTS: dict[str, float] = defaultdict(float)


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PARTS[name] += time.perf_counter() - start
    return wrapper


# Measure, not change: the functions a sync calls are wrapped with timers in this process only.
sync_module.fetch = _timed("fetch", sync_module.fetch)
sync_module.push = _timed("push", sync_module.push)
sync_module.examine = _timed("examine", sync_module.examine)
sync_module.update_projection = _timed("projection", sync_module.update_projection)
Federation._import = _timed("import", Federation._import)  # type: ignore[method-assign]
# A refresh (stat scan) should not happen during a sync any more; timed to show it stays 0.
IndexKeeper.refresh = _timed("rescan", IndexKeeper.refresh)  # type: ignore[method-assign]
PART_NAMES = ("fetch", "examine", "import", "rescan", "projection", "push")


@dataclass
class Timed:
    seconds: float
    parts: dict[str, float]
    report: SyncReport


def timed_sync(vault: Vault) -> Timed:
    PARTS.clear()
    start = time.perf_counter()
    reports = vault.sync(REMOTE)
    seconds = time.perf_counter() - start
    report = reports[0]
    if report.error:
        raise RuntimeError(f"sync of {vault.root} failed: {report.error}")
    return Timed(seconds, dict(PARTS), report)


def split(t: Timed) -> str:
    parts = " ".join(f"{name} {t.parts.get(name, 0.0):.2f}" for name in PART_NAMES)
    return f"{t.seconds:6.2f} s  ({parts}; other {t.seconds - sum(t.parts.values()):.2f})"


# ---------------------------------------------------------------- nodes


@dataclass
class Pair:
    a: Vault
    b: Vault
    facts: list[str] = field(default_factory=list)  # ids A asserted (team)

    def close(self) -> None:
        self.a.close()
        self.b.close()


def make_pair(base: Path) -> Pair:
    """A and B, each with its own home, sharing the bare remote ``base/hub.git``; B trusts A."""
    pygit2.init_repository(str(base / "hub.git"), bare=True)
    a = Vault.init(base / "a", owner="user:alice", home=base / "home-a", commit_delay=None)
    for source in SOURCES[1:]:
        a.create_identity(source)
    b = Vault.init(base / "b", owner="user:bob", home=base / "home-b", commit_delay=None)
    for vault in (a, b):
        vault.add_remote(REMOTE, str(base / "hub.git"), SCOPES)
    pair = Pair(a, b)
    pair.facts.append(a.assert_fact(entity="project:atlas", relation="memory:note",
                                    value="hello from A", source="user:alice", scope="team").id)
    a.flush()
    timed_sync(a)
    first = timed_sync(b)
    assert first.report.new_peers == [a.node.node_id], first.report  # type: ignore[union-attr]
    b.trust_peer(a.node.node_id, fingerprint(a.config.owner_key))  # type: ignore[union-attr]
    timed_sync(b)
    missing = [i for i in pair.facts if b.index.get(i) is None]
    assert not missing, f"B lacks {missing} after trusting A"
    return pair


def open_pair(base: Path) -> Pair:
    return Pair(Vault.open(base / "a", home=base / "home-a", commit_delay=None),
                Vault.open(base / "b", home=base / "home-b", commit_delay=None))


def assert_team(vault: Vault, start: int, count: int, entities: int,
                progress: bool = False) -> tuple[list[str], float]:
    """A asserts ``count`` team facts (stream items start..start+count); ids and seconds."""
    ids = []
    began = time.perf_counter()
    for i in range(start, start + count):
        kwargs = spread_fact_kwargs(i, entities)
        kwargs["scope"] = "team"
        ids.append(vault.assert_fact(**kwargs).id)  # type: ignore[arg-type]
        if progress and (i - start + 1) % 10000 == 0:
            print(f"  A: {i - start + 1} facts, {time.perf_counter() - began:.0f} s", flush=True)
    vault.flush()
    return ids, time.perf_counter() - began


def arrived(b: Vault, ids: list[str]) -> int:
    """How many of ``ids`` B's index holds as valid facts."""
    found = 0
    for fact_id in ids:
        item = b.index.get(fact_id)
        found += item is not None and item.status == "valid"
    return found


# ---------------------------------------------------------------- the two cases


@dataclass
class Round:
    a_sync: Timed
    b_sync: Timed
    sent: int
    arrived: int
    b_facts: int
    assert_seconds: float = 0.0


def bulk_round(count: int, parent: Path | None) -> Round:
    with tempfile.TemporaryDirectory(prefix="stigmem-bench-fed-", dir=parent) as tmp:
        pair = make_pair(Path(tmp))
        try:
            ids, asserted = assert_team(pair.a, 1, count, spread_entities(count))
            a_sync = timed_sync(pair.a)
            b_sync = timed_sync(pair.b)
            return Round(a_sync, b_sync, count, arrived(pair.b, ids),
                         pair.b.index.counts()["facts"], asserted)
        finally:
            pair.close()


@contextlib.contextmanager
def big_pair(cache: Path, big: int, rebuild: bool) -> Iterator[Pair]:
    """A and B holding ``big`` team facts, synced (built once and cached)."""
    place = cache / f"fed-{big}"
    done = place / "complete"
    if rebuild or not done.exists():
        shutil.rmtree(place, ignore_errors=True)
        place.mkdir(parents=True)
        print(f"building two nodes with {big} synced team facts in {place} (cached) ...", flush=True)
        pair = make_pair(place)
        try:
            _ids, seconds = assert_team(pair.a, 1, big - 1, spread_entities(big), progress=True)
            print(f"  A asserted {big - 1} facts in {seconds:.0f} s", flush=True)
            pushed = timed_sync(pair.a)
            print(f"  A pushed them: {split(pushed)}", flush=True)
            initial = timed_sync(pair.b)
            print(f"  B's first sync of {initial.report.imported} facts: {split(initial)}",
                  flush=True)
        finally:
            pair.close()
        done.write_text(f"{big}\n")
    else:
        print(f"reusing cached nodes {place}", flush=True)
    pair = open_pair(place)
    try:
        for vault, name in ((pair.a, "A"), (pair.b, "B")):
            start = time.perf_counter()
            counts = vault.index.counts()
            print(f"  {name}: open + index check {time.perf_counter() - start:.2f} s, "
                  f"{counts['facts']:,} facts", flush=True)
        timed_sync(pair.a)  # settle whatever an interrupted earlier run left
        timed_sync(pair.b)
        yield pair
    finally:
        pair.close()


def small_rounds(pair: Pair, small: int, rounds: int, big: int) -> list[Round]:
    results = []
    entities = spread_entities(big)
    base = pair.a.index.counts()["facts"] + 1_000_000  # new stream items every run
    for rnd in range(rounds):
        ids, asserted = assert_team(pair.a, base + rnd * small, small, entities)
        a_sync = timed_sync(pair.a)
        b_sync = timed_sync(pair.b)
        fig = Round(a_sync, b_sync, small, arrived(pair.b, ids), pair.b.index.counts()["facts"],
                    asserted)
        results.append(fig)
        print(f"  round {rnd + 1} small  A sync {split(a_sync)}\n"
              f"                B sync {split(b_sync)}  imported {b_sync.report.imported}, "
              f"{fig.arrived}/{small} valid in B's index ({fig.b_facts:,} facts)", flush=True)
    return results


# ---------------------------------------------------------------- main


def summary(rounds: list[Round], which: str) -> tuple[str, float]:
    seconds = [getattr(r, which).seconds for r in rounds]
    mid = sorted(rounds, key=lambda r: getattr(r, which).seconds)[len(rounds) // 2]
    return (f"best {min(seconds):.2f} s   median {median(seconds):.2f} s   "
            f"(median round: {split(getattr(mid, which)).strip()})", median(seconds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=int, default=10000,
                        help="facts per bulk round (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="bulk rounds (default 3)")
    parser.add_argument("--big", type=int, default=100000,
                        help="facts the nodes already share for the small case (default 100000)")
    parser.add_argument("--small", type=int, default=10, help="facts per small round (10)")
    parser.add_argument("--small-rounds", type=int, default=5, help="small rounds (default 5)")
    parser.add_argument("--bulk-target", type=float, default=15.0,
                        help="seconds for B's sync of the bulk (default 15)")
    parser.add_argument("--small-target", type=float, default=1.0,
                        help="seconds for B's sync of the small change (default 1)")
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached big nodes")
    parser.add_argument("--cache", type=Path, default=OUT, help=f"cache folder (default {OUT})")
    parser.add_argument("--dir", type=Path, default=None,
                        help="parent for the bulk rounds' temp nodes (default: system temp)")
    args = parser.parse_args()
    start_load = load_note()

    bulk: list[Round] = []
    if not args.skip_bulk:
        for rnd in range(args.rounds):
            fig = bulk_round(args.facts, args.dir)
            bulk.append(fig)
            print(f"  round {rnd + 1} bulk   A asserted {fig.sent} in {fig.assert_seconds:.1f} s\n"
                  f"                A sync {split(fig.a_sync)}\n"
                  f"                B sync {split(fig.b_sync)}  imported "
                  f"{fig.b_sync.report.imported}, {fig.arrived}/{fig.sent} valid in B's index",
                  flush=True)
    small: list[Round] = []
    if not args.skip_small:
        with big_pair(args.cache, args.big, args.rebuild) as pair:
            small = small_rounds(pair, args.small, args.small_rounds, args.big)

    print(f"federation: two nodes, one bare git remote (local path), scope team "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; {start_load} at the start, "
          f"{load_note()} at the end)")
    rows: list[tuple[str, str]] = []
    targets: list[tuple[str, bool]] = []
    if bulk:
        text, b_median = summary(bulk, "b_sync")
        rows.append((f"B.sync: {args.facts:,} new facts", text))
        rows.append((f"A.sync: push {args.facts:,}", summary(bulk, "a_sync")[0]))
        targets.append((f"bulk: every fact arrives, valid and indexed ({args.facts:,} x "
                        f"{len(bulk)})", all(r.arrived == r.sent for r in bulk)))
        targets.append((f"B.sync of {args.facts:,} new facts <= {args.bulk_target:g} s "
                        "(median round)", b_median <= args.bulk_target))
    if small:
        text, s_median = summary(small, "b_sync")
        rows.append((f"B.sync: {args.small} new into {small[-1].b_facts:,}", text))
        rows.append((f"A.sync: push {args.small}", summary(small, "a_sync")[0]))
        targets.append((f"small: every fact arrives, valid and indexed ({args.small} x "
                        f"{len(small)})", all(r.arrived == r.sent for r in small)))
        targets.append((f"B.sync of {args.small} new facts into a {args.big:,}-fact vault <= "
                        f"{args.small_target:g} s (median round)", s_median <= args.small_target))
    table(rows)
    return check(targets)


if __name__ == "__main__":
    sys.exit(main())
