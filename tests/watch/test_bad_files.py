"""Bad files never crash the watcher: each gets a status with its reason, and the rest of the
vault keeps indexing (a valid fact written at the same moment is still indexed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from stigmem_vault.api.vault import Vault
from stigmem_vault.vault.verify import MAX_FACT_FILE_BYTES

from .support import draft_text, signed_elsewhere, wait_for, wait_quiet, watching, write_via_rename

BILLION_LAUGHS = "\n".join([
    "---",
    'lol0: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    *(f"lol{i}: &{chr(97 + i)} [*{chr(96 + i)},*{chr(96 + i)},*{chr(96 + i)},*{chr(96 + i)},"
      f"*{chr(96 + i)},*{chr(96 + i)},*{chr(96 + i)},*{chr(96 + i)},*{chr(96 + i)}]" for i in range(1, 9)),
    "---", "boom",
])
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


def _sparse_50mb(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(b"---\n")
        handle.truncate(50 * 1024 * 1024)


def _symlink_out(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("/etc/passwd", path)


def _write(data: bytes):
    return lambda path: write_via_rename(path, data)


BAD = {
    "malformed-yaml": (_write(b"---\nentity: [unclosed\nrelation: x: y: z\n---\nbody\n"), "malformed YAML"),
    "not-a-fact": (_write(b"---\ntitle: hello\n---\n"), "missing propert"),
    "no-frontmatter": (_write(b"just some text\n"), "no frontmatter"),
    "invalid-utf8": (_write(b'---\nentity: "caf\xe9"\n---\n'), "not valid UTF-8"),
    "binary": (_write(PNG * 20), "binary"),
    "50mb": (_sparse_50mb, f"over the {MAX_FACT_FILE_BYTES}-byte limit"),
    "alias-bomb": (_write(BILLION_LAUGHS.encode()), "anchors and aliases"),
    "symlink-out": (_symlink_out, "symlink"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_fact_file_gets_a_status_and_the_vault_keeps_indexing(vault: Vault, kind: str) -> None:
    make, reason = BAD[kind]
    bad_rel = f"facts/local/junk/{kind}.md"
    good, good_rel, good_text = signed_elsewhere(vault, "agent:codex", "still here")
    with watching(vault) as seen:
        make(vault.root / bad_rel)
        write_via_rename(vault.root / good_rel, good_text)
        wait_for(lambda: vault.index.file_state(bad_rel) is not None, what=f"a status for {bad_rel}")
        wait_for(lambda: [i for i in vault.query() if i.fact.id == good.id], what="the good fact")
        wait_quiet(vault, seen)
    statuses = {path: (status, why) for path, status, why in vault.index.file_statuses()}
    status, why = statuses[bad_rel]
    assert status == "malformed"
    assert reason in why, why
    assert good_rel not in statuses
    assert os.path.lexists(vault.root / bad_rel)  # reported, not deleted


def test_every_bad_kind_at_once_in_one_batch(vault: Vault) -> None:
    good, good_rel, good_text = signed_elsewhere(vault, "agent:codex", "still here")
    with watching(vault) as seen:
        for kind, (make, _) in BAD.items():
            make(vault.root / f"facts/local/junk/{kind}.md")
        write_via_rename(vault.root / good_rel, good_text)
        wait_for(lambda: len(vault.index.file_statuses()) == len(BAD))
        wait_quiet(vault, seen)
    assert [i.fact.id for i in vault.query()] == [good.id]
    for path, status, why in vault.index.file_statuses():
        assert status == "malformed" and why, (path, status, why)
    # A fresh scan sees the same problems (the catch-up path), and still nothing crashes.
    report = vault.reindex()
    assert sorted(p for p, _, _ in report.problems) == sorted(f"facts/local/junk/{k}.md" for k in BAD)


def test_a_tampered_fact_is_reported_not_indexed_as_valid(vault: Vault) -> None:
    fact = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                             source="agent:codex")
    _forged, forged_rel, text = signed_elsewhere(vault, "agent:codex", "forged")
    text = text.replace('"forged"', '"tampered"', 1)
    with watching(vault) as seen:
        write_via_rename(vault.root / forged_rel, text)
        wait_for(lambda: vault.index.file_state(forged_rel) is not None)
        wait_quiet(vault, seen)
    status, why = vault.index.file_state(forged_rel)
    assert status == "id-mismatch" and "changed after signing" in why
    assert [i.fact.id for i in vault.query()] == [fact.id]


def test_an_unknown_signer_is_reported(vault: Vault, tmp_path: Path) -> None:
    other = Vault.init(tmp_path / "elsewhere", owner="user:mallory", home=tmp_path / "mhome",
                       commit_delay=None)
    fact, rel, text = signed_elsewhere(other, "user:mallory", "intruder")
    other.close()
    with watching(vault) as seen:
        write_via_rename(vault.root / rel, text)
        wait_for(lambda: vault.index.file_state(rel) is not None)
        wait_quiet(vault, seen)
    assert vault.index.file_state(rel)[0] == "unknown-signer"
    assert vault.query() == []
    assert [i.fact.id for i in vault.query(include_unverified=True)] == [fact.id]


def test_a_bad_fact_file_fixed_later_is_indexed(vault: Vault) -> None:
    good, rel, text = signed_elsewhere(vault, "agent:codex", "fixed")
    with watching(vault) as seen:
        write_via_rename(vault.root / rel, text[: len(text) // 3])  # a half-written file
        wait_for(lambda: vault.index.file_state(rel) is not None)
        write_via_rename(vault.root / rel, text)
        wait_for(lambda: [i for i in vault.query() if i.fact.id == good.id])
        wait_quiet(vault, seen)
    assert vault.index.file_state(rel)[0] == "valid"
    assert vault.index.file_statuses() == []


@pytest.mark.parametrize("kind", ["invalid-utf8", "binary", "50mb", "alias-bomb", "symlink-out"])
def test_a_bad_inbox_draft_is_reported_and_the_rest_still_signed(vault: Vault, kind: str) -> None:
    make, _ = BAD[kind]
    bad_rel = f"inbox/agent-codex/{kind}.md"
    with watching(vault) as seen:
        make(vault.root / bad_rel)
        write_via_rename(vault.root / "inbox/agent-codex/good.md", draft_text("fine", source=None))
        wait_for(lambda: seen.kinds("signed"))
        wait_for(lambda: [c for c in seen.changes if c.path == bad_rel], what=f"a report on {bad_rel}")
        wait_quiet(vault, seen)
    [report] = [c for c in seen.changes if c.path == bad_rel]
    assert report.kind == "rejected" and report.detail
    assert os.path.lexists(vault.root / bad_rel)
    if kind == "alias-bomb":  # readable text: the reason is written into the note
        assert "anchors and aliases" in (vault.root / bad_rel).read_text("utf-8")
    else:  # nothing to write into: the reason is the file's status
        assert vault.index.file_state(bad_rel) == ("rejected", report.detail)
        assert (bad_rel, "rejected", report.detail) in vault.index.file_statuses()
    assert [i.fact.value.v for i in vault.query()] == ["fine"]


def test_the_watcher_survives_a_file_vanishing_mid_batch(vault: Vault) -> None:
    with watching(vault) as seen:
        for i in range(20):
            path = vault.root / "notes" / f"flicker{i}.md"
            write_via_rename(path, draft_text(f"v{i}"))
            path.unlink(missing_ok=True)
        write_via_rename(vault.root / "notes" / "stays.md", draft_text("stays"))
        wait_for(lambda: [c for c in seen.kinds("signed") if "stays" in c.detail])
        wait_quiet(vault, seen)
    values = {i.fact.value.v for i in vault.query()}
    assert "stays" in values


def test_git_still_accepts_the_tree_after_bad_files(vault: Vault) -> None:
    with watching(vault) as seen:
        for kind, (make, _) in BAD.items():
            make(vault.root / f"facts/local/junk/{kind}.md")
        write_via_rename(vault.root / "notes/ok.md", draft_text("ok"))
        wait_for(lambda: seen.kinds("signed"))
        wait_quiet(vault, seen)
    assert vault.flush() is not None
    out = subprocess.run(["git", "log", "--oneline", "-1"], cwd=vault.root, capture_output=True,
                         text=True, check=True).stdout
    assert "draft" in out or "assert" in out
