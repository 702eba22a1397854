"""Scale (issue 13): what a vault of N facts costs, measured from the outside, per size.

    python bench/scale.py [--facts 10000,100000,1000000] [--samples 50] [--cache DIR] [--keep]

Per size, a vault is built through the API like the issue's (2,000 entities x N/2,000
relations, a string value each, every scope; ``Vault.write_claims`` in batches of
``--batch``, one commit per batch), then measured, each CLI command as a subprocess with
its own wall time and peak RSS (``os.wait4``):

* build: facts/s through the API (signed, fsynced, indexed, committed);
* first ``stigmem index`` after that build (the index is already up to date: what the
  first command a person runs pays);
* warm ``stigmem status`` and ``stigmem query --entity E`` beside ``git status`` and
  ``git status --no-optional-locks`` on the same tree in the same run (each the median of
  ``--repeat`` runs, default 5), and the ratio of the slower stigmem command to ``git status``;
* node start (warm): ``stigmem serve --port 0`` until it prints "listening on" (median of
  ``--starts``, default 3), until it then answers ``GET /v1/facts?entity=E``, and the node's
  peak RSS;
* 1-fact write + commit, in process (``assert_fact`` then ``flush``, the signed commit
  included, durable, in HEAD), p50 and p99 of ``--samples``; git's index is left to its timer
  as a node's timed commits leave it (vault/index_lag.py); the p50 of the same with git's
  index written in the flush is shown beside it;
* a fresh ``git clone --no-local`` (git packs the objects as it does for any remote) and the
  first answer there (``stigmem query --entity E``, which indexes the clone first);
* the bare single-process loop of bench/index_cold.py over the clone's files, and the rate
  ratio first-index-of-the-clone / bare (>= 1.0 is the issue's target). Before either, every
  file of the clone is read once (timed, shown), so that neither starts on files the other
  brought into the page cache. (The shared 2-core host pages out file cache not touched for
  some seconds, so at 1M both loops still read most files from disk: a cold read costs about
  90 us more CPU per file than a cached one, on either side.);
* repository: .git bytes, loose objects, packs, bytes per fact, for the vault and the clone,
  measured once a background repack the build started has finished (as it would be on any
  vault left alone for that long; the wait is shown).

Built vaults are cached under ``--cache`` (default bench/out/scale, gitignored) keyed by size
and the version of stigmem_vault/ (its git tree id, "+dirty" if modified), with the build and
first-index figures, so a rerun on the same code skips the build and reports those two from
the cache (marked "cached"); ``--any-version`` reuses a vault of that size built on other code
(the vault format being the same), and ``--build-only`` builds and measures nothing. Without
``--keep`` a vault built by this run is removed at the end; clones always
are. Each run adds ``--samples`` facts to a cached vault.

Targets at 1,000,000 facts (issue 13), checked at every size and reported, exit 1 if missed:
warm CLI <= 2 x git status; node start <= 2 s; write+commit p50 <= 50 ms; <= 1 KB per fact;
first index of a fresh clone >= 1.0 x the bare loop.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from _common import OUT, check, load_note, machine, median, percentile
from index_cold import bare

from stigmem_vault.api.vault import Vault
from stigmem_vault.model.fact import Claim, make_claim
from stigmem_vault.model.values import make_value

ROOT = Path(__file__).resolve().parent.parent
ENTITIES = 2000
SOURCES = ("user:alice", "agent:codex", "agent:claude")
SCOPES = ("team", "company", "public", "local")
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0"}


# ---------------------------------------------------------------- running and measuring


@dataclass
class Run:
    seconds: float
    rss_mb: float
    out: str
    cpu: float = 0.0  # user + system seconds of the process (load barely moves it)


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
        check_rc: bool = True) -> Run:
    """Run ``cmd`` to its end: wall time, peak RSS (its own, from wait4) and stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace")
        if check_rc and proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: "
                             f"{err.read().decode('utf-8', 'replace')[-2000:]}")
    return Run(seconds, usage.ru_maxrss / 1024, text, usage.ru_utime + usage.ru_stime)


def stigmem(vault: Path, *args: str) -> list[str]:
    """The installed ``stigmem`` command (the console script beside this Python)."""
    return [str(Path(sys.executable).parent / "stigmem"), "--vault", str(vault), *args]


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "STIGMEM_HOME": str(home)}


