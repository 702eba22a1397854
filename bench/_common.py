"""Helpers shared by the benchmarks: a private STIGMEM_HOME, varied facts, figures, targets."""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

import pygit2
import yaml

from stigmem_vault.api.vault import Vault

OUT = Path(__file__).resolve().parent / "out"  # gitignored cache

SOURCES = ("user:alice", "agent:codex", "agent:claude")  # the owner plus two agent identities
ENTITIES = ("user:alice", "user:bob", "user:carol", "project:atlas", "project:hermes",
            "service:billing-api", "service:search", "repo:stigmem-vault", "team:platform",
            "stigmem://acme/doc/runbooks/deploy")
SCOPES = ("local", "team", "team", "company", "public")
TRUST = ("observed", "inferred", "reported", "stale-risk")
WORDS = ("deploy", "latency", "owner", "postgres", "retry", "rollback", "cache", "migration",
         "on-call", "budget", "schema", "incident", "review", "release", "quota", "café")


def fact_kwargs(i: int) -> dict[str, object]:
    """The i-th fact of a varied, realistic stream (every value type, scope and source)."""
    word, other = WORDS[i % len(WORDS)], WORDS[(i * 7 + 3) % len(WORDS)]
    kind = i % 8
    if kind == 0:
        relation, value, vtype = "memory:role", f"{word} lead", "string"
    elif kind == 1:
        relation, value, vtype = "metric:p95-latency-ms", round(12.5 + (i % 997) * 0.37, 2), "number"
    elif kind == 2:
        relation, value, vtype = "project:active", i % 3 != 0, "boolean"
    elif kind == 3:
        relation, value, vtype = "event:last-deploy", f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T" \
            f"{i % 24:02d}:{i % 60:02d}:00Z", "datetime"
    elif kind == 4:
        relation, value, vtype = "graph:depends-on", ENTITIES[(i + 3) % len(ENTITIES)], "ref"
    elif kind == 5:
        relation, vtype = "memory:note", "text"
        value = (f"The {word} step failed twice during the {other} window.\n"
                 f"Next time: check the {other} dashboard first (run #{i}).")
    elif kind == 6:
        relation, value, vtype = "task:count-open", i % 41, "number"
    else:
        relation, value, vtype = "memory:preference", None, "null"
    return {
        "entity": ENTITIES[i % len(ENTITIES)],
        "relation": relation,
        "value": value,
        "value_type": vtype,
        "source": SOURCES[i % len(SOURCES)],
        "confidence": (1.0, 0.9, 0.75, 0.5)[i % 4],
        "trust": TRUST[i % len(TRUST)],
        "scope": SCOPES[i % len(SCOPES)],
    }


def new_vault(root: Path, home: Path) -> Vault:
    """A fresh vault owned by user:alice with agent identities; keys only in ``home``."""
    os.environ["STIGMEM_HOME"] = str(home)  # never the developer's real keys
    vault = Vault.init(root, owner="user:alice", home=home)
    for source in SOURCES[1:]:
        vault.create_identity(source)
    return vault


