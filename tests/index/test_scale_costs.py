"""What one change costs must not grow with the vault: counted in SQLite VM steps, which a
full scan of a table makes grow with its rows (and which no machine's load changes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from index.support import fact, new_index, record
from stigmem_vault.index.index import Index


def _steps(index: Index, action: Callable[[], object]) -> int:
    """SQLite virtual-machine instructions ``action`` runs, in hundreds."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    index.db.conn.set_progress_handler(tick, 100)
    try:
        action()
    finally:
        index.db.conn.set_progress_handler(None, 100)
    return count


def _filled(path: Path, facts: int) -> tuple[Index, list[str]]:
    index = new_index(path)
    records = [record(fact("agent:codex", n, n, entity=f"project:p{n}"),
                      path=f"facts/team/p{n}/f.md") for n in range(facts)]
    index.apply(records, [])
    return index, [r.path for r in records]


def _costs(tmp_path: Path, facts: int) -> dict[str, int]:
    index, paths = _filled(tmp_path / f"{facts}.sqlite3", facts)
    try:
        rewritten = record(fact("agent:codex", "new", 10**6, entity="project:p1"), path=paths[1])
        return {
            "remove a file": _steps(index, lambda: index.apply([], [paths[0]])),
            "rewrite a file with another fact": _steps(index, lambda: index.apply([rewritten], [])),
            "counts": _steps(index, index.counts),
            "fact files by scope": _steps(index, index.fact_files_by_scope),
            "file count": _steps(index, index.file_count),
        }
    finally:
        index.close()


def test_a_change_and_the_status_counts_cost_the_same_in_a_vault_ten_times_larger(
        tmp_path: Path) -> None:
    small, large = _costs(tmp_path, 300), _costs(tmp_path, 3000)
    for what, steps in large.items():
        # A scan of the 10x larger table would take about 10x the steps.
        assert steps <= 2 * small[what] + 5, (what, small[what], steps)
