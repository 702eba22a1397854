"""Federation through the installed ``stigmem`` executable, over a real ``git daemon``.

Two operators, each with their own STIGMEM_HOME: remotes with scopes, sync, the signed
handshake by fingerprint, then ``stigmem serve`` syncing in the background until a fact
asserted on the other node shows up, with ``stigmem status`` reporting the remote.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from federation.support import GIT_ENV, GitDaemon, bare_repo, free_port, wait_for

from stigmem_vault.federation.declaration import fingerprint

STIGMEM = Path(sys.executable).parent / "stigmem"

pytestmark = [
    pytest.mark.skipif(not STIGMEM.exists(), reason="run `pip install -e '.[test]'` first"),
    pytest.mark.skipif(subprocess.run(["which", "ssh-keygen"], capture_output=True).returncode != 0,
                       reason="git verify-commit of SSH signatures needs ssh-keygen"),
]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    served = tmp_path / "served"
    served.mkdir()
    running = GitDaemon(served).start()
    yield running
    running.kill()


class Operator:
    def __init__(self, tmp_path: Path, name: str) -> None:
        self.root = tmp_path / name
        self.env = {**GIT_ENV, "STIGMEM_HOME": str(tmp_path / f"home-{name}")}
        self.env.pop("STIGMEM_VAULT", None)

    def run(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(STIGMEM), "--vault", str(self.root), *args], env=self.env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "--json").stdout)


def test_two_operators_sync_and_serve_syncs_in_the_background(daemon: GitDaemon,
                                                               tmp_path: Path) -> None:
    bare_repo(daemon.base / "team.git")
    url = daemon.url("team.git")
    alice, bob = Operator(tmp_path, "alice"), Operator(tmp_path, "bob")
    for op, owner in ((alice, "user:alice"), (bob, "user:bob")):
        made = subprocess.run([str(STIGMEM), "init", str(op.root), "--owner", owner],
                              env=op.env, capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        op.run("remote", "add", "team", url, "--scopes", "team")
    first = alice.json("assert", "--entity", "project:atlas", "--relation", "codex:state",
                       "--value", "draft", "--scope", "team")
    secret = alice.json("assert", "--entity", "project:atlas", "--relation", "codex:secret",
                        "--value", "never leaves", "--scope", "local")
    assert "pushed team" in alice.run("sync").stdout

    # Bob sees Alice pending, checks the fingerprint Alice reads to him, and admits her.
    assert "stigmem peer trust" in bob.run("sync").stdout
    [peer] = bob.json("peer", "list")
    alice_status = alice.json("status")
    assert peer["owner"] == "user:alice" and peer["node_id"] == alice_status["node_id"]
    owner_key = json.loads((alice.root / ".stigmem" / "vault.json").read_text())["owner_key"]
    told = fingerprint(owner_key)  # what Alice reads to Bob over the phone
    bob.run("peer", "trust", peer["node_id"], "--fingerprint", told)
    assert bob.json("get", first["id"])["id"] == first["id"]
    assert not (bob.root / secret["path"]).exists()

    # Bob serves; the node syncs in the background and picks up Alice's next fact.
    port = free_port()
    err = tmp_path / "serve.err"
    with err.open("w") as stderr:
        serve = subprocess.Popen(
            [str(STIGMEM), "--vault", str(bob.root), "serve", "--auth", "none", "--host",
             "127.0.0.1", "--port", str(port), "--no-watch", "--sync-interval", "0.2"],
            env=bob.env, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    try:
        wait_for(lambda: "sync every 0.2s" in err.read_text(), 30, "serve to start")
        later = alice.json("assert", "--entity", "project:zeus", "--relation", "codex:state",
                           "--value", "shipped", "--scope", "team")
        alice.run("sync")
        wait_for(lambda: (bob.root / later["path"]).is_file(), 30, "the background sync")
        wait_for(lambda: any(r["remote"] == "team" and r["last_sync"]
                             for r in bob.json("status")["remotes"]), 30, "a recorded sync")
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0, err.read_text()
    assert "stopped; every change is committed" in err.read_text()

    status = bob.run("status").stdout
    assert "remotes:\n  team (team): last sync " in status and "last error" not in status
    assert bob.run("verify").stdout.startswith("verified 2 fact file(s): 2 valid")
    verified = subprocess.run(["git", "-c", "gpg.ssh.allowedSignersFile=.stigmem/allowed_signers",
                               "verify-commit", "HEAD"], cwd=bob.root, env=GIT_ENV,
                              capture_output=True, text=True)
    assert verified.returncode == 0 and "Good" in verified.stderr, verified.stderr
    assert subprocess.run(["git", "status", "--porcelain"], cwd=bob.root, env=GIT_ENV,
                          capture_output=True, text=True).stdout == ""
    assert os.path.isfile(bob.root / ".stigmem" / "local" / "audit.jsonl")