def median_run(cmd: list[str], times: int, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Median wall seconds, median CPU seconds and the greatest peak RSS (MB) of ``times`` runs."""
    runs = [run(cmd, cwd, env) for _ in range(times)]
    return (median([r.seconds for r in runs]), median([r.cpu for r in runs]),
            max(r.rss_mb for r in runs))


def node_start(vault: Path, home: Path, entity: str) -> tuple[float, float, float]:
    """Seconds until ``stigmem serve --port 0`` says it listens, seconds until it then answers
    a query for ``entity`` (``GET /v1/facts``), and its peak RSS (MB) then."""
    cmd = stigmem(vault, "serve", "--port", "0", "--auth", "none", "--sync-interval", "0")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env_for(home), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        seen = []
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            seen.append(line)
            if "listening on" in line:
                seconds = time.perf_counter() - start
                break
        else:
            raise SystemExit(f"stigmem serve ended without listening: {''.join(seen)[-2000:]}")
        url = line.split("listening on ", 1)[1].split(": serving", 1)[0]
        query = urllib.parse.urlencode({"entity": entity})
        with urllib.request.urlopen(f"{url}/v1/facts?{query}", timeout=600) as response:
            response.read()
        answered = time.perf_counter() - start
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return seconds, answered, rss


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class RepoSize:
    git_bytes: int  # on disk (allocated blocks, as du counts)
    apparent: int  # the files' lengths
    loose: int
    packs: int
    packed: int

    def text(self, facts: int) -> str:
        return (f"{self.git_bytes / 1e6:,.0f} MB .git on disk ({self.git_bytes / facts:,.0f} "
                f"B/fact; file lengths {self.apparent / 1e6:,.0f} MB), {self.loose:,} loose "
                f"objects, {self.packs} pack(s) holding {self.packed:,}")


def repo_size(root: Path) -> RepoSize:
    disk = apparent = 0
    for dirpath, _dirs, names in os.walk(root / ".git"):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                info = os.lstat(os.path.join(dirpath, name))
                disk += info.st_blocks * 512
                apparent += info.st_size
    counts = dict(line.split(": ", 1) for line in run(
        ["git", "count-objects", "-v"], cwd=root, env=GIT_ENV).out.splitlines() if ": " in line)
    return RepoSize(disk, apparent, int(counts.get("count", 0)), int(counts.get("packs", 0)),
                    int(counts.get("in-pack", 0)))


# ---------------------------------------------------------------- the vault (built, cached)


def code_version() -> str:
    tree = subprocess.run(["git", "rev-parse", "HEAD:stigmem_vault"], cwd=ROOT, env=GIT_ENV,
                          capture_output=True, text=True, check=False).stdout.strip()[:12]
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "stigmem_vault"], cwd=ROOT,
                           env=GIT_ENV, capture_output=True, text=True, check=False).stdout
    return (tree or "unknown") + ("+dirty" if dirty.strip() else "")


def claim(i: int, relations: int) -> Claim:
    entity, relation = i % ENTITIES, i // ENTITIES
    return make_claim(entity=f"project:p{entity:04d}", relation=f"memory:r{relation:04d}",
                      value=make_value("string", f"value {i} of p{entity:04d} r{relation}"),
                      source=SOURCES[i % len(SOURCES)], scope=SCOPES[relation % len(SCOPES)],
                      confidence=1.0)


@dataclass
class Built:
    facts: int
    version: str
    build_seconds: float
    first_index: float
    first_index_rss: float
    build_cpu: float = 0.0
    first_index_cpu: float = 0.0
    cached: bool = False
    extra: dict[str, float] = field(default_factory=dict)


def build(place: Path, facts: int, batch: int) -> tuple[Path, Path, float]:
    root, home = place / "vault", place / "home"
    os.environ["STIGMEM_HOME"] = str(home)
    relations = max(1, -(-facts // ENTITIES))
    every = max(1, facts // batch // 20)  # progress about 20 times
    start, cpu = time.perf_counter(), time.process_time()
    with Vault.init(root, owner="user:alice", home=home, commit_every=batch + 1,
                    commit_delay=None) as vault:
        for source in SOURCES[1:]:
            vault.create_identity(source)
        done = 0
        while done < facts:
            count = min(batch, facts - done)
            results = vault.write_claims([claim(i, relations) for i in range(done, done + count)])
            bad = [r for r in results if isinstance(r, Exception)]
            if bad:
                raise SystemExit(f"the build refused facts: {bad[:3]}")
            vault.flush()
            done += count
            elapsed = time.perf_counter() - start
            if (done // batch) % every == 0 or done == facts:
                print(f"  built {done:,} facts in {elapsed:.0f} s ({done / elapsed:,.0f} facts/s)",
                      flush=True)
    return root, home, time.perf_counter() - start, time.process_time() - cpu


def cached_vault(cache: Path, facts: int, batch: int,
                 any_version: bool = False) -> tuple[Path, Path, Built, bool]:
    """(vault, home, figures, built here) for ``facts`` on this code version (or, with
    ``any_version``, the newest vault of that size built on any version)."""
    version = code_version()
    place = cache / f"scale-{facts}-{version}"
    found = [place] if (place / "built.json").exists() else []
    if not found and any_version:
        found = sorted(cache.glob(f"scale-{facts}-*/built.json"),
                       key=lambda p: p.stat().st_mtime, reverse=True)[:1]
        found = [meta.parent for meta in found]
    if found:
        place = found[0]
        built = Built(**json.loads((place / "built.json").read_text()))
        built.cached = True
        print(f"reusing cached vault {place} (built on code {built.version}; "
              f"measuring code {version})", flush=True)
        return place / "vault", place / "home", built, False
    shutil.rmtree(place, ignore_errors=True)
    place.mkdir(parents=True)
    print(f"building {facts:,} facts in {place} through Vault.write_claims "
          f"(batches of {batch}) ...", flush=True)
    root, home, seconds, cpu = build(place, facts, batch)
    first = run(stigmem(root, "index"), env=env_for(home))
    print(f"  first `stigmem index` after the build: {first.seconds:.2f} s", flush=True)
    built = Built(facts, version, seconds, first.seconds, first.rss_mb, cpu, first.cpu)
    (place / "built.json").write_text(json.dumps(asdict(built)))
    return root, home, built, True


# ---------------------------------------------------------------- one size


@dataclass
class Figures:
    facts: int
    built: Built
    status: float = 0.0
    query: float = 0.0
    git_status: float = 0.0
    git_status_nolock: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of the same commands
    cli_rss: float = 0.0
    node_start: float = 0.0
    node_answer: float = 0.0
    node_rss: float = 0.0
    write_p50: float = 0.0
    write_p99: float = 0.0
    write_indexed_p50: float = 0.0
    repack_wait: float = 0.0
    clone: float = 0.0
    clone_first: float = 0.0
    clone_first_rss: float = 0.0
    bare: float = 0.0
    repo: RepoSize | None = None
    clone_repo: RepoSize | None = None

    @property
    def cli_ratio(self) -> float:
        return max(self.status, self.query) / self.git_status

    @property
    def cpu_ratio(self) -> float:
        return max(self.cpu["status"], self.cpu["query"]) / self.cpu["git"]

    @property
    def clone_ratio(self) -> float:
        return self.bare / self.clone_first  # rate ratio: ours / bare


def measure(facts: int, args: argparse.Namespace) -> Figures:
    root, home, built, fresh = cached_vault(args.cache, facts, args.batch, args.any_version)
    env = env_for(home)
    fig = Figures(facts, built)
    if args.build_only:
        return fig
    entity = "project:p0007"
    try:
        run(stigmem(root, "index"), env=env)  # warm: files and index in the page cache
        fig.status, fig.cpu["status"], rss_a = median_run(stigmem(root, "status"), args.repeat, env=env)
        fig.query, fig.cpu["query"], rss_b = median_run(
            stigmem(root, "query", "--entity", entity), args.repeat, env=env)
        fig.cli_rss = max(rss_a, rss_b)
        fig.git_status, fig.cpu["git"], _ = median_run(["git", "status"], args.repeat,
                                                       cwd=root, env=GIT_ENV)
        fig.git_status_nolock, _, _ = median_run(["git", "--no-optional-locks", "status"],
                                                 args.repeat, cwd=root, env=GIT_ENV)
        print(f"  warm: status {fig.status:.2f} s, query {fig.query:.2f} s, git status "
              f"{fig.git_status:.2f} s", flush=True)
        starts = [node_start(root, home, entity) for _ in range(args.starts)]
        fig.node_start = median([s for s, _, _ in starts])
        fig.node_answer = median([a for _, a, _ in starts])
        fig.node_rss = max(r for _, _, r in starts)
        print(f"  node start {fig.node_start:.2f} s, first answer {fig.node_answer:.2f} s",
              flush=True)
        fig.write_p50, fig.write_p99 = write_commit(root, home, args.samples, git_index=False)
        fig.write_indexed_p50, _ = write_commit(root, home, args.samples, git_index=True)
        print(f"  1-fact write+commit p50 {fig.write_p50 * 1000:.1f} ms (git's index written "
              f"too: {fig.write_indexed_p50 * 1000:.1f} ms)", flush=True)
        fig.repack_wait = wait_for_repack(root)
        fig.repo = repo_size(root)
        with tempfile.TemporaryDirectory(prefix="scale-clone-", dir=args.cache) as tmp:
            clone = Path(tmp) / "clone"
            fig.clone = run(["git", "clone", "-q", "--no-local", str(root), str(clone)],
                            env=GIT_ENV).seconds
            start = time.perf_counter()
            size = read_every_file(clone)
            warmed = time.perf_counter() - start
            first = run(stigmem(clone, "query", "--entity", entity), env=env)
            fig.clone_first, fig.clone_first_rss = first.seconds, first.rss_mb
            fig.cpu["clone_first"] = first.cpu
            print(f"  clone {fig.clone:.1f} s (its {size / 1e6:,.0f} MB of files then read once in"
                  f" {warmed:.1f} s), first answer there {fig.clone_first:.1f} s", flush=True)
            fig.clone_repo = repo_size(clone)
            start, cpu = time.perf_counter(), time.process_time()
            count = bare(clone, Path(tmp) / "bare.sqlite3")
            fig.bare = time.perf_counter() - start
            fig.cpu["bare"] = time.process_time() - cpu
            print(f"  bare loop over the clone's {count:,} files {fig.bare:.1f} s", flush=True)
    finally:
        if fresh and not args.keep:
            shutil.rmtree(root.parent, ignore_errors=True)
    return fig


def read_every_file(root: Path) -> int:
    """Read each file of the working tree once (not .git); the bytes read."""
    total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            with open(os.path.join(folder, name), "rb") as handle:
                total += len(handle.read())
    return total


def wait_for_repack(root: Path, deadline: float = 1800.0) -> float:
    """Seconds waited for a background repack (vault/packing.py) to finish."""
    start = time.perf_counter()
    with open(root / ".git" / "stigmem-repack.lock", "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(lock, fcntl.LOCK_UN)
                return time.perf_counter() - start
            except BlockingIOError:
                if time.perf_counter() - start > deadline:
                    raise SystemExit(f"a repack of {root} still runs after {deadline:.0f} s") from None
                time.sleep(0.5)


def write_commit(root: Path, home: Path, samples: int, *, git_index: bool
                 ) -> tuple[float, float]:
    """p50/p99 seconds of one fact written (signed, fsynced, indexed) and committed; with
    ``git_index``, git's index written in the same flush."""
    times = []
    with Vault.open(root, home=home, commit_delay=None) as vault:
        _ = vault.index  # opened and scanned before timing
        stamp = datetime.now(UTC).strftime("%H%M%S")
        for n in range(samples):
            start = time.perf_counter()
            vault.assert_fact(entity="project:p0001", relation=f"memory:probe-{stamp}-{n}",
                              value=f"probe {n}", source="user:alice", scope="team")
            if vault.flush(git_index=git_index) is None:
                raise SystemExit("flush made no commit")
            times.append(time.perf_counter() - start)
    return percentile(times, 50), percentile(times, 99)


# ---------------------------------------------------------------- report


def report(figs: list[Figures], start_load: str) -> int:
    print(f"\nscale: ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; {start_load} at the "
          f"start, {load_note()} at the end; code {code_version()})")
    for fig in figs:
        b, r, c = fig.built, fig.repo, fig.clone_repo
        assert r is not None and c is not None
        cached = " (cached)" if b.cached else ""
        print(f"\n{fig.facts:,} facts")
        rows = [
            ("build through the API", f"{b.build_seconds:.1f} s, {b.facts / b.build_seconds:,.0f} "
                                      f"facts/s (CPU {b.build_cpu:.1f} s){cached}"),
            ("first `stigmem index` after it", f"{b.first_index:.2f} s (CPU {b.first_index_cpu:.2f}"
                                               f" s), peak RSS {b.first_index_rss:,.0f} MB{cached}"),
            ("warm `stigmem status`", f"{fig.status:.2f} s (CPU {fig.cpu['status']:.2f} s; "
                                      "medians of --repeat runs)"),
            ("warm `stigmem query --entity`", f"{fig.query:.2f} s (CPU {fig.cpu['query']:.2f} s),"
                                              f" peak RSS {fig.cli_rss:,.0f} MB"),
            ("`git status` same tree", f"{fig.git_status:.2f} s (CPU {fig.cpu['git']:.2f} s; "
                                       f"--no-optional-locks {fig.git_status_nolock:.2f} s)"),
            ("warm CLI / git status", f"{fig.cli_ratio:.1f} x by wall, {fig.cpu_ratio:.1f} x by "
                                      "CPU  (target <= 2)"),
            ("node start (warm)", f"{fig.node_start:.2f} s (median), peak RSS "
                                  f"{fig.node_rss:,.0f} MB  (target <= 2 s)"),
            ("node start to its first answer", f"{fig.node_answer:.2f} s (median; GET /v1/facts"
                                               "?entity=...)"),
            ("1-fact write + commit", f"p50 {fig.write_p50 * 1000:.1f} ms, p99 "
                                      f"{fig.write_p99 * 1000:.1f} ms  (target p50 <= 50 ms)"),
            ("  git's index written too", f"p50 {fig.write_indexed_p50 * 1000:.1f} ms"),
            ("fresh clone (--no-local)", f"{fig.clone:.1f} s"),
            ("  first answer in the clone", f"{fig.clone_first:.1f} s (CPU "
                                            f"{fig.cpu['clone_first']:.1f} s), peak RSS "
                                            f"{fig.clone_first_rss:,.0f} MB"),
            ("  bare loop over its files", f"{fig.bare:.1f} s (CPU {fig.cpu['bare']:.1f} s); "
                                           f"ours/bare rate {fig.clone_ratio:.2f} by wall, "
                                           f"{fig.cpu['bare'] / fig.cpu['clone_first']:.2f} by "
                                           "CPU  (target >= 1.0)"),
            ("repository", r.text(fig.facts) + f"  (after {fig.repack_wait:.0f} s waiting for "
                                              "a background repack)"),
            ("  the clone's", c.text(fig.facts)),
        ]
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"  {name:<{width}}  {value}")
    print()
    targets = []
    for fig in figs:
        r = fig.repo
        assert r is not None
        n = f"{fig.facts:,}"
        targets += [
            (f"{n}: warm CLI <= 2 x git status", fig.cli_ratio <= 2.0),
            (f"{n}: node start <= 2 s", fig.node_start <= 2.0),
            (f"{n}: 1-fact write + commit p50 <= 50 ms", fig.write_p50 <= 0.050),
            (f"{n}: repository <= 1 KB per fact", r.git_bytes / fig.facts <= 1024),
            (f"{n}: first index of a fresh clone >= 1.0 x bare loop", fig.clone_ratio >= 1.0),
        ]
    return check(targets)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facts", default="10000,100000,1000000",
                        help="comma-separated vault sizes (default 10000,100000,1000000)")
    parser.add_argument("--batch", type=int, default=5000,
                        help="claims per write_claims call and commit while building (5000)")
    parser.add_argument("--samples", type=int, default=50, help="1-fact write+commit samples")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs of each warm command, the median is shown (default 5)")
    parser.add_argument("--starts", type=int, default=3,
                        help="node starts, the median is shown (default 3)")
    parser.add_argument("--cache", type=Path, default=OUT / "scale",
                        help=f"cache folder (default {OUT / 'scale'})")
    parser.add_argument("--keep", action="store_true", help="keep the vaults this run builds")
    parser.add_argument("--any-version", action="store_true",
                        help="reuse a cached vault of a size built on other code (the build "
                             "figures are then that code's; the vault format must not differ)")
    parser.add_argument("--build-only", action="store_true",
                        help="build (or find) the vaults, implies --keep, measure nothing")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    args.keep = args.keep or args.build_only
    start_load = load_note()
    figs = [measure(int(size), args) for size in args.facts.split(",")]
    if args.build_only:
        return 0
    return report(figs, start_load)


if __name__ == "__main__":
    sys.exit(main())
