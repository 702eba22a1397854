"""Verification of fact files: id, signature, attestation — returned as verdicts, not raised.

Verdicts, from best to worst:

* ``valid``              id and signature check, and the signer is bound to the fact's source
* ``vouched``            signature checks; the signer is bound to another principal who may vouch
                         for other sources (an owner key, or a binding with a vouch grant): the
                         vault vouched for the fact, its source did not sign it
* ``unattested``         signature checks, the signer is in the trust store, but not for this
                         source, and may not vouch
* ``unknown-signer``     signature checks, but the signer is not in the trust store at all
* ``id-mismatch``        the recorded id is not the hash of the canonical bytes (a field changed)
* ``invalid-signature``  the signature does not match the canonical bytes
* ``malformed``          the file cannot be read as a fact (the reason says why)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from stigmem_vault.canonical.signing import signature_valid
from stigmem_vault.errors import FormatError
from stigmem_vault.model.fact import Fact
from stigmem_vault.vault import markdown
from stigmem_vault.vault.reading import MAX_NOTE_BYTES, read_regular
from stigmem_vault.vault.trust import TrustStore

MAX_FACT_FILE_BYTES = MAX_NOTE_BYTES


class Verdict(StrEnum):
    VALID = "valid"
    VOUCHED = "vouched"
    UNATTESTED = "unattested"
    UNKNOWN_SIGNER = "unknown-signer"
    ID_MISMATCH = "id-mismatch"
    INVALID_SIGNATURE = "invalid-signature"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class FileVerdict:
    path: str
    verdict: Verdict
    reason: str
    fact: Fact | None = None
    canonical: bytes | None = None
    vouched_by: str | None = None  # with VOUCHED: the principal that vouched for the fact

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.VALID

    @property
    def acceptable(self) -> bool:
        """Valid, or vouched for by a principal the vault lets vouch (§9.6)."""
        return self.verdict in (Verdict.VALID, Verdict.VOUCHED)


# The verdicts whose facts take part in liveness and conflicts (§13).
CANDIDATE_VERDICTS = (Verdict.VALID.value, Verdict.VOUCHED.value)


def judge(parsed: markdown.ParsedFact, trust: TrustStore) -> tuple[Verdict, str]:
    fact = parsed.fact
    if parsed.claimed_id != fact.id:
        return (Verdict.ID_MISMATCH,
                f"recorded id {parsed.claimed_id} but the canonical bytes hash to {fact.id}: "
                "a signed field was changed after signing")
    if not signature_valid(fact, parsed.canonical):
        return Verdict.INVALID_SIGNATURE, f"signature does not verify for signer {fact.signer}"
    return attestation(fact, trust)


def attestation(fact: Fact, trust: TrustStore) -> tuple[Verdict, str]:
    """The verdict for a fact whose id and signature hold: is its signer bound to its source?"""
    if not trust.knows_key(fact.signer):
        return Verdict.UNKNOWN_SIGNER, f"signer {fact.signer} is not in the vault's trust store"
    if not trust.is_bound(fact.source, fact.signer):
        voucher = trust.voucher_for(fact.signer)
        if voucher is not None:
            return (Verdict.VOUCHED,
                    f"vouched for by {voucher}: signer {fact.signer} is bound to {voucher}, "
                    f"not to the source {fact.source}")
        bound = ", ".join(sorted(trust.sources_for(fact.signer)))
        return (Verdict.UNATTESTED,
                f"signer {fact.signer} is bound to {bound}, not to the source {fact.source}, "
                "and may not vouch for other sources")
    return Verdict.VALID, "id, signature and signer binding check"


def vouched_by(verdict: Verdict | str, fact: Fact | None, trust: TrustStore) -> str | None:
    """The voucher of a ``vouched`` fact (None for every other verdict)."""
    if verdict != Verdict.VOUCHED or fact is None:
        return None
    return trust.voucher_for(fact.signer)


def read_bytes(path: Path, rel: str) -> bytes:
    """Read a fact file or note, refusing symlinks, FIFOs and every other file that is not a
    regular file (never opened for blocking) and oversized files, with a reason (reading.py)."""
    return read_regular(path, rel, MAX_FACT_FILE_BYTES)


def decode(data: bytes, rel: str) -> str:
    """The text of a fact file: UTF-8, not binary."""
    if b"\x00" in data:
        raise FormatError(rel, "is binary (contains NUL bytes), not a Markdown note")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(rel, f"is not valid UTF-8 (byte {exc.start})") from None


def read_text(path: Path, rel: str) -> str:
    return decode(read_bytes(path, rel), rel)


def verify_bytes(rel: str, data: bytes, trust: TrustStore) -> FileVerdict:
    """Verify the content of a fact file already read into memory."""
    try:
        parsed = markdown.parse(decode(data, rel), rel)
    except FormatError as exc:
        return FileVerdict(rel, Verdict.MALFORMED, _reason(exc))
    verdict, reason = judge(parsed, trust)
    return FileVerdict(rel, verdict, reason, parsed.fact, parsed.canonical,
                       vouched_by(verdict, parsed.fact, trust))


def verify_file(root: Path, rel: str, trust: TrustStore) -> FileVerdict:
    try:
        data = read_bytes(root / rel, rel)
    except FormatError as exc:
        return FileVerdict(rel, Verdict.MALFORMED, _reason(exc))
    return verify_bytes(rel, data, trust)


def _reason(exc: FormatError) -> str:
    return f"line {exc.line}: {exc.reason}" if exc.line else exc.reason
