"""Hand-made nasty requests against a real node on 127.0.0.1: never a 5xx (issue 9).

Hypothesis takes a well-formed request for each endpoint and spoils it: a value becomes a
lone surrogate, a non-finite or overlong number, deep nesting, a huge string, a long path
segment or a wrong type; a key is given twice; or a key is added that does not belong. The
bodies are written as JSON text by hand, since a JSON library would neither write a lone
surrogate escape nor a duplicate key. Query strings get the same treatment, with bytes that
are not UTF-8. Every answer must be below 500, and 4xx answers must be JSON naming a reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from http_support import Node
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stigmem_vault.http.settings import RateLimit

UNLIMITED = RateLimit(0.0, 0)


@dataclass(frozen=True)
class Raw:
    """JSON text used as it is."""

    text: str


def dump(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{dump(k) if isinstance(k, Raw) else json.dumps(k)}: {dump(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dump(item) for item in value) + "]"
    return json.dumps(value)


NASTY_TEXT = [
    r'"\ud800"', r'"a\udfffb"', r'"user:\udc00"', r'"\ud800\ud800"',  # lone surrogates
    "1e309", "-1e309", "NaN", "Infinity", "-Infinity", "1e-400", "-0.0",  # numbers
    "1" * 5000, "123456789012345678901234567890",
    "[" * 10_000 + "]" * 10_000, "[" * 900 + "]" * 900,  # deep nesting
    '{"a": ' * 2_000 + "1" + "}" * 2_000,
    json.dumps("x" * 900_000), json.dumps("user:" + "\U00020000" * 70),  # huge, long segment
    json.dumps("stigmem://a/" + "/".join(["\U00020000" * 70] * 6)),
    json.dumps("user:" + "a" * 600), json.dumps(""), json.dumps(" "), json.dumps("\u0000"),
    "true", "false", "null", "0", "-1", "[]", "{}", '[""]', '{"": ""}', '"a"', '["a", 1]',
    json.dumps("sha256:" + "0" * 64), json.dumps("0" * 64), json.dumps("ab" * 4),
    json.dumps("-----BEGIN PRIVATE KEY-----"), json.dumps("2026-13-45T99:99:99Z"),
]
nasty = st.sampled_from(NASTY_TEXT).map(Raw)
FACT: dict[str, Any] = {"entity": "user:alice", "relation": "memory:role",
                        "value": {"type": "string", "v": "engineer"}, "source": "user:alice",
                        "confidence": 0.5, "scope": "team", "valid_until": "2099-01-01",
                        "derived_from": [{"fact_id": "a" * 64}], "supersedes": None,
                        "trust": "observed", "attestation": {}, "write_mode": "assert"}
BODIES: dict[str, dict[str, Any]] = {
    "/v1/facts": FACT,
    "/v1/facts/batch": {"facts": [FACT, FACT], "atomic": False, "idempotency_key": "k"},
    "/v1/recall": {"query": "alice", "scope": "team", "token_budget": 100, "depth": 2,
                   "weights": {"lexical": 1.0}, "min_confidence": 0.1,
                   "include_neighbors": True, "limit": 10, "as_of": "2026-01-01"},
    "/v1/conflicts/{conflict}/resolve": {"winning_fact_id": "a", "new_value": None,
                                         "resolution_note": "ok"},
    "/v1/facts/{fact}/verify-cid": {"anything": 1},
}


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a body a value sits (object keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_of(item, (*prefix, index))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: replaced(v, rest, new) if k == head else v for k, v in value.items()}
    return [replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


def duplicated(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """The object at ``path`` with its first key given a second time (written as text)."""
    target = value
    for part in path:
        target = target[part]
    if not isinstance(target, dict) or not target:
        return value
    key = next(iter(target))
    text = dump(target)[:-1] + f", {json.dumps(key)}: {dump(new)}" + "}"
    return replaced(value, path, Raw(text))


@st.composite
def nasty_bodies(draw: st.DrawFn) -> tuple[str, str]:
    route = draw(st.sampled_from(sorted(BODIES)))
    body: Any = BODIES[route]
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["replace", "replace", "duplicate", "extra", "whole"]))
        places = paths_of(body)
        if how == "replace" and places:
            body = replaced(body, draw(st.sampled_from(places)), draw(nasty))
        elif how == "duplicate":
            objects = [()] + [p for p in places if isinstance(_at(body, p), dict)]
            body = duplicated(body, draw(st.sampled_from(objects)), draw(nasty))
        elif how == "extra" and isinstance(body, dict):
            body = {**body, draw(st.sampled_from(["x", Raw(r'"\ud800"'), "", "entity "])): draw(nasty)}
        elif how == "whole":
            body = draw(nasty)
    return route, dump(body)


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(value, Raw):
            return None
        value = value[part]
    return value


QUERY_VALUES = ["%ED%A0%80", "%FF", "%00", "1e309", "nan", "inf", "-1", "0", "99999999999999999999",
                "", "a" * 5000, quote("user:" + "\U00020000" * 70), "%25", "true",
                base64.urlsafe_b64encode(b"1e309").decode(), base64.urlsafe_b64encode(
                    b'["1796475929715.000000.x", 1e309]').decode(), "!!!", "stigmem%3A%2F%2F"]
GETS = {
    "/v1/facts": ["entity", "relation", "source", "scope", "trust", "min_confidence", "after",
                  "cursor", "limit", "as_of", "include_expired"],
    "/v1/graph/neighbors": ["entity", "scope", "depth", "relation_filter", "min_confidence",
                            "page_size", "cursor"],
    "/v1/conflicts": ["status", "cursor", "limit"],
    "/v1/facts/{fact}": [], "/v1/facts/{fact}/provenance": [],
}


@st.composite
def nasty_queries(draw: st.DrawFn) -> str:
    route = draw(st.sampled_from(sorted(GETS)))
    values = st.sampled_from(QUERY_VALUES)
    if "{fact}" in route:
        return route.replace("{fact}", draw(values))
    params = {"entity": "user:alice", "scope": "team"} if "neighbors" in route else {}
    for name in draw(st.lists(st.sampled_from(GETS[route]), min_size=1, max_size=3)):
        params[name] = draw(values)
    return route + "?" + "&".join(f"{k}={v}" for k, v in params.items())


@pytest.fixture
def seeded(start_node: Callable[..., Node]) -> tuple[Node, dict[str, str]]:
    node = start_node(auth="none", reads=UNLIMITED, writes=UNLIMITED)
    a = node.vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer",
                               source="agent:codex", scope="team", confidence=0.9)
    node.vault.assert_fact(entity="user:alice", relation="memory:role", value="manager",
                           source="user:alice", scope="team", confidence=0.8)
    conflict = node.client(None).conflicts().conflicts[0].conflict_id
    return node, {"fact": a.id, "conflict": conflict}


def check(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        detail = response.json()["detail"]  # JSON, UTF-8, with a reason
        assert detail, what


HYPOTHESIS = settings(max_examples=150, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.network
@HYPOTHESIS
@given(request=nasty_bodies())
def test_nasty_bodies_never_get_a_5xx(seeded: tuple[Node, dict[str, str]],
                                      request: tuple[str, str]) -> None:
    node, ids = seeded
    route, text = request
    path = route.format(**ids)
    response = node.client(None).request("POST", path, content=text.encode("utf-8", "surrogatepass"),
                                         headers={"Content-Type": "application/json"})
    check(response, f"POST {path} {text[:200]!r}")


@pytest.mark.network
@HYPOTHESIS
@given(target=nasty_queries())
def test_nasty_queries_never_get_a_5xx(seeded: tuple[Node, dict[str, str]], target: str) -> None:
    node, _ids = seeded
    response = node.client(None).request("GET", target)
    check(response, f"GET {target[:200]}")
