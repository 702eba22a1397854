"""Federation status as one principal may see it (upstream's ``GET /v1/federation/peers``).

Our peers are other vaults met over git (spec §16): a peer is known from the signed declaration
it pushed, and reached through the git remote it came from. A principal sees a peer or a remote
only through the scopes it may read: the scopes listed are those the peer shares with us (its
declaration's, narrowed to what the remote carries) that the principal also has, and a peer or
remote with none of them is not listed at all. Remote URLs are shown without credentials, and a
remote on this machine's disk by name only: a server path is not the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from stigmem_vault.api.federation import PeerInfo
from stigmem_vault.api.results import RemoteStatus

# Our peer states, in upstream's words (its SDKs accept only these).
UPSTREAM_STATUS = {"pending": "pending_verification", "trusted": "active", "revoked": "revoked"}


@dataclass(frozen=True, slots=True)
class PeerView:
    node_id: str
    owner: str
    fingerprint: str
    status: str  # ours: pending | trusted | revoked
    scopes: tuple[str, ...]
    remote: str | None  # the remote it came from, if that remote is still configured
    url: str  # where it is reached: the remote's public URL, or remote:<name>


@dataclass(frozen=True, slots=True)
class RemoteView:
    name: str
    url: str
    scopes: tuple[str, ...]
    last_sync: str | None
    last_error: str | None


def public_url(name: str, url: str) -> str:
    """``url`` fit to show a client: credentials dropped; a local path named by its remote."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return f"remote:{name}"  # a path on the node's disk, however it is spelt
    if parts.scheme and parts.netloc and len(parts.scheme) > 1:
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    head, colon, _path = url.partition(":")
    if colon and "/" not in head and len(head) > 1:  # scp-like user@host:path (no secret in it)
        return url
    return f"remote:{name}"


def peer_views(peers: list[PeerInfo], remotes: list[RemoteStatus],
               readable: frozenset[str]) -> list[PeerView]:
    by_name = {r.remote: r for r in remotes}
    shown = []
    for peer in peers:
        remote = by_name.get(peer.seen_via)
        shared = set(peer.scopes) & set(remote.scopes) if remote else set(peer.scopes)
        scopes = tuple(sorted(shared & readable))
        if not scopes:
            continue
        shown.append(PeerView(
            peer.node_id, peer.owner, peer.fingerprint, peer.status, scopes,
            remote.remote if remote else None,
            public_url(remote.remote, remote.url) if remote else f"remote:{peer.seen_via}"))
    return shown


def remote_views(remotes: list[RemoteStatus], readable: frozenset[str]) -> list[RemoteView]:
    return [RemoteView(r.remote, public_url(r.remote, r.url),
                       tuple(s for s in r.scopes if s in readable), r.last_sync, r.last_error)
            for r in remotes if set(r.scopes) & readable]


__all__ = ["UPSTREAM_STATUS", "PeerView", "RemoteView", "peer_views", "public_url",
           "remote_views"]
