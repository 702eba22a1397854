"""Stalled clients (issue 9, item 10): real sockets on 127.0.0.1 against a node with a short
request timeout. A client that sends nothing, half a head or half a body is answered 408 and
dropped within the deadline; an idle keep-alive connection is closed; open connections are
bounded, and slots come back as stalled connections are dropped.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from urllib.parse import urlsplit

import pytest
from http_support import Node

TIMEOUT = 0.5  # the node's request timeout in these tests
SLACK = 5.0  # how long past it a test waits for the close before calling it a hang


def connect(node: Node, stack: ExitStack) -> socket.socket:
    parts = urlsplit(node.url)
    sock = stack.enter_context(socket.create_connection((parts.hostname, parts.port), timeout=5))
    sock.settimeout(TIMEOUT + SLACK)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the node sends until it closes the connection (a hang fails the test)."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the node kept a stalled connection open (got {received!r})")
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


@pytest.fixture
def stalled_node(start_node: Callable[..., Node]) -> Node:
    return start_node(request_timeout=TIMEOUT, keepalive_timeout=TIMEOUT, max_connections=8)


HEAD = b"POST /v1/facts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize("sent", [
    b"",  # connects and says nothing
    b"GE",  # half a request line
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n",  # a head that never ends
    HEAD + b"Content-Length: 100\r\n\r\n{\"entity\": ",  # half a body
])
def test_a_stalled_request_is_answered_408_and_dropped(stalled_node: Node, sent: bytes) -> None:
    with ExitStack() as stack:
        sock = connect(stalled_node, stack)
        started = time.monotonic()
        sock.sendall(sent)
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert TIMEOUT * 0.8 <= elapsed < TIMEOUT + SLACK
    assert stalled_node.client(None).request("GET", "/healthz").status_code == 200


def test_a_slow_trickle_does_not_extend_the_deadline(stalled_node: Node) -> None:
    """One byte at a time keeps the connection busy but not alive past the deadline."""
    with ExitStack() as stack:
        sock = connect(stalled_node, stack)
        started = time.monotonic()
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if time.monotonic() - started > TIMEOUT + SLACK:
                pytest.fail("the node kept a trickling connection open")
            time.sleep(TIMEOUT / 10)  # the trickle itself, not a wait for the node
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_an_idle_keep_alive_connection_is_closed(stalled_node: Node) -> None:
    with ExitStack() as stack:
        sock = connect(stalled_node, stack)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(sock)  # the answer, then the close when idle
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"status":"ok"}'), answer


def test_each_request_on_a_connection_gets_its_own_deadline(stalled_node: Node) -> None:
    """The deadline covers receiving the request; requests after it on the same connection
    get their own."""
    with ExitStack() as stack:
        sock = connect(stalled_node, stack)
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = sock.recv(65536)
            assert reply.startswith(b"HTTP/1.1 200 "), reply
            time.sleep(TIMEOUT * 0.6)  # within keep-alive, beyond the sum of two deadlines
        # 1.8 x the request timeout on one connection, answered every time


def test_a_huge_request_head_is_431(stalled_node: Node) -> None:
    with ExitStack() as stack:
        sock = connect(stalled_node, stack)
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 200_000)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]


def test_a_large_body_is_not_a_large_head(stalled_node: Node) -> None:
    """Head and a 200 KB body in one write: only the head counts against the head limit."""
    body = b'{"query": "' + b"a" * 4000 + b'",' + b" " * 200_000 + b'"limit": 5}'  # JSON spaces
    with ExitStack() as stack:
        sock = connect(stalled_node, stack)
        token = stalled_node.tokens["codex"].encode()
        sock.sendall(b"POST /v1/recall HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Authorization: Bearer " + token + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]


def test_connections_are_bounded_and_stalled_ones_give_their_slot_back(
        stalled_node: Node) -> None:
    with ExitStack() as stack:
        stalled = [connect(stalled_node, stack) for _ in range(8)]
        for sock in stalled:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # never finished
        # At the bound, a well-formed request is refused, not queued behind the stalled ones.
        late = connect(stalled_node, stack)
        late.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_until_closed(late).startswith(b"HTTP/1.1 503 ")
        for sock in stalled:
            assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
    assert stalled_node.client(None).request("GET", "/healthz").status_code == 200
