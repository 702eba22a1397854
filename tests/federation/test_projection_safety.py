"""What a node pushes can never carry a fact of another scope, whatever a human did on disk."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from stigmem_vault.api.vault import Vault


def _commit_by_hand(root: Path) -> None:
    """What an Obsidian git plugin or a person at the shell would do."""
    subprocess.run(["git", "add", "-A", "facts"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=person", "-c", "user.email=p@example.invalid",
                    "-c", "commit.gpgsign=false", "commit", "-qm", "by hand"], cwd=root, check=True)


def _all_objects(bare: Path) -> bytes:
    return subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=bare,
                          capture_output=True, check=True).stdout


def test_a_local_fact_moved_into_the_team_folder_is_not_pushed(tmp_path: Path) -> None:
    bare = tmp_path / "r1.git"
    subprocess.run(["git", "init", "--bare", "-q", str(bare)], check=True)
    vault = Vault.init(tmp_path / "a", owner="user:alice", home=tmp_path / "home",
                       commit_delay=None)
    secret = vault.assert_fact(entity="project:atlas", relation="project:secret",
                               value="launch codes", scope="local")
    shared = vault.assert_fact(entity="project:atlas", relation="project:status",
                               value="green", scope="team")
    vault.flush()
    # A person copies the local fact's file into the team folder (Obsidian drag and drop).
    source = vault.root / vault.get(secret.id).path
    moved = vault.root / "facts" / "team" / "moved-secret.md"
    shutil.copyfile(source, moved)
    _commit_by_hand(vault.root)

    vault.add_remote("r1", str(bare), ["team"])
    [report] = vault.sync("r1")
    assert report.error is None and report.pushed == ["team"]
    objects = _all_objects(bare)
    assert b"launch codes" not in objects
    assert b"project:status" in objects  # the honest team fact did go
    assert shared.id.encode() in objects
    vault.close()


def test_a_file_that_does_not_verify_is_not_pushed(tmp_path: Path) -> None:
    bare = tmp_path / "r1.git"
    subprocess.run(["git", "init", "--bare", "-q", str(bare)], check=True)
    vault = Vault.init(tmp_path / "a", owner="user:alice", home=tmp_path / "home",
                       commit_delay=None)
    fact = vault.assert_fact(entity="project:atlas", relation="project:status", value="green",
                             scope="team")
    vault.flush()
    path = vault.root / vault.get(fact.id).path
    broken = vault.root / "facts" / "team" / "broken.md"
    broken.write_text(path.read_text().replace("green", "hacked-value"))
    _commit_by_hand(vault.root)
    vault.refresh()
    vault.add_remote("r1", str(bare), ["team"])
    [report] = vault.sync("r1")
    assert report.error is None
    assert b"hacked-value" not in _all_objects(bare)
    vault.close()
