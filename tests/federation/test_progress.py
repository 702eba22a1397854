"""A sync that imports many facts tells the vault's progress hook (the CLI draws a bar)."""

from __future__ import annotations

from pathlib import Path

from stigmem_vault.api.vault import Vault

from .support import Nodes, bare_repo


def test_sync_import_reports_progress(nodes: Nodes, tmp_path: Path) -> None:
    remote = bare_repo(tmp_path / "r.git")
    a = nodes("a", "user:alice")
    b = nodes("b", "user:bob")
    for i in range(250):
        a.vault.assert_fact(entity=f"project:p{i}", relation="codex:state", value="v",
                            scope="team")
    a.vault.flush()
    a.vault.add_remote("r", str(remote), ["team"])
    a.sync()
    b.vault.add_remote("r", str(remote), ["team"])
    b.sync()  # learns of A; its facts wait until A is trusted
    heard: list[tuple[str, int, int]] = []
    b.vault.close()
    b.vault = Vault.open(b.root, home=b.home, commit_delay=None,
                         progress=lambda what, done, total: heard.append((what, done, total)))
    b.trust(a)
    b.sync()
    assert len(b.fact_ids()) == 250
    imported = [(done, total) for what, done, total in heard if what == "importing"]
    assert imported and imported[-1] == (250, 250)
    assert [done for done, _ in imported] == sorted(done for done, _ in imported)
