"""The federation commands: remote, sync, peer, audit, identity rotate, status rows.

Each node has its own STIGMEM_HOME, passed per invocation (two vaults, two key stores).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stigmem_vault.cli.main import cli

from .support import bare_repo


class Cli:
    """``stigmem --vault ROOT ...`` with this node's STIGMEM_HOME."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(cli, ["--vault", str(self.root), *args],
                                  env={"STIGMEM_HOME": str(self.home), "STIGMEM_VAULT": None},
                                  catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> object:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture
def make_cli(tmp_path: Path):
    def make(name: str, owner: str, *identities: str) -> Cli:
        node = Cli(tmp_path / name, tmp_path / f"home-{name}")
        init = node.runner.invoke(cli, ["init", str(node.root), "--owner", owner],
                                  env={"STIGMEM_HOME": str(node.home)}, catch_exceptions=False)
        assert init.exit_code == 0, init.stderr
        for source in identities:
            node.ok("identity", "create", source)
        return node

    return make


def test_remote_add_list_remove(make_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = make_cli("a", "user:alice")
    bare_repo(tmp_path / "r1.git")
    monkeypatch.chdir(tmp_path)
    added = a.ok("remote", "add", "r1", "r1.git", "--scopes", "team,company")
    assert added.stdout.startswith(f"added remote r1 {tmp_path / 'r1.git'} (scopes team,company)")
    assert a.json("remote", "add", "r2", "git://127.0.0.1:9/r2.git", "--scopes", "public") == {
        "name": "r2", "url": "git://127.0.0.1:9/r2.git", "scopes": ["public"]}
    rows = a.ok("remote", "list").stdout.splitlines()
    assert rows[0].split() == ["NAME", "SCOPES", "URL"]
    assert [row.split()[:2] for row in rows[1:]] == [["r1", "team,company"], ["r2", "public"]]
    assert [r["name"] for r in a.json("remote", "list")] == ["r1", "r2"]
    assert a.ok("remote", "remove", "r2").stdout == "removed remote r2\n"
    assert [r["name"] for r in a.json("remote", "list")] == ["r1"]

    local = a("remote", "add", "r3", "r1.git", "--scopes", "team,local")
    assert local.exit_code == 2 and "local facts never leave this machine" in local.stderr
    again = a("remote", "add", "r1", "r1.git", "--scopes", "team")
    assert again.exit_code == 2 and "exists" in again.stderr
    missing = a("remote", "remove", "nope")
    assert missing.exit_code == 2 and "no remote 'nope'" in missing.stderr
    no_scopes = a("remote", "add", "r4", "r1.git")
    assert no_scopes.exit_code == 2 and "--scopes" in no_scopes.stderr
    assert a.ok("audit").stdout == "the audit log is empty\n"
    assert a.ok("peer", "list").stdout.startswith("no peers yet")


def test_sync_peer_audit_status_rotate(make_cli, tmp_path: Path) -> None:
    remote = bare_repo(tmp_path / "r.git")
    a = make_cli("a", "user:alice", "agent:codex")
    b = make_cli("b", "user:bob")
    for node in (a, b):
        node.ok("remote", "add", "origin", str(remote), "--scopes", "team")
    fact = a.json("assert", "--entity", "project:atlas", "--relation", "codex:state",
                  "--value", "draft", "--source", "agent:codex", "--scope", "team")
    first = a.ok("sync").stdout
    assert "origin: imported 0, quarantined 0, refused updates 0, forged commits 0, new peers 0, " \
           "pushed team" in first

    # B learns of A: pending, with the hint to trust it by fingerprint.
    synced = b.ok("sync").stdout
    assert "origin: imported 0, quarantined 1," in synced
    match = re.search(r"new peer ([0-9a-f]{16}) \(owner user:alice, fingerprint (sha256:[0-9a-f]{64})\)"
                      r" is pending;.*stigmem peer trust \1 --fingerprint sha256:\.\.\.", synced)
    assert match, synced
    node_id, fingerprint = match.groups()
    assert "see `stigmem audit`" in synced
    rows = b.ok("peer", "list").stdout.splitlines()
    assert rows[0].split() == ["NODE", "OWNER", "FINGERPRINT", "STATUS", "SCOPES", "IDENTITIES"]
    assert rows[1].split() == [node_id, "user:alice", fingerprint, "pending", "team", "3"]
    [peer] = b.json("peer", "list")
    assert peer["status"] == "pending" and {"source": "agent:codex"}.items() <= peer[
        "identities"][0].items()

    audit = b.ok("audit").stdout.splitlines()
    assert audit[0].split() == ["TIME", "REMOTE", "KIND", "WHERE", "REASON"]
    assert "untrusted-signer" in audit[1] and str(fact["path"]) in audit[1]
    [entry] = b.json("audit", "--limit", "1")
    assert entry["kind"] == "untrusted-signer" and entry["quarantined"]

    wrong = b("peer", "trust", node_id, "--fingerprint", "sha256:" + "0" * 64)
    assert wrong.exit_code == 2 and "does not match" in wrong.stderr
    assert b.json("peer", "list")[0]["status"] == "pending"
    trusted = b.ok("peer", "trust", node_id, "--fingerprint", fingerprint)
    assert trusted.stdout.startswith(f"trusted peer {node_id} (user:alice, {fingerprint}")
    assert trusted.stderr == ""
    got = b.json("get", str(fact["id"]))
    assert got["id"] == fact["id"]  # released from quarantine: it verifies now

    status = b.ok("status").stdout
    assert re.search(r"remotes:\n  origin \(team\): last sync \S+, ahead 0, behind 0, "
                     r"quarantined 0\n", status), status
    [row] = b.json("status")["remotes"]
    assert (row["remote"], row["last_error"], row["behind"]) == ("origin", None, 0)

    # Rotation on A; B follows it at the next sync.
    rotated = a.json("identity", "rotate", "agent:codex")
    assert rotated["source"] == "agent:codex" and rotated["key"] != fact["signer"]
    assert a.ok("identity", "rotate", "user:alice").stdout.startswith("rotated identity user:alice")
    newer = a.json("assert", "--entity", "project:atlas", "--relation", "codex:next",
                   "--value", "ship", "--source", "agent:codex", "--scope", "team")
    a.ok("sync")
    [report] = b.json("sync")
    assert (report["imported"], report["quarantined"], report["error"]) == (1, 0, None)
    assert b.json("get", str(newer["id"]))["signer"] == rotated["key"]
    assert b.ok("verify").exit_code == 0

    # Revoking A: its facts stop verifying here.
    assert b.ok("peer", "revoke", node_id).stdout == f"revoked peer {node_id}\n"
    assert b.json("peer", "list")[0]["status"] == "revoked"
    assert b("verify").exit_code == 1


def test_sync_failure_exits_4_and_shows_in_status(make_cli, tmp_path: Path,
                                                  refused_url: str) -> None:
    a = make_cli("a", "user:alice")
    good = bare_repo(tmp_path / "good.git")
    a.ok("remote", "add", "good", str(good), "--scopes", "team")
    a.ok("remote", "add", "down", refused_url, "--scopes", "team")
    result = a("sync")
    assert result.exit_code == 4
    assert re.search(r"^down: failed: remote down: fetch from git://\S+ failed", result.stdout,
                     re.M), result.stdout
    assert "good: imported 0" in result.stdout  # the other remote still synced
    as_json = a("sync", "--json")
    assert as_json.exit_code == 4
    reports = {r["remote"]: r for r in json.loads(as_json.stdout)}
    assert reports["good"]["error"] is None and "fetch" in reports["down"]["error"]
    assert a.ok("sync", "good").exit_code == 0
    status = a.ok("status").stdout
    assert re.search(r"  down \(team\): last sync \S+, ahead \d, behind 0, quarantined 0, "
                     r"last error: remote down: fetch", status), status
    # ssh:// goes through libgit2's SSH transport (no sshd here: it can only fail cleanly).
    a.ok("remote", "remove", "down")
    a.ok("remote", "add", "down", refused_url.replace("git://", "ssh://git@"), "--scopes", "team")
    over_ssh = a("sync", "down")
    assert over_ssh.exit_code == 4
    assert "down: failed: remote down: fetch from ssh://git@127.0.0.1:" in over_ssh.stdout
    assert "Connection refused" in over_ssh.stdout
    unknown = a("sync", "nope")
    assert unknown.exit_code == 2 and "no remote 'nope'" in unknown.stderr
