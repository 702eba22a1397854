"""The index is a cache: a schema version, fingerprint or file it cannot read means a rebuild."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stigmem_vault.api.vault import Vault
from stigmem_vault.errors import StorageError
from stigmem_vault.index.db import INDEX_FILE, Database
from stigmem_vault.index.index import Index
from stigmem_vault.index.query import Filters
from stigmem_vault.index.schema import QUERY_INDEXES, SCHEMA_VERSION, TALLY_TRIGGERS

from .support import add, fact, new_index, record


def _count(path: Path, **kw: object) -> tuple[bool, int]:
    index = new_index(path, **kw)
    try:
        return index.rebuilt, len(index.query(Filters(include_superseded=True)))
    finally:
        index.close()


@pytest.fixture
def built(tmp_path: Path) -> Path:
    path = tmp_path / "index.sqlite3"
    index = new_index(path)
    assert index.rebuilt  # created from nothing
    add(index, fact("agent:codex", "review", 1), fact("agent:claude", "done", 2))
    index.close()
    return path


def test_a_matching_index_is_reused(built: Path) -> None:
    assert _count(built) == (False, 2)


def test_another_fingerprint_rebuilds(built: Path) -> None:
    assert _count(built, fingerprint="fp-2") == (True, 0)
    assert _count(built, fingerprint="fp-2") == (False, 0)


def test_another_schema_version_rebuilds(built: Path) -> None:
    conn = sqlite3.connect(built)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    assert _count(built) == (True, 0)


def test_an_index_without_its_meta_row_rebuilds(built: Path) -> None:
    conn = sqlite3.connect(built)
    conn.execute("DELETE FROM meta")
    conn.commit()
    conn.close()
    assert _count(built) == (True, 0)


@pytest.mark.parametrize("garbage", [b"not a database at all\n" * 100, b"\x00" * 4096,
                                     b"SQLite format 3\x00" + b"\xff" * 4000, b""])
def test_a_corrupt_file_rebuilds(built: Path, garbage: bytes) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{built}{suffix}").unlink(missing_ok=True)
    built.write_bytes(garbage)
    assert _count(built) == (True, 0)


def test_an_unrelated_database_rebuilds(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE stranger (x)")
    conn.close()
    assert _count(path) == (True, 0)


# ------------------------------------------------------------------ through the vault


def _answers(vault: Vault) -> list[tuple[str, bool]]:
    return [(i.fact.id, i.live) for i in vault.query(include_superseded=True)]


def test_a_vault_rebuilds_a_corrupt_index_from_its_files(home: Path, vault_path: Path) -> None:
    vault = Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None)
    first = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer")
    vault.amend(first.id, value="manager")
    expected = _answers(vault)
    assert len(expected) == 2
    vault.close()

    index_file = vault_path / INDEX_FILE
    for suffix in ("-wal", "-shm"):
        Path(f"{index_file}{suffix}").unlink(missing_ok=True)
    index_file.write_bytes(b"garbage, not SQLite " * 500)
    with Vault.open(vault_path, home=home, commit_delay=None) as reopened:
        assert _answers(reopened) == expected
        assert reopened.index.rebuilt


def test_a_vault_rebuilds_when_its_schemas_change_the_rules(home: Path, vault_path: Path) -> None:
    vault = Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None)
    vault.create_identity("agent:codex")
    vault.assert_fact(entity="user:bob", relation="project:tag", value="red")
    vault.assert_fact(entity="user:bob", relation="project:tag", value="blue", source="agent:codex")
    assert len(vault.conflicts("open")) == 1
    vault.close()

    (vault_path / ".stigmem/schemas/tag.yaml").write_text(
        "relation: project:tag\ntype: string\ncardinality: multi\n")
    with Vault.open(vault_path, home=home, commit_delay=None) as reopened:
        assert reopened.conflicts("open") == []
        assert reopened.index.rebuilt
        assert len(reopened.query(relation="project:tag")) == 2


def _index_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_a_bulk_load_answers_as_row_by_row_inserts_and_leaves_every_index(tmp_path: Path) -> None:
    items = [fact("agent:codex", n % 3, n, entity=f"project:p{n % 7}") for n in range(40)]
    items += [fact("agent:claude", "x", 100 + n, entity=f"project:p{n}") for n in range(7)]
    plain, bulk = new_index(tmp_path / "plain.sqlite3"), new_index(tmp_path / "bulk.sqlite3")
    try:
        add(plain, *items)
        with bulk.bulk_load():
            assert not set(QUERY_INDEXES) & _index_names(bulk.db.path)
            add(bulk, *items[:20])
            add(bulk, *items[20:])
        everything = Filters(include_superseded=True)
        assert [i.fact.id for i in bulk.query(everything)] == [i.fact.id for i in plain.query(everything)]
        assert bulk.counts() == plain.counts()
        assert _tallies(bulk.db.path) == _tallies(plain.db.path)
        assert [(c.id, c.status) for c in bulk.conflicts()] == [(c.id, c.status) for c in plain.conflicts()]
        assert _index_names(bulk.db.path) == _index_names(plain.db.path)
        assert _trigger_names(bulk.db.path) == _trigger_names(plain.db.path) == set(TALLY_TRIGGERS)
    finally:
        plain.close()
        bulk.close()


def _trigger_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")}


def _tallies(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT key, n FROM tallies WHERE n != 0"))


def test_opening_an_index_a_stopped_bulk_load_left_without_indexes_or_triggers_restores_them(
        built: Path) -> None:
    counted = _tallies(built)
    with sqlite3.connect(built) as conn:
        for name in QUERY_INDEXES:
            conn.execute(f"DROP INDEX {name}")
        for name in TALLY_TRIGGERS:  # and without the triggers: what it inserted is uncounted
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DELETE FROM tallies")
    index = new_index(built)
    try:
        assert not index.rebuilt and set(QUERY_INDEXES) <= _index_names(built)
        assert _trigger_names(built) == set(TALLY_TRIGGERS)
        assert _tallies(built) == counted and index.counts()["facts"] == 2
        assert len(index.query(Filters(include_superseded=True))) == 2
        add(index, fact("agent:codex", "later", 3))  # counted by the triggers again
        assert index.counts()["facts"] == 3
    finally:
        index.close()


def _fact_places(index: Index) -> set[tuple[str, str | None, int]]:
    return set(index.db.conn.execute("SELECT id, path, present FROM facts"))


def test_a_batch_naming_a_path_or_a_fact_twice_is_applied_as_one_record_at_a_time(
        tmp_path: Path) -> None:
    """New facts are inserted together at the end of a batch: a later record of the batch
    that detaches or moves one of them must still find it."""
    first, second = fact("agent:codex", "a", 1), fact("agent:codex", "b", 2)
    batch = [record(first, path="facts/team/x.md"), record(second, path="facts/team/x.md"),
             record(second, path="facts/team/y.md")]
    together, apart = new_index(tmp_path / "together.sqlite3"), new_index(tmp_path / "apart.sqlite3")
    try:
        together.apply(batch, [])
        for one in batch:
            apart.apply([one], [])
        assert _fact_places(together) == _fact_places(apart) \
            == {(first.id, None, 0), (second.id, "facts/team/y.md", 1)}
        assert together.counts() == apart.counts()
    finally:
        together.close()
        apart.close()


def test_an_index_opened_while_a_load_holds_the_write_lock_is_read_without_its_query_indexes(
        built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with sqlite3.connect(built) as conn:
        conn.execute("DROP INDEX facts_cid")
    monkeypatch.setattr(Database, "busy_seconds", 0.05)
    loader = sqlite3.connect(built, isolation_level=None)
    loader.execute("BEGIN IMMEDIATE")  # a bulk load's batch, still going
    try:
        index = new_index(built)  # opens: it cannot create facts_cid now, and does not fail
        try:
            assert "facts_cid" not in _index_names(built)
            assert len(index.query(Filters(include_superseded=True))) == 2
        finally:
            index.close()
    finally:
        loader.execute("ROLLBACK")
        loader.close()
    again = new_index(built)
    again.close()
    assert "facts_cid" in _index_names(built)


def test_an_index_another_program_holds_locked_is_reported_not_deleted(
        built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A database browser that opens the index in exclusive locking mode: the file is
    # fine, only busy. Opening must say so, and must not delete and rebuild it.
    monkeypatch.setattr(Database, "busy_seconds", 0.05)
    browser = sqlite3.connect(built, isolation_level=None)
    browser.execute("PRAGMA locking_mode=EXCLUSIVE")
    browser.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match=r"index\.sqlite3: cannot open the index: .*locked"):
            new_index(built)
    finally:
        browser.execute("ROLLBACK")
        browser.close()
    assert _count(built) == (False, 2)
