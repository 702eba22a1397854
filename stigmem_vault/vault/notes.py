"""Conflict notes: each open or resolved contradiction, as a note a human can resolve.

Path: ``conflicts/<scope>/<entity dir>/<relation slug>--<conflict id[:12]>.md``. The note is a
view, not a fact: stigmem rewrites it when the conflict changes. A human resolves it by
filling in ``winner`` (``a``, ``b`` or a fact id) or ``value`` and then ticking the note's
``sign`` checkbox (a save alone signs nothing, §14); that becomes a signed resolution fact by
the vault owner, and the note is then marked resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from stigmem_vault.model.fact import Fact
from stigmem_vault.vault import frontmatter
from stigmem_vault.vault.layout import (
    entity_note_relpath,
    entity_segments,
    fact_relpath,
    relation_slug,
    wikilink,
)

CONFLICTS_DIR = "conflicts"
NOTE_KIND = "conflict"


@dataclass(frozen=True, slots=True)
class ConflictView:
    """What a conflict note shows (built by the API from the index)."""

    id: str
    entity: str
    relation: str
    scope: str
    status: str
    fact_a: Fact
    fact_b: Fact
    resolution: Fact | None = None
    # Where each fact's file is, when not at its canonical path (a note links to the file).
    paths: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResolutionRequest:
    """What a person put in an open conflict note (nothing yet when both are None)."""

    conflict_id: str
    winner: str | None
    value: frontmatter.Flat

    @property
    def chosen(self) -> bool:
        return self.winner is not None or self.value is not None


def conflict_note_relpath(conflict_id: str, entity: str, relation: str, scope: str) -> PurePosixPath:
    name = f"{relation_slug(relation)}--{conflict_id[:12]}.md"
    return PurePosixPath(CONFLICTS_DIR, scope, *entity_segments(entity), name)


def render_conflict(view: ConflictView) -> str:
    def fact_link(fact: Fact, label: str, in_table: bool = False) -> str:
        path = view.paths.get(fact.id)
        return wikilink(path or fact_relpath(fact), label, in_table)

    props: dict[str, frontmatter.Flat] = {
        "stigmem_note": NOTE_KIND,
        "conflict": view.id,
        "status": view.status,
        "entity": view.entity,
        "relation": view.relation,
        "scope": view.scope,
        "fact_a": view.fact_a.id,
        "fact_b": view.fact_b.id,
        "winner": "",
        "value": "",
    }
    if view.status == "open":
        props["sign"] = False  # the person's checkbox: ticked = sign the resolution now
    if view.resolution is not None:
        props["resolution"] = view.resolution.id
    rows: list[tuple[str, Callable[[Fact], str]]] = [
            ("value", lambda f: f"`{f.value.display()}` ({f.value.type.value})"),
            ("source", lambda f: wikilink(entity_note_relpath(f.source), f.source, True)),
            ("confidence", lambda f: f"{f.confidence:g}"),
            ("trust", lambda f: f.trust.value),
            ("hlc", lambda f: f"`{f.hlc}`"),
            ("asserted", lambda f: f.timestamp),
            ("fact", lambda f: fact_link(f, f.id[:12], True))]
    table = ["| | A | B |", "|---|---|---|"]
    table += [f"| {name} | {show(view.fact_a)} | {show(view.fact_b)} |" for name, show in rows]
    entity_link = wikilink(entity_note_relpath(view.entity), view.entity)
    lines = [f"# Conflict: {view.relation}", "",
             f"{entity_link} has two incompatible values for **{view.relation}** "
             f"in scope *{view.scope}*.", "", *table, ""]
    if view.status == "open":
        lines += ["> [!question] Resolve this conflict",
                  "> Set the `winner` property to `a` or `b` (or a fact id), or type a new `value`,",
                  "> then tick `sign`: your choice becomes a signed resolution fact (saving alone",
                  "> signs nothing); both facts are kept."]
    elif view.resolution is not None:
        lines += ["> [!success] Resolved",
                  f"> by {view.resolution.source} with value `{view.resolution.value.display()}`: "
                  + fact_link(view.resolution, view.resolution.id[:12])]
    else:
        lines += [f"> [!info] This conflict is {view.status}: one of the facts is no longer live."]
    return "---\n" + frontmatter.dump(props) + "---\n" + "\n".join(lines) + "\n"


def read_resolution(props: dict[str, frontmatter.Flat]) -> ResolutionRequest | None:
    """The human's choice in an open conflict note (``chosen`` is False until they fill in
    ``winner`` or ``value``), or None if the note is not an open conflict note."""
    if props.get("stigmem_note") != NOTE_KIND or props.get("status") != "open":
        return None
    conflict_id = props.get("conflict")
    winner = props.get("winner")
    value = props.get("value")
    if not isinstance(conflict_id, str):
        return None
    chosen_winner = str(winner).strip() if winner not in (None, "") else None
    return ResolutionRequest(conflict_id, chosen_winner or None,
                             None if value in (None, "") else value)


def choosing(text: str) -> bool:
    """Whether a conflict note's text shows a person at work in it: a choice made, ``sign``
    ticked, or the error of their last try (or properties that do not read, mid-typing).
    While its conflict stays open, such a note is the person's and is not rendered again."""
    try:
        props = frontmatter.load(frontmatter.split(text)[0])
    except frontmatter.FrontmatterError:
        return True
    request = read_resolution(props)
    if request is None:
        return False
    sign = props.get("sign")
    return (request.chosen or sign is True or str(sign).strip().lower() in ("true", "yes")
            or bool(props.get("stigmem_error")))


