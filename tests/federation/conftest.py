"""Fixtures for federation tests: nodes (vaults with their own homes), bare remotes, git daemon."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import GitDaemon, Nodes, bare_repo, reserved_port


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    made = Nodes(tmp_path)
    yield made
    made.close()


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """The folder the git daemon serves; bare remotes made here are reachable over git://."""
    path = tmp_path / "served"
    path.mkdir()
    return path


@pytest.fixture
def daemon(served: Path) -> Iterator[GitDaemon]:
    running = GitDaemon(served).start()
    yield running
    running.kill()


@pytest.fixture
def remote(served: Path):
    """Make a bare remote by name under the served folder; returns its path."""

    def make(name: str) -> Path:
        return bare_repo(served / f"{name}.git")

    return make


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A git:// URL where nothing listens (and nothing can start listening meanwhile)."""
    holder = reserved_port()
    yield f"git://127.0.0.1:{holder.getsockname()[1]}/r.git"
    holder.close()
