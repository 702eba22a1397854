"""Cold index of an N-fact vault with Vault.reindex(), beside the bare cost of the same work.

    python bench/index_cold.py [--facts 20000] [--rounds 5] [--target 3000] [--ratio 1.0]
                               [--alone] [--rebuild] [--cache DIR]

The vault (many entities, see _common.spread_fact_kwargs) is built once through the API and
cached under bench/out/ (gitignored). In one process, each round times

* ours: ``Vault.reindex()`` (the index file deleted, then every fact file read, hashed, parsed,
  verified and indexed: facts, file states, FTS, liveness and conflicts; the reading and
  verifying on a pool of worker processes, one per core, watch/records.py), and
* bare: only the unavoidable work: read each file, split the frontmatter by hand, parse it with
  libyaml (CSafeLoader), rebuild the canonical bytes with json.dumps, check the Ed25519
  signature with PyNaCl, INSERT one row into a plain SQLite table, 1,000 rows per transaction.

With ``--alone``, each round also times ``Vault.reindex()`` reading every file in this process
(no pool: the way before issue 13), for a before/after in one run. Rounds alternate which runs
first; best and median are reported so noise is visible. Targets
(issue 13): ours >= 3,000 facts/s (median, wall clock) and ours/bare >= 1.0 by wall clock (the
ratio of the medians): ours uses every core, the bare loop one, so the wall clock is what
compares them. Rates by CPU time are shown too (ours: this process's and its workers'), which
load barely moves: on a loaded machine, the kernel's autogroup scheduling shares the CPU between
sessions, not processes, so a pool's extra processes get no more CPU than one would there.
Exit status 1 (and MISSED) if a target is missed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    OUT,
    bare_signed_body,
    cached_spread_vault,
    check,
    load_note,
    machine,
    median,
    table,
)
from nacl.signing import VerifyKey

from stigmem_vault.api.vault import Vault
from stigmem_vault.watch import records

BATCH = 1000
_PLAIN = """CREATE TABLE facts (id TEXT, entity TEXT, relation TEXT, value_type TEXT, value TEXT,
                                source TEXT, hlc TEXT, timestamp TEXT, confidence REAL, trust TEXT,
                                scope TEXT, signer TEXT, signature TEXT, path TEXT)"""


def bare(root: Path, db_path: Path) -> int:
    """Read, parse, rebuild canonical bytes, verify, insert a row: nothing else."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")  # the same pragmas as the real index
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(_PLAIN)
    keys: dict[str, VerifyKey] = {}
    rows: list[tuple[object, ...]] = []
    count = 0
    base = str(root) + os.sep
    for dirpath, _dirs, names in os.walk(root / "facts"):
        for name in names:
            if not name.endswith(".md"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            props, body = bare_signed_body(text)
            vtype = props["value_type"]
            value = props.get("value_" + vtype)
            signer = props["signer"]
            key = keys.get(signer)
            if key is None:
                key = keys[signer] = VerifyKey(base64.urlsafe_b64decode(signer[8:] + "=="))
            key.verify(body, base64.urlsafe_b64decode(props["signature"] + "=="))  # raises if bad
            rows.append((props["id"], props["entity"], props["relation"], vtype, json.dumps(value),
                         props["source"], props["hlc"], props["timestamp"], props["confidence"],
                         props["trust"], props["scope"], signer, props["signature"],
                         path[len(base):]))
            count += 1
            if len(rows) >= BATCH:
                _insert(conn, rows)
                rows = []
    _insert(conn, rows)
    conn.close()
    return count


def _insert(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO facts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("COMMIT")


def ours(vault: Vault, facts: int) -> int:
    report = vault.reindex()
    if report.problems:
        raise SystemExit(f"the benchmark vault has problems: {report.problems[:3]}")
    if report.indexed != facts:
        raise SystemExit(f"reindex indexed {report.indexed} fact files, expected {facts}")
    return report.indexed


def alone(vault: Vault, facts: int) -> int:
    """``ours`` with every file read in this process (no pool of workers)."""
    pool_size = records.pool_size
    records.pool_size = lambda files: 0  # type: ignore[assignment]
    try:
        return ours(vault, facts)
    finally:
        records.pool_size = pool_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=int, default=20000, help="vault size (default 20000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of each (default 5)")
    parser.add_argument("--target", type=float, default=3000.0,
                        help="Vault.reindex() facts/s to reach (default 3000)")
    parser.add_argument("--ratio", type=float, default=1.0,
                        help="ours/bare wall-clock rate ratio to reach (default 1.0)")
    parser.add_argument("--alone", action="store_true",
                        help="also time the reindex without a pool (before/after in one run)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached vault")
    parser.add_argument("--cache", type=Path, default=OUT, help=f"cache folder (default {OUT})")
    args = parser.parse_args()
    start_load = load_note()

    root, home = cached_spread_vault(args.cache, args.facts, args.rebuild)
    start = time.perf_counter()
    vault = Vault.open(root, home=home)
    open_seconds = time.perf_counter() - start
    names = ["ours", "bare", *(["alone"] if args.alone else [])]
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}  # by this process's CPU time
    with tempfile.TemporaryDirectory(prefix="stigmem-bench-") as tmp:
        db_path = Path(tmp) / "bare.sqlite3"
        runs = {"ours": lambda: ours(vault, args.facts), "bare": lambda: bare(root, db_path),
                "alone": lambda: alone(vault, args.facts)}
        for rnd in range(args.rounds):
            for name in names if rnd % 2 == 0 else names[::-1]:
                start, cpu_start = time.perf_counter(), time.process_time()
                workers_start = records.worker_cpu_seconds
                count = runs[name]()
                seconds = time.perf_counter() - start
                # Ours: this process's CPU time and its pool workers'.
                cpu_seconds = (time.process_time() - cpu_start
                               + records.worker_cpu_seconds - workers_start)
                if count != args.facts:
                    raise SystemExit(f"{name}: handled {count} files, expected {args.facts}")
                rates[name].append(count / seconds)
                cpu[name].append(count / cpu_seconds)
                print(f"  round {rnd + 1} {name:<5}  {seconds:6.2f} s  {count / seconds:8,.0f} facts/s"
                      f"   (CPU {cpu_seconds:6.2f} s  {count / cpu_seconds:8,.0f} facts/s)", flush=True)
    counts = vault.index.counts()
    vault.close()

    best = {name: max(values) for name, values in rates.items()}
    med = {name: median(values) for name, values in rates.items()}
    ratio_best, ratio_med = best["ours"] / best["bare"], med["ours"] / med["bare"]
    cpu_ratio = median(cpu["ours"]) / median(cpu["bare"])
    print(f"index_cold: {args.facts} facts, {args.rounds} rounds "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; "
          f"{load_note()} at the end, {start_load} at the start)")
    table([
        ("Vault.reindex()", f"best {best['ours']:8,.0f} facts/s   median {med['ours']:8,.0f} facts/s"
                            f"   (target >= {args.target:,.0f})"),
        ("bare loop", f"best {best['bare']:8,.0f} facts/s   median {med['bare']:8,.0f} facts/s"),
        ("ours/bare", f"best {ratio_best:8.2f}          median {ratio_med:8.2f}          "
                      f"(wall-clock rate ratio; target >= {args.ratio:.2f})"),
        *([("no pool (--alone)", f"best {best['alone']:8,.0f} facts/s   median {med['alone']:8,.0f} "
                                 f"facts/s   ours/bare {med['alone'] / med['bare']:.2f} (medians), "
                                 f"CPU {median(cpu['alone']):8,.0f} facts/s")] if args.alone else []),
        ("by CPU time (all processes)", f"ours median {median(cpu['ours']):8,.0f} facts/s   bare median "
                                        f"{median(cpu['bare']):8,.0f} facts/s   ratio {cpu_ratio:.2f}"
                                        "   (ours: this process and its pool's workers)"),
        ("Vault.open (not timed above)", f"{open_seconds * 1000:.0f} ms"),
        ("index after", f"{counts['facts']:,} facts, {counts['live']:,} live, "
                        f"{counts['open_conflicts']:,} open conflicts, {counts['files']:,} files"),
    ])
    return check([(f"Vault.reindex() >= {args.target:,.0f} facts/s (median)",
                   med["ours"] >= args.target),
                  (f"ours/bare >= {args.ratio:.2f} (medians, wall clock)", ratio_med >= args.ratio)])


if __name__ == "__main__":
    sys.exit(main())
