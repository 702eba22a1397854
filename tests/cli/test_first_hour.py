"""The first hour: scripts/run, and reading a vault whose private keys are elsewhere."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[2]
STIGMEM = Path(sys.executable).parent / "stigmem"

pytestmark = pytest.mark.skipif(not STIGMEM.exists(),
                                reason="run `pip install -e '.[test]'` to install the script")


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STIGMEM_HOME": str(home)}
    return subprocess.run([str(STIGMEM), *args], capture_output=True, text=True, timeout=120,
                          env=env)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A vault made from example-vault/, its keys in a home of its own."""
    base = tmp_path_factory.mktemp("first-hour")
    keys, vault = base / "keys", base / "vault"
    done = run("init", str(vault), "--owner", "user:demo", "--from", str(ROOT / "example-vault"),
               home=keys)
    assert done.returncode == 0, done.stderr
    return vault, keys


@pytest.mark.parametrize("command", [["list"], ["list", "--live"], ["verify"], ["status"],
                                     ["conflicts"], ["identity", "list"]])
def test_read_commands_need_no_private_key(made: tuple[Path, Path], tmp_path: Path,
                                           command: list[str]) -> None:
    vault, _keys = made
    empty = tmp_path / "empty-home"
    result = run("--vault", str(vault), *command, home=empty)
    assert result.returncode == 0, result.stderr
    if command == ["verify"]:
        assert "invalid" not in result.stdout.replace(" 0 invalid", "")


def test_a_write_without_the_key_names_where_it_looked(made: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    vault, _keys = made
    empty = tmp_path / "empty-home"
    result = run("--vault", str(vault), "assert", "--entity", "project:x", "--relation",
                 "codex:state", "--value", "v", home=empty)
    assert result.returncode == 3
    assert str(empty / "keys") in result.stderr
    assert "STIGMEM_HOME" in result.stderr


def _start_run(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(ROOT / "scripts" / "run"), *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _pump(name: str, stream: IO[str], lines: queue.Queue[tuple[str, str]]) -> None:
    for line in stream:
        lines.put((name, line))


def _wait_listening(process: subprocess.Popen[str], timeout: float = 120) -> tuple[str, str]:
    """Read stdout and stderr until stderr says "listening on URL"; return (stdout, URL)."""
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[tuple[str, str]] = queue.Queue()
    for name, stream in (("out", process.stdout), ("err", process.stderr)):
        threading.Thread(target=_pump, args=(name, stream, lines), daemon=True).start()
    out, err = "", ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            name, line = lines.get(timeout=1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if name == "out":
            out += line
            continue
        err += line
        found = re.search(r"listening on (http://\S+?):? ", line)
        if found:
            time.sleep(0.2)  # the rest of stdout, written before
            while not lines.empty():
                name, line = lines.get()
                out += line if name == "out" else ""
            return out, found.group(1)
    raise AssertionError(f"no 'listening' line\nstdout:\n{out}\nstderr:\n{err}")


def _stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_scripts_run_keeps_the_demo_vault_and_listens_when_it_says_so(tmp_path: Path) -> None:
    demo, home = tmp_path / "demo", tmp_path / "home"
    env = {**os.environ, "DEMO_VAULT": str(demo), "STIGMEM_HOME": str(home), "PORT": "0"}
    first = _start_run(env)
    try:
        out, url = _wait_listening(first)
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5):
            pass  # accepted at once: the line came after the bind
        assert "stigmem init" in out
        assert f"export STIGMEM_HOME={home}" in out
        assert f"stigmem --vault {demo} list" in out
    finally:
        _stop(first)
    marker = demo / "notes-kept.md"
    marker.write_text("kept\n")

    again = _start_run(env)
    try:
        out, _url = _wait_listening(again)
        assert "stigmem init" not in out and "Reusing" in out
        assert marker.exists()
    finally:
        _stop(again)

    fresh = _start_run(env, "--fresh")
    try:
        out, _url = _wait_listening(fresh)
        assert "stigmem init" in out
        assert not marker.exists()
    finally:
        _stop(fresh)

    listed = run("--vault", str(demo), "list", home=home)
    assert listed.returncode == 0, listed.stderr


def test_the_readme_init_from_the_example_runs_as_written_without_user_set(tmp_path: Path) -> None:
    """The README's `stigmem init my-vault --owner user:… --from example-vault` lines run as
    written on any machine: no shell variable (an unset $USER made `user:` an error)."""
    readme = (ROOT / "README.md").read_text("utf-8")
    written = set(re.findall(r"stigmem init my-vault --owner (\S+)\s+--from\s+example-vault", readme))
    assert written, "the README no longer shows how to start from the example"
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME", "STIGMEM_VAULT")}
    for number, owner in enumerate(sorted(written)):
        assert "$" not in owner, owner
        done = subprocess.run(
            [str(STIGMEM), "init", f"my-vault-{number}", "--owner", owner, "--from",
             str(ROOT / "example-vault")], cwd=tmp_path, capture_output=True, text=True,
            timeout=120, env={**env, "STIGMEM_HOME": str(tmp_path / "home")})
        assert done.returncode == 0, done.stderr


def test_the_default_node_keeps_upstream_clients_promise(tmp_path: Path) -> None:
    """On the node ./scripts/run starts (`--auth none`, the example vault), the real upstream
    SDK as two client sources: their disagreement opens a conflict, a confidence-0 retraction
    retires a fact, and a ref fact shows in the graph (docs/spec.md §9.5, §15.2)."""
    import httpx
    import stigmem

    env = {**os.environ, "DEMO_VAULT": str(tmp_path / "demo"),
           "STIGMEM_HOME": str(tmp_path / "home"), "PORT": "0"}
    process = _start_run(env)
    try:
        _out, url = _wait_listening(process)
        with stigmem.StigmemClient(url) as sdk:
            assert sdk.node_info().node_url == url  # port 0: the port it bound, not ":0"
            planner = sdk.assert_fact("user:sam", "memory:role", stigmem.string_value("viewer"),
                                      "agent:planner", scope="team")
            coder = sdk.assert_fact("user:sam", "memory:role", stigmem.string_value("admin"),
                                    "agent:coder", scope="team")
            def sams() -> list[stigmem.Conflict]:  # the example vault has conflicts of its own
                return [c for c in sdk.list_conflicts().conflicts if c.fact_a.entity == "user:sam"]

            [conflict] = sams()
            assert {conflict.fact_a.id, conflict.fact_b.id} == {planner.id, coder.id}

            sdk.retract("user:sam", "memory:role", "team", "agent:planner",
                        value=stigmem.string_value("viewer"))
            assert [f.id for f in sdk.query(entity="user:sam").facts] == [coder.id]
            assert sams() == []

            sdk.assert_fact("user:sam", "memory:works_on", stigmem.ref_value("project:atlas"),
                            "agent:coder", scope="team")
            around = httpx.get(f"{url}/v1/graph/neighbors",
                               params={"entity": "user:sam", "scope": "team"}, timeout=10)
            assert around.status_code == 200, around.text
            assert [(n["entity"], n["relation"]) for n in around.json()["neighbors"]] == [
                ("project:atlas", "memory:works_on")]
    finally:
        _stop(process)
