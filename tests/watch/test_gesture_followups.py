"""Gestures keep what the person typed: draft bodies, fixable parked edits, missing fields."""

from __future__ import annotations

from stigmem_vault.api.vault import Vault
from stigmem_vault.vault import frontmatter


def _props(vault: Vault, rel: str) -> dict[str, object]:
    yaml_text, _body, _ = frontmatter.split((vault.root / rel).read_text())
    return frontmatter.load(yaml_text)


def test_the_body_of_a_draft_is_kept_in_the_signed_fact(vault: Vault) -> None:
    _ = vault.index  # open (and catch up) first, so the draft is this call's to handle
    draft = vault.root / "Atlas status.md"
    draft.write_text("---\nentity: project:atlas\nrelation: project:status\nvalue: green\n"
                     "scope: team\nsign: true\n---\nSpoke with Dana: green because the load test passed.\n")
    [change] = [c for c in vault.apply_changes(["Atlas status.md"]) if c.kind == "signed"]
    assert not draft.exists()
    text = (vault.root / change.path).read_text()
    assert "Spoke with Dana: green because the load test passed." in text
    assert vault.verify([str(vault.root / change.path)]).ok  # the body is not signed


def test_a_draft_without_an_entity_is_annotated_not_a_crash(vault: Vault) -> None:
    _ = vault.index
    (vault.root / "half.md").write_text("---\nrelation: project:status\nvalue: green\n---\n")
    # A note without entity is not a draft at all when loose; in an inbox it is one.
    inbox = vault.root / "inbox" / "user-alice"
    inbox.mkdir(parents=True)
    (inbox / "half.md").write_text("---\nrelation: project:status\nvalue: green\nsign: true\n"
                                   "---\nbody\n")
    changes = vault.apply_changes(["half.md", "inbox/user-alice/half.md"])
    [rejected] = [c for c in changes if c.kind == "rejected"]
    assert rejected.detail.startswith("entity: is missing")
    assert _props(vault, "inbox/user-alice/half.md")["stigmem_error"] == (
        "entity: is missing; a fact note names an entity and a relation")


def test_a_parked_edit_once_fixed_amends_the_original(vault: Vault) -> None:
    original = vault.assert_fact(entity="project:atlas", relation="project:budget", value=10,
                                 source="agent:codex", scope="team")
    vault.flush()
    rel = vault.get(original.id).path
    path = vault.root / rel
    path.write_text(path.read_text().replace("confidence: 1", "confidence: 7\nsign: true"))
    changes = vault.apply_changes([rel])
    [parked] = [c for c in changes if c.kind == "rejected"]
    assert parked.path.startswith("inbox/user-alice/")
    assert vault.get(original.id).path == rel  # the original is back, untouched
    props = _props(vault, parked.path)
    assert props["source"] == "user:alice" and props["supersedes"] == original.id
    assert "signature" not in props and str(props["stigmem_error"]).startswith("confidence")

    fixed = vault.root / parked.path
    fixed.write_text(fixed.read_text().replace("confidence: 7", "confidence: 0.9")
                     .replace("sign: false", "sign: true"))
    [signed] = [c for c in vault.apply_changes([parked.path]) if c.kind == "signed"]
    amended = vault.get(signed.fact_id).fact
    assert amended.supersedes == original.id and amended.source == "user:alice"
    assert amended.confidence == 0.9
    live = {i.fact.id for i in vault.query(entity="project:atlas")}
    assert live == {amended.id}


def test_a_signed_fact_dropped_in_while_nobody_watched_is_committed(vault: Vault) -> None:
    import subprocess

    from stigmem_vault.canonical.signing import format_timestamp, sign_claim
    from stigmem_vault.model.fact import make_claim
    from stigmem_vault.model.values import make_value
    from stigmem_vault.vault import markdown
    from stigmem_vault.vault.layout import fact_relpath

    _ = vault.index  # the index exists and is up to date
    claim = make_claim(entity="project:atlas", relation="project:status",
                       value=make_value("string", "green"), source="agent:codex", scope="team")
    from datetime import UTC, datetime

    fact = sign_claim(claim, vault.clock.now(), format_timestamp(datetime.now(UTC)),
                      vault.signing_key_for("agent:codex"))
    target = vault.root / fact_relpath(fact)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(markdown.render(fact))  # an agent writing the file itself
    vault.refresh()
    vault.flush()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=vault.root, capture_output=True,
                            text=True, check=True).stdout
    assert status == ""
    assert vault.index.get(fact.id) is not None
