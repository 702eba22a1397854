"""`stigmem serve` as a real process on 127.0.0.1, and `stigmem token` around it.

The node is polled on /healthz until it answers (a deadline, no fixed sleeps); it must refuse
requests without a token, accept a token made by `stigmem token create`, enforce source
attestation, and on SIGINT or SIGTERM exit 0 with every write committed.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from stigmem_vault.api.vault import Vault
from stigmem_vault.index.db import INDEX_FILE

STIGMEM = Path(sys.executable).parent / "stigmem"
DEADLINE = 30.0  # seconds; generous for slow CI, but never an unbounded wait
T = TypeVar("T")

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(not STIGMEM.exists(),
                       reason="run `pip install -e '.[test]'` to install the script"),
]

DRAFT = """---
entity: project:atlas
relation: codex:owner
value: bob
scope: team
sign: true
---
Bob owns the atlas project.
"""


def stigmem(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(STIGMEM), *args], capture_output=True, text=True, timeout=60)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def poll(check: Callable[[], T | None], what: str) -> T:
    """Call ``check`` until it returns something, at most DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {DEADLINE}s")


def git(vault: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(vault), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def vault_dir(home: Path, tmp_path: Path) -> Path:
    """A vault owned by user:alice, with agent:codex, all committed; closed again."""
    path = tmp_path / "vault"
    with Vault.init(path, owner="user:alice", commit_delay=None) as vault:
        vault.create_identity("agent:codex")
    return path


class Node:
    """A running `stigmem serve` process, its address and its output files."""

    def __init__(self, proc: subprocess.Popen[str], url: str, stderr: Path) -> None:
        self.proc = proc
        self.url = url
        self.stderr_path = stderr

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, sig: signal.Signals) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=DEADLINE)


@contextmanager
def serving(vault: Path, tmp_path: Path, *options: str) -> Iterator[Node]:
    port = free_port()
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([str(STIGMEM), "--vault", str(vault), "serve", "--host",
                                 "127.0.0.1", "--port", str(port), *options],
                                stdout=stdout, stderr=stderr, text=True)
    node = Node(proc, f"http://127.0.0.1:{port}", err)
    try:
        def healthy() -> bool | None:
            if proc.poll() is not None:
                pytest.fail(f"serve exited {proc.returncode}: {node.stderr}")
            try:
                return httpx.get(f"{node.url}/healthz", timeout=1.0).status_code == 200 or None
            except httpx.TransportError:
                return None

        poll(healthy, "/healthz answering")
        yield node
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def fact(source: str, value: str = "draft", scope: str = "team") -> dict[str, object]:
    return {"entity": "project:atlas", "relation": "codex:state",
            "value": {"type": "string", "v": value}, "source": source, "confidence": 1.0,
            "scope": scope}


def test_token_auth_attestation_and_a_clean_sigint(vault_dir: Path, tmp_path: Path) -> None:
    made = stigmem("--vault", str(vault_dir), "token", "create", "agent:codex",
                   "--scopes", "team,company", "--perms", "read,write")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("stg_") and "\n" not in token
    assert made.stderr.startswith("created token ")
    bearer = {"Authorization": f"Bearer {token}"}

    with serving(vault_dir, tmp_path) as node:
        assert "auth token, attestation enforce, watcher on" in node.stderr
        well_known = httpx.get(f"{node.url}/.well-known/stigmem").json()
        assert (well_known["auth"], well_known["source_attestation"]) == ("required", "enforce")

        anonymous = httpx.post(f"{node.url}/v1/facts", json=fact("agent:codex"))
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        wrong = httpx.get(f"{node.url}/v1/facts", headers={"Authorization": "Bearer stg_nope"})
        assert wrong.status_code == 401

        written = httpx.post(f"{node.url}/v1/facts", json=fact("agent:codex"), headers=bearer)
        assert written.status_code == 201, written.text
        fact_id = written.json()["id"]

        forged = httpx.post(f"{node.url}/v1/facts", json=fact("user:alice", "forged"),
                            headers=bearer)
        assert forged.status_code == 403
        assert forged.json()["error"]["code"] == "source_not_owned"
        outside = httpx.post(f"{node.url}/v1/facts", json=fact("agent:codex", scope="local"),
                             headers=bearer)
        assert outside.status_code == 403
        assert outside.json()["error"]["code"] == "scope_not_permitted"

        listed = httpx.get(f"{node.url}/v1/facts", params={"entity": "project:atlas"},
                           headers=bearer)
        assert [f["id"] for f in listed.json()["facts"]] == [fact_id]

        # A token made while the node runs works at once; read-only means no writes.
        reader = stigmem("--vault", str(vault_dir), "--json", "token", "create", "agent:codex",
                         "--scopes", "team")
        assert reader.returncode == 0, reader.stderr
        read_only = {"Authorization": f"Bearer {json.loads(reader.stdout)['token']}"}
        assert httpx.get(f"{node.url}/v1/facts", headers=read_only).status_code == 200
        denied = httpx.post(f"{node.url}/v1/facts", json=fact("agent:codex", "x"),
                            headers=read_only)
        assert denied.status_code == 403

        # Stop right after a write: its pending (delayed) commit must be flushed on exit.
        last = httpx.post(f"{node.url}/v1/facts", json=fact("agent:codex", "final"),
                          headers=bearer)
        assert last.status_code == 201, last.text
        assert node.stop(signal.SIGINT) == 0, node.stderr
        assert node.stderr.splitlines()[-1] == "stopped; every change is committed"

    assert git(vault_dir, "status", "--porcelain") == ""
    tracked = git(vault_dir, "ls-files", "facts")
    assert fact_id[:12] in tracked
    assert last.json()["id"][:12] in tracked


