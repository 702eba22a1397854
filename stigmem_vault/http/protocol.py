"""uvicorn's httptools protocol with deadlines for the client's side of a request.

uvicorn closes a keep-alive connection that stays idle between requests, but has no deadline
for a request itself: a client that connects and sends nothing, or half a request head, or
half a body, holds its connection (and, with ``limit_concurrency``, a slot) for ever. Here
every request must arrive whole within ``request_timeout`` seconds of its first byte (the
first request: of the connection opening), and its head within ``max_head_bytes``; otherwise
the node answers 408 (or 431) when it can and closes the connection. The deadline stops when
the request is complete: the node's own time to answer is not the client's to spend.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024


def _reply(status: bytes, text: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(text)).encode() + b"\r\nconnection: close\r\n\r\n"
            + text)


class DeadlineProtocol(HttpToolsProtocol):
    """One connection. Use :func:`protocol` to set the limits."""

    request_timeout: float = 30.0
    max_head_bytes: int = MAX_HEAD_BYTES

    _deadline: asyncio.TimerHandle | None = None
    _head_bytes: int | None = 0  # bytes of the current request head; None once it is whole

    # As uvicorn's own protocols do (with the same ignore): asyncio declares BaseTransport, and
    # uvicorn's connection_made, which this extends, takes the Transport a server hands it.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is dropped too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_bytes is not None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(b"431 Request Header Fields Too Large",
                             b"request head too large\n")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._deadline is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()  # the request is whole: the answer is the node's time, not the client's
        self._head_bytes = None  # until the next request begins (its first byte re-arms)
        super().on_message_complete()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.pipeline:  # a later request waits behind one the node is still answering
            self._arm()
            return
        self._refuse(b"408 Request Timeout", b"request not received in time\n")

    def _refuse(self, status: bytes, text: bytes) -> None:
        self._disarm()
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(_reply(status, text))
        # The app, if it waits for the rest of the body, gets http.disconnect.
        self.transport.close()


def protocol(request_timeout: float, max_head_bytes: int = MAX_HEAD_BYTES) -> type[DeadlineProtocol]:
    """The protocol class uvicorn should use (``Config(http=...)``), with these limits."""
    return type("DeadlineProtocol", (DeadlineProtocol,),
                {"request_timeout": request_timeout, "max_head_bytes": max_head_bytes})
