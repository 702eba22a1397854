"""stigmem-vault: shared memory for AI agents in a git-backed, signed Markdown vault.

    from stigmem_vault import Vault
    with Vault.open("path/to/vault") as vault:
        vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer",
                          source="agent:codex", scope="team")
        for item in vault.query(entity="user:alice"):
            print(item.fact.relation, item.fact.value.display())

Everything public is re-exported here; the modules below are the implementation.
"""

from stigmem_vault.api.vault import Vault
from stigmem_vault.errors import (
    BadSignature,
    FormatError,
    IdentityError,
    InvalidFact,
    KeyMaterialInVault,
    MisuseError,
    NotFound,
    ReadOnlyCopy,
    StigmemError,
    StorageError,
    UnknownSigner,
    VaultConfigError,
    VerificationError,
)
from stigmem_vault.model.fact import Claim, Fact, Scope, TrustClass
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.values import Value, ValueType

__version__ = "0.1.0"

__all__ = [
    "HLC",
    "BadSignature",
    "Claim",
    "Fact",
    "FormatError",
    "IdentityError",
    "InvalidFact",
    "KeyMaterialInVault",
    "MisuseError",
    "NotFound",
    "ReadOnlyCopy",
    "Scope",
    "StigmemError",
    "StorageError",
    "TrustClass",
    "UnknownSigner",
    "Value",
    "ValueType",
    "Vault",
    "VaultConfigError",
    "VerificationError",
    "__version__",
]
