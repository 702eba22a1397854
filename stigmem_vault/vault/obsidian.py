"""What ``stigmem init`` installs for Obsidian beside the facts: Bases views (``views/*.base``,
YAML read by Obsidian's core Bases plugin), the fact template (``templates/fact.md``) and the
Templates plugin's setting pointing at it (``.obsidian/templates.json``).

The views name only properties that fact notes (§7.4), conflict notes (§14.1) and drafts
(the template's properties, the watcher's ``stigmem_error``) carry; none of these files is
part of the signed format.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

VIEWS_DIR = "views"
TEMPLATES_DIR = "templates"
TEMPLATES_SETTINGS = ".obsidian/templates.json"
# The fact template lives in the repository's templates/ folder (one copy for the repository
# and every vault). A built wheel carries it as package data, stigmem_vault/templates/fact.md
# (setup.py copies it there); a source checkout or an editable install reads the repository's.
_PACKAGED_TEMPLATE = ("templates", "fact.md")
_SOURCE_TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "fact.md"


def fact_template() -> bytes | None:
    """The fact template's bytes: packaged in the wheel, else the source checkout's; None
    only when neither is there (a broken install), and then ``init`` cannot install it."""
    packaged = resources.files("stigmem_vault").joinpath(*_PACKAGED_TEMPLATE)
    if packaged.is_file():
        return packaged.read_bytes()
    if _SOURCE_TEMPLATE.is_file():
        return _SOURCE_TEMPLATE.read_bytes()
    return None

_FACT_COLUMNS = """\
    order:
      - file.name
      - entity
      - relation
      - value_type
      - value_string
      - value_number
      - value_boolean
      - value_datetime
      - value_ref
      - source
      - confidence
      - trust
      - scope
      - timestamp
"""

_FACT_NOTES = """\
filters:
  and:
    - file.inFolder("facts")
    - 'file.ext == "md"'
views:
  - type: table
"""


def _fact_base(comment: str, view: str) -> str:
    """A base over the fact notes: its comment, one table view, the fact columns."""
    return comment + _FACT_NOTES + view + _FACT_COLUMNS


BASES: dict[str, str] = {
    "live-facts": _fact_base("""\
# Signed facts in force: not retracted (confidence 0) and not expired, grouped by entity.
# A fact file stays in facts/ after it is amended or replaced, and Bases cannot tell: the
# entity notes (entities/) list only the live values.
""", """\
    name: Live facts
    filters:
      and:
        - "confidence > 0"
        - or:
            - "!valid_until"
            - "date(valid_until) > now()"
    groupBy:
      property: entity
      direction: ASC
"""),
    "open-conflicts": """\
# Conflicts waiting for a person: open the note, set winner (a or b) or a value, then tick
# sign (saving alone signs nothing; a choice not ticked yet is also in the pending view).
filters:
  and:
    - file.inFolder("conflicts")
    - 'stigmem_note == "conflict"'
views:
  - type: table
    name: Open conflicts
    filters:
      and:
        - 'status == "open"'
    order:
      - file.name
      - entity
      - relation
      - scope
      - status
      - winner
      - value
      - sign
""",
    "recent-changes": _fact_base("""\
# The latest signed facts, by the time they were asserted.
""", """\
    name: Recent changes
    limit: 100
    sort:
      - property: timestamp
        direction: DESC
"""),
    "low-confidence": _fact_base("""\
# Facts to double-check: low confidence, or marked stale-risk by their source (retractions,
# confidence 0, are left out).
""", """\
    name: Low confidence or stale-risk
    filters:
      and:
        - "confidence > 0"
        - or:
            - "confidence < 0.7"
            - 'trust == "stale-risk"'
    sort:
      - property: confidence
        direction: ASC
"""),
    "pending": """\
# What is not signed yet: every note in inbox/, drafts anywhere else (a note with entity and
# relation but no signature, e.g. from templates/fact.md), edits waiting for their `sign` tick
# (a `sign` property, unticked), conflict notes with a winner or value chosen but not ticked,
# and notes stigmem could not sign (stigmem_error says why). Notes stigmem generates
# (stigmem_note: entity or conflict) are not drafts.
filters:
  and:
    - 'file.ext == "md"'
    - not:
        - file.inFolder("templates")
    - or:
        - file.inFolder("inbox")
        - 'file.hasProperty("stigmem_error")'
        - and:
            - '!file.hasProperty("stigmem_note")'
            - or:
                - "sign == false"
                - and:
                    - 'file.hasProperty("entity")'
                    - 'file.hasProperty("relation")'
                    - '!file.hasProperty("signature")'
        - and:
            - 'stigmem_note == "conflict"'
            - 'status == "open"'
            - or:
                - "sign == true"
                - "!winner.isEmpty()"
                - "!note.value.isEmpty()"
views:
  - type: table
    name: Pending drafts
    sort:
      - property: file.mtime
        direction: DESC
    order:
      - file.name
      - file.folder
      - entity
      - relation
      - value_type
      - source
      - stigmem_error
      - file.mtime
""",
}


def obsidian_files() -> dict[str, bytes]:
    """Vault-relative path -> content of every file ``init`` installs for Obsidian."""
    files = {f"{VIEWS_DIR}/{name}.base": text.encode() for name, text in BASES.items()}
    template = fact_template()
    if template is not None:
        files[f"{TEMPLATES_DIR}/fact.md"] = template
        files[TEMPLATES_SETTINGS] = (json.dumps({"folder": TEMPLATES_DIR}, indent=2)
                                     + "\n").encode()
    return files
