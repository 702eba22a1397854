"""The written-out canonical serializer equals the general RFC 8785 one for every fact."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings

from stigmem_vault.canonical.form import canonical_bytes, canonical_object
from stigmem_vault.canonical.jcs import canonicalize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from factgen import facts


@settings(max_examples=500, deadline=None)
@given(facts())
def test_fast_canonical_bytes_equal_the_general_serializer(fact) -> None:
    general = canonicalize(canonical_object(fact.claim, fact.hlc, fact.timestamp, fact.signer))
    assert canonical_bytes(fact.claim, fact.hlc, fact.timestamp, fact.signer) == general
