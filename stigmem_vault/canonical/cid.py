"""The upstream Stigmem content id (``cid``), for wire compatibility.

Upstream (contract §1.8) hashes seven fields with Python's ``json.dumps(sort_keys=True,
separators=(",", ":"), ensure_ascii=False)``; ``value_v`` is the value as a string ("null",
"true"/"false", else Python ``str``). It is not our fact id (which covers every signed field,
HLC and signer included) and it proves nothing on its own; it lets upstream clients address
and de-duplicate facts the way they already do.
"""

from __future__ import annotations

import hashlib
import json
import re

from stigmem_vault.model.fact import Claim
from stigmem_vault.model.values import ValueType

CID_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")


def value_v(claim: Claim) -> str:
    value = claim.value
    if value.type is ValueType.NULL:
        return "null"
    if value.type is ValueType.BOOLEAN:
        return "true" if value.v else "false"
    return str(value.v)


def upstream_cid(claim: Claim) -> str:
    body = {
        "confidence": float(claim.confidence),
        "entity": claim.entity,
        "relation": claim.relation,
        "scope": claim.scope.value,
        "source": claim.source,
        "value_type": claim.value.type.value,
        "value_v": value_v(claim),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
