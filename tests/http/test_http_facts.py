"""Writing and reading single facts over HTTP: the record shape, durability, commits, lookups."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest
from http_support import OUR_KEYS, UPSTREAM_KEYS, wait_for

from stigmem_vault.api.vault import Vault
from stigmem_vault.client import ClientError, StigmemClient
from stigmem_vault.http.server import running
from stigmem_vault.http.settings import NodeSettings

ROLE = {"entity": "user:alice", "relation": "memory:role",
        "value": {"type": "string", "v": "engineer"}, "source": "agent:codex", "scope": "team"}
NULL_ON_ASSERT = ("received_from", "valid_until", "origin_node_id", "origin_allowed_scopes",
                  "garden_id", "source_trust", "quarantine_status", "quarantine_garden_id",
                  "effective_confidence", "supersedes")


def test_assert_answers_201_with_every_upstream_key_and_ours(client: StigmemClient) -> None:
    response = client.request("POST", "/v1/facts", json=ROLE)

    assert response.status_code == 201
    record = response.json()
    missing = [key for key in (*UPSTREAM_KEYS, *OUR_KEYS) if key not in record]
    assert missing == []
    for key in NULL_ON_ASSERT:  # explicit nulls, not absent keys
        assert record[key] is None, key
    assert record["value"] == {"type": "string", "v": "engineer", "interpret_as": "content"}
    assert re.fullmatch(r"[0-9a-f]{64}", record["id"])
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", record["cid"])
    assert record["attested"] is True  # auth on: signed by the key bound to agent:codex
    assert record["verification"] == "valid"
    assert record["attested_key_id"] == record["signer"]
    assert record["signer"].startswith("ed25519:") and record["signature"]
    assert record["trust_class"] == "observed"
    assert (record["warnings"], record["sanitizer_warnings"], record["derived_from"]) == ([], [], [])
    assert record["sanitizer_redacted"] is False and record["contradicted"] is False


def test_null_value_carries_v_null_and_reads_compute_trust(client: StigmemClient) -> None:
    fact = client.assert_fact("user:alice", "memory:alias", None, source="agent:codex")

    assert fact.raw["value"] == {"type": "null", "v": None, "interpret_as": "content"}
    read = client.get_fact(fact.id)
    assert read.source_trust is not None and 0 < read.source_trust <= 1
    assert read.effective_confidence == pytest.approx(read.confidence * read.source_trust)


def test_typed_values_round_trip(client: StigmemClient) -> None:
    cases = [("memory:score", 42.5, None), ("memory:count", 42, None), ("memory:active", False, None),
             ("memory:bio", "A long narrative.", "text"),
             ("memory:born", "1990-04-01T12:00:00Z", "datetime"),
             ("memory:manager", "user:bob", "ref")]
    for relation, value, value_type in cases:
        fact = client.assert_fact("user:alice", relation, value, value_type=value_type,
                                  source="agent:codex")
        read = client.get_fact(fact.id)
        assert (read.value.type, read.value.v) == (value_type or fact.value.type, value)
        assert type(read.value.v) is type(value)  # False stays a boolean, 42 a number


def test_write_is_a_durable_signed_file_the_next_request_sees(node, client: StigmemClient) -> None:
    fact = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex",
                              scope="team")

    assert fact.path is not None
    path = node.vault.root / fact.path
    assert path.is_file()
    report = node.vault.verify([str(path)])
    assert [(f.ok, f.fact.id if f.fact else None) for f in report.files] == [(True, fact.id)]
    # queryable in the very next request
    assert client.get_fact(fact.id).id == fact.id
    assert [f.id for f in client.list_facts(entity="user:alice").facts] == [fact.id]


def test_a_signed_commit_follows_on_the_node_timer(home: Path, tmp_path: Path) -> None:
    vault = Vault.init(tmp_path / "timed", owner="user:alice", home=home, commit_delay=0.05)
    try:
        raw, _ = vault.create_token("user:alice", scopes=["team"], perms=["read", "write"])
        with running(vault, NodeSettings(port=0, watch=False)) as served, \
                StigmemClient(served.url, raw) as client:
            fact = client.assert_fact("user:alice", "memory:role", "engineer",
                                      source="user:alice", scope="team")
            assert fact.path is not None
            assert vault.git is not None
            wait_for(lambda: vault.git.blob_at_head(fact.path), what="the commit of the fact")
            assert vault.git.blob_at_head(fact.path) == (vault.root / fact.path).read_bytes()
            log = vault.git.log_for(fact.path)
            assert log and log[0][1].startswith("stigmem: ") and "assert 1" in log[0][1]
            assert client.provenance(fact.id).commits[0][0] == log[0][0]
            verified = subprocess.run(
                ["git", "-c", "gpg.ssh.allowedSignersFile=.stigmem/allowed_signers",
                 "verify-commit", log[0][0]], cwd=vault.root, capture_output=True, text=True)
            assert verified.returncode == 0, verified.stderr
    finally:
        vault.close()


def test_flush_commits_what_the_node_wrote(node, client: StigmemClient) -> None:
    fact = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    assert fact.path is not None and node.vault.git.blob_at_head(fact.path) is None

    node.vault.flush()

    assert node.vault.git.blob_at_head(fact.path) is not None


def test_lookup_by_cid_prefix_and_encoded_cid(client: StigmemClient) -> None:
    fact = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")

    assert client.get_fact(fact.cid).id == fact.id
    assert client.get_fact(fact.id[:12]).id == fact.id
    encoded = client.request("GET", "/v1/facts/" + fact.cid.replace(":", "%3A"))
    assert encoded.status_code == 200 and encoded.json()["id"] == fact.id


@pytest.mark.parametrize("ref", ["sha256:xyz", "sha256:" + "A" * 64, "sha256:" + "a" * 63])
def test_malformed_cid_is_400_cid_malformed(client: StigmemClient, ref: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.get_fact(ref)
    assert (caught.value.status, caught.value.code) == (400, "cid_malformed")


@pytest.mark.parametrize("ref", [str(uuid.UUID(int=0)), str(uuid.uuid4()), "nonexistent-id-xyz",
                                 "xyz", "abc123", "g" * 64, "a" * 65])
def test_a_reference_that_is_no_fact_id_is_404_as_upstream(client: StigmemClient, ref: str) -> None:
    """Upstream's ids are UUIDs, and its clients (and conformance vectors) expect an id that
    names no fact to be 404, whatever its shape; only a malformed ``sha256:`` cid is a 400."""
    client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    for call in (client.get_fact, client.provenance, client.verify_cid):
        with pytest.raises(ClientError) as caught:
            call(ref)
        assert (caught.value.status, caught.value.code) == (404, "fact_not_found"), call
        assert caught.value.detail == "fact not found"


@pytest.mark.parametrize("ref", ["0" * 64, "sha256:" + "0" * 64, "deadbeef"])
def test_unknown_id_or_cid_is_404(client: StigmemClient, ref: str) -> None:
    for call in (client.get_fact, client.provenance, client.verify_cid):
        with pytest.raises(ClientError) as caught:
            call(ref)
        assert caught.value.status == 404
        assert caught.value.detail == "fact not found"


def test_provenance_shape(client: StigmemClient) -> None:
    parent = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    other = client.assert_fact("project:atlas", "memory:lead", "user:alice", value_type="ref",
                               source="agent:codex")
    unknown = "sha256:" + "ab" * 32
    child = client.assert_fact("user:alice", "memory:summary", "leads atlas", source="agent:codex",
                               derived_from=[parent.id, other.cid, unknown])

    prov = client.provenance(child.id)

    assert set(prov.raw) >= {"fact_id", "cid", "derived_from"}
    assert (prov.fact_id, prov.cid) == (child.id, child.cid)
    links = {(link.fact_id, link.hash): link for link in prov.derived_from}
    assert links[(parent.id, parent.cid)].exists and links[(parent.id, parent.cid)].entity == "user:alice"
    # a sha256 link resolves through the cid of the fact it names
    assert links[(other.id, other.cid)].exists and links[(other.id, other.cid)].entity == "project:atlas"
    assert links[(None, unknown)].exists is False
    assert prov.signer == child.signer and prov.signer_sources == ("agent:codex",)
    assert prov.verification == "valid"
    assert client.provenance(parent.id).derived_by == (child.id,)


def test_provenance_follows_supersession(client: StigmemClient) -> None:
    old = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    new = client.assert_fact("user:alice", "memory:role", "manager", source="agent:codex",
                             supersedes=old.id)

    assert client.provenance(new.id).supersedes_chain == (old.id,)
    assert client.provenance(old.id).superseded_by_chain == (new.id,)


def test_verify_cid_checks_cid_and_the_signed_file(node, client: StigmemClient) -> None:
    fact = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")

    check = client.verify_cid(fact.id)
    assert (check.cid_valid, check.computed_cid, check.stored_cid) == (True, fact.cid, fact.cid)
    assert (check.mismatch_reason, check.signature_valid, check.verification) == (None, True, "valid")
    # a body is ignored, as upstream
    assert client.request("POST", f"/v1/facts/{fact.id}/verify-cid",
                          json={"anything": 1}).status_code == 200

    path = node.vault.root / fact.path
    path.write_text(path.read_text("utf-8").replace("engineer", "engineeR"), "utf-8")
    tampered = client.verify_cid(fact.id)
    assert tampered.signature_valid is False and tampered.verification != "valid"
