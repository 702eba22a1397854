"""Packing: repository size, 1-fact write + commit latency, and writer pauses during a repack.

    python bench/pack.py [--facts 100000] [--writes 100] [--rebuild]

On a copy of the cached spread vault of bench/_common.py (built through the API on first
use, under bench/out/, gitignored; every object loose, as commits write them):

1. the repository's size (``git count-objects -v`` style) and bytes per fact, as built (a
   vault built before background packing has every object loose; one built since is
   packed as it grew, with up to 6,700 loose objects);
2. 1-fact write + commit (``assert_fact`` then ``flush``) latency, as built;
3. the background repack the vault starts (``git repack -d -l``), with one writer making
   1-fact write + commit in a loop until it ends: the repack's duration and the longest
   writer pause (the slowest write + commit during it);
4. the size again, packed, and the 1-fact write + commit latency again;
5. a fresh ``git clone`` of the packed vault: its ``.git`` size and bytes per fact.

Targets (issue 13, at 1,000,000 facts; here reported at --facts): 1-fact write + commit
p50 <= 50 ms; repository <= 1 KB per fact.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    OUT,
    cached_spread_vault,
    check,
    machine,
    ms,
    percentile,
    spread_entities,
    spread_fact_kwargs,
    table,
)

from stigmem_vault.api.vault import Vault
from stigmem_vault.vault.git import GitRepo
from stigmem_vault.vault.packing import LOCK_NAME, RepoSize, repo_size

NEVER = 10**12  # a packing limit never reached: repacks only when this script says so


def du(path: Path) -> int:
    """Bytes on disk under ``path`` (``du -sb`` counts apparent sizes; blocks are what disks hold)."""
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return int(out.split()[0])


def one_write(vault: Vault, i: int, entities: int) -> float:
    start = time.perf_counter()
    vault.assert_fact(**spread_fact_kwargs(i, entities))  # type: ignore[arg-type]
    vault.flush()
    return time.perf_counter() - start


def size_rows(label: str, size: RepoSize, git_dir: Path, facts: int) -> list[tuple[str, str]]:
    on_disk = du(git_dir)
    return [
        (f"{label}: .git on disk", f"{on_disk / 2**20:.1f} MiB ({on_disk / facts:.0f} B/fact)"),
        (f"{label}: objects", f"{size.loose_objects} loose ({size.loose_bytes / 2**20:.1f} MiB), "
                              f"{size.packs} pack(s) of {size.packed_objects} "
                              f"({size.pack_bytes / 2**20:.1f} MiB)"),
    ]


def latency_rows(label: str, times: list[float]) -> list[tuple[str, str]]:
    return [(f"{label}: 1-fact write + commit p50 / p99 / max",
             f"{ms(percentile(times, 50))} / {ms(percentile(times, 99))} / {ms(max(times))}")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=int, default=100000, help="vault size (default 100000)")
    parser.add_argument("--writes", type=int, default=100, help="timed 1-fact writes per phase")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached vault")
    args = parser.parse_args()
    cached, home = cached_spread_vault(OUT, args.facts, args.rebuild)
    work = OUT / f"pack-{args.facts}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    root = work / "vault"
    print(f"copying the vault to {root} ...", flush=True)
    # A repack its builder started may still run (detached): the copy waits for its lock.
    lock = os.open(cached / ".git" / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["cp", "-a", str(cached), str(root)], check=True)
    finally:
        os.close(lock)
    git_dir = root / ".git"
    entities = spread_entities(args.facts)
    rows: list[tuple[str, str]] = [("machine", machine()), ("facts", str(args.facts))]
    rows += size_rows("as built", repo_size(git_dir), git_dir, args.facts)

    vault = Vault.open(root, home=home, commit_delay=None)
    git = vault._ctx.git  # the benchmark drives the packer itself
    assert isinstance(git, GitRepo)
    git.packer.loose_limit = git.packer.pack_limit = NEVER
    print("indexing (not timed) ...", flush=True)
    _ = vault.index
    n = args.facts
    loose = [one_write(vault, n + k, entities) for k in range(args.writes)]
    n += args.writes
    rows += latency_rows("as built", loose)

    git.packer.loose_limit = -1  # the next commit starts the repack, as over 6,700 loose would
    print("repacking while a writer writes ...", flush=True)
    start = time.perf_counter()
    during = [one_write(vault, n, entities)]
    n += 1
    git.packer.loose_limit = NEVER
    if not git.packer.running():
        raise SystemExit("the repack did not start")
    while git.packer.running():
        during.append(one_write(vault, n, entities))
        n += 1
    repack_seconds = time.perf_counter() - start
    if git.packer.wait() not in (0, None):
        raise SystemExit("the repack failed")
    rows += [("repack (background)", f"{repack_seconds:.1f} s, {len(during)} writes meanwhile")]
    rows += latency_rows("during repack", during)
    rows += size_rows("packed", repo_size(git_dir), git_dir, n)
    packed = [one_write(vault, n + k, entities) for k in range(args.writes)]
    n += args.writes
    rows += latency_rows("packed", packed)
    vault.close()

    clone = work / "clone"
    start = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--no-local", "--no-checkout", str(root), str(clone)],
                   check=True)
    rows += [("fresh clone", f"{du(clone / '.git') / 2**20:.1f} MiB "
                             f"({du(clone / '.git') / n:.0f} B/fact), "
                             f"{time.perf_counter() - start:.1f} s")]
    fsck = subprocess.run(["git", "-C", str(root), "fsck", "--no-dangling"], capture_output=True,
                          text=True)
    rows += [("git fsck (packed vault)", "clean" if fsck.returncode == 0 else fsck.stderr[:200])]
    table(rows)
    (OUT / f"pack-{args.facts}.json").write_text(json.dumps(dict(rows), indent=2) + "\n")
    return check([
        ("1-fact write + commit p50 <= 50 ms (packed)", percentile(packed, 50) <= 0.050),
        ("repository <= 1 KB per fact (packed)", du(git_dir) <= 1024 * n),
        ("git fsck clean", fsck.returncode == 0),
    ])


if __name__ == "__main__":
    sys.exit(main())
