"""Helpers for the API tests: git through the stock CLI, and facts written behind the API's back."""

from __future__ import annotations

import subprocess
from pathlib import Path

from nacl.signing import SigningKey

from stigmem_vault.api.vault import Vault
from stigmem_vault.canonical.signing import sign_claim
from stigmem_vault.model.fact import Fact, make_claim
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.values import make_value
from stigmem_vault.vault import markdown
from stigmem_vault.vault.layout import fact_relpath

ALLOWED = "gpg.ssh.allowedSignersFile=.stigmem/allowed_signers"


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The stock git CLI, with the vault's allowed-signers file configured."""
    return subprocess.run(["git", "-c", ALLOWED, *args], cwd=root, capture_output=True, text=True,
                          check=check)


def porcelain(root: Path) -> str:
    return git(root, "status", "--porcelain", "--untracked-files=all").stdout


def commits(root: Path) -> list[str]:
    return git(root, "rev-list", "HEAD").stdout.split()


def files_in(root: Path, commit: str = "HEAD") -> list[str]:
    """Paths a commit added or changed (relative to its parent)."""
    out = git(root, "show", "--name-only", "--format=", commit).stdout
    return [line for line in out.splitlines() if line]


def assert_history_signed_and_linear(root: Path) -> None:
    for oid in commits(root):
        result = git(root, "verify-commit", oid, check=False)
        assert result.returncode == 0, (oid, result.stderr)
        parents = git(root, "rev-list", "--parents", "-n", "1", oid).stdout.split()[1:]
        assert len(parents) <= 1, f"{oid} is a merge"


def write_foreign_fact(vault: Vault, key: SigningKey, *, source: str, value: str = "x",
                       entity: str = "user:alice", relation: str = "memory:note") -> tuple[Fact, str]:
    """Sign a fact with ``key`` for ``source`` and drop it into the vault as a file (no API)."""
    claim = make_claim(entity=entity, relation=relation, value=make_value("string", value),
                       source=source, scope="team")
    fact = sign_claim(claim, HLC(1764000000000, 1, "outside"), "2026-11-24T10:00:00.000Z", key)
    rel = str(fact_relpath(fact))
    path = vault.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown.render(fact), encoding="utf-8")
    return fact, rel
