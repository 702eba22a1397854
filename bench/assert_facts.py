"""Assert N varied facts through the Python API: signed, fsynced, committed in default batches.

    python bench/assert_facts.py [--facts 5000] [--rounds 3] [--target 500] [--dir PARENT]

Each round asserts into a fresh vault; best and median are reported so noise is visible.
Target (issue): 5,000 facts at >= 500 facts/s (median round). Exit status 1 (and MISSED) if it is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import check, commit_count, fact_kwargs, machine, median, new_vault, percentile, table

from stigmem_vault.api.vault import Vault


def one_round(stream: list[dict[str, object]], parent: Path | None) -> dict[str, object]:
    """Assert the stream into a fresh vault; return its figures."""
    with tempfile.TemporaryDirectory(prefix="stigmem-bench-", dir=parent) as tmp:
        root, home = Path(tmp) / "vault", Path(tmp) / "home"
        vault = new_vault(root, home)
        commits_before = commit_count(root)
        latencies = []
        start, cpu_start = time.perf_counter(), time.process_time()
        for kwargs in stream:
            t0 = time.perf_counter()
            vault.assert_fact(**kwargs)
            latencies.append(time.perf_counter() - t0)
        vault.close()  # commits what is pending: part of the measured work
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        with Vault.open(root, home=home) as reopened:  # every fact written must verify
            report = reopened.verify()
        return {"seconds": total, "cpu": cpu, "rate": len(stream) / total, "latencies": latencies,
                "commits": commit_count(root) - commits_before, "ok": report.ok,
                "valid": report.counts()["valid"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=int, default=5000, help="facts to assert (default 5000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each a fresh vault (default 3)")
    parser.add_argument("--target", type=float, default=500.0, help="facts/s to reach (default 500)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="parent for the temp vaults and STIGMEM_HOME (default: system temp)")
    args = parser.parse_args()

    stream = [fact_kwargs(i) for i in range(args.facts)]  # built before the clock starts
    rounds = []
    for rnd in range(args.rounds):
        fig = one_round(stream, args.dir)
        rounds.append(fig)
        lat = fig["latencies"]
        print(f"  round {rnd + 1}  {fig['seconds']:6.2f} s  {fig['rate']:6,.0f} facts/s  "
              f"{fig['commits']} commits  p50 {percentile(lat, 50) * 1000:.2f} ms  "
              f"p99 {percentile(lat, 99) * 1000:.2f} ms  max {max(lat) * 1000:.0f} ms  "
              f"(cpu {fig['cpu']:.2f} s)", flush=True)

    rates = [fig["rate"] for fig in rounds]
    mid = sorted(rounds, key=lambda fig: fig["rate"])[len(rounds) // 2]  # the median round
    ok = all(fig["ok"] and fig["valid"] == args.facts for fig in rounds)
    print(f"assert_facts: {args.facts} facts via Vault.assert_fact, {args.rounds} rounds "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()})")
    table([
        ("rate", f"best {max(rates):,.0f} facts/s   median {median(rates):,.0f} facts/s   "
                 f"(target >= {args.target:,.0f})"),
        ("total (median round)", f"{mid['seconds']:.2f} s, including the final commit "
                                 f"({mid['cpu']:.2f} s CPU; the rest is fsync and disk waits)"),
        ("commits (median round)", f"{mid['commits']} (default batching: every 256 writes or 0.5 s)"),
        ("latency (median round)", f"p50 {percentile(mid['latencies'], 50) * 1000:.2f} ms   "
                                   f"p99 {percentile(mid['latencies'], 99) * 1000:.2f} ms"),
        ("check", "every fact written verifies" if ok else "SOME FACTS DO NOT VERIFY"),
    ])
    return check([(f"assert >= {args.target:,.0f} facts/s (median)", median(rates) >= args.target),
                  ("every written fact verifies", ok)])


if __name__ == "__main__":
    sys.exit(main())
