"""What ``stigmem init`` installs for Obsidian beside the facts: Bases views (``views/*.base``,
YAML read by Obsidian's core Bases plugin), the fact template (``templates/fact.md``) and the
Templates plugin's setting pointing at it (``.obsidian/templates.json``).

The views filter on the properties fact notes carry (§7.4), conflict notes carry (§14.1) and
drafts carry (``sign``); none of them is part of the signed format.
"""

from __future__ import annotations

import json
from pathlib import Path

VIEWS_DIR = "views"
TEMPLATES_DIR = "templates"
TEMPLATES_SETTINGS = ".obsidian/templates.json"
# The fact template ships in the repository's templates/ folder (one copy for the repository
# and every vault); an install without it (a bare wheel) simply does not install it.
FACT_TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "fact.md"

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

BASES: dict[str, str] = {
    "live-facts": """\
# Signed facts whose validity has not run out, newest first. A fact that was amended is
# replaced by its amendment: the entity notes (entities/) show only the live values.
filters:
  and:
    - file.inFolder("facts")
    - file.ext == "md"
views:
  - type: table
    name: Live facts
    filters:
      or:
        - "!valid_until"
        - 'date(valid_until) > now()'
    groupBy:
      property: entity
      direction: ASC
""" + _FACT_COLUMNS,
    "open-conflicts": """\
# Conflicts waiting for a person: open the note, set winner (a or b) or a value, and save.
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
""",
    "recent-changes": """\
# The latest signed facts, by the time they were asserted.
filters:
  and:
    - file.inFolder("facts")
    - file.ext == "md"
views:
  - type: table
    name: Recent changes
    limit: 100
    sort:
      - property: timestamp
        direction: DESC
""" + _FACT_COLUMNS,
    "low-confidence": """\
# Facts to double-check: low confidence, or marked stale-risk by their source.
filters:
  and:
    - file.inFolder("facts")
    - file.ext == "md"
views:
  - type: table
    name: Low confidence or stale-risk
    filters:
      or:
        - "confidence < 0.7"
        - 'trust == "stale-risk"'
    sort:
      - property: confidence
        direction: ASC
""" + _FACT_COLUMNS,
    "pending": """\
# What is not signed yet: drafts in inbox/ and notes whose sign box is not ticked (a new
# draft from the template, or an edit of a signed fact). Tick sign to sign them.
filters:
  and:
    - file.ext == "md"
    - not:
        - file.inFolder("templates")
    - or:
        - file.inFolder("inbox")
        - "sign == false"
views:
  - type: table
    name: Pending drafts and edits
    order:
      - file.name
      - file.folder
      - sign
      - entity
      - relation
      - source
      - stigmem_error
      - file.mtime
""",
}


def obsidian_files() -> dict[str, bytes]:
    """Vault-relative path -> content of every file ``init`` installs for Obsidian."""
    files = {f"{VIEWS_DIR}/{name}.base": text.encode() for name, text in BASES.items()}
    if FACT_TEMPLATE.is_file():
        files[f"{TEMPLATES_DIR}/fact.md"] = FACT_TEMPLATE.read_bytes()
        files[TEMPLATES_SETTINGS] = (json.dumps({"folder": TEMPLATES_DIR}, indent=2)
                                     + "\n").encode()
    return files
