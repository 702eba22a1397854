"""Two threads writing the same path at once (e.g. one conflict note) both succeed."""

from __future__ import annotations

import threading
from pathlib import Path

from stigmem_vault.vault.store import write_atomic


def test_threads_writing_one_path_never_share_a_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "notes" / "conflict.md"
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(50):
                write_atomic(target, f"writer {n} round {i}\n".encode(), sync=False)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_text().startswith("writer ")
    assert sorted(p.name for p in target.parent.iterdir()) == ["conflict.md"]
