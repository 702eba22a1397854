"""Gestures on garden facts (spec §14, §17.2): an edit in Obsidian amends a garden fact inside
its garden, and deleting the file retracts it there; neither leaks it out of the garden."""

from __future__ import annotations

from stigmem_vault.api.vault import Vault


def tick_sign(text: str) -> str:
    """Add `sign: true` as the last property, as Obsidian's Properties editor does."""
    head, sep, body = text.partition("\n---\n")
    return f"{head}\nsign: true{sep}{body}"


def test_editing_and_deleting_a_garden_fact_keep_it_in_its_garden(vault: Vault) -> None:
    view = vault.as_principal(vault.operator())
    crew = view.create_garden(slug="crew", name="Crew", scope="team")
    fact = vault.assert_fact(entity="project:atlas", relation="memory:plan", value="friday",
                             scope="team", garden="crew")
    vault.flush()
    rel = vault.path_of(fact)
    path = vault.root / rel
    # An edit of a signed fact is signed when the person ticks `sign` (§14).
    path.write_text(tick_sign(path.read_text("utf-8").replace('value_string: "friday"',
                                                              'value_string: "monday"')))
    vault.apply_changes([rel])
    [amended] = [i for i in vault.query(entity="project:atlas") if i.fact.value.v == "monday"]
    assert amended.fact.garden_id == crew.garden_id and amended.fact.supersedes == fact.id
    amended_path = vault.root / vault.path_of(amended.fact)
    amended_path.unlink()
    vault.apply_changes([vault.path_of(amended.fact)])
    retractions = [i.fact for i in vault.query(entity="project:atlas", include_superseded=True)
                   if i.fact.confidence == 0]
    assert [r.garden_id for r in retractions] == [crew.garden_id]
    assert vault.verify().ok
