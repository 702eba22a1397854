"""FileRecord as pool workers send it: pickled by hand (``__reduce__``), rows without a Fact."""

from __future__ import annotations

import pickle
from dataclasses import fields

from stigmem_vault.index.ingest import FileRecord, lean, with_rows

from .support import fact


def _full() -> FileRecord:
    """A record with every field set to something other than its default."""
    return FileRecord("facts/team/a.md", 120, 7, "ab" * 32, "vouched", "why", fact("agent:codex", "x", 1),
                      vouched_by="user:alice", blob="cd" * 20)


def test_a_pickled_record_comes_back_equal_field_by_field() -> None:
    for record in (_full(), with_rows(_full()), lean(_full()),
                   FileRecord("notes/n.md", 1, 2, None, "note", "")):
        back = pickle.loads(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))
        assert [getattr(back, f.name) for f in fields(FileRecord)] \
            == [getattr(record, f.name) for f in fields(FileRecord)]
    # Every field is set in _full (or by with_rows): a field added later and left out of
    # __reduce__ would come back as its default and fail above.
    assert all(getattr(with_rows(_full()), f.name) not in (None, "") for f in fields(FileRecord))


def test_lean_keeps_the_rows_and_drops_the_fact() -> None:
    record = _full()
    slim = lean(record)
    assert slim.fact is None and slim.rows == with_rows(record).rows
    assert slim.fact_id == record.fact_id
    assert [getattr(slim, f.name) for f in fields(FileRecord) if f.name not in ("fact", "rows")] \
        == [getattr(record, f.name) for f in fields(FileRecord) if f.name not in ("fact", "rows")]
