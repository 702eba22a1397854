"""GET /v1/pending and POST /v1/pending/revert: `stigmem status` and `stigmem revert` over HTTP
(spec §15.8), for front ends inside the vault such as the Obsidian plugin."""

from __future__ import annotations

import pytest
from http_support import Node

from stigmem_vault.api.vault import Vault
from stigmem_vault.client import ClientError, PendingNote


def _edit_in_place(vault: Vault) -> tuple[str, str, bytes]:
    """A signed fact whose file a person edited without ticking `sign`: a pending edit."""
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer")
    vault.flush()
    rel = vault.path_of(original)
    path = vault.root / rel
    signed = path.read_bytes()
    path.write_text(signed.decode().replace("value_string: \"engineer\"", "value_string: \"oops\""),
                    "utf-8")
    return original.id, rel, signed


def test_the_owner_lists_a_pending_edit_and_reverts_it(node: Node) -> None:
    fact_id, rel, signed = _edit_in_place(node.vault)
    draft = node.vault.root / "Drafts" / "idea.md"
    draft.parent.mkdir()
    draft.write_text("---\nentity: user:bob\nrelation: memory:hobby\nvalue: chess\n"
                     "sign: false\n---\n", "utf-8")
    alice = node.client("alice")

    listed = alice.request("GET", "/v1/pending")

    assert listed.status_code == 200
    assert sorted(listed.json()["pending"], key=lambda n: n["path"]) == [
        {"path": "Drafts/idea.md", "kind": "draft", "fact_id": None, "conflict_id": None,
         "ticked": False, "error": None},
        {"path": rel, "kind": "edit", "fact_id": fact_id, "conflict_id": None,
         "ticked": False, "error": None},
    ]
    reverted = alice.request("POST", "/v1/pending/revert", json={"target": fact_id[:10]})
    assert reverted.status_code == 200 and reverted.json() == {"path": rel}
    assert (node.vault.root / rel).read_bytes() == signed
    assert [n["path"] for n in alice.request("GET", "/v1/pending").json()["pending"]] == \
        ["Drafts/idea.md"]


def test_only_the_owner_with_every_scope_sees_or_reverts_pending_notes(node: Node) -> None:
    _fact_id, rel, _signed = _edit_in_place(node.vault)
    for who in ("codex", "team"):
        client = node.client(who)
        for method, path, body in (("GET", "/v1/pending", None),
                                   ("POST", "/v1/pending/revert", {"target": rel})):
            answer = client.request(method, path, json=body)
            assert answer.status_code == 403, (who, path)
            assert answer.json()["error"]["code"] == "owner_required"
    assert "oops" in (node.vault.root / rel).read_text("utf-8")  # nothing was reverted


def test_revert_of_something_that_is_no_pending_edit_names_the_target(node: Node) -> None:
    alice = node.client("alice")

    answer = alice.request("POST", "/v1/pending/revert", json={"target": "Drafts/nothing.md"})

    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "target"
    assert "no signed fact" in answer.json()["error"]["message"]
    missing = alice.request("POST", "/v1/pending/revert", json={"target": "ab" * 6})
    assert missing.status_code == 404


def test_the_python_client_lists_and_reverts_pending_edits(node: Node) -> None:
    fact_id, rel, signed = _edit_in_place(node.vault)
    alice = node.client("alice")

    assert alice.pending() == (PendingNote(rel, "edit", fact_id, None, False, None),)
    assert alice.revert(rel) == rel
    assert (node.vault.root / rel).read_bytes() == signed and alice.pending() == ()
    assert alice.revert(fact_id) == rel  # nothing left to revert: the same answer
    with pytest.raises(ClientError) as caught:
        alice.revert("Drafts/nothing.md")
    assert caught.value.status == 422 and caught.value.fields == ["target"]
    with pytest.raises(ClientError) as refused:
        node.client("codex").pending()
    assert (refused.value.status, refused.value.code) == (403, "owner_required")
