"""The node's settings: small value objects with named defaults."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from stigmem_vault.errors import InvalidFact

AuthMode = Literal["token", "none"]
AttestationMode = Literal["enforce", "warn", "off"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``rate`` requests per second sustained, ``burst`` at once. 0 = unlimited."""

    rate: float
    burst: int


@dataclass(frozen=True, slots=True)
class NodeSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    auth: AuthMode = "token"
    # Unset: enforce with tokens; off without them (there is no principal to enforce against).
    attestation: AttestationMode | None = None
    node_url: str | None = None
    max_body_bytes: int = 1024 * 1024
    reads: RateLimit = RateLimit(200.0, 2000)
    writes: RateLimit = RateLimit(100.0, 1000)
    watch: bool = True
    # A request must arrive whole (head and body) within this many seconds of its first byte
    # (a new connection: of opening); else 408 and the connection is closed.
    request_timeout: float = 30.0
    # An idle keep-alive connection is closed after this many seconds.
    keepalive_timeout: float = 5.0
    # Open connections at most; beyond, a request gets 503 until some close.
    max_connections: int = 1000

    @property
    def attestation_mode(self) -> AttestationMode:
        if self.attestation is not None:
            return self.attestation
        return "enforce" if self.auth == "token" else "off"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return self.node_url or f"http://{host}:{self.port}"

    def check(self) -> None:
        """Refuse combinations that would expose an unauthenticated node to the network."""
        if self.auth not in ("token", "none"):
            raise InvalidFact("auth", f"{self.auth!r} is not token or none")
        if self.attestation not in (None, "enforce", "warn", "off"):
            raise InvalidFact("attestation", f"{self.attestation!r} is not enforce, warn or off")
        for name in ("request_timeout", "keepalive_timeout"):
            if not getattr(self, name) > 0:
                raise InvalidFact(name, f"must be more than 0 seconds, not {getattr(self, name)}")
        if self.max_connections < 1:
            raise InvalidFact("max_connections", f"must be at least 1, not {self.max_connections}")
        if self.auth == "none" and not is_loopback(self.host):
            raise InvalidFact("auth", f"--auth none is allowed only on a loopback address, not "
                                      f"{self.host!r}; use --host 127.0.0.1 or token auth")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
