"""Watcher latency: from a fact file landing (written by another process) to it being queryable.

    python bench/watch_latency.py [--writes 200] [--interval 0.025] [--mode both|api|files]
                                  [--facts 20000] [--p50 0.05] [--p99 0.25] [--cache DIR]

A copy of the cached N-fact vault of bench/index_cold.py (``--facts 0``: a fresh empty vault;
fact files and git objects hard-linked, as stigmem never changes them in place) and of its keys
goes into a temp folder with its own STIGMEM_HOME. This process opens it, brings the index up to
date and starts ``vault.watch(on_change=...)``. A separate writer process then
writes ``--writes`` new signed facts, one every ``--interval`` seconds, and records time.time()
just before each write:

* ``api``:   its own ``Vault`` on the same vault, ``assert_fact`` (signed, fsynced, committed by
             its timer); the time is taken before the call, so signing and fsync count as latency.
* ``files``: facts signed and rendered beforehand, each written to a dot-temp file in its folder,
             then timed around ``os.replace`` into place (an atomic land, as sync tools do).

In this process the on_change callback looks each reported fact id up with ``vault.index.get``
and records time.time() once it is there; latency = that time - the writer's time. A writer
through the API indexes its facts itself, into the index both processes share, so the watcher
reports nothing for them: such a fact (queryable here, never reported) counts as queryable
when the writer's call returned, its latency that call's. A fact not queryable within
``--timeout`` seconds of the last write counts as missed.

Targets (issue): p50 <= 50 ms and p99 <= 250 ms, per mode. Exit status 1 (and MISSED) if missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    OUT,
    cached_spread_vault,
    check,
    load_note,
    machine,
    new_vault,
    percentile,
    spread_entities,
    spread_fact_kwargs,
    table,
)

from stigmem_vault.api.vault import Vault

MODES = ("api", "files")


# ------------------------------------------------------------------ the writer process

def writer(args: argparse.Namespace) -> int:
    """Write ``args.writes`` facts at a steady pace; dump [(id, t_before, t_after)] as JSON."""
    from stigmem_vault.canonical.signing import format_timestamp, sign_claim
    from stigmem_vault.model.fact import make_claim
    from stigmem_vault.vault import markdown
    from stigmem_vault.vault.layout import fact_relpath

    vault = Vault.open(args.root, home=args.home)
    stream = [spread_fact_kwargs(args.first + k, args.entities) for k in range(args.writes)]
    staged: list[tuple[str, Path, Path]] = []  # files mode: (id, temp file, final path)
    if args.writer == "files":
        for kwargs in stream:
            claim = make_claim(**{k: v for k, v in kwargs.items() if k not in ("value", "value_type")},
                               value=_typed(kwargs))
            key = vault.signing_key_for(claim.source)
            assert vault.clock is not None
            fact = sign_claim(claim, vault.clock.now(), format_timestamp(datetime.now(UTC)), key)
            final = vault.root / fact_relpath(fact)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.parent / f".{final.name}.bench.tmp"  # ignored by the watcher's filter
            tmp.write_bytes(markdown.render(fact).encode("utf-8"))
            staged.append((fact.id, tmp, final))
        time.sleep(1.0)  # let the watcher settle after the new folders and temp files
    times: list[tuple[str, float, float]] = []
    start = time.monotonic()
    for k in range(args.writes):
        delay = start + k * args.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if args.writer == "api":
            before = time.time()
            fact = vault.assert_fact(**stream[k])  # type: ignore[arg-type]
            times.append((fact.id, before, time.time()))
        else:
            fid, tmp, final = staged[k]
            before = time.time()
            os.replace(tmp, final)
            times.append((fid, before, time.time()))
    vault.close()
    Path(args.out).write_text(json.dumps(times))
    return 0


def _typed(kwargs: dict[str, object]) -> object:
    from stigmem_vault.model.values import make_value

    return make_value(str(kwargs["value_type"]), kwargs["value"])


# ------------------------------------------------------------------ the watching process

# Files stigmem never changes in place (it writes a new file and renames it over): hard-linked
# into the copy, which is then quick. Everything else (the SQLite index, git's index and refs,
# the clock) is copied, so the cached vault is never touched.
LINKED = ("facts/", "conflicts/", ".git/objects/")


def copy_vault(src: Path, dst: Path) -> None:
    def copy(source: str, target: str) -> None:
        if os.path.relpath(source, src).replace(os.sep, "/").startswith(LINKED):
            os.link(source, target)
        else:
            shutil.copy2(source, target)

    shutil.copytree(src, dst, symlinks=True, copy_function=copy)


def measure(vault: Vault, root: Path, home: Path, mode: str, first: int, args: argparse.Namespace,
            entities: int, tmp: Path) -> dict[str, object]:
    seen: dict[str, float] = {}
    done = threading.Event()
    errors: list[str] = []

    def on_change(changes: list[object]) -> None:
        for change in changes:
            fid = getattr(change, "fact_id", None)
            if fid and fid not in seen and vault.index.get(fid) is not None:
                seen[fid] = time.time()
        if len(seen) >= args.writes:
            done.set()

    watcher = vault.watch(on_change=on_change, on_error=lambda exc: errors.append(repr(exc)))
    try:
        out = tmp / f"writer-{mode}.json"
        cmd = [sys.executable, __file__, "--writer", mode, "--root", str(root), "--home", str(home),
               "--first", str(first), "--writes", str(args.writes), "--interval", str(args.interval),
               "--entities", str(entities), "--out", str(out)]
        subprocess.run(cmd, check=True, env={**os.environ, "STIGMEM_HOME": str(home)})
        times = json.loads(out.read_text())
        deadline = time.monotonic() + args.timeout
        while len([1 for fid, _, _ in times if fid in seen]) < len(times) \
                and time.monotonic() < deadline:
            if all(fid in seen or vault.index.get(fid) is not None for fid, _, _ in times):
                break
            time.sleep(0.05)
    finally:
        watcher.stop()
    # A writer through the API indexes what it writes into the index the watching process
    # shares (one SQLite file per vault): the fact is queryable when its call returns, and
    # the watcher then finds nothing left to do, so it reports no change for it. Its latency
    # is the writer's own call.
    by_writer = {fid for fid, _, _ in times if fid not in seen and vault.index.get(fid) is not None}
    latencies = [seen[fid] - before if fid in seen else after - before
                 for fid, before, after in times if fid in seen or fid in by_writer]
    calls = [after - before for _, before, after in times]
    return {"latencies": latencies, "missed": len(times) - len(latencies), "calls": calls,
            "errors": errors, "by_writer": len(by_writer)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=200, help="facts written per mode (default 200)")
    parser.add_argument("--interval", type=float, default=0.025,
                        help="seconds between writes (default 0.025, i.e. 40 writes/s)")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both",
                        help="how the other process writes (default both)")
    parser.add_argument("--facts", type=int, default=20000,
                        help="size of the cached vault to copy (default 20000; 0 = empty vault)")
    parser.add_argument("--p50", type=float, default=0.050, help="p50 target, s (default 0.050)")
    parser.add_argument("--p99", type=float, default=0.250, help="p99 target, s (default 0.250)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait after the last write (default 10)")
    parser.add_argument("--cache", type=Path, default=OUT, help=f"cache folder (default {OUT})")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temp folder")
    # the writer process (internal)
    parser.add_argument("--writer", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--entities", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    start_load = load_note()
    if args.writer:
        return writer(args)

    modes = MODES if args.mode == "both" else (args.mode,)
    entities = spread_entities(args.facts or 500)
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="stigmem-bench-", dir=args.dir) as tmp_name:
        tmp = Path(tmp_name)
        root, home = tmp / "vault", tmp / "home"
        if args.facts:
            src_root, src_home = cached_spread_vault(args.cache, args.facts)
            start = time.perf_counter()
            copy_vault(src_root, root)
            shutil.copytree(src_home, home, symlinks=True)
            print(f"copied the vault and its keys to {tmp} in {time.perf_counter() - start:.1f} s",
                  flush=True)
            os.environ["STIGMEM_HOME"] = str(home)
        else:
            new_vault(root, home).close()
        vault = Vault.open(root, home=home)
        start = time.perf_counter()
        report = vault.refresh()
        print(f"index up to date ({report.indexed} files indexed) in "
              f"{time.perf_counter() - start:.2f} s", flush=True)
        for n, mode in enumerate(modes):
            fig = measure(vault, root, home, mode, args.facts + n * args.writes, args, entities, tmp)
            results[mode] = fig
            lat = fig["latencies"]
            print(f"  {mode:<5}  {len(lat)} seen ({fig['by_writer']} indexed by the writer"
                  f" itself), {fig['missed']} missed"
                  + (f"  p50 {percentile(lat, 50) * 1000:.1f} ms  p99 {percentile(lat, 99) * 1000:.1f}"
                     f" ms  max {max(lat) * 1000:.1f} ms" if lat else "")
                  + (f"  watcher errors: {fig['errors'][:3]}" if fig["errors"] else ""), flush=True)
        vault.close()

    print(f"watch_latency: {args.writes} writes per mode, one every {args.interval * 1000:.0f} ms, "
          f"into a {args.facts}-fact vault ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; "
          f"{load_note()} at the end, {start_load} at the start)")
    rows, targets = [], []
    for mode, fig in results.items():
        lat = sorted(fig["latencies"])  # type: ignore[arg-type]
        calls = fig["calls"]
        if lat:
            rows.append((f"{mode}: land -> queryable",
                         f"p50 {percentile(lat, 50) * 1000:6.1f} ms   p90 {percentile(lat, 90) * 1000:6.1f}"
                         f" ms   p99 {percentile(lat, 99) * 1000:6.1f} ms   max {lat[-1] * 1000:6.1f} ms"
                         f"   ({len(lat)} of {len(lat) + fig['missed']} seen,"
                         f" {fig['by_writer']} indexed by the writer itself)"))
        else:
            rows.append((f"{mode}: land -> queryable", "nothing seen"))
        rows.append((f"{mode}: writer's own call",
                     f"p50 {percentile(calls, 50) * 1000:6.2f} ms   p99 "  # type: ignore[arg-type]
                     f"{percentile(calls, 99) * 1000:6.2f} ms   (included above)"))  # type: ignore[arg-type]
        ok = bool(lat) and not fig["missed"]
        targets.append((f"{mode}: p50 <= {args.p50 * 1000:.0f} ms",
                        ok and percentile(lat, 50) <= args.p50))
        targets.append((f"{mode}: p99 <= {args.p99 * 1000:.0f} ms",
                        ok and percentile(lat, 99) <= args.p99))
        targets.append((f"{mode}: every write seen, no watcher error", ok and not fig["errors"]))
    table(rows)
    return check(targets)


if __name__ == "__main__":
    sys.exit(main())
