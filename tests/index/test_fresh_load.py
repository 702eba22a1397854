"""A first index (``Index.bulk_load``) inserts a fact alone on its key with its liveness
instead of recomputing it (ingest.FreshLoad): the index it builds must be the one the general
path builds, whatever the order of the files, and the shortcut must stop the moment another
writer could have put something beside a fact it inserted."""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stigmem_vault.index import index as index_module
from stigmem_vault.index.index import Index
from stigmem_vault.index.ingest import FileRecord
from stigmem_vault.index.query import ConflictRecord
from stigmem_vault.model.fact import Fact

from .support import MULTI, fact, new_index, record

SOURCES = ("user:alice", "agent:codex", "agent:claude")


def _state(index: Index) -> tuple[object, ...]:
    """Everything derived from the facts: liveness, replacements, conflicts, the totals."""
    conn = index.db.conn
    return (
        conn.execute("SELECT id, path, present, live, superseded_by, contradicted FROM facts"
                     " ORDER BY id").fetchall(),
        conn.execute("SELECT * FROM conflicts ORDER BY id").fetchall(),
        conn.execute("SELECT path, fact_id, status FROM files ORDER BY path").fetchall(),
        index.counts(),
    )


def _pair(conflict: ConflictRecord) -> set[str]:
    return {item.fact.id for item in (conflict.fact_a, conflict.fact_b) if item is not None}


def _recomputed(monkeypatch: pytest.MonkeyPatch) -> list[set[tuple[str, str, str]]]:
    """The keys each ``Index.apply`` handed to ``recompute``."""
    calls: list[set[tuple[str, str, str]]] = []
    real = index_module.recompute  # type: ignore[attr-defined]

    def spy(conn: sqlite3.Connection, keys: set[tuple[str, str, str]], *args: object) -> None:
        calls.append(set(keys))
        real(conn, keys, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(index_module, "recompute", spy)
    return calls


# One fact: (source, entity, multi-valued relation?, value, confidence 0?, superseded fact,
# derived-from facts, verdict, a second file holding it). Targets are earlier facts (ids are
# hashes of the content); the order the files are applied in is drawn apart from it.
_spec = st.tuples(st.integers(0, 2), st.integers(0, 5), st.booleans(), st.integers(0, 2),
                  st.booleans(), st.integers(-1, 12), st.lists(st.integers(0, 12), max_size=2),
                  st.sampled_from(["valid", "valid", "valid", "invalid", "vouched"]),
                  st.booleans())


def _records(specs: list[tuple[Any, ...]]) -> list[FileRecord]:
    made: list[Fact] = []
    records: list[FileRecord] = []
    for at, (source, entity, multi, value, zero, sup, derived, status, twice) in enumerate(specs):
        item = fact(SOURCES[source], f"v{value}", at, entity=f"project:p{entity}",
                    relation=MULTI if multi else "codex:current_state",
                    confidence=0.0 if zero else 1.0,
                    supersedes=made[sup].id if 0 <= sup < len(made) else None,
                    derived_from=sorted({made[d].id for d in derived if d < len(made)}) or None)
        made.append(item)
        voucher = "user:alice" if status == "vouched" else None
        records.append(record(item, status, path=f"facts/team/f{at}.md", vouched_by=voucher))
        if twice:
            records.append(record(item, status, path=f"facts/team/f{at}-copy.md",
                                  vouched_by=voucher))
    return records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(_spec, min_size=1, max_size=14), order=st.randoms(use_true_random=False),
       size=st.integers(1, 6))
def test_a_first_index_builds_the_index_the_general_path_builds(specs: list[tuple[Any, ...]],
                                                                 order: object,
                                                                 size: int) -> None:
    records = _records(specs)
    order.shuffle(records)  # type: ignore[attr-defined]
    batches = [records[start:start + size] for start in range(0, len(records), size)]
    with tempfile.TemporaryDirectory() as tmp:
        plain, loaded = new_index(Path(tmp) / "plain.sqlite3"), new_index(Path(tmp) / "load.sqlite3")
        try:
            for batch in batches:
                plain.apply(batch, [])
            with loaded.bulk_load():
                for batch in batches:
                    loaded.apply(batch, [])
            assert _state(loaded) == _state(plain)
        finally:
            plain.close()
            loaded.close()


