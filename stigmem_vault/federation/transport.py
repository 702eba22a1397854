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
    def __init__(self) -> None:
        super().__init__()
        self.rejected: dict[str, str] = {}

    def credentials(self, url: str, username_from_url: str | None, allowed_types: int):
        # ssh:// remotes authenticate through the user's ssh-agent, as git itself would.
        if allowed_types & pygit2.enums.CredentialType.SSH_KEY:
            return pygit2.KeypairFromAgent(username_from_url or "git")
        raise pygit2.GitError(f"no credentials for {url}")

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message


def fetch(repo: pygit2.Repository, remote: Remote) -> None:
    """Fetch every node's projection branch of the remote's scopes into tracking refs."""
    specs = [f"+{REMOTE_BRANCH.format(scope=scope, node='*')}:"
             f"{TRACKING_REF.format(remote=remote.name, scope=scope, node='*')}"
             for scope in remote.scopes]
    try:
        repo.remotes.create_anonymous(remote.url).fetch(specs, callbacks=_Callbacks(), prune=True)
    except (pygit2.GitError, OSError, ValueError) as exc:
        raise RemoteError(remote.name, f"fetch from {remote.url} failed: {exc}") from exc


def push(repo: pygit2.Repository, remote: Remote, specs: list[str]) -> None:
    """Push local refs (fast-forward only); RemoteError lists what the remote refused."""
    if not specs:
        return
    callbacks = _Callbacks()
    try:
        repo.remotes.create_anonymous(remote.url).push(specs, callbacks=callbacks)
    except (pygit2.GitError, OSError, ValueError) as exc:
        raise RemoteError(remote.name, f"push to {remote.url} failed: {exc}") from exc
    if callbacks.rejected:
        detail = "; ".join(f"{ref}: {why}" for ref, why in sorted(callbacks.rejected.items()))
        raise RemoteError(remote.name, f"push refused: {detail}")
