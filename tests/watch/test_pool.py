"""A large batch is read on a pool of processes (watch/records.py): the index it builds is
the in-process one row for row, and a failure in a worker is an error naming the file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from stigmem_vault.api.vault import Vault
from stigmem_vault.canonical.signing import sign_claim
from stigmem_vault.errors import StorageError
from stigmem_vault.index.index import Index
from stigmem_vault.index.ingest import FileRecord
from stigmem_vault.model.fact import make_claim
from stigmem_vault.model.values import make_value
from stigmem_vault.vault import markdown
from stigmem_vault.vault.layout import fact_relpath
from stigmem_vault.vault.trust import TrustStore
from stigmem_vault.watch import records
from stigmem_vault.watch.scan import index_facts, walk_notes

from .support import set_property, write_via_rename

ROOT = Path(__file__).resolve().parents[2]


def _mixed_vault(vault: Vault) -> None:
    """Facts of every verdict, and files that are not facts at all."""
    valid = [vault.assert_fact(entity=f"project:p{i % 7}", relation="memory:role",
                               value=f"role {i}", scope="team" if i % 2 else "local")
             for i in range(40)]
    vault.assert_fact(entity="project:p1", relation="memory:role", value="newer",
                      supersedes=valid[1].id)
    client = make_claim(entity="project:atlas", relation="codex:state",
                        value=make_value("string", "from a client"), source="agent:client")
    written, _ = vault.as_principal(vault.operator()).write(client, attestation="off")
    assert written.status == "vouched"
    assert vault.clock is not None
    stranger = sign_claim(make_claim(entity="user:bob", relation="memory:role",
                                     value=make_value("string", "who?"), source="agent:nobody"),
                          vault.clock.now(), "2026-12-01T00:00:00.000Z", SigningKey.generate())
    write_via_rename(vault.root / fact_relpath(stranger), markdown.render(stranger))  # unknown
    path = vault.root / vault.lookup(valid[3].id).path
    write_via_rename(vault.root / "facts/local/x/tampered.md",
                     set_property(path.read_text(), "confidence", "0.5"))  # id-mismatch
    write_via_rename(vault.root / "facts/local/x/forged.md",
                     set_property(path.read_text(), "signature",
                                  vault.lookup(valid[4].id).fact.signature))
    write_via_rename(vault.root / "facts/local/x/copy.md", path.read_bytes())  # same fact twice
    write_via_rename(vault.root / "facts/local/x/broken.md", b"---\nentity: [unclosed\n---\n")
    write_via_rename(vault.root / "facts/local/x/latin1.md", b'---\nentity: "caf\xe9"\n---\n')
    os.symlink("/etc/passwd", vault.root / "facts/local/x/link.md")
    vault.flush()


def _build(vault: Vault, db: Path, **kwargs: object) -> tuple[list[tuple[object, ...]], ...]:
    """Index every fact file of the vault from scratch into ``db``; its rows, table by table."""
    index = Index(db, owner=vault.config.owner, multi_relations=frozenset(), fingerprint="t")
    facts = sorted((rel, st) for rel, st in walk_notes(vault.root) if rel.startswith("facts/"))
    trust = TrustStore.load(vault.root, vault.config.owner_key, vault.config.owner)
    index_facts(vault.root, index, trust, facts, [], **kwargs)  # type: ignore[arg-type]
    index.close()
    conn = sqlite3.connect(db)
    try:
        with_rowid = tuple(conn.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid").fetchall()
                           for table in ("facts", "facts_fts"))
        return with_rowid + tuple(sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                                  for table in ("files", "derivations", "conflicts"))
    finally:
        conn.close()


def test_a_pool_builds_the_same_index_as_one_process(vault: Vault, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _mixed_vault(vault)
    alone = _build(vault, tmp_path / "alone.sqlite3")
    statuses = {row[4] for row in alone[2]}
    assert statuses == {"valid", "vouched", "unknown-signer", "id-mismatch", "invalid-signature",
                        "malformed"}, statuses
    started: list[int] = []
    real = records._pooled
    monkeypatch.setattr(records, "pool_size", lambda files: 2)
    monkeypatch.setattr(records, "CHUNK", 3)
    monkeypatch.setattr(records, "_pooled",
                        lambda *args: started.append(1) or real(*args))
    assert _build(vault, tmp_path / "pool.sqlite3") == alone
    assert started == [1]


def raise_on_broken(root: Path, rel: str, st: os.stat_result, trust: TrustStore) -> FileRecord:
    """A reader with a bug that shows on one file (run in a worker: module level)."""
    if rel.endswith("broken.md"):
        raise ValueError("a bug")
    return records.read_record(root, rel, st, trust)


def die_on_broken(root: Path, rel: str, st: os.stat_result, trust: TrustStore) -> FileRecord:
    """A worker killed while reading one file (out of memory, a crash in a C library)."""
    if rel.endswith("broken.md"):
        os.kill(os.getpid(), signal.SIGKILL)
    return records.read_record(root, rel, st, trust)


@pytest.mark.parametrize("reader, reason", [(raise_on_broken, "ValueError: a bug"),
                                            (die_on_broken, "stopped unexpectedly")])
def test_a_failing_worker_is_an_error_naming_the_file(vault: Vault, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      reader: records.Reader, reason: str) -> None:
    _mixed_vault(vault)
    monkeypatch.setattr(records, "pool_size", lambda files: 2)
    monkeypatch.setattr(records, "CHUNK", 3)
    facts = sorted((rel, st) for rel, st in walk_notes(vault.root) if rel.startswith("facts/"))
    trust = TrustStore.load(vault.root, vault.config.owner_key, vault.config.owner)
    start = time.monotonic()
    with pytest.raises(StorageError) as caught:
        list(records.read_records(vault.root, facts, trust, reader))
    assert "facts/local/x/broken.md" in str(caught.value)
    assert reason in str(caught.value)
    assert time.monotonic() - start < 60  # an error, not a hang


def slow_reader(root: Path, rel: str, st: os.stat_result, trust: TrustStore) -> FileRecord:
    """Reads slowly, and notes which process read (so the test can see workers go)."""
    with open(os.environ["STIGMEM_TEST_PIDS"], "a") as handle:
        handle.write(f"{os.getpid()}\n")
    time.sleep(0.05)
    return records.read_record(root, rel, st, trust)


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (gone, waiting to be reaped)."""
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:3]
    except FileNotFoundError:
        return False