def test_facts_alone_on_their_keys_are_not_recomputed(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    lone = [fact("agent:codex", "a", n, entity=f"project:p{n}") for n in range(5)]
    calls = _recomputed(monkeypatch)
    index = new_index(tmp_path / "index.sqlite3")
    try:
        with index.bulk_load():
            touched = index.apply([record(item) for item in lone[:3]], [])
            # A second fact on p0's key, and one superseding p1's: those keys are recomputed.
            later = [fact("agent:codex", "b", 10, entity="project:p0"),
                     fact("agent:codex", "c", 11, entity="project:p9", supersedes=lone[1].id)]
            index.apply([record(item) for item in [*lone[3:], *later]], [])
        assert calls[0] == set() and len(touched) == 3
        assert calls[1] == {("project:p0", "codex:current_state", "team"),
                            ("project:p1", "codex:current_state", "team"),
                            ("project:p9", "codex:current_state", "team")}
        live = {row[0] for row in index.db.conn.execute("SELECT id FROM facts WHERE live = 1")}
        assert live == {lone[2].id, lone[3].id, lone[4].id, later[0].id, later[1].id}
        assert [c.status for c in index.conflicts()] == []  # same source: b replaced a
    finally:
        index.close()


def test_another_connection_writing_during_a_first_index_ends_the_shortcut(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent asserts through another process while a first index runs: the fact it
    indexed shares a key with one the load inserts later, which must meet it."""
    path = tmp_path / "index.sqlite3"
    mine = fact("agent:codex", "from the files", 1)
    theirs = fact("agent:claude", "from an agent", 2)
    calls = _recomputed(monkeypatch)
    loader, other = new_index(path), new_index(path)
    try:
        with loader.bulk_load():
            loader.apply([record(fact("agent:codex", "x", 0, entity="project:other"))], [])
            other.apply([record(theirs)], [])
            loader.apply([record(mine)], [])
        assert calls[-1] == {(mine.entity, mine.relation, "team")}
        [conflict] = loader.conflicts()
        assert _pair(conflict) == {mine.id, theirs.id}
        assert conflict.status == "open"
    finally:
        loader.close()
        other.close()


def test_another_thread_applying_during_a_first_index_is_weighed_with_the_load(
        tmp_path: Path) -> None:
    """A node's HTTP writer indexes a fact on the index a first index is loading: through the
    same ``Index``, so the load knows of it."""
    index = new_index(tmp_path / "index.sqlite3")
    mine = fact("agent:codex", "from the files", 1)
    theirs = fact("agent:claude", "from an agent", 2)
    try:
        with index.bulk_load():
            index.apply([record(fact("agent:codex", "x", 0, entity="project:other"))], [])
            writer = threading.Thread(target=index.apply, args=([record(theirs)], []))
            writer.start()
            writer.join()
            index.apply([record(mine)], [])
        [conflict] = index.conflicts()
        assert _pair(conflict) == {mine.id, theirs.id}
    finally:
        index.close()


@pytest.mark.parametrize("derived", [False, True])
def test_a_fact_named_before_it_arrives_is_recomputed(tmp_path: Path, derived: bool) -> None:
    """The amendment's file is read before the file of the fact it replaces, on another key
    (supersedes) or on its own (derived_from, as a resolution): the replaced fact, when it
    comes, is weighed against it, not inserted live."""
    old = fact("agent:codex", "old", 0)
    if derived:
        new = fact("agent:codex", "new", 1, derived_from=[old.id])
    else:
        new = fact("agent:codex", "new", 1, entity="project:elsewhere", supersedes=old.id)
    index = new_index(tmp_path / "index.sqlite3")
    try:
        with index.bulk_load():
            index.apply([record(new)], [])
            index.apply([record(old)], [])
        assert index.db.conn.execute("SELECT live, superseded_by FROM facts WHERE id = ?",
                                     (old.id,)).fetchone() == (0, new.id)
    finally:
        index.close()


def test_a_load_into_an_index_holding_facts_takes_no_shortcut(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = new_index(tmp_path / "index.sqlite3")
    theirs = fact("agent:claude", "already here", 0)
    mine = fact("agent:codex", "loaded", 1)
    calls = _recomputed(monkeypatch)
    try:
        index.apply([record(theirs)], [])
        with index.bulk_load():
            index.apply([record(mine)], [])
        assert calls[-1] == {(mine.entity, mine.relation, "team")}
        assert len(index.conflicts()) == 1
    finally:
        index.close()
