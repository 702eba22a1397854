"""Paths in the vault: readable, bucketed, bounded, and never outside the vault."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from model.factgen import facts, identifiers, relations, simple_fact

from stigmem_vault.errors import FormatError
from stigmem_vault.model.fact import Fact
from stigmem_vault.vault.layout import (
    MAX_SEGMENT,
    MAX_SEGMENT_BYTES,
    entity_note_relpath,
    entity_segments,
    fact_relpath,
    inside,
    is_fact_path,
    relation_slug,
    wikilink,
)
from stigmem_vault.vault.store import write_atomic


def test_entity_segments_examples() -> None:
    bucket = hashlib.sha256(b"user:alice").hexdigest()[:2]
    assert entity_segments("user:alice") == ("user", bucket, "alice")
    formal = entity_segments("stigmem://acme/project/atlas")
    assert formal[:2] == ("acme", "project") and formal[3] == "atlas"
    assert entity_segments("urn:isbn:0451450523")[0] == "urn"


def test_fact_relpath_example() -> None:
    fact = simple_fact()
    rel = fact_relpath(fact)
    assert rel.parts[:4] == ("facts", "team", "acme", "project")
    assert rel.name == f"codex.current_state--{fact.id[:12]}.md"
    assert is_fact_path(rel)
    assert not is_fact_path(PurePosixPath("entities/user/2b/alice.md"))
    assert not is_fact_path(PurePosixPath("facts/x.txt"))


@settings(max_examples=300, deadline=None)
@given(facts())
def test_fact_paths_stay_inside_and_are_safe(fact: Fact) -> None:
    rel = fact_relpath(fact)
    assert rel.parts[0] == "facts" and rel.parts[1] == fact.scope.value
    for part in rel.parts:
        assert part not in ("", ".", "..") and not part.startswith(".")
        assert "/" not in part and "\\" not in part and "\x00" not in part
        assert len(part) <= MAX_SEGMENT and len(part.encode()) <= 255
    assert is_fact_path(rel)


@given(identifiers)
def test_entity_note_paths_are_safe(entity: str) -> None:
    from stigmem_vault.model.identifiers import normalize_identifier

    rel = entity_note_relpath(normalize_identifier(entity, "entity"))
    assert rel.parts[0] == "entities" and rel.suffix == ".md"
    assert all(part not in ("", ".", "..") and len(part) <= MAX_SEGMENT + 3 for part in rel.parts)
    assert all(len(part.encode()) <= 255 for part in rel.parts)


@given(relations)
def test_relation_slug_is_one_segment(relation: str) -> None:
    slug = relation_slug(relation)
    assert "/" not in slug and ":" not in slug and slug


def test_long_names_are_truncated_with_a_hash() -> None:
    long_a = "user:" + "a" * 200
    long_b = "user:" + "a" * 199 + "b"
    seg_a, seg_b = entity_segments(long_a)[-1], entity_segments(long_b)[-1]
    assert len(seg_a) == MAX_SEGMENT and seg_a != seg_b


@pytest.mark.parametrize("letter", ["\U00020000", "\u4e2d", "\u00e9"])
@pytest.mark.parametrize("count", [60, 63, 64, 70, 80, 200])
def test_segments_fit_a_file_name_in_bytes(tmp_path: Path, letter: str, count: int) -> None:
    """70 four-byte letters are 280 bytes: cut (with a hash) to fit 255 with ".md" after it."""
    entity = "user:" + letter * count
    segment = entity_segments(entity)[-1]
    assert len(segment) <= MAX_SEGMENT and len(segment.encode()) <= MAX_SEGMENT_BYTES
    if len((letter * count).encode()) <= MAX_SEGMENT_BYTES and count <= MAX_SEGMENT:
        assert segment == letter * count  # what fits is kept as it is (no path moves)
    else:
        assert segment.endswith("~" + hashlib.sha256((letter * count).encode()).hexdigest()[:8])
    note = tmp_path / entity_note_relpath(entity)  # as Obsidian creates it from a link
    note.parent.mkdir(parents=True)
    note.write_bytes(b"x")  # the file system takes the name
    assert note.read_bytes() == b"x"


def test_dot_segments_are_defused() -> None:
    assert entity_segments("stigmem://a/b/.hidden")[-1] == "_hidden"


def test_wikilink_escapes_label() -> None:
    assert wikilink(PurePosixPath("entities/user/2b/alice.md"), "a|b]c[d") == \
        "[[entities/user/2b/alice|a/b)c(d]]"


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/../../x", "facts/..", ".."])
def test_inside_refuses_traversal(tmp_path: Path, rel: str) -> None:
    with pytest.raises(FormatError, match="escapes the vault"):
        inside(tmp_path, rel)


def test_inside_refuses_symlinks_out(tmp_path: Path) -> None:
    root = tmp_path / "vault"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(FormatError, match="symlink"):
        inside(root, "link/x")
    assert inside(root, "facts/a.md") == root / "facts" / "a.md"


def test_write_atomic_exclusive_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.md"
    write_atomic(target, b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        write_atomic(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    write_atomic(target, b"third")
    assert target.read_bytes() == b"third"
    assert sorted(os.listdir(target.parent)) == ["b.md"]  # no temp files left
