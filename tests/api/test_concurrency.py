"""Many writers at once lose nothing: threads on one Vault, and two processes on one vault."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from api.support import assert_history_signed_and_linear, commits, git, porcelain
from stigmem_vault.api.vault import Vault
from stigmem_vault.model.fact import Fact
from stigmem_vault.vault.layout import fact_relpath


def test_threads_writing_one_vault_lose_nothing(home: Path, vault_path: Path) -> None:
    vault = Vault.init(vault_path, owner="user:alice", home=home, commit_every=64, commit_delay=None)
    vault.create_identity("agent:codex")
    start = len(commits(vault_path))
    written: list[list[Fact]] = [[] for _ in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(written))

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                written[n].append(vault.assert_fact(
                    entity=f"user:u{n}", relation=f"memory:counter{i}", value=i,
                    source="agent:codex" if i % 2 else "user:alice", scope="team"))
        except BaseException as exc:  # surfaced below, with the thread's own traceback
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(written))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    vault.flush()

    facts = [f for out in written for f in out]
    assert len(facts) == 200 and len({f.id for f in facts}) == 200
    assert len({f.hlc for f in facts}) == 200  # one clock, no duplicate stamps
    on_disk = set(vault.fact_paths())
    assert on_disk == {str(fact_relpath(f)) for f in facts}
    report = vault.verify()
    assert report.ok and report.counts()["valid"] == 200
    assert porcelain(vault_path) == ""
    # 200 writes in batches of at least 64 (writers keep queueing while a batch is committed):
    # at most 3 full batches plus the rest.
    assert 1 <= len(commits(vault_path)) - start <= 4
    tracked = set(git(vault_path, "ls-files", "facts").stdout.splitlines())
    assert on_disk <= tracked
    assert_history_signed_and_linear(vault_path)
    vault.close()


WRITER = textwrap.dedent("""
    import sys
    from stigmem_vault.api.vault import Vault
    root, home, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with Vault.open(root, home=home, commit_every=5, commit_delay=None) as v:
        print("ready", flush=True)
        sys.stdin.readline()  # both are open: start writing together
        for i in range(count):
            fact = v.assert_fact(entity=f"user:{name}", relation="memory:counter", value=i, scope="team")
            print(fact.id, flush=True)
""")


def test_two_processes_writing_one_vault_lose_nothing(home: Path, vault_path: Path) -> None:
    Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None).close()
    start = len(commits(vault_path))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(vault_path), str(home), name, "40"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for name in ("one", "two")]
    for proc in procs:  # opened first, so neither open recovers the other's pending files
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    ids: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        ids += out.split()
    assert len(ids) == 80 and len(set(ids)) == 80

    assert porcelain(vault_path) == ""
    assert_history_signed_and_linear(vault_path)
    # Each wrote 8 batches of 5 facts; the entity notes they touched ride along or follow
    # in a commit of their own (a timer's or the close's).
    assert 16 <= len(commits(vault_path)) - start <= 20
    with Vault.open(vault_path, home=home, commit_delay=None) as reader:
        report = reader.verify()
        assert report.ok and report.counts()["valid"] == 80
        assert sorted(v.fact.id for v in reader.list_facts()) == sorted(ids)
    tracked = git(vault_path, "ls-files", "facts").stdout.splitlines()
    assert len([p for p in tracked if p.endswith(".md")]) == 80
