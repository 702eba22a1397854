"""Queries at scale: Vault.query(entity=...) and Vault.recall(text) on an N-fact vault.

    python bench/query_100k.py [--facts 100000] [--queries 300] [--rounds 3]
                               [--entity-p50 0.005] [--recall-p50 0.025] [--rebuild] [--cache DIR]

The vault (N facts over N/50 entities, 12 relations, 4 scopes, 3 sources; see
_common.spread_fact_kwargs) is built once through the API (signed, ~3-5 min for 100,000) and
cached under bench/out/ (gitignored) together with its index; the first run also indexes it
(reported, not part of the targets). Each round runs ``--queries`` entity queries (live facts of
one entity, varied entities) and ``--queries`` recall queries (1-3 words from the vocabulary,
varied), each timed on its own after a short warm-up. Best and median of the rounds' p50s are
reported.

Targets (issue): entity query p50 <= 5 ms, recall p50 <= 25 ms (median round). Exit 1 and
MISSED if missed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    OUT,
    VOCAB,
    cached_spread_vault,
    check,
    load_note,
    machine,
    median,
    percentile,
    spread_entities,
    spread_entity,
    table,
)

from stigmem_vault.api.vault import Vault


def timed(calls: list[Callable[[], list[object]]]) -> tuple[list[float], int]:
    """Seconds per call, and the total number of results."""
    seconds, results = [], 0
    for call in calls:
        start = time.perf_counter()
        got = call()
        seconds.append(time.perf_counter() - start)
        results += len(got)
    return seconds, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=int, default=100000, help="vault size (default 100000)")
    parser.add_argument("--queries", type=int, default=300, help="queries of each kind per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--entity-p50", type=float, default=0.005,
                        help="entity query p50 target, s (default 0.005)")
    parser.add_argument("--recall-p50", type=float, default=0.025,
                        help="recall p50 target, s (default 0.025)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached vault")
    parser.add_argument("--cache", type=Path, default=OUT, help=f"cache folder (default {OUT})")
    args = parser.parse_args()
    start_load = load_note()

    root, home = cached_spread_vault(args.cache, args.facts, args.rebuild)
    start = time.perf_counter()
    vault = Vault.open(root, home=home)
    index = vault.index
    first_access = time.perf_counter() - start
    counts = index.counts()
    print(f"Vault.open + first .index: {first_access:.2f} s"
          + (" (index built from nothing)" if index.rebuilt else " (cached index, up to date)")
          + f"; {counts['facts']:,} facts, {counts['live']:,} live, "
            f"{counts['open_conflicts']:,} open conflicts", flush=True)

    rng = random.Random(20261124)
    entities = spread_entities(args.facts)
    entity_args = [spread_entity(rng.randrange(entities)) for _ in range(args.queries)]
    recall_args = [" ".join(rng.sample(VOCAB, rng.randint(1, 3))) for _ in range(args.queries)]
    entity_calls = [lambda e=e: vault.query(entity=e) for e in entity_args]
    recall_calls = [lambda t=t: vault.recall(t) for t in recall_args]
    timed(entity_calls[:20])  # warm-up (page cache, statement cache)
    timed(recall_calls[:20])

    rounds: dict[str, list[tuple[list[float], int]]] = {"entity": [], "recall": []}
    for rnd in range(args.rounds):
        for name, calls in (("entity", entity_calls), ("recall", recall_calls)):
            seconds, results = timed(calls)
            rounds[name].append((seconds, results))
            print(f"  round {rnd + 1} {name:<6}  p50 {percentile(seconds, 50) * 1000:6.2f} ms  "
                  f"p99 {percentile(seconds, 99) * 1000:6.2f} ms  max {max(seconds) * 1000:6.2f} ms"
                  f"  {results / len(calls):5.1f} results/query", flush=True)
    vault.close()

    def summary(name: str) -> tuple[str, float]:
        p50s = [percentile(seconds, 50) for seconds, _ in rounds[name]]
        mid = sorted(rounds[name], key=lambda r: percentile(r[0], 50))[len(rounds[name]) // 2][0]
        return (f"p50 best {min(p50s) * 1000:6.2f} ms  median {median(p50s) * 1000:6.2f} ms   "
                f"(median round: p90 {percentile(mid, 90) * 1000:.2f} ms, p99 "
                f"{percentile(mid, 99) * 1000:.2f} ms, mean {sum(mid) / len(mid) * 1000:.2f} ms)",
                median(p50s))

    entity_text, entity_p50 = summary("entity")
    recall_text, recall_p50 = summary("recall")
    print(f"query_100k: {args.facts} facts ({entities} entities), {args.queries} queries of each "
          f"kind x {args.rounds} rounds ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; "
          f"{load_note()} at the end, {start_load} at the start)")
    table([
        ("Vault.query(entity=...)", f"{entity_text}   target p50 <= {args.entity_p50 * 1000:.0f} ms"),
        ("Vault.recall(text)", f"{recall_text}   target p50 <= {args.recall_p50 * 1000:.0f} ms"),
        ("results per query", f"entity {rounds['entity'][0][1] / args.queries:.1f}   recall "
                              f"{rounds['recall'][0][1] / args.queries:.1f} (limit 10)"),
    ])
    return check([(f"entity query p50 <= {args.entity_p50 * 1000:.0f} ms (median round)",
                   entity_p50 <= args.entity_p50),
                  (f"recall p50 <= {args.recall_p50 * 1000:.0f} ms (median round)",
                   recall_p50 <= args.recall_p50)])


if __name__ == "__main__":
    sys.exit(main())
