"""Nothing lost: a write acknowledged before a crash is committed by the next open."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path

from api.support import assert_history_signed_and_linear, commits, files_in, porcelain
from stigmem_vault.api.vault import Vault
from stigmem_vault.vault import config as cfg
from stigmem_vault.vault.layout import fact_relpath


def _markers(vault_path: Path) -> list[Path]:
    return sorted((vault_path / cfg.DIRTY_MARKER).parent.glob("uncommitted*"))


def test_unflushed_write_is_committed_on_reopen(home: Path, vault_path: Path) -> None:
    writer = Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None)
    fact = writer.assert_fact(entity="user:alice", relation="memory:role", value="engineer")
    rel = str(fact_relpath(fact))
    assert porcelain(vault_path) == f"?? {rel}\n"
    assert _markers(vault_path)
    del writer  # "crash": no flush, no close
    gc.collect()

    with Vault.open(vault_path, home=home, commit_delay=None) as again:
        assert porcelain(vault_path) == ""
        assert files_in(vault_path) == [rel]
        assert again.get(fact.id).fact == fact
        assert again.verify().ok
    assert_history_signed_and_linear(vault_path)


def test_write_survives_a_killed_process(home: Path, vault_path: Path) -> None:
    Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None).close()
    script = textwrap.dedent(f"""
        import os
        from stigmem_vault.api.vault import Vault
        v = Vault.open({str(vault_path)!r}, home={str(home)!r}, commit_delay=None)
        ids = [v.assert_fact(entity="user:alice", relation=f"memory:n{{i}}", value=i).id for i in range(5)]
        print(" ".join(ids), flush=True)
        os._exit(0)  # die without flushing or closing
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    ids = out.stdout.split()
    assert len(ids) == 5
    assert len(porcelain(vault_path).splitlines()) == 5
    with Vault.open(vault_path, home=home, commit_delay=None) as again:
        assert porcelain(vault_path) == ""
        assert sorted(v.fact.id for v in again.list_facts()) == sorted(ids)
    assert_history_signed_and_linear(vault_path)
    assert not _markers(vault_path)


def test_a_flush_elsewhere_does_not_cancel_another_writers_recovery(home: Path, vault_path: Path) -> None:
    # Two writers on one vault (two processes in real life). B writes and dies before it commits;
    # A commits its own work in between. B's file must still be recovered on the next open.
    a = Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None)
    b = Vault.open(vault_path, home=home, commit_delay=None)
    lost = b.assert_fact(entity="user:alice", relation="memory:from_b", value="b")
    a.assert_fact(entity="user:alice", relation="memory:from_a", value="a")
    a.flush()
    assert porcelain(vault_path) == f"?? {fact_relpath(lost)}\n"
    del b  # B crashes with its write uncommitted
    gc.collect()
    a.close()
    with Vault.open(vault_path, home=home, commit_delay=None) as again:
        assert porcelain(vault_path) == "", "B's acknowledged write was never committed"
        assert again.get(lost.id).fact == lost
    assert_history_signed_and_linear(vault_path)


def test_clean_open_makes_no_commit(vault: Vault, vault_path: Path, home: Path) -> None:
    vault.assert_fact(entity="user:alice", relation="memory:x", value=1)
    vault.close()
    head = commits(vault_path)
    with Vault.open(vault_path, home=home, commit_delay=None):
        pass
    assert commits(vault_path) == head
    assert not _markers(vault_path)
