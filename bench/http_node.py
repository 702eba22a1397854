"""The HTTP node under load: POST /v1/facts with 1 and 8 clients; GET /v1/facts and POST /v1/recall
on an N-fact vault. The node runs as its own process (`stigmem serve`), driven over loopback.

    python bench/http_node.py [--facts 2000] [--clients 1,8] [--rounds 3] [--auth token]
                              [--read-facts 100000] [--queries 300] [--recall-limits 10,default]
                              [--write-rate 400] [--write-p99 0.1] [--entity-p50 0.005]
                              [--recall-p50 0.025] [--skip-writes] [--skip-reads] [--dir PARENT]
                              [--cache DIR] [--client stdlib|httpx] [--clean]

Writes: each round and client count gets a fresh vault (user:alice plus agent:codex and
agent:claude, keys in a private STIGMEM_HOME) served by `stigmem serve --auth token --read-rate 0
--write-rate 0` (rate limits off) on 127.0.0.1; one bearer token per source, so every write
passes enforced source attestation. ``--facts`` facts (_common.spread_fact_kwargs: many entities,
every value type and scope) are split over C client threads, each with its own keep-alive
connection (``--client``: the standard library's http.client by default, which costs the shared
CPU about a fifth of what httpx does per request; or httpx); every response must be a 201 (the
fact is signed, fsynced and indexed before the node answers). Throughput is facts / wall time
from the first request to the last answer; latency is per request at the client. After the node
stops, the vault is reopened and every fact must verify and be indexed.

Reads: the cached N-fact vault of bench/query_100k.py (bench/out/spread-N, built through the API
if missing: minutes) is served read-only in the same way (a read token is created for the run and
revoked after it). One client runs ``--queries`` entity queries (GET /v1/facts?entity=..., live
facts of one entity, default page size 50) and, for each of ``--recall-limits``, ``--queries``
recall queries (POST /v1/recall with 1-3 vocabulary words, the same as bench/query_100k.py;
``limit`` 10 as Vault.recall's default, and ``default``: no limit sent, so the wire default 100;
token_budget 4000), each timed on its own after a warm-up.

Where the vaults go matters on this machine: its ext4 has no journal, and ext4 then skips
inodes freed in the last minute (five, while their table block is dirty) when it creates a
file, scanning past each one. After a test run or a clean-up has deleted tens of thousands
of files under /tmp, every file the node creates there costs a scan, and `perf` shows that
scan (recently_deleted) as 40% of the node's CPU. So the round vaults go to ``--dir``
(default bench/out/runs, which nothing else churns, marked with ext4's top-directory flag so
that each run's folder lands in a block group of its own) and are never deleted by a run:
deleting them at the end of one run slowed the next (ext4 places a new folder in the block
group with the most free inodes, which is the one just emptied). ``--clean`` removes them;
run it when done benchmarking. A run started within minutes of any large deletion on the same
file system (a test suite's clean-up) can still be slowed.

Targets (issue 4): >= 400 facts/s with 8 clients at p99 <= 100 ms; entity query p50 <= 5 ms;
recall p50 <= 25 ms, at each recall limit (all on the median round). Exit 1 and MISSED if one
is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from _common import (
    OUT,
    SOURCES,
    VOCAB,
    cached_spread_vault,
    check,
    load_note,
    machine,
    median,
    new_vault,
    percentile,
    spread_entities,
    spread_entity,
    spread_fact_kwargs,
    table,
)

from stigmem_vault.api.vault import Vault

SCOPES = ["local", "team", "company", "public"]
STIGMEM = str(Path(sys.executable).parent / "stigmem")


# ---------------------------------------------------------------- the node as a process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Node:
    """`stigmem serve` on 127.0.0.1 in its own process, with its own STIGMEM_HOME."""

    def __init__(self, root: Path, home: Path, auth: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "STIGMEM_HOME": str(home)}
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [STIGMEM, "--vault", str(root), "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--auth", auth, "--read-rate", "0", "--write-rate", "0"],
                env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the node exited ({self.process.returncode}):\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the node did not answer within {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM and wait: the node commits what is pending before it exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise RuntimeError(f"the node ignored SIGTERM for {timeout} s") from None

    def output(self) -> str:
        try:
            return self.log.read_text("utf-8", "replace")[-4000:]
        except OSError:
            return ""


# ---------------------------------------------------------------- writes


class _StdlibClient:
    """One keep-alive HTTP/1.1 connection (http.client): about a fifth of httpx's CPU per
    request. On a 2-core machine the clients' CPU is taken from the node under test."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60.0)

    def connect(self) -> None:
        self.connection.connect()

    def post(self, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        self.connection.request("POST", path, body=data,
                                headers={"Content-Type": "application/json", **headers})
        reply = self.connection.getresponse()
        return reply.status, reply.read()

    def close(self) -> None:
        self.connection.close()


class _HttpxClient:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=60.0)

    def connect(self) -> None:
        self.client.get("/healthz")

    def post(self, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        reply = self.client.post(path, content=data,
                                 headers={"Content-Type": "application/json", **headers})
        return reply.status_code, reply.content

    def close(self) -> None:
        self.client.close()


@contextmanager
def open_client(kind: str, url: str) -> Iterator[_StdlibClient | _HttpxClient]:
    client = _StdlibClient(url) if kind == "stdlib" else _HttpxClient(url)
    try:
        yield client
    finally:
        client.close()



def wire_fact(kwargs: dict[str, object]) -> dict[str, object]:
    """The POST /v1/facts body of a fact stream item."""
    return {"entity": kwargs["entity"], "relation": kwargs["relation"],
            "value": {"type": kwargs["value_type"], "v": kwargs["value"]},
            "source": kwargs["source"], "confidence": kwargs["confidence"],
            "trust": kwargs["trust"], "scope": kwargs["scope"]}


@dataclass
class WriteRound:
    clients: int
    facts: int
    seconds: float
    latencies: list[float]
    client_cpu: float
    server_cpu: float
    failures: list[str] = field(default_factory=list)
    valid: int = 0
    indexed: int = 0

    @property
    def rate(self) -> float:
        return self.facts / self.seconds


def _process_cpu(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc), 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def write_round(bodies: list[dict[str, object]], clients: int, auth: str,
                run_dir: Path, warmup: int, client_kind: str) -> WriteRound:
    # Each round's vault stays until the whole run ends: deleting thousands of files just
    # before the next round made that round's file creations slow (ext4 without a journal,
    # as here, skips inodes freed in the last minute, scanning past each one), so a round
    # measured the previous round's clean-up as much as the node.
    tmp = tempfile.mkdtemp(prefix="round-", dir=run_dir)
    root, home = Path(tmp) / "vault", Path(tmp) / "home"
    with new_vault(root, home) as vault:
        tokens = {s: vault.create_token(s, scopes=SCOPES, perms=["read", "write"])[0]
                  for s in SOURCES} if auth == "token" else {}
    node = Node(root, home, auth, Path(tmp) / "node.log")
    try:
        node.wait_ready()
        headers = {s: {"Authorization": f"Bearer {t}"} for s, t in tokens.items()}
        # Warm-up (imports, first index open, connection set-up): not measured. It uses
        # the stream's own first facts' shapes with other entities.
        with httpx.Client(base_url=node.url, timeout=60.0) as client:
            for i in range(warmup):
                body = wire_fact(spread_fact_kwargs(10_000_000 + i, 1000))
                reply = client.post("/v1/facts", json=body, headers=headers.get(body["source"]))
                if reply.status_code != 201:
                    raise RuntimeError(f"warm-up POST: {reply.status_code} {reply.text[:300]}")
        shares = [bodies[k::clients] for k in range(clients)]
        latencies: list[list[float]] = [[] for _ in range(clients)]
        failures: list[str] = []
        barrier = threading.Barrier(clients + 1)

        def run(k: int) -> None:
            with open_client(client_kind, node.url) as client:
                client.connect()  # before the clock starts
                barrier.wait()
                for body in shares[k]:
                    data = json.dumps(body).encode()
                    t0 = time.perf_counter()
                    status, text = client.post("/v1/facts", data,
                                               headers.get(str(body["source"]), {}))
                    latencies[k].append(time.perf_counter() - t0)
                    if status != 201:
                        failures.append(f"{status} {text[:200]!r}")

        threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
        for thread in threads:
            thread.start()
        server_cpu0, cpu0 = _process_cpu(node.process.pid), time.process_time()
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
        client_cpu = time.process_time() - cpu0
        server_cpu = _process_cpu(node.process.pid) - server_cpu0
    finally:
        node.stop()
    fig = WriteRound(clients, len(bodies), seconds, [x for lat in latencies for x in lat],
                     client_cpu, server_cpu, failures)
    with Vault.open(root, home=home) as reopened:  # every fact written verifies, is indexed
        fig.valid = reopened.verify().counts()["valid"] - warmup
        fig.indexed = reopened.index.counts()["facts"] - warmup
    return fig


# ---------------------------------------------------------------- reads


def timed_requests(client: httpx.Client, calls: list[tuple[str, str, dict[str, object]]],
                   headers: dict[str, str]) -> tuple[list[float], int]:
    """Seconds per request, and the total number of facts returned."""
    seconds, results = [], 0
    for method, path, payload in calls:
        t0 = time.perf_counter()
        if method == "GET":
            reply = client.get(path, params=payload, headers=headers)
        else:
            reply = client.post(path, json=payload, headers=headers)
        elapsed = time.perf_counter() - t0
        if reply.status_code != 200:
            raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
        seconds.append(elapsed)
        results += len(reply.json()["facts"])
    return seconds, results


def recall_label(limit: str) -> str:
    return "recall" if limit == "default" else f"recall-{limit}"


def read_rounds(args: argparse.Namespace) -> dict[str, list[tuple[list[float], int]]]:
    root, home = cached_spread_vault(args.cache, args.read_facts, False)
    token_id, headers = None, {}
    if args.auth == "token":
        with Vault.open(root, home=home) as vault:
            raw, record = vault.create_token("user:alice", scopes=SCOPES, perms=["read"])
        token_id, headers = record.id, {"Authorization": f"Bearer {raw}"}
    log = Path(tempfile.mkstemp(prefix="stigmem-bench-node-", suffix=".log")[1])
    node = Node(root, home, args.auth, log)
    limits = args.recall_limits.split(",")
    rounds: dict[str, list[tuple[list[float], int]]] = {"entity": []}
    rounds.update({recall_label(limit): [] for limit in limits})
    try:
        start = time.perf_counter()
        node.wait_ready(timeout=600)
        print(f"node ready in {time.perf_counter() - start:.2f} s (vault open, index check of "
              f"{args.read_facts:,} files, watcher started)", flush=True)
        rng = random.Random(20261124)  # the same queries as bench/query_100k.py
        entities = spread_entities(args.read_facts)
        entity_calls = [("GET", "/v1/facts", {"entity": spread_entity(rng.randrange(entities))})
                        for _ in range(args.queries)]
        texts = [" ".join(rng.sample(VOCAB, rng.randint(1, 3))) for _ in range(args.queries)]
        calls = {"entity": entity_calls}
        for limit in limits:
            extra = {} if limit == "default" else {"limit": int(limit)}
            calls[recall_label(limit)] = [("POST", "/v1/recall", {"query": text, **extra})
                                          for text in texts]
        with httpx.Client(base_url=node.url, timeout=600.0) as client:
            for kind in calls.values():
                timed_requests(client, kind[:20], headers)  # warm-up
            for rnd in range(args.rounds):
                for name, kind in calls.items():
                    seconds, results = timed_requests(client, kind, headers)
                    rounds[name].append((seconds, results))
                    print(f"  round {rnd + 1} {name:<9}  p50 {percentile(seconds, 50) * 1000:6.2f} "
                          f"ms  p99 {percentile(seconds, 99) * 1000:6.2f} ms  max "
                          f"{max(seconds) * 1000:6.2f} ms  {results / len(kind):5.1f} facts/reply",
                          flush=True)
    finally:
        node.stop()
        log.unlink(missing_ok=True)
        if token_id is not None:
            with Vault.open(root, home=home) as vault:
                vault.revoke_token(token_id)
    return rounds


def write_rounds(args: argparse.Namespace, client_counts: list[int],
                 writes: dict[int, list[WriteRound]], run_dir: Path) -> None:
    entities = spread_entities(args.facts)
    bodies = [wire_fact(spread_fact_kwargs(i, entities)) for i in range(args.facts)]
    for rnd in range(args.rounds):
        for clients in client_counts:
            fig = write_round(bodies, clients, args.auth, run_dir, args.warmup, args.client)
            writes[clients].append(fig)
            lat = fig.latencies
            print(f"  round {rnd + 1} {clients} client(s)  {fig.seconds:6.2f} s  "
                  f"{fig.rate:6,.0f} facts/s  p50 {percentile(lat, 50) * 1000:6.2f} ms  p99 "
                  f"{percentile(lat, 99) * 1000:6.2f} ms  max {max(lat) * 1000:6.1f} ms  "
                  f"(node cpu {fig.server_cpu:.2f} s, client cpu {fig.client_cpu:.2f} s; "
                  f"{len(fig.failures)} failed; {fig.valid} verify, {fig.indexed} indexed)",
                  flush=True)
            for failure in fig.failures[:3]:
                print(f"    failure: {failure}")


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=int, default=2000,
                        help="facts posted per round and client count (default 2000)")
    parser.add_argument("--clients", default="1,8", help="client counts (default 1,8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--auth", choices=["token", "none"], default="token",
                        help="the node's auth mode (default token)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured writes first (20)")
    parser.add_argument("--client", choices=["stdlib", "httpx"], default="stdlib",
                        help="the writing clients' HTTP library (default stdlib: http.client)")
    parser.add_argument("--read-facts", type=int, default=100000,
                        help="size of the vault queried (default 100000)")
    parser.add_argument("--queries", type=int, default=300, help="queries of each kind per round")
    parser.add_argument("--recall-limits", default="10,default",
                        help="recall limits to measure, comma-separated; 'default' sends none "
                             "(the wire default, 100) (default 10,default)")
    parser.add_argument("--write-rate", type=float, default=400.0,
                        help="facts/s target at the largest client count (default 400)")
    parser.add_argument("--write-p99", type=float, default=0.100,
                        help="p99 latency target at the largest client count, s (default 0.1)")
    parser.add_argument("--entity-p50", type=float, default=0.005, help="target, s (0.005)")
    parser.add_argument("--recall-p50", type=float, default=0.025, help="target, s (0.025)")
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--dir", type=Path, default=OUT / "runs",
                        help="parent for the round vaults (default bench/out/runs; see above "
                             "on why not the system temp folder)")
    parser.add_argument("--cache", type=Path, default=OUT, help=f"cache folder (default {OUT})")
    parser.add_argument("--clean", action="store_true",
                        help="remove the round vaults of earlier runs (in --dir), then exit")
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    start_load = load_note()

    writes: dict[int, list[WriteRound]] = {c: [] for c in client_counts}
    args.dir.mkdir(parents=True, exist_ok=True)
    # ext4's "top of a directory hierarchy" flag: folders made in it are spread over the
    # block groups like top-level ones, so a run's files land away from where the last run's
    # clean-up freed inodes (best effort: other file systems, or no chattr, just skip it).
    subprocess.run(["chattr", "+T", str(args.dir)], capture_output=True, check=False)
    if args.clean:
        shutil.rmtree(args.dir, ignore_errors=True)
        print(f"removed {args.dir}")
        return 0
    run_dir = Path(tempfile.mkdtemp(prefix="stigmem-bench-http-", dir=args.dir))
    if not args.skip_writes:
        write_rounds(args, client_counts, writes, run_dir)
    reads = None if args.skip_reads else read_rounds(args)
    kept = sum(1 for _ in args.dir.rglob("*"))
    print(f"round vaults kept in {args.dir} ({kept:,} files and folders): remove them with "
          f"--clean when you are done benchmarking, not just before a run (see --help)")

    print(f"http_node: `stigmem serve --auth {args.auth}` (rate limits off) on 127.0.0.1, driven by "
          f"{args.client} clients in threads (reads: httpx); {args.rounds} rounds "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
          f"{machine()}; {start_load} at the start, {load_note()} at the end)")
    rows: list[tuple[str, str]] = []
    targets: list[tuple[str, bool]] = []
    for clients, figs in writes.items():
        if not figs:
            continue
        rates = [f.rate for f in figs]
        mid = sorted(figs, key=lambda f: f.rate)[len(figs) // 2]
        p99 = percentile(mid.latencies, 99)
        rows.append((f"POST /v1/facts, {clients} client(s)",
                     f"best {max(rates):,.0f} facts/s   median {median(rates):,.0f} facts/s   "
                     f"(median round: p50 {percentile(mid.latencies, 50) * 1000:.2f} ms, "
                     f"p99 {p99 * 1000:.2f} ms; {args.facts} facts)"))
        ok = all(not f.failures and f.valid == args.facts and f.indexed == args.facts for f in figs)
        targets.append((f"{clients} client(s): every POST is a 201, every fact verifies and is "
                        "indexed", ok))
        if clients == max(writes):
            targets.append((f"POST /v1/facts >= {args.write_rate:,.0f} facts/s with {clients} "
                            f"clients (median round)", median(rates) >= args.write_rate))
            targets.append((f"POST /v1/facts p99 <= {args.write_p99 * 1000:.0f} ms with {clients} "
                            f"clients (median round)", p99 <= args.write_p99))
    if reads is not None:
        for name in reads:
            label, target = ("GET /v1/facts?entity=", args.entity_p50) if name == "entity" else (
                "POST /v1/recall " + ("(no limit: 100)" if name == "recall" else
                                      f"limit {name.split('-')[1]}"), args.recall_p50)
            p50s = [percentile(seconds, 50) for seconds, _ in reads[name]]
            mid_round = sorted(reads[name], key=lambda r: percentile(r[0], 50))[len(p50s) // 2]
            rows.append((f"{label} ({args.read_facts:,} facts)",
                         f"p50 best {min(p50s) * 1000:.2f} ms  median {median(p50s) * 1000:.2f} ms"
                         f"   (median round: p99 {percentile(mid_round[0], 99) * 1000:.2f} ms; "
                         f"{mid_round[1] / len(mid_round[0]):.1f} facts/reply)"))
            targets.append((f"{label} p50 <= {target * 1000:.0f} ms (median round)",
                            median(p50s) <= target))
    table(rows)
    return check(targets)


if __name__ == "__main__":
    sys.exit(main())
