"""read_record reads exactly what one read(MAX_FACT_FILE_BYTES + 1) would, without the 1 MiB buffer."""

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


def test_file_that_grew_past_the_limit_is_read_up_to_limit_plus_one(tmp_path: Path) -> None:
    data = b"x" * (MAX_FACT_FILE_BYTES + 5000)
    record = _record(tmp_path, "facts/b.md", data, stale=b"tiny")
    assert record.sha256 == hashlib.sha256(data[:MAX_FACT_FILE_BYTES + 1]).hexdigest()
    assert record.size == len(data)
    assert record.status == "malformed"
