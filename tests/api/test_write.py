"""Writing through the Vault API: signed files, batched signed commits, amend, retract, schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.support import assert_history_signed_and_linear, commits, files_in, git, porcelain
from stigmem_vault.api.vault import Vault
from stigmem_vault.errors import InvalidFact, MisuseError, NotFound
from stigmem_vault.model.fact import Scope, TrustClass
from stigmem_vault.model.values import ValueType
from stigmem_vault.vault import markdown
from stigmem_vault.vault.layout import fact_relpath


def test_assert_fact_writes_a_valid_signed_file(vault: Vault, vault_path: Path) -> None:
    fact = vault.assert_fact(entity="Stigmem://Acme/Project/Atlas", relation="Codex:Current_State",
                             value="review", source="agent:codex", confidence=0.9,
                             trust="inferred", scope="team")
    rel = str(fact_relpath(fact))
    assert rel.startswith("facts/team/acme/project/") and rel.endswith(f"--{fact.id[:12]}.md")
    parsed = markdown.parse((vault_path / rel).read_text(), rel)
    assert parsed.fact == fact and parsed.claimed_id == fact.id
    assert fact.entity == "stigmem://acme/project/atlas" and fact.trust is TrustClass.INFERRED
    assert fact.scope is Scope.TEAM and fact.stamp.node == vault.node.node_id  # type: ignore[union-attr]
    report = vault.verify()
    assert report.ok and report.counts()["valid"] == 1


def test_default_source_is_the_owner_and_scope_local(vault: Vault) -> None:
    fact = vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer")
    assert fact.source == "user:alice" and fact.scope is Scope.LOCAL
    assert str(fact_relpath(fact)).startswith("facts/local/")


@pytest.mark.parametrize(("value", "value_type", "expected"), [
    ("x", None, ValueType.STRING), (3, None, ValueType.NUMBER), (2.5, None, ValueType.NUMBER),
    (True, None, ValueType.BOOLEAN), (None, None, ValueType.NULL),
    ("2026-11-24", "datetime", ValueType.DATETIME), ("user:bob", "ref", ValueType.REF),
    ("long\ntext", "text", ValueType.TEXT),
])
def test_value_types(vault: Vault, value: object, value_type: str | None, expected: ValueType) -> None:
    fact = vault.assert_fact(entity="user:alice", relation="memory:v", value=value, value_type=value_type)
    assert fact.value.type is expected
    assert vault.verify().ok


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"value": "abc", "value_type": "number"}, "value.v"),
    ({"value": "false", "value_type": "boolean"}, "value.v"),
    ({"value": float("nan")}, "value.v"),
    ({"value": "x", "confidence": 1.5}, "confidence"),
    ({"value": "x", "scope": "galaxy"}, "scope"),
    ({"value": "x", "trust": "sure"}, "trust"),
    ({"value": "x", "entity": "alice"}, "entity"),
    ({"value": "x", "relation": "stigmem:anything"}, "relation"),
    ({"value": "x", "source": "agent:nobody"}, "source"),
    ({"value": "x", "supersedes": "abc"}, "supersedes"),
    ({"value": "x", "derived_from": ["nope"]}, "derived_from"),
])
def test_invalid_writes_name_the_field_and_write_nothing(vault: Vault, vault_path: Path,
                                                         kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"entity": "user:alice", "relation": "memory:x", **kwargs}
    with pytest.raises(InvalidFact) as info:
        vault.assert_fact(**args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert list(vault.fact_paths()) == [] and porcelain(vault_path) == ""


def test_supersedes_must_exist(vault: Vault) -> None:
    with pytest.raises(NotFound):
        vault.assert_fact(entity="user:alice", relation="memory:x", value=1, supersedes="a" * 64)


def test_reserved_relation_only_for_the_node_system_source(vault: Vault) -> None:
    node_source = vault.node.source  # type: ignore[union-attr]
    fact = vault.assert_fact(entity="user:alice", relation="stigmem:note", value="x", source=node_source)
    assert fact.relation == "stigmem:note"
    with pytest.raises(InvalidFact, match="reserved"):
        vault.assert_fact(entity="user:alice", relation="stigmem:note", value="x")


def test_ten_writes_then_flush_make_one_signed_commit(vault: Vault, vault_path: Path) -> None:
    before = commits(vault_path)
    facts = [vault.assert_fact(entity="user:alice", relation=f"memory:n{i}", value=i) for i in range(10)]
    # (entity notes follow within a second, off the write path: only the facts are counted)
    untracked = [line for line in porcelain(vault_path).splitlines() if "entities/" not in line]
    assert len(untracked) == 10 and all(line.startswith("?? facts/") for line in untracked)
    assert vault.status().uncommitted >= 10
    oid = vault.flush()
    assert oid is not None and commits(vault_path)[0] == oid
    assert len(commits(vault_path)) == len(before) + 1
    assert sorted(p for p in files_in(vault_path) if p.startswith("facts/")) \
        == sorted(str(fact_relpath(f)) for f in facts)
    assert git(vault_path, "verify-commit", "HEAD", check=False).returncode == 0
    assert porcelain(vault_path) == ""
    assert vault.status().uncommitted == 0 and vault.status().head == oid
    assert vault.flush() is None  # nothing pending: no empty commit
    message = git(vault_path, "log", "-1", "--format=%B").stdout
    assert message.startswith("stigmem: assert 10")


def test_commit_every_batches_automatically(home: Path, vault_path: Path) -> None:
    with Vault.init(vault_path, owner="user:alice", home=home, commit_every=4, commit_delay=None) as v:
        start = len(commits(vault_path))
        for i in range(10):
            v.assert_fact(entity="user:alice", relation=f"memory:n{i}", value=i)
        assert len(commits(vault_path)) == start + 2  # after the 4th and the 8th write
        assert v.status().uncommitted == 2
        # (HEAD, not git's index: that is written behind the commits, vault/index_lag.py.)
        at_head = git(vault_path, "ls-tree", "-r", "--name-only", "HEAD").stdout.split()
        assert sum("/memory.n" in path for path in at_head) == 8
    assert len(commits(vault_path)) == start + 3  # close() committed the rest
    assert porcelain(vault_path) == ""
    assert_history_signed_and_linear(vault_path)


def test_same_fact_twice_is_idempotent_on_disk(vault: Vault) -> None:
    a = vault.assert_fact(entity="user:alice", relation="memory:x", value=1)
    b = vault.assert_fact(entity="user:alice", relation="memory:x", value=1)
    assert a.id != b.id  # a new stamp: a new assertion
    assert len(list(vault.fact_paths())) == 2


def test_closed_vault_refuses_writes(vault: Vault) -> None:
    vault.close()
    with pytest.raises(MisuseError, match="closed"):
        vault.assert_fact(entity="user:alice", relation="memory:x", value=1)
    vault.close()  # idempotent


def test_schema_is_enforced(home: Path, vault_path: Path) -> None:
    with Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None) as v:
        (vault_path / ".stigmem/schemas/state.yaml").write_text(
            "relation: codex:state\ntype: string\nenum: [draft, review, done]\n")
        (vault_path / ".stigmem/schemas/score.yaml").write_text(
            "relation: codex:score\ntype: number\nmin: 0\nmax: 10\n")
    with Vault.open(vault_path, home=home, commit_delay=None) as v:
        assert sorted(v.schemas) == ["codex:score", "codex:state"]
        v.assert_fact(entity="user:alice", relation="codex:state", value="done")
        v.assert_fact(entity="user:alice", relation="codex:score", value=10)
        for relation, value in [("codex:state", "shipped"), ("codex:state", 3), ("codex:score", 11),
                                ("codex:score", -1), ("codex:score", "5")]:
            with pytest.raises(InvalidFact, match="schema"):
                v.assert_fact(entity="user:alice", relation=relation, value=value)
        assert len(list(v.fact_paths())) == 2


def test_broken_schema_refuses_open(vault: Vault, vault_path: Path, home: Path) -> None:
    (vault_path / ".stigmem/schemas/bad.yaml").write_text("relation: a:b\nrequired: true\n")
    from stigmem_vault.errors import VaultConfigError

    with pytest.raises(VaultConfigError, match=r"bad\.yaml"):
        Vault.open(vault_path, home=home)


# ----------------------------------------------------------------- amend / retract


def test_amend_supersedes_and_keeps_the_old_file(vault: Vault, vault_path: Path) -> None:
    old = vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer",
                            source="agent:codex", scope="team", confidence=0.7)
    vault.flush()
    old_rel = str(fact_relpath(old))
    old_bytes = (vault_path / old_rel).read_bytes()
    new = vault.amend(old.id[:10], value="manager", confidence=0.95)
    vault.flush()
    assert new.supersedes == old.id and new.value.v == "manager" and new.confidence == 0.95
    assert new.source == "agent:codex" and new.scope is Scope.TEAM and new.entity == old.entity
    assert (vault_path / old_rel).read_bytes() == old_bytes
    assert git(vault_path, "log", "--format=%H", "--", old_rel).stdout.count("\n") == 1  # never rewritten
    assert vault.verify().ok and porcelain(vault_path) == ""
    assert [v.fact.id for v in vault.list_facts(relation="memory:role", include_superseded=False)] == [new.id]


def test_amend_with_another_source_and_type(vault: Vault) -> None:
    old = vault.assert_fact(entity="user:alice", relation="memory:due", value="2026-11-24")
    new = vault.amend(old.id, value_type="datetime", source="agent:codex")
    assert new.value.type is ValueType.DATETIME and new.source == "agent:codex"
    with pytest.raises(MisuseError, match="cannot change"):
        vault.amend(old.id, hlc="0000000000001.000000.x")  # stamps are not claim fields


def test_retract_writes_confidence_zero_superseding(vault: Vault, vault_path: Path) -> None:
    old = vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer",
                            source="agent:codex", scope="team", derived_from=["b" * 64])
    old_bytes = (vault_path / fact_relpath(old)).read_bytes()
    gone = vault.retract(old.id)
    vault.flush()
    assert gone.confidence == 0.0 and gone.supersedes == old.id and gone.source == "user:alice"
    assert gone.value == old.value and gone.scope is old.scope and gone.derived_from == ()
    assert (vault_path / fact_relpath(old)).read_bytes() == old_bytes
    assert vault.verify().ok
    by_codex = vault.retract(old.id, source="agent:codex")
    assert by_codex.source == "agent:codex"


def test_retract_of_a_reserved_relation_by_a_user_is_refused(vault: Vault) -> None:
    # Regression: retract() built the claim with dataclasses.replace, skipping make_claim, and
    # wrote a user-sourced stigmem: fact that every reader then rejected as malformed.
    node_fact = vault.assert_fact(entity="user:alice", relation="stigmem:note", value="x",
                                  source=vault.node.source)  # type: ignore[union-attr]
    with pytest.raises(InvalidFact, match="reserved"):
        vault.retract(node_fact.id)
    assert len(list(vault.fact_paths())) == 1
    retracted = vault.retract(node_fact.id, source=vault.node.source)  # type: ignore[union-attr]
    assert retracted.confidence == 0.0
    assert vault.verify().ok
