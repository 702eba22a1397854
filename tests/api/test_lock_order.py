"""The vault's write lock and git's lock are always taken in the same order (no deadlock).

refresh() and the watcher hold git's lock and then write notes (which take the vault's write
lock); a timed flush fired meanwhile used to hold the vault's lock and wait for git's: deadlock.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from stigmem_vault.api.vault import Vault


def test_timed_flush_during_a_locked_batch_does_not_deadlock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    vault = Vault.init(tmp_path / "v", owner="user:alice", home=home, commit_delay=0.05)
    _ = vault.index
    assert vault.git is not None
    git = vault.git
    failures: list[BaseException] = []

    def batch() -> None:
        try:
            with git.locked():  # what refresh() and the watcher hold while they work
                vault.assert_fact(entity="user:bob", relation="memory:role", value="x")
                time.sleep(0.3)  # the commit timer fires meanwhile
                vault.write_note("notes/a.md", "hello\n", "note")
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=batch, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "deadlock between the vault's write lock and git's lock"
    assert not failures
    vault.close()
    assert (tmp_path / "v" / "notes" / "a.md").read_text() == "hello\n"
