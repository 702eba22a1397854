"""An independent verifier, written from docs/spec.md alone: hashlib + PyNaCl + the file text.

Nothing from stigmem_vault is used to *verify*: the canonical bytes (§6), the id, the
signature (§6.4) and the signer binding (§9) are rebuilt here from the spec's rules. The
package is used only to produce vaults to check.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from stigmem_vault.api.vault import Vault

EXAMPLE_VAULT = Path(__file__).resolve().parents[2] / "example-vault"


# ---------------------------------------------------------------- the verifier (spec only)


def b64url_decode(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == text, "non-canonical base64url"
    return raw


def es_number(x: float | int) -> str:
    """ECMAScript Number::toString (RFC 8785 §3.2.2.3), as spec §6.2 requires."""
    if isinstance(x, int) and not isinstance(x, bool):
        x = float(x)
    assert math.isfinite(x)
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    int_part, _, frac = mantissa.partition(".")
    digits = (int_part + frac).lstrip("0")
    n = len(int_part) + int(exp or 0) - (len(int_part + frac) - len((int_part + frac).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    fraction = "." + digits[1:] if k > 1 else ""
    return f"{sign}{digits[0]}{fraction}e{'+' if e >= 0 else '-'}{abs(e)}"


def jcs(value: object) -> str:
    """RFC 8785 for the JSON types a fact uses."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return es_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(value[k])
                          for k in sorted(value, key=lambda k: k.encode("utf-16-be"))) + "}"


def read_properties(text: str) -> dict[str, object]:
    """The frontmatter as stigmem writes it (§7.4): one JSON scalar per line, lists as items."""
    assert text.startswith("---\n")
    block = text[4:text.index("\n---\n")]
    props: dict[str, object] = {}
    key = None
    for line in block.split("\n"):
        if line.startswith("  - "):
            assert key is not None
            props.setdefault(key, [])
            props[key].append(json.loads(line[4:]))  # type: ignore[union-attr]
            continue
        key, _, rest = line.partition(":")
        if rest.strip():
            props[key] = [] if rest.strip() == "[]" else json.loads(rest.strip())
    return props


def canonical_bytes(props: dict[str, object]) -> bytes:
    """§6.1: exactly these keys, null or [] when absent."""
    vtype = props["value_type"]
    v = None if vtype == "null" else props[f"value_{vtype}"]
    obj = {
        "format": props["format"], "entity": props["entity"], "relation": props["relation"],
        "value": {"type": vtype, "v": v}, "source": props["source"], "hlc": props["hlc"],
        "timestamp": props["timestamp"], "confidence": props["confidence"],
        "trust": props["trust"], "scope": props["scope"],
        "valid_until": props.get("valid_until"), "supersedes": props.get("supersedes"),
        "derived_from": sorted(set(props.get("derived_from") or [])), "signer": props["signer"],
    }
    if props.get("garden_id") is not None:  # a member only when the fact has a garden
        obj["garden_id"] = props["garden_id"]
    return jcs(obj).encode("utf-8")


def trusted_bindings(vault_root: Path) -> set[tuple[str, str]]:
    """§9: (source, key) pairs whose binding is signed by the owner key of vault.json."""
    owner_key = json.loads((vault_root / ".stigmem/vault.json").read_text())["owner_key"]
    bound = set()
    for path in (vault_root / ".stigmem/trust").rglob("*.json"):
        binding = json.loads(path.read_text())
        signed = {k: binding[k] for k in ("format", "source", "key", "issued_at", "issuer")}
        if binding.get("vouch") is True:  # §9.3: a vouch grant is signed with the rest
            signed["vouch"] = True
        if binding["issuer"] != owner_key:
            continue
        try:
            VerifyKey(b64url_decode(owner_key[len("ed25519:"):])).verify(
                jcs(signed).encode(), b64url_decode(binding["signature"]))
        except BadSignatureError:
            continue
        bound.add((binding["source"], binding["key"]))
    return bound


