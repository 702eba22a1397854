"""Reading through the Vault API: get by id or prefix, list filters, verify verdicts, status."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from api.support import write_foreign_fact
from stigmem_vault.api.vault import Vault
from stigmem_vault.canonical.form import canonical_bytes
from stigmem_vault.canonical.signing import key_id, sign_claim
from stigmem_vault.errors import InvalidFact, NotFound
from stigmem_vault.model.fact import Fact, make_claim
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.values import make_value
from stigmem_vault.vault import markdown
from stigmem_vault.vault.layout import fact_relpath
from stigmem_vault.vault.verify import Verdict

STAMP = HLC(1764000000000, 1, "outside")
WHEN = "2026-11-24T10:00:00.000Z"


def test_get_by_id_and_prefix(vault: Vault) -> None:
    fact = vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer")
    other = vault.assert_fact(entity="user:bob", relation="memory:role", value="pm")
    for ident in (fact.id, fact.id[:8], fact.id[:12], fact.id[:20], fact.id.upper(), f"  {fact.id[:9]} "):
        view = vault.get(ident)
        assert view.fact == fact and view.path == str(fact_relpath(fact))
    assert vault.get(other.id[:8]).fact == other


@pytest.mark.parametrize("ident", ["abc", "1234567", "zzzzzzzz", "a" * 65, "", "user:alice"])
def test_get_refuses_what_is_not_an_id_or_prefix(vault: Vault, ident: str) -> None:
    with pytest.raises(InvalidFact, match="prefix of 8"):
        vault.get(ident)


def test_get_unknown_id(vault: Vault) -> None:
    vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer")
    with pytest.raises(NotFound, match=r"no fact .0{64}.$"):
        vault.get("0" * 64)
    with pytest.raises(NotFound):
        vault.get("00000000")


def _colliding_values(signer: str) -> tuple[int, int]:
    """Two number values whose facts' ids share their first 8 hex digits (a 32-bit birthday
    search over the canonical bytes, which do not depend on the signature)."""
    claim = make_claim(entity="user:alice", relation="memory:n", value=make_value("number", 0),
                       source="user:alice", scope="team")
    head, tail = canonical_bytes(claim, str(STAMP), WHEN, signer).split(b'"v":0}', 1)
    seen: dict[str, int] = {}
    for n in range(1, 5_000_000):
        prefix = hashlib.sha256(b"%s\"v\":%d}%s" % (head, n, tail)).hexdigest()[:8]
        if prefix in seen:
            return seen[prefix], n
        seen[prefix] = n
    raise AssertionError("no collision found")


def test_ambiguous_prefix_lists_the_candidates(vault: Vault, vault_path: Path, home: Path) -> None:
    key = vault.signing_key_for("user:alice")
    first, second = _colliding_values(key_id(key.verify_key))
    facts: list[Fact] = []
    for n in (first, second):
        claim = make_claim(entity="user:alice", relation="memory:n", value=make_value("number", n),
                           source="user:alice", scope="team")
        fact = sign_claim(claim, STAMP, WHEN, key)
        (vault_path / fact_relpath(fact)).parent.mkdir(parents=True, exist_ok=True)
        (vault_path / fact_relpath(fact)).write_text(markdown.render(fact))
        facts.append(fact)
    assert facts[0].id[:8] == facts[1].id[:8] and facts[0].id != facts[1].id
    vault.close()
    with Vault.open(vault_path, home=home, commit_delay=None) as again:
        with pytest.raises(InvalidFact, match="ambiguous") as info:
            again.get(facts[0].id[:8])
        assert facts[0].id[:16] in str(info.value) and facts[1].id[:16] in str(info.value)
        longer = next(i for i in range(9, 64) if facts[0].id[:i] != facts[1].id[:i])
        assert again.get(facts[0].id[:longer]).fact == facts[0]
        assert again.get(facts[1].id).fact == facts[1]


def test_list_filters(vault: Vault) -> None:
    f1 = vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer", scope="team")
    f2 = vault.assert_fact(entity="user:bob", relation="memory:role", value="pm", source="agent:codex",
                           trust="inferred", confidence=0.5)
    f3 = vault.assert_fact(entity="user:alice", relation="memory:age", value=30, source="agent:codex",
                           scope="public", trust="reported", confidence=0.8, valid_until="2020-01-01")
    f4 = vault.amend(f1.id, value="lead")

    def ids(**filters: object) -> list[str]:
        return [v.fact.id for v in vault.list_facts(**filters)]  # type: ignore[arg-type]

    assert ids() == [f1.id, f2.id, f3.id, f4.id]  # HLC order
    assert ids(entity=" User:Alice ") == [f1.id, f3.id, f4.id]
    assert ids(relation="Memory:Role") == [f1.id, f2.id, f4.id]
    assert ids(source="agent:codex") == [f2.id, f3.id]
    assert ids(scope="team") == [f1.id, f4.id]
    assert ids(scope="local") == [f2.id]
    assert ids(trust="reported") == [f3.id]
    assert ids(value_type="number") == [f3.id]
    assert ids(signer=f2.signer) == [f2.id, f3.id]
    assert ids(min_confidence=0.8) == [f1.id, f3.id, f4.id]
    assert ids(supersedes=f1.id) == [f4.id]
    assert ids(include_superseded=False) == [f2.id, f3.id, f4.id]
    assert ids(include_expired=False) == [f1.id, f2.id, f4.id]
    assert ids(entity="user:nobody") == []
    views = vault.list_facts(relation="memory:age")
    assert views[0].path == str(fact_relpath(f3))


@pytest.mark.parametrize(("filters", "field"), [({"scope": "galaxy"}, "scope"), ({"trust": "sure"}, "trust"),
                                                ({"value_type": "integer"}, "value_type"),
                                                ({"entity": "alice"}, "entity")])
def test_list_refuses_bad_filters(vault: Vault, filters: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidFact) as info:
        vault.list_facts(**filters)  # type: ignore[arg-type]
    assert info.value.field == field


def test_unattested_and_unknown_signer_verdicts(vault: Vault) -> None:
    good = vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer")
    codex = vault.signing_key_for("agent:codex")
    _, unattested = write_foreign_fact(vault, codex, source="user:alice", value="claims to be alice")
    _, unknown = write_foreign_fact(vault, SigningKey.generate(), source="agent:codex", value="stranger")
    report = vault.verify()
    assert not report.ok
    verdicts = {item.path: item.verdict for item in report.files}
    assert verdicts == {str(fact_relpath(good)): Verdict.VALID, unattested: Verdict.UNATTESTED,
                        unknown: Verdict.UNKNOWN_SIGNER}
    counts = report.counts()
    assert counts["valid"] == counts["unattested"] == counts["unknown-signer"] == 1
    reasons = {item.path: item.reason for item in report.problems()}
    assert "bound to agent:codex, not to the source user:alice" in reasons[unattested]
    explained = vault.explain(str(vault.root / unattested))
    assert explained.verdict is Verdict.UNATTESTED and explained.bound_sources == ["agent:codex"]
    assert explained.computed_id == explained.recorded_id and explained.canonical is not None


def test_tampered_file_is_reported_not_raised(vault: Vault, vault_path: Path) -> None:
    fact = vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer")
    path = vault_path / fact_relpath(fact)
    path.write_text(path.read_text().replace('"engineer"', '"admin"'))
    (vault_path / "facts" / "local" / "junk.md").write_text("not a fact at all\n")
    verdicts = {item.path: item.verdict for item in vault.verify().files}
    assert verdicts[str(fact_relpath(fact))] is Verdict.ID_MISMATCH
    assert verdicts["facts/local/junk.md"] is Verdict.MALFORMED
    only = vault.verify([str(path)])
    assert [f.path for f in only.files] == [str(fact_relpath(fact))]


def test_status(vault: Vault) -> None:
    vault.assert_fact(entity="user:alice", relation="memory:a", value=1, scope="team")
    vault.assert_fact(entity="user:alice", relation="memory:b", value=2, scope="team")
    vault.assert_fact(entity="user:alice", relation="memory:c", value=3)
    status = vault.status()
    assert status.owner == "user:alice" and status.node_id == vault.node.node_id  # type: ignore[union-attr]
    assert status.facts_by_scope == {"local": 1, "team": 2, "company": 0, "public": 0}
    assert status.uncommitted == 3 and status.identities == 3
