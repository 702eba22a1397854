"""read_record reads a file whole, without a 1 MiB buffer, and refuses one over the limit."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from stigmem_vault.vault.trust import TrustStore
from stigmem_vault.vault.verify import MAX_FACT_FILE_BYTES
from stigmem_vault.watch.scan import read_record


def _record(root: Path, rel: str, data: bytes, stale: bytes | None = None):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(stale if stale is not None else data)
    st = os.lstat(path)  # what the scan saw
    path.write_bytes(data)  # the file changed before it was read
    return read_record(root, rel, st, TrustStore("ed25519:owner"))


def test_small_file_is_read_whole(tmp_path: Path) -> None:
    data = b"---\nformat: x\n---\nhello\n"
    record = _record(tmp_path, "facts/a.md", data)
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.size == len(data)


def test_file_that_grew_past_the_limit_is_refused_unread(tmp_path: Path) -> None:
    """Checked again on the open file: oversized is refused before reading (not hashed, as
    when the scan's own lstat shows the size), and recorded with its current size."""
    data = b"x" * (MAX_FACT_FILE_BYTES + 5000)
    record = _record(tmp_path, "facts/b.md", data, stale=b"tiny")
    assert record.sha256 is None
    assert record.size == len(data)
    assert (record.status, record.reason) == (
        "malformed", f"is {len(data)} bytes, over the {MAX_FACT_FILE_BYTES}-byte limit")
