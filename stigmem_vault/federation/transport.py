"""Moving git objects to and from a remote (pygit2: local paths, file://, git://, ssh://).

Fetching only writes objects and remote-tracking refs under ``refs/stigmem/remotes/``; nothing
here touches the working tree. Every pygit2 error is translated into ``RemoteError`` naming
the remote.
"""

from __future__ import annotations

import pygit2

from stigmem_vault.errors import RemoteError
from stigmem_vault.federation.projection import REMOTE_BRANCH, TRACKING_REF
from stigmem_vault.federation.state import Remote


class _Callbacks(pygit2.RemoteCallbacks):
    def __init__(self, leases: dict[str, str | None] | None = None) -> None:
        super().__init__()
        self.rejected: dict[str, str] = {}
        self.leases = leases or {}
        self.lease_broken: str | None = None

    def credentials(self, url: str, username_from_url: str | None,
                    allowed_types: int) -> pygit2.KeypairFromAgent:
        # ssh:// remotes authenticate through the user's ssh-agent, as git itself would.
        if allowed_types & pygit2.enums.CredentialType.SSH_KEY:
            return pygit2.KeypairFromAgent(username_from_url or "git")
        raise pygit2.GitError(f"no credentials for {url}")

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message

    def push_negotiation(self, updates: list[pygit2.remotes.PushUpdate]) -> None:
        # Called after the remote advertised its refs and before anything is sent: ``src`` is
        # the remote's current value of the ref (zeros if absent). receive-pack then updates
        # the ref only if it still holds that value, so the lease holds up to the update.
        for update in updates:
            if update.dst_refname not in self.leases:
                continue
            expected = self.leases[update.dst_refname]
            current = None if update.src.raw == bytes(20) else str(update.src)
            if current != expected:
                self.lease_broken = (f"{update.dst_refname} is at {current or 'nothing'}, not "
                                     f"{expected or 'absent'} as fetched; the lease is broken, "
                                     "nothing was pushed")
                raise pygit2.GitError(self.lease_broken)


def fetch(repo: pygit2.Repository, remote: Remote) -> list[tuple[str, str]]:
    """Fetch every node's projection branch of the remote's scopes into tracking refs.

    Returns the branches that could not be fetched, with the reason: if the fetch of all of
    them fails while the remote answers, each branch is fetched on its own, so one branch
    holding objects that libgit2 refuses (a tree entry whose mode lies about its object,
    written into a shared remote by hand) does not stop replication of the others.
    """
    specs = [f"+{REMOTE_BRANCH.format(scope=scope, node='*')}:"
             f"{TRACKING_REF.format(remote=remote.name, scope=scope, node='*')}"
             for scope in remote.scopes]
    handle = repo.remotes.create_anonymous(remote.url)
    try:
        handle.fetch(specs, callbacks=_Callbacks(), prune=pygit2.enums.FetchPrune.PRUNE)
        return []
    except (pygit2.GitError, OSError, ValueError) as exc:
        whole_failure = exc
    try:
        heads = [head.name for head in handle.list_heads(callbacks=_Callbacks()) if head.name]
    except (pygit2.GitError, OSError, ValueError):
        heads = []
    branches = [name for name in heads
                if any(name.startswith(REMOTE_BRANCH.format(scope=scope, node=""))
                       for scope in remote.scopes)]
    if not branches:  # unreachable, or nothing of ours there: the first error says why
        raise RemoteError(remote.name, f"fetch from {remote.url} failed: {whole_failure}") \
            from whole_failure
    failed = []
    for name in branches:
        scope, _, node = name.removeprefix("refs/heads/stigmem/").partition("/")
        spec = f"+{name}:{TRACKING_REF.format(remote=remote.name, scope=scope, node=node)}"
        try:
            handle.fetch([spec], callbacks=_Callbacks())
        except (pygit2.GitError, OSError, ValueError) as exc:
            failed.append((name.removeprefix("refs/heads/"), f"cannot be fetched: {exc}"))
    return failed


def push(repo: pygit2.Repository, remote: Remote, specs: list[str],
         leases: dict[str, str | None] | None = None) -> None:
    """Push local refs; RemoteError lists what the remote refused. A spec is fast-forward only
    unless it starts with '+'. ``leases`` maps a remote ref to the value it must hold
    (None: absent) for anything to be pushed, typically the value just fetched."""
    if not specs:
        return
    callbacks = _Callbacks(leases)
    try:
        repo.remotes.create_anonymous(remote.url).push(specs, callbacks=callbacks)
    except (pygit2.GitError, OSError, ValueError) as exc:
        if callbacks.lease_broken:
            raise RemoteError(remote.name, f"push to {remote.url} not attempted: "
                                           f"{callbacks.lease_broken}") from exc
        raise RemoteError(remote.name, f"push to {remote.url} failed: {exc}") from exc
    if callbacks.rejected:
        detail = "; ".join(f"{ref}: {why}" for ref, why in sorted(callbacks.rejected.items()))
        raise RemoteError(remote.name, f"push refused: {detail}")
