"""Running the node: one Vault (one index writer), its watcher, and uvicorn on top."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import uvicorn

from stigmem_vault.api.results import Change
from stigmem_vault.api.vault import Vault
from stigmem_vault.http.app import create_app
from stigmem_vault.http.protocol import protocol
from stigmem_vault.http.settings import NodeSettings


@dataclass
class RunningNode:
    """A node serving in a background thread (tests, benchmarks, the conformance runner)."""

    server: uvicorn.Server
    thread: threading.Thread
    settings: NodeSettings
    watching: _Watching | None = None

    @property
    def url(self) -> str:
        sockets = self.server.servers[0].sockets if self.server.servers else []
        port = sockets[0].getsockname()[1] if sockets else self.settings.port
        host = f"[{self.settings.host}]" if ":" in self.settings.host else self.settings.host
        return f"http://{host}:{port}"


def _server(vault: Vault, settings: NodeSettings) -> uvicorn.Server:
    config = uvicorn.Config(create_app(vault, settings), host=settings.host, port=settings.port,
                            log_level="warning", access_log=False, lifespan="off",
                            http=protocol(settings.request_timeout),
                            # uvicorn annotates int, but only hands it to loop.call_later, which
                            # takes float seconds: a fractional timeout works as given.
                            timeout_keep_alive=settings.keepalive_timeout,  # type: ignore[arg-type]
                            limit_concurrency=settings.max_connections,
                            backlog=min(2048, settings.max_connections))
    return uvicorn.Server(config)


class _Stoppable(Protocol):  # what Vault.watch returns, as this front end uses it
    def stop(self) -> None: ...


class _Watching:
    """The node's watcher. Over an index a scan only needs to bring up to date, it starts in
    the background while the node listens and answers from that index: what changed while
    the node was down shows up once the catch-up scan has found it, as an edit made in the
    node's first seconds would (a scan of a million files takes seconds). Over a new or
    rebuilt index it starts, scan included, before the node listens (Vault.open_index_as_is)."""

    def __init__(self, vault: Vault, on_change: Callable[[list[Change]], None] | None,
                 background: bool) -> None:
        self._watcher: _Stoppable | None = None
        self._thread: threading.Thread | None = None
        if background and vault.open_index_as_is():
            self._thread = threading.Thread(target=self._start, args=(vault, on_change),
                                            name="stigmem-catch-up", daemon=True)
            self._thread.start()
        else:
            self._watcher = vault.watch(on_change=on_change)

    def _start(self, vault: Vault, on_change: Callable[[list[Change]], None] | None) -> None:
        try:
            self._watcher = vault.watch(on_change=on_change)
        except Exception as exc:  # the node goes on serving; the person is told
            vault.notify(f"watcher: could not start: {exc}")

    def caught_up(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def stop(self) -> None:
        self.caught_up()  # a scan under way finishes first: it holds the vault's locks
        if self._watcher is not None:
            self._watcher.stop()


class _Server(uvicorn.Server):
    """uvicorn's server, telling ``on_ready`` its URL once its socket is bound and listening."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self._on_ready is not None and self.started and not self.should_exit:
            bound = self.servers[0].sockets if self.servers else []
            host, port = self.config.host, bound[0].getsockname()[1] if bound else self.config.port
            self._on_ready(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")


def serve(vault: Vault, settings: NodeSettings,
          on_ready: Callable[[str], None] | None = None,
          on_change: Callable[[list[Change]], None] | None = None) -> None:
    """Serve until interrupted (SIGINT/SIGTERM), with the watcher running inside the node.

    ``on_ready(url)`` is called once the listening socket is bound: a connection made after
    it is accepted. ``on_change`` hears what the watcher carried out (as `stigmem watch`
    prints it); the node's own writes through HTTP are not among them.
    """
    settings.check()
    watcher = (_Watching(vault, on_change, background=True)
               if settings.watch and vault.writable else None)
    try:
        server = _server(vault, settings)
        _Server(server.config, on_ready).run()
    finally:
        if watcher is not None:
            watcher.stop()


@contextmanager
def running(vault: Vault, settings: NodeSettings, timeout: float = 10.0,
            catch_up_in_background: bool = False) -> Iterator[RunningNode]:
    """Serve in a thread for the duration of the block (port 0 picks a free port). The
    watcher's catch-up scan runs before the node listens unless ``catch_up_in_background``
    (as ``serve`` runs it over an index that only needs catching up)."""
    settings.check()
    server = _server(vault, settings)  # off the main thread, uvicorn leaves signals alone
    thread = threading.Thread(target=server.run, name="stigmem-node", daemon=True)
    watcher = (_Watching(vault, None, catch_up_in_background)
               if settings.watch and vault.writable else None)
    thread.start()
    started = threading.Event()

    def wait_started() -> None:
        while not server.started and thread.is_alive():
            started.wait(0.01)

    waiter = threading.Thread(target=wait_started, daemon=True)
    waiter.start()
    waiter.join(timeout)
    if not server.started:
        server.should_exit = True
        raise RuntimeError("the node did not start within the timeout")
    try:
        yield RunningNode(server, thread, settings, watcher)
    finally:
        server.should_exit = True
        thread.join(timeout)
        if watcher is not None:
            watcher.stop()
