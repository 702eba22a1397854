"""Read commands never sign, restore, annotate or commit (spec §14): with every kind of gesture
waiting in the vault (a ticked draft, an agent's inbox draft, a ticked and an unticked edit of
a signed fact, a deleted and a renamed fact file), each read command leaves the repository
byte-identical: every file of the working tree and of .git. Only the index cache
(.stigmem/index/, ignored by git) may change."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .support import CliVault

_STATE = ".stigmem/index/"  # the rebuildable cache (§13.6)


def _bytes_of(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (the work tree and .git: HEAD, refs, the git index,
    objects, logs), except the index cache."""
    found: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if not rel.startswith(_STATE):
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _assert(cli_vault: CliVault, entity: str, relation: str, value: str,
            source: str = "agent:codex") -> dict[str, object]:
    return cli_vault.assert_ok("assert", "--entity", entity, "--relation", relation,
                               "--value", value, "--source", source)


def _tick(text: str) -> str:
    return text.replace("\n---\n", "\nsign: true\n---\n", 1)


def test_read_commands_leave_the_repository_byte_identical(cli_vault: CliVault) -> None:
    root = cli_vault.path
    ticked = _assert(cli_vault, "user:bob", "memory:role", "engineer")
    unticked = _assert(cli_vault, "user:carol", "memory:role", "designer")
    deleted = _assert(cli_vault, "user:dan", "memory:role", "tester")
    renamed = _assert(cli_vault, "user:erin", "memory:role", "writer")
    _assert(cli_vault, "project:atlas", "project:status", "green", source="user:alice")
    _assert(cli_vault, "project:atlas", "project:status", "red")  # an open conflict
    path = root / str(ticked["path"])
    path.write_text(_tick(path.read_text().replace('"engineer"', '"manager"')))
    path = root / str(unticked["path"])
    path.write_text(path.read_text().replace('"designer"', '"lead"'))
    (root / str(deleted["path"])).unlink()
    old = root / str(renamed["path"])
    old.rename(old.with_name("Erin.md"))
    (root / "Idea.md").write_text("---\nentity: project:atlas\nrelation: project:owner\n"
                                  "value: dana\nsign: true\n---\nA person's ticked draft.\n")
    (root / "inbox/agent-codex").mkdir(parents=True)
    (root / "inbox/agent-codex/note.md").write_text(
        "---\nentity: project:atlas\nrelation: project:eta\nvalue: friday\n---\n")
    [conflict] = cli_vault.assert_ok("conflicts")
    assert conflict["status"] == "open"
    before = _bytes_of(root)
    fact_id = str(unticked["id"])

    reads = [("status",), ("--json", "status"), ("list",), ("list", "--live"),
             ("query", "--entity", "user:bob"), ("get", fact_id), ("recall", "engineer"),
             ("provenance", fact_id), ("conflicts",), ("conflicts", "--status", "all"),
             ("verify",), ("verify", "--explain", str(root / str(unticked["path"]))),
             ("verify", "--explain", fact_id),
             ("identity", "list"), ("remote", "list"), ("peer", "list"), ("audit",),
             ("token", "list")]
    for args in reads:
        result = cli_vault(*args)
        assert result.exit_code in (0, 1), (args, result.stdout, result.stderr)
        after = _bytes_of(root)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        assert changed == [], f"`stigmem {' '.join(args)}` changed {changed}"
    # What the reads left alone is a writer's to do: one `index` carries it all out, and
    # leaves only the unticked edit uncommitted (pending).
    assert cli_vault("index").exit_code == 0
    after = _bytes_of(root)
    assert "Idea.md" not in after and "inbox/agent-codex/note.md" not in after
    assert cli_vault.git("status", "--porcelain") == f" M {unticked['path']}\n"
    live = {(f["entity"], f["value"]["v"]) for f in cli_vault.assert_ok("query")}
    assert {("user:bob", "manager"), ("user:carol", "designer"), ("user:erin", "writer"),
            ("project:atlas", "dana"), ("project:atlas", "friday")} <= live
    assert not any(entity == "user:dan" for entity, _v in live)  # retracted
