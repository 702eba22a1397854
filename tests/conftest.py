"""The fixture ladder: temp HOME (keys live here) -> vault (real git, real keys) -> Vault API.

Every test that needs a vault gets a fresh one in its own tmp_path; STIGMEM_HOME points at a
per-test directory so no test can touch the developer's real keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stigmem_vault.api.vault import Vault


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private STIGMEM_HOME for this test (outside the vault)."""
    path = tmp_path / "home"
    monkeypatch.setenv("STIGMEM_HOME", str(path))
    monkeypatch.delenv("STIGMEM_VAULT", raising=False)
    return path


@pytest.fixture
def vault_path(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def vault(home: Path, vault_path: Path) -> Iterator[Vault]:
    """A fresh vault owned by user:alice, with agent:codex as a second identity.

    Commits are explicit (commit_delay=None) so tests never race a timer.
    """
    opened = Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None)
    opened.create_identity("agent:codex")
    yield opened
    opened.close()
