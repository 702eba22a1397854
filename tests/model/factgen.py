"""Hypothesis strategies for identifiers, typed values, claims and signed facts.

Shared by the model, canonical, vault and api tests (imported as ``model.factgen``: pytest puts
``tests/`` on sys.path because ``tests/`` itself is not a package).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st
from nacl.signing import SigningKey

from stigmem_vault.canonical.signing import format_timestamp, sign_claim
from stigmem_vault.model.fact import Claim, Fact, Scope, TrustClass, make_claim
from stigmem_vault.model.hlc import HLC, MAX_COUNTER
from stigmem_vault.model.identifiers import is_reserved_relation, is_system_source, normalize_source
from stigmem_vault.model.values import Value, make_value

# Fixed keys: tests that need "the signer" and "someone else" use these.
KEY = SigningKey(bytes(range(32)))
OTHER_KEY = SigningKey(bytes(range(1, 33)))

_FORBIDDEN_IN_IDS = '"<>\\|`[]{}#^'
# Characters a string value may hold: everything but C0 controls (tab/newline/CR allowed),
# DEL and surrogates; deliberately includes U+0085, U+2028, quotes, backslashes and emoji.
_STRING_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r") + "\x7f",
)
_ID_CHARS = st.characters(
    blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
    blacklist_characters=_FORBIDDEN_IN_IDS + "/:\x85",
)

fact_ids = st.text("0123456789abcdef", min_size=64, max_size=64)
content_hashes = fact_ids.map(lambda h: "sha256:" + h)

names = st.text(_ID_CHARS, min_size=1, max_size=12).filter(lambda s: s.strip(".") != "")
informal_ids = st.builds(lambda kind, name: f"{kind}:{name}",
                         st.sampled_from(["user", "agent", "system", "project", "urn", "x-y.z"]), names)
formal_ids = st.builds(lambda a, t, parts: f"stigmem://{a}/{t}/" + "/".join(parts),
                       names, names, st.lists(names, min_size=1, max_size=3))
identifiers = st.one_of(informal_ids, formal_ids)
sources = st.one_of(
    st.builds(lambda kind, name: f"{kind}:{name}", st.sampled_from(["user", "agent", "system"]), names),
    st.builds(lambda a, kind, name: f"stigmem://{a}/{kind}/{name}", names,
              st.sampled_from(["user", "agent", "system"]), names),
)
relations = st.from_regex(r"\A[a-z][a-z0-9_-]{0,8}(:[a-z0-9_][a-z0-9_./-]{0,10}){1,2}\Z")

datetimes = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                         timezones=st.sampled_from([None, UTC]))


def _iso(when: datetime, style: int) -> str:
    if style == 0:
        return when.date().isoformat()
    if style == 1:
        return format_timestamp(when.replace(tzinfo=when.tzinfo or UTC))
    if style == 2:
        return when.replace(tzinfo=None).isoformat(timespec="seconds")
    return when.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=-5))).isoformat()


iso_datetimes = st.builds(_iso, datetimes, st.integers(0, 3))

strings = st.text(_STRING_CHARS, max_size=40)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(st.integers(-(2**53) + 1, 2**53 - 1), finite_floats)

values: st.SearchStrategy[Value] = st.one_of(
    strings.map(lambda v: make_value("string", v)),
    st.text(_STRING_CHARS, max_size=200).map(lambda v: make_value("text", v)),
    numbers.map(lambda v: make_value("number", v)),
    st.booleans().map(lambda v: make_value("boolean", v)),
    iso_datetimes.map(lambda v: make_value("datetime", v)),
    st.one_of(identifiers, fact_ids).map(lambda v: make_value("ref", v)),
    st.just(make_value("null", None)),
)


@st.composite
def claims(draw: st.DrawFn) -> Claim:
    source = draw(sources)
    relation = draw(relations)
    if is_reserved_relation(relation) and not is_system_source(normalize_source(source)):
        relation = "x" + relation
    return make_claim(
        entity=draw(identifiers),
        relation=relation,
        value=draw(values),
        source=source,
        confidence=draw(st.floats(0.0, 1.0)),
        trust=draw(st.sampled_from(list(TrustClass))),
        scope=draw(st.sampled_from(list(Scope))),
        valid_until=draw(st.none() | iso_datetimes),
        supersedes=draw(st.none() | fact_ids),
        derived_from=draw(st.lists(fact_ids | content_hashes, max_size=3)),
    )


node_ids = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,15}\Z")
hlcs = st.builds(HLC, st.integers(0, 10**13 - 1), st.integers(0, MAX_COUNTER), node_ids)
timestamps = datetimes.map(lambda d: format_timestamp(d.replace(tzinfo=d.tzinfo or UTC)))


@st.composite
def facts(draw: st.DrawFn, key: SigningKey = KEY) -> Fact:
    return sign_claim(draw(claims()), draw(hlcs), draw(timestamps), key)


def simple_fact(key: SigningKey = KEY, **overrides: object) -> Fact:
    """One ordinary fact, with any claim field overridden."""
    fields: dict[str, object] = {
        "entity": "stigmem://acme/project/atlas", "relation": "codex:current_state",
        "value": make_value("string", "review"), "source": "agent:codex",
        "confidence": 0.9, "trust": "observed", "scope": "team",
    }
    fields.update(overrides)
    return sign_claim(make_claim(**fields), HLC(1764000000000, 3, "9f86d081884c7d65"),
                      "2026-11-24T10:00:00.000Z", key)