def test_token_list_and_revoke_never_show_the_token(vault_dir: Path) -> None:
    made = stigmem("--vault", str(vault_dir), "--json", "token", "create", "agent:codex",
                   "--scopes", "team", "--scopes", "company", "--perms", "read")
    assert made.returncode == 0, made.stderr
    record = json.loads(made.stdout)
    raw = record["token"]
    assert set(record) == {"token", "id", "principal", "scopes", "perms", "created"}
    assert (record["scopes"], record["perms"]) == (["team", "company"], ["read"])

    for args in (("token", "list"), ("--json", "token", "list")):
        shown = stigmem("--vault", str(vault_dir), *args)
        assert shown.returncode == 0, shown.stderr
        assert raw not in shown.stdout and raw[4:20] not in shown.stdout
        assert "sha256" not in shown.stdout
    rows = stigmem("--vault", str(vault_dir), "token", "list").stdout.splitlines()
    assert rows[0].split() == ["ID", "PRINCIPAL", "SCOPES", "PERMS", "CREATED"]
    assert rows[1].split()[:4] == [record["id"], "agent:codex", "team,company", "read"]
    listed = json.loads(stigmem("--vault", str(vault_dir), "--json", "token", "list").stdout)
    assert listed == [{k: v for k, v in record.items() if k != "token"}]

    # Tokens live in .stigmem/local (this clone only): git never sees them.
    assert git(vault_dir, "status", "--porcelain") == ""

    revoked = stigmem("--vault", str(vault_dir), "token", "revoke", record["id"])
    assert (revoked.returncode, revoked.stdout) == (0, f"revoked token {record['id']}\n")
    assert stigmem("--vault", str(vault_dir), "token", "list").stdout.splitlines()[1:] == []
    again = stigmem("--vault", str(vault_dir), "token", "revoke", record["id"])
    assert again.returncode == 2
    unknown = stigmem("--vault", str(vault_dir), "token", "create", "agent:nobody",
                      "--scopes", "team")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: principal: no identity agent:nobody")


def test_auth_none_is_refused_off_loopback(vault_dir: Path) -> None:
    refused = stigmem("--vault", str(vault_dir), "serve", "--auth", "none", "--host", "0.0.0.0",
                      "--port", str(free_port()))
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: auth: --auth none is allowed only on a loopback")


def test_a_port_in_use_is_bad_input(vault_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = stigmem("--vault", str(vault_dir), "serve", "--auth", "none",
                         "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_watcher_inside_rate_limits_and_a_clean_sigterm(vault_dir: Path, tmp_path: Path) -> None:
    with serving(vault_dir, tmp_path, "--auth", "none", "--write-rate", "0.1") as node:
        assert "auth none, attestation off, watcher on" in node.stderr

        # The watcher runs inside the node: a draft dropped into the vault becomes a fact.
        (vault_dir / "draft.md").write_text(DRAFT)

        def signed() -> list[dict[str, object]] | None:
            found = httpx.get(f"{node.url}/v1/facts",
                              params={"relation": "codex:owner"}).json()["facts"]
            return found or None

        [owner] = poll(signed, "the draft signed and served")
        assert (owner["value"]["type"], owner["value"]["v"]) == ("string", "bob")
        # ... and the node says so in its log, as `stigmem watch` would.
        said = poll(lambda: [line for line in node.stderr.splitlines()
                             if line.startswith("signed ") and "(from draft.md)" in line] or None,
                    "the node to log the signing")
        assert str(owner["id"])[:12] in said[0]

        # 0.1 writes a second: a burst of one, then 429 with Retry-After.
        first = httpx.post(f"{node.url}/v1/facts", json=fact("user:alice"))
        assert first.status_code == 201, first.text
        limited = httpx.post(f"{node.url}/v1/facts", json=fact("user:alice", "again"))
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert httpx.get(f"{node.url}/v1/facts").status_code == 200  # reads have their own

        assert node.stop(signal.SIGTERM) == 0, node.stderr
    assert git(vault_dir, "status", "--porcelain") == ""
    assert not (vault_dir / "draft.md").exists()


def test_a_restarted_node_answers_from_its_index_and_catches_up_on_edits_made_while_down(
        vault_dir: Path, tmp_path: Path) -> None:
    with Vault.open(vault_dir, commit_delay=None) as vault:
        before = vault.assert_fact(entity="project:atlas", relation="codex:state", value="green",
                                   source="agent:codex", scope="team")
        vault.flush()
        assert [i.fact.id for i in vault.query(relation="codex:state")] == [before.id]
    with sqlite3.connect(vault_dir / INDEX_FILE) as db:  # an index brought up to date before
        assert db.execute("SELECT value FROM meta WHERE key = 'git_tree'").fetchone()
    # While no node runs, a person ticks `sign` on a note in the agent's inbox.
    (vault_dir / "inbox/agent-codex").mkdir(parents=True, exist_ok=True)
    (vault_dir / "inbox/agent-codex/while-down.md").write_text(DRAFT)

    with serving(vault_dir, tmp_path, "--auth", "none") as node:
        def facts(relation: str) -> list[dict[str, object]]:
            return httpx.get(f"{node.url}/v1/facts", params={"relation": relation},
                             timeout=5).json()["facts"]

        assert [f["id"] for f in facts("codex:state")] == [before.id]
        poll(lambda: facts("codex:owner") or None, "the note signed while the node was down")
        assert node.stop(signal.SIGTERM) == 0, node.stderr
