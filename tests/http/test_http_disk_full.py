"""A full disk (issue 9, item 8): the vault on a small tmpfs, filled up. A write is 503
``storage_full`` with Retry-After, names no server path, and succeeds once there is room.

Mounting a tmpfs needs the right to mount (root, or a user namespace); without it the test is
skipped, saying so.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_support import Node

SIZE = "8m"


@pytest.fixture
def vault_path(tmp_path: Path) -> Iterator[Path]:
    """The vault's folder on a tmpfs of its own (overrides the conftest fixture)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount / "vault"
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Take every free byte of the file system ``folder`` is on."""
    filler = folder / "filler.bin"
    with filler.open("wb", buffering=0) as out:
        chunk = b"\0" * (1 << 20)
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                if len(chunk) == 1:
                    return filler
                chunk = chunk[: len(chunk) // 2]


def test_a_full_disk_is_503_with_retry_after(start_node: object) -> None:
    node: Node = start_node()  # type: ignore[operator]
    client = node.client("codex")
    client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    filler = fill(node.vault.root.parent)

    response = client.request("POST", "/v1/facts", json={
        "entity": "user:bob", "relation": "memory:role",
        "value": {"type": "text", "v": "x" * 60_000}, "source": "agent:codex"})

    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "storage_full"
    assert int(response.headers["Retry-After"]) > 0
    assert str(node.vault.root.parent) not in response.text

    filler.unlink()
    again = client.assert_fact("user:bob", "memory:role", "builder", source="agent:codex")
    assert client.get_fact(again.id).value.v == "builder"
