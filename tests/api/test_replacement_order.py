"""A replacement is stamped after what it replaces, even when another process of the node,
whose clock runs ahead, stamped the original (seen in bench/soak.py: CLI asserts edited in
Obsidian, the edits signed by the node's watcher)."""

from __future__ import annotations

import time
from pathlib import Path

from stigmem_vault.api.vault import Vault
from stigmem_vault.model.hlc import HLC


def test_an_amendment_sorts_after_a_fact_stamped_ahead_by_another_process(
        home: Path, vault_path: Path) -> None:
    node = Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None)
    assert node.clock is not None
    node.assert_fact(entity="user:alice", relation="memory:warmup", value=1)
    # Another process of the node starts later, above the shared lease: 5 s ahead of ours.
    lease = vault_path / ".stigmem" / "local" / "clock"
    lease.write_text(f"{int(time.time() * 1000) + 5000}\n")
    with Vault.open(vault_path, home=home, commit_delay=None) as cli:
        original = cli.assert_fact(entity="user:alice", relation="memory:role", value="a")
    node.refresh()
    replacements = [
        node.amend(original.id, value="b"),
        node.assert_fact(entity="user:alice", relation="memory:role", value="c",
                         supersedes=original.id),
    ]
    for replacement in replacements:
        assert HLC.parse(replacement.hlc) > HLC.parse(original.hlc)
    assert HLC.parse(replacements[1].hlc) > HLC.parse(replacements[0].hlc)
    node.close()
