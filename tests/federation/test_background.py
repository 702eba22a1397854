"""Background sync: every interval; a failing remote backs off exponentially (with jitter) up
to a cap, and the interval comes back once the remote answers again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from .support import GitDaemon, Nodes, bare_repo, git, reserved_port, wait_for

INTERVAL = 0.05
CAP = 0.4


def test_background_sync_backs_off_then_recovers(nodes: Nodes, tmp_path: Path) -> None:
    served = tmp_path / "served"
    bare_repo(served / "r.git")
    holder = reserved_port()  # the server is down: connections are refused
    port = holder.getsockname()[1]
    a = nodes("a", "user:alice")
    a.vault.add_remote("r", f"git://127.0.0.1:{port}/r.git", ["team"])
    fact = a.say("codex:state", "draft")
    started: list[float] = []
    ended: list[float] = []
    real_sync = a.vault.sync

    def recording_sync(name: str | None = None):
        started.append(time.monotonic())
        try:
            return real_sync(name)
        finally:
            ended.append(time.monotonic())

    a.vault.sync = recording_sync  # type: ignore[method-assign]
    stop = a.vault.background_sync(INTERVAL, max_backoff=CAP)
    daemon = GitDaemon(served)
    try:
        wait_for(lambda: len(started) >= 6, 20, "six failing attempts")
        [row] = a.vault.sync_status()
        assert row.failures >= 5 and "fetch" in str(row.last_error)
        # The waits between one sync's end and the next one's start.
        gaps = [started[i + 1] - ended[i] for i in range(5)]
        # Base delays 0.1, 0.2, 0.4, 0.4, 0.4 (interval * 2**failures, capped), each ±20%.
        assert gaps[0] >= 2 * INTERVAL * 0.8
        assert gaps[1] >= 4 * INTERVAL * 0.8
        assert all(gap >= CAP * 0.8 for gap in gaps[2:]), gaps
        assert all(gap <= CAP * 1.2 + 1.0 for gap in gaps), gaps  # capped (+ slack for load)

        holder.close()
        daemon.start(port=port)
        wait_for(lambda: a.vault.sync_status()[0].failures == 0, 20, "a successful sync")
        [row] = a.vault.sync_status()
        assert row.last_error is None and row.ahead == 0
        assert a.vault.path_of(fact) in daemon_tree(served, a.node_id)
        recovered = len(started)
        wait_for(lambda: len(started) >= recovered + 2, 20, "two more attempts")
        # Back to the plain interval (±20%): far below the cap the failures had reached.
        assert started[recovered + 1] - ended[recovered] < CAP * 0.5
    finally:
        stop.set()
        wait_for(lambda: not any(t.name == "stigmem-sync" and t.is_alive()
                                 for t in threading.enumerate()), 20, "the sync thread to stop")
        daemon.kill()
        holder.close()


def daemon_tree(served: Path, node_id: str) -> str:
    return git(served / "r.git", "ls-tree", "-r", "--name-only", f"stigmem/team/{node_id}")