# ------------------------------------------------------------------ entity notes

ENTITY_NOTE_KIND = "entity"
HISTORY_LIMIT = 20  # recent history rows an entity note shows


@dataclass(frozen=True, slots=True)
class EntityFact:
    """One fact as an entity note shows it: the fact, where its file is (None if absent),
    and whether it is live."""

    fact: Fact
    path: str | None
    live: bool


@dataclass(frozen=True, slots=True)
class EntityView:
    """What an entity note shows (built by the API from the index)."""

    entity: str
    live: list[EntityFact]  # live facts about the entity
    history: list[EntityFact]  # most recent first, live or not
    conflicts: list[tuple[str, str, str, str]]  # (conflict id, relation, scope, status), open


def _value_cell(fact: Fact, in_table: bool = True) -> str:
    if fact.value.type.value == "ref" and isinstance(fact.value.v, str):
        return wikilink(entity_note_relpath(fact.value.v), fact.value.v, in_table)
    shown = fact.value.display().replace("\n", " ").replace("|", "\\|").replace("`", "'")
    return f"`{shown}`"


def _fact_cell(item: EntityFact, in_table: bool = True) -> str:
    if item.path is None:
        return f"`{item.fact.id[:12]}`"
    return wikilink(item.path, item.fact.id[:12], in_table)


def render_entity(view: EntityView) -> str:
    """An entity note: its live values by relation, open conflicts, recent history, links."""
    props: dict[str, frontmatter.Flat] = {
        "stigmem_note": ENTITY_NOTE_KIND,
        "entity": view.entity,
        "live_facts": len(view.live),
        "open_conflicts": len(view.conflicts),
    }
    lines = [f"# {view.entity}", "",
             "> [!info] Generated by stigmem from the signed facts; edits here are overwritten.",
             "", "## Live values", ""]
    if view.live:
        lines += ["| relation | value | source | confidence | trust | scope | fact |",
                  "|---|---|---|---|---|---|---|"]
        for item in sorted(view.live, key=lambda i: (i.fact.relation, i.fact.scope.value,
                                                     i.fact.hlc, i.fact.id)):
            f = item.fact
            lines.append(f"| {f.relation} | {_value_cell(f)} | "
                         f"{wikilink(entity_note_relpath(f.source), f.source, True)} | "
                         f"{f.confidence:g} | {f.trust.value} | {f.scope.value} | "
                         f"{_fact_cell(item)} |")
    else:
        lines.append("No live facts.")
    lines += ["", "## Open conflicts", ""]
    if view.conflicts:
        for cid, relation, scope, _status in sorted(view.conflicts, key=lambda c: (c[1], c[2], c[0])):
            rel = conflict_note_relpath(cid, view.entity, relation, scope)
            lines.append(f"- {wikilink(rel, f'{relation} ({scope})')}")
    else:
        lines.append("None.")
    lines += ["", "## Recent history", ""]
    if view.history:
        for item in view.history:
            f = item.fact
            state = "live" if item.live else "replaced"
            lines.append(f"- `{f.timestamp}` {f.relation} = {_value_cell(f, False)} by "
                         f"{wikilink(entity_note_relpath(f.source), f.source)} ({state}) "
                         f"{_fact_cell(item, False)}")
    else:
        lines.append("No facts yet.")
    return "---\n" + frontmatter.dump(props) + "---\n" + "\n".join(lines) + "\n"