def commit_count(root: Path) -> int:
    repo = pygit2.Repository(str(root))
    return 0 if repo.head_is_unborn else sum(1 for _ in repo.walk(repo.head.target))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores (shared), Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def table(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def check(targets: list[tuple[str, bool]]) -> int:
    """Print each target's outcome; return the exit status (1 if any was missed)."""
    missed = [name for name, ok in targets if not ok]
    for name, ok in targets:
        print(f"{'ok    ' if ok else 'MISSED'}  {name}")
    sys.stdout.flush()
    return 1 if missed else 0


# ---------------------------------------------------------------- added for the index/watch/query
# benchmarks (index_cold.py, startup.py, watch_latency.py, query_100k.py)

VOCAB = ("deploy", "latency", "owner", "postgres", "retry", "rollback", "cache", "migration",
         "on-call", "budget", "schema", "incident", "review", "release", "quota", "café",
         "kafka", "ingress", "dns", "certificate", "backup", "restore", "replica", "shard",
         "index", "vacuum", "timeout", "throttle", "canary", "feature", "flag", "alert",
         "pager", "dashboard", "runbook", "postmortem", "capacity", "forecast", "invoice",
         "refund", "checkout", "search", "ranking", "embedding", "tokenizer", "gateway",
         "auth", "session", "cookie", "oauth", "secret", "rotation", "terraform", "helm",
         "kubernetes", "node", "pod", "autoscaler", "cpu", "memory", "disk", "network",
         "packet", "firewall", "vpn", "audit", "compliance", "gdpr", "retention", "archive",
         "export", "import", "webhook", "queue", "worker", "scheduler", "cron", "batch",
         "stream", "lag", "offset", "partition", "leader", "election", "quorum", "raft",
         "snapshot", "compaction", "bloom", "filter", "histogram", "percentile", "sla", "slo",
         "error-budget", "hotfix", "branch", "merge", "pipeline", "artifact", "registry",
         "mirror", "proxy", "tls", "handshake", "latte", "naïve", "résumé", "zürich")
KINDS = ("user", "project", "service", "repo", "team")
# (relation, value type): single-valued unless a schema says otherwise (none does here)
RELATIONS = (("memory:role", "string"), ("metric:p95-latency-ms", "number"),
             ("project:active", "boolean"), ("event:last-deploy", "datetime"),
             ("graph:depends-on", "ref"), ("memory:note", "text"),
             ("task:count-open", "number"), ("memory:preference", "string"),
             ("graph:owned-by", "ref"), ("memory:summary", "text"),
             ("service:region", "string"), ("metric:error-rate", "number"))
SCOPE_WEIGHTS = (("team", 5), ("local", 2), ("company", 2), ("public", 1))


def spread_entity(n: int) -> str:
    return f"{KINDS[n % len(KINDS)]}:{VOCAB[n % len(VOCAB)]}-{n}"


def spread_fact_kwargs(i: int, entities: int) -> dict[str, object]:
    """The i-th fact of a stream spread over ``entities`` entities (deterministic).

    Unlike ``fact_kwargs`` (10 entities), facts land on many (entity, relation, scope) keys;
    most facts about a key agree (so conflicts stay rare, as in real use) and a few revise it.
    """
    rng = random.Random(i * 2_654_435_761 + 12345)
    e = rng.randrange(entities)
    relation, vtype = RELATIONS[rng.randrange(len(RELATIONS))]
    revision = 0 if rng.random() < 0.9 else rng.randrange(1, 4)
    vrng = random.Random(f"{e}/{relation}/{revision}")  # the value depends on the key + revision
    words = [VOCAB[vrng.randrange(len(VOCAB))] for _ in range(12)]
    value: object
    if vtype == "string":
        value = f"{words[0]} {words[1]}"
    elif vtype == "number":
        value = round(vrng.uniform(0, 500), 2) if "metric" in relation else vrng.randrange(60)
    elif vtype == "boolean":
        value = vrng.random() < 0.7
    elif vtype == "datetime":
        value = (f"2026-{vrng.randrange(1, 13):02d}-{vrng.randrange(1, 29):02d}T"
                 f"{vrng.randrange(24):02d}:{vrng.randrange(60):02d}:00Z")
    elif vtype == "ref":
        value = spread_entity(vrng.randrange(entities))
    else:
        value = (f"The {words[2]} step failed twice during the {words[3]} window; "
                 f"{words[4]} and {words[5]} were involved.\n"
                 f"Next time: check the {words[6]} {words[7]} first, then {words[8]}.")
    scope = rng.choices([s for s, _ in SCOPE_WEIGHTS], [w for _, w in SCOPE_WEIGHTS])[0]
    return {
        "entity": spread_entity(e),
        "relation": relation,
        "value": value,
        "value_type": vtype,
        "source": SOURCES[rng.randrange(len(SOURCES))],
        "confidence": (1.0, 1.0, 0.9, 0.75, 0.5)[rng.randrange(5)],
        "trust": TRUST[rng.randrange(len(TRUST))],
        "scope": scope,
    }


def spread_entities(facts: int) -> int:
    """How many entities a spread vault of ``facts`` facts has (about 50 facts each)."""
    return max(10, facts // 50)


def cached_spread_vault(cache: Path, facts: int, rebuild: bool = False) -> tuple[Path, Path]:
    """(vault, home) of a cached spread vault of ``facts`` facts, built through the API if missing.

    Lives in ``cache/spread-<facts>/`` (bench/out/ is gitignored) with its private keys, so later
    runs and the other scripts reuse it. The index is not built here.
    """
    place = cache / f"spread-{facts}"
    root, home, done = place / "vault", place / "home", place / "complete"
    if done.exists() and not rebuild:
        print(f"reusing cached vault {root}", flush=True)
        os.environ["STIGMEM_HOME"] = str(home)
        return root, home
    shutil.rmtree(place, ignore_errors=True)
    place.mkdir(parents=True)
    print(f"building a {facts}-fact vault in {root} through the API (cached for later runs) ...",
          flush=True)
    entities = spread_entities(facts)
    start = time.perf_counter()
    with new_vault(root, home) as vault:
        for i in range(facts):
            vault.assert_fact(**spread_fact_kwargs(i, entities))
            if (i + 1) % 10000 == 0:
                print(f"  {i + 1} facts, {time.perf_counter() - start:.0f} s", flush=True)
    print(f"built in {time.perf_counter() - start:.1f} s", flush=True)
    done.write_text(f"{facts}\n")
    return root, home


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def load_note() -> str:
    """The machine's 1-minute load average: other work on a shared machine skews the figures."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def bare_signed_body(text: str) -> tuple[dict[str, object], bytes]:
    """The bare baseline's read of a fact file: its properties (libyaml) and the bytes its
    signature covers, rebuilt with json.dumps, not with stigmem's own code."""
    props = yaml.load(text[4:text.index("\n---\n", 3)], Loader=yaml.CSafeLoader)
    vtype = props["value_type"]
    value = props.get("value_" + vtype)
    if isinstance(value, float) and value.is_integer():  # RFC 8785 writes 285.0 as 285
        value = int(value)
    body = json.dumps({
        "format": props["format"], "entity": props["entity"], "relation": props["relation"],
        "value": {"type": vtype, "v": value},
        "source": props["source"], "hlc": props["hlc"], "timestamp": props["timestamp"],
        "confidence": props["confidence"], "trust": props["trust"],
        "scope": props["scope"], "valid_until": props.get("valid_until"),
        "supersedes": props.get("supersedes"),
        "derived_from": props.get("derived_from") or [], "signer": props["signer"],
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return props, body

