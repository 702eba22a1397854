"""Running the node: one Vault (one index writer), its watcher, and uvicorn on top."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

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
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted (SIGINT/SIGTERM), with the watcher running inside the node.

    ``on_ready(url)`` is called once the listening socket is bound: a connection made after
    it is accepted.
    """
    settings.check()
    watcher = vault.watch() if settings.watch and vault.writable else None
    try:
        server = _server(vault, settings)
        _Server(server.config, on_ready).run()
    finally:
        if watcher is not None:
            watcher.stop()


@contextmanager
def running(vault: Vault, settings: NodeSettings, timeout: float = 10.0) -> Iterator[RunningNode]:
    """Serve in a thread for the duration of the block (port 0 picks a free port)."""
    settings.check()
    server = _server(vault, settings)  # off the main thread, uvicorn leaves signals alone
    thread = threading.Thread(target=server.run, name="stigmem-node", daemon=True)
    watcher = vault.watch() if settings.watch and vault.writable else None
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
        yield RunningNode(server, thread, settings)
    finally:
        server.should_exit = True
        thread.join(timeout)
        if watcher is not None:
            watcher.stop()
