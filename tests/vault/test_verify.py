"""verify_file: every verdict, and files that are not facts at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from model.factgen import KEY, OTHER_KEY, simple_fact

from stigmem_vault.canonical.signing import key_id
from stigmem_vault.vault import markdown
from stigmem_vault.vault.trust import TrustStore, make_binding
from stigmem_vault.vault.verify import MAX_FACT_FILE_BYTES, Verdict, verify_file

REL = "facts/team/x/f.md"


@pytest.fixture
def trust() -> TrustStore:
    owner = key_id(KEY.verify_key)
    store = TrustStore(owner)
    store.add(make_binding("user:alice", owner, "2026-01-01T00:00:00.000Z", KEY))
    store.add(make_binding("agent:codex", key_id(OTHER_KEY.verify_key), "2026-01-01T00:00:00.000Z", KEY))
    return store


def put(root: Path, data: str | bytes, rel: str = REL) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return rel


def test_valid(tmp_path: Path, trust: TrustStore) -> None:
    fact = simple_fact(OTHER_KEY)  # agent:codex signed by its bound key
    verdict = verify_file(tmp_path, put(tmp_path, markdown.render(fact)), trust)
    assert verdict.verdict is Verdict.VALID and verdict.ok
    assert verdict.fact == fact and verdict.canonical is not None


def test_unattested_when_the_key_speaks_for_someone_else(tmp_path: Path, trust: TrustStore) -> None:
    fact = simple_fact(OTHER_KEY, source="user:alice")  # codex's key, alice's name
    verdict = verify_file(tmp_path, put(tmp_path, markdown.render(fact)), trust)
    assert verdict.verdict is Verdict.UNATTESTED and not verdict.ok
    assert "bound to agent:codex, not to the source user:alice" in verdict.reason


def test_unknown_signer(tmp_path: Path, trust: TrustStore) -> None:
    from nacl.signing import SigningKey

    fact = simple_fact(SigningKey(b"\x09" * 32))
    verdict = verify_file(tmp_path, put(tmp_path, markdown.render(fact)), trust)
    assert verdict.verdict is Verdict.UNKNOWN_SIGNER
    assert "not in the vault's trust store" in verdict.reason


def test_malformed_reason_carries_the_line(tmp_path: Path, trust: TrustStore) -> None:
    text = markdown.render(simple_fact()).replace('scope: "team"', "scope: [team", 1)
    verdict = verify_file(tmp_path, put(tmp_path, text), trust)
    assert verdict.verdict is Verdict.MALFORMED and verdict.fact is None
    assert verdict.reason.startswith("line ") and "malformed YAML" in verdict.reason


@pytest.mark.parametrize(("data", "reason"), [
    (b"---\nformat: x\x00\n---\n", "binary"),
    (b"---\nentity: \"caf\xe9\"\n---\n", "not valid UTF-8"),
    (b"", "no frontmatter"),
    (b"\xef\xbb\xbf", "no frontmatter"),
])
def test_non_fact_bytes(tmp_path: Path, trust: TrustStore, data: bytes, reason: str) -> None:
    verdict = verify_file(tmp_path, put(tmp_path, data), trust)
    assert verdict.verdict is Verdict.MALFORMED and reason in verdict.reason


def test_huge_file_is_refused_without_reading_it(tmp_path: Path, trust: TrustStore) -> None:
    rel = put(tmp_path, b"")
    with open(tmp_path / rel, "wb") as handle:
        handle.truncate(MAX_FACT_FILE_BYTES + 1)  # sparse: cheap to make
    verdict = verify_file(tmp_path, rel, trust)
    assert verdict.verdict is Verdict.MALFORMED and "over the" in verdict.reason


def test_symlink_is_refused(tmp_path: Path, trust: TrustStore) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text(markdown.render(simple_fact(OTHER_KEY)))
    (tmp_path / "facts").mkdir()
    (tmp_path / "facts" / "link.md").symlink_to(outside)
    verdict = verify_file(tmp_path, "facts/link.md", trust)
    assert verdict.verdict is Verdict.MALFORMED and "symlink" in verdict.reason


def test_missing_and_directory(tmp_path: Path, trust: TrustStore) -> None:
    assert verify_file(tmp_path, "facts/none.md", trust).verdict is Verdict.MALFORMED
    (tmp_path / "facts" / "dir.md").mkdir(parents=True)
    verdict = verify_file(tmp_path, "facts/dir.md", trust)
    assert (verdict.verdict, verdict.reason) == (
        Verdict.MALFORMED, "is not a regular file: a folder; it is never opened")


def test_vouched_when_the_key_may_vouch_for_others(tmp_path: Path) -> None:
    owner = key_id(KEY.verify_key)
    store = TrustStore(owner, owner="user:alice")
    store.add(make_binding("user:alice", owner, "2026-01-01T00:00:00.000Z", KEY))
    store.add(make_binding("agent:codex", key_id(OTHER_KEY.verify_key),
                           "2026-01-01T00:00:00.000Z", KEY))
    by_owner = simple_fact(KEY, source="agent:someone")  # the owner's key, another's name
    verdict = verify_file(tmp_path, put(tmp_path, markdown.render(by_owner)), store)
    assert (verdict.verdict, verdict.vouched_by) == (Verdict.VOUCHED, "user:alice")
    assert verdict.acceptable and not verdict.ok

    by_codex = simple_fact(OTHER_KEY, source="agent:someone")
    rel = put(tmp_path, markdown.render(by_codex), "facts/team/x/g.md")
    assert verify_file(tmp_path, rel, store).verdict is Verdict.UNATTESTED  # no grant
    store.add(make_binding("agent:codex", key_id(OTHER_KEY.verify_key),
                           "2026-02-01T00:00:00.000Z", KEY, vouch=True))
    granted = verify_file(tmp_path, rel, store)
    assert (granted.verdict, granted.vouched_by) == (Verdict.VOUCHED, "agent:codex")
