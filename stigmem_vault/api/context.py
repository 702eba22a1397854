"""What every service of an open vault shares: its folder, configuration, keys, trust store,
schemas, clock and git repository, and whether it may write.

The services (api/facts.py, api/index_keeper.py, api/gestures.py, api/identities.py,
api/federation.py, api/access.py) each receive this and the other services they use when the
``Vault`` façade (api/vault.py) wires them up; none of them knows the façade. The trust store,
the schemas and the configuration are replaced (not mutated) when they change on disk, so a
service always reads them from here, never keeps a copy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nacl.signing import SigningKey

from stigmem_vault.errors import IdentityError, InvalidFact, MisuseError, ReadOnlyCopy
from stigmem_vault.model.relations import RelationSchema
from stigmem_vault.vault import config as cfg
from stigmem_vault.vault.clock import Clock
from stigmem_vault.vault.git import GitRepo
from stigmem_vault.vault.keys import KeyStore
from stigmem_vault.vault.trust import TrustStore

NOTICES_FILE = ".stigmem/local/notices.log"

# How a front end hears about long work: (what, done, total), e.g. ("indexing", 1200, 20000).
# The API never prints; the CLI turns this into a progress bar on a terminal.
ProgressHook = Callable[[str, int, int], None]


@dataclass(eq=False)
class VaultContext:
    """The shared state of one open vault."""

    root: Path
    keys: KeyStore
    config: cfg.VaultConfig
    node: cfg.NodeConfig | None  # None: a copy without a node identity (it only reads)
    git: GitRepo | None
    trust: TrustStore
    schemas: dict[str, RelationSchema]
    clock: Clock | None
    node_key: SigningKey | None
    read_only: bool
    closed: bool = False
    progress: ProgressHook | None = None  # told about long work (indexing, importing)
    # Temp files of durable writes, out of the watcher's sight (see vault/store.py).
    scratch: Path = field(init=False)

    def __post_init__(self) -> None:
        self.scratch = self.root / cfg.SCRATCH_DIR
        if self.git is not None:  # a background write of git's index that fails is told
            self.git.git_index.on_failure = self.notify

    def check_open(self) -> None:
        if self.closed:
            raise MisuseError("this Vault is closed; open it again with Vault.open(path)")

    def writer(self) -> tuple[cfg.NodeConfig, GitRepo, SigningKey, Clock]:
        """What writing needs (the node, git, the node key, the clock), or why it may not."""
        self.check_open()
        if self.read_only:
            raise MisuseError("this vault was opened read-only; open it again without "
                              "read_only to write")
        if self.node is None or self.git is None or self.node_key is None or self.clock is None:
            raise ReadOnlyCopy(
                "this copy of the vault is read-only: it has no node identity "
                f"({cfg.NODE_FILE}); make a vault of your own from it (init from a template)",
                self.root)
        return self.node, self.git, self.node_key, self.clock

    def require_key(self, kid: str, source: str) -> SigningKey:
        key = self.keys.load(kid)
        if key is None:
            raise IdentityError(
                f"the private key of {source} ({kid}) is not held on this machine "
                f"(looked in {self.keys.dir}, under $STIGMEM_HOME, default ~/.config/stigmem); "
                f"set STIGMEM_HOME to the directory that holds it")
        return key

    def signing_key_for(self, source: str) -> SigningKey:
        """The key this machine signs ``source``'s facts with; InvalidFact(source) if none."""
        keys = self.trust.keys_for(source)
        if not keys:
            raise InvalidFact("source", f"no identity {source} in this vault; create it first")
        for kid in keys:  # the newest binding first
            key = self.keys.load(kid)
            if key is not None:
                return key
        raise InvalidFact("source", f"identity {source} exists but its private key is not "
                                    "held on this machine")

    def reload_trust(self) -> None:
        self.trust = TrustStore.load(self.root, self.config.owner_keys(), self.config.owner)

    def notify(self, message: str) -> None:
        """Record a notice for the human (shown by the status of the vault)."""
        line = f"{datetime.now(UTC).isoformat(timespec='seconds')} {message}\n"
        path = self.root / NOTICES_FILE
        with contextlib.suppress(OSError):  # a notice must never fail the work it reports
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(line)

    def notices(self, limit: int = 20) -> list[str]:
        try:
            lines = (self.root / NOTICES_FILE).read_text("utf-8").splitlines()
        except OSError:
            return []
        return lines[-limit:]