def test_ctrl_c_stops_the_workers(vault: Vault, tmp_path: Path) -> None:
    for i in range(20):
        vault.assert_fact(entity=f"project:p{i}", relation="memory:role", value=f"r{i}")
    vault.flush()
    pids, ready = tmp_path / "pids", tmp_path / "ready"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from stigmem_vault.vault.trust import TrustStore
        from stigmem_vault.watch import records
        from stigmem_vault.watch.scan import walk_notes
        from watch.test_pool import slow_reader
        records.pool_size = lambda files: 2
        records.CHUNK = 2
        root = Path({str(vault.root)!r})
        trust = TrustStore.load(root, {vault.config.owner_key!r})
        facts = sorted(f for f in walk_notes(root) if f[0].startswith("facts/")) * 50
        try:
            for number, _record in enumerate(records.read_records(root, facts, trust, slow_reader)):
                if number == 0:
                    Path({str(ready)!r}).write_text("reading")
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """)
    env = {**os.environ, "STIGMEM_TEST_PIDS": str(pids)}
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the batch never started"
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=30)  # stops well before the 2,000 files are read
    assert (child.returncode, out.strip()) == (130, "interrupted")
    workers = {int(pid) for pid in pids.read_text().split()}
    assert len(workers) == 2 and child.pid not in workers
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived the interrupted scan"
        time.sleep(0.05)