def verify_fact_file(path: Path, bindings: set[tuple[str, str]]) -> str:
    """'valid', or the first reason it is not."""
    props = read_properties(path.read_text("utf-8"))
    body = canonical_bytes(props)
    if hashlib.sha256(body).hexdigest() != props["id"]:
        return "id-mismatch"
    signer = str(props["signer"])
    try:
        VerifyKey(b64url_decode(signer[len("ed25519:"):])).verify(
            body, b64url_decode(str(props["signature"])))
    except (BadSignatureError, AssertionError, ValueError):
        return "invalid-signature"
    if (props["source"], signer) not in bindings:
        return "unattested"
    return "valid"


# ---------------------------------------------------------------- the tests


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_the_verifiers_number_rule_matches_rfc8785(x: float) -> None:
    assert es_number(x) == rfc8785.dumps(x).decode()


def _fact_files(root: Path) -> list[Path]:
    return sorted((root / "facts").rglob("*.md"))


def test_the_example_vault_verifies_independently() -> None:
    bindings = trusted_bindings(EXAMPLE_VAULT)
    files = _fact_files(EXAMPLE_VAULT)
    assert len(files) >= 10
    assert {p.name: verify_fact_file(p, bindings) for p in files} == {p.name: "valid" for p in files}


@pytest.fixture
def written(tmp_path: Path) -> Vault:
    vault = Vault.init(tmp_path / "v", owner="user:alice", home=tmp_path / "h", commit_delay=None)
    vault.create_identity("agent:codex")
    samples: list[tuple[str, object]] = [
        ("string", "Zoë said \"ok\" \\ done"), ("text", "line one\nline two\ttabbed €"),
        ("number", 42), ("number", 0.1), ("number", 1e-7), ("number", 1e21), ("number", -2.5e-300),
        ("boolean", False), ("datetime", "2026-11-24T10:00:00Z"), ("ref", "user:bob"),
        ("null", None),
    ]
    first = None
    for index, (vtype, value) in enumerate(samples):
        fact = vault.assert_fact(entity=f"project:p{index}", relation="memory:sample", value=value,
                                 value_type=vtype, source="agent:codex", confidence=0.9,
                                 scope="team", valid_until="2030-01-01" if index == 3 else None,
                                 derived_from=[first.id] if first else None)
        first = first or fact
    vault.amend(first.id, value="amended")
    vault.flush()
    return vault


def test_facts_of_every_type_verify_independently(written: Vault) -> None:
    bindings = trusted_bindings(written.root)
    files = _fact_files(written.root)
    assert len(files) == 12
    assert all(verify_fact_file(p, bindings) == "valid" for p in files)
    written.close()


def test_garden_records_and_facts_verify_independently(written: Vault) -> None:
    view = written.as_principal(written.operator())
    view.create_garden(slug="crew", name="Crew", scope="team")
    view.add_garden_member("crew", "agent:codex", "writer")
    fact = written.assert_fact(entity="project:p0", relation="memory:sample", value="inside",
                               source="agent:codex", scope="team", garden="crew")
    written.flush()
    bindings = trusted_bindings(written.root)
    files = _fact_files(written.root)
    assert len(files) == 15  # 12 + the garden's name and member records + the garden fact
    assert all(verify_fact_file(p, bindings) == "valid" for p in files)
    path = written.root / written.path_of(fact)
    # garden_id is signed: moving the fact out of its garden breaks it.
    path.write_text("".join(line for line in path.read_text("utf-8").splitlines(keepends=True)
                            if not line.startswith("garden_id:")))
    assert verify_fact_file(path, bindings) == "id-mismatch"
    written.close()


def test_the_independent_verifier_catches_tampering(written: Vault) -> None:
    bindings = trusted_bindings(written.root)
    path = _fact_files(written.root)[0]
    original = path.read_text("utf-8")
    path.write_text(original.replace('scope: "team"', 'scope: "public"'))
    assert verify_fact_file(path, bindings) == "id-mismatch"
    props = read_properties(original)
    forged_id = hashlib.sha256(canonical_bytes({**props, "scope": "public"})).hexdigest()
    path.write_text(original.replace('scope: "team"', 'scope: "public"')
                    .replace(str(props["id"]), forged_id))
    assert verify_fact_file(path, bindings) == "invalid-signature"
    assert verify_fact_file(path, set()) in ("invalid-signature",)
    path.write_text(original)
    assert verify_fact_file(path, set()) == "unattested"  # a good signature, but no binding
    written.close()
