"""The checks of an upstream conformance vector, as pure functions over a parsed response.

The rules are the upstream harness's (docs/upstream-wire-contract.md §5.1), including its
looseness: ``expected_body_contains`` with ``[]`` only checks "is a list", equality is Python
``==``. Two dialects differ where the upstream v1 and v2 runners differ:

- ``expected_body_contains`` inside lists: v1 matches expected dicts recursively against some
  element and requires expected scalars to be ``in`` the list; v2 matches dicts shallowly
  (``element.get(k) == v``) and ignores scalars.
- On an error status (>= 400) v2 first checks ``expected_nested`` leniently (only the paths that
  exist); v1 checks nothing more.

Every function returns the failures it found, as short sentences; an empty list means "passed".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Dialect = Literal["v1", "v2"]

# The expectation keys this runner checks (anything else starting with "expected_" fails the
# vector: a check we cannot run must not count as passed).
STATUS_KEYS = ("expected_status", "expected_status_in")
BODY_KEYS = (
    "expected_body_has_keys",
    "expected_body_contains",
    "expected_nested",
    "expected_body_list_contains",
    "expected_body_value_in",
    "expected_response_is_list",
    "expected_members_contain_role",
    "expected_field_starts_with",
    "expected_field_length",
    "expected_first_fact_has_keys",
    "expected_first_fact_score_breakdown_keys",
)
KNOWN_KEYS = frozenset((*STATUS_KEYS, *BODY_KEYS))

_MISSING = object()


def show(value: object, width: int = 80) -> str:
    """A JSON value as one short line for a failure message."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def unknown_checks(vector: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in vector if k.startswith("expected_") and k not in KNOWN_KEYS)


def check_status(vector: Mapping[str, Any], status: int) -> list[str]:
    if "expected_status" in vector:
        if status != vector["expected_status"]:
            return [f"status {status}, expected {vector['expected_status']}"]
        return []
    allowed = vector.get("expected_status_in")
    if allowed is not None and status not in allowed:
        return [f"status {status}, expected one of {show(allowed)}"]
    return []


def lookup(body: object, dotted: str) -> object:
    """The value at a dotted path (``value.v``; digits index lists), or ``_MISSING``."""
    node = body
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _field(body: object, name: str) -> object:
    """A top-level field (a dotted name also works when no key has the literal name)."""
    if isinstance(body, Mapping) and name in body:
        return body[name]
    return lookup(body, name)


def _shallow(element: object, expected: Mapping[str, Any]) -> bool:
    return isinstance(element, Mapping) and all(element.get(k) == v for k, v in expected.items())


def contains(actual: object, expected: object, dialect: Dialect = "v1") -> bool:
    """The recursive subset rule of ``expected_body_contains``."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and contains(actual[key], value, dialect)
            for key, value in expected.items())
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        for item in expected:
            if isinstance(item, Mapping):
                if dialect == "v2":
                    found = any(_shallow(element, item) for element in actual)
                else:
                    found = any(contains(element, item, dialect) for element in actual)
                if not found:
                    return False
            elif dialect == "v1" and item not in actual:
                return False
        return True
    return actual == expected


def _nested(body: object, expected: Mapping[str, Any], lenient: bool) -> list[str]:
    failures = []
    for path, want in expected.items():
        got = lookup(body, path)
        if got is _MISSING:
            if not lenient:
                failures.append(f"{path}: missing, expected {show(want)}")
        elif got != want:
            failures.append(f"{path}: {show(got)}, expected {show(want)}")
    return failures


def check_error_body(vector: Mapping[str, Any], body: object, dialect: Dialect) -> list[str]:
    """What is still checked once the status is an (expected) error."""
    if dialect == "v2" and vector.get("expected_nested"):
        return _nested(body, vector["expected_nested"], lenient=True)
    return []


def check_body(vector: Mapping[str, Any], body: object, dialect: Dialect = "v1") -> list[str]:
    """Every body check of a vector, in the upstream order; the failures found."""
    failures: list[str] = []
    keys = vector.get("expected_body_has_keys")
    if keys:
        missing = [k for k in keys if not (isinstance(body, Mapping) and k in body)]
        if missing:
            failures.append(f"missing key(s) {', '.join(missing)}")
    expected = vector.get("expected_body_contains")
    if expected is not None and not contains(body, expected, dialect):
        failures.append(f"body does not contain {show(expected)}")
    if vector.get("expected_nested"):
        failures += _nested(body, vector["expected_nested"], lenient=False)
    for key, item in (vector.get("expected_body_list_contains") or {}).items():
        failures += _list_contains(body, key, item)
    for key, allowed in (vector.get("expected_body_value_in") or {}).items():
        got = _field(body, key)
        if got is _MISSING:
            failures.append(f"{key}: missing, expected one of {show(allowed)}")
        elif got not in allowed:
            failures.append(f"{key}: {show(got)} is not one of {show(allowed)}")
    if vector.get("expected_response_is_list") and not isinstance(body, list):
        failures.append(f"the response is not a JSON array: {show(body)}")
    role = vector.get("expected_members_contain_role")
    if role is not None:
        members = _field(body, "members")
        if not (isinstance(members, list)
                and any(isinstance(m, Mapping) and m.get("role") == role for m in members)):
            failures.append(f"no member with role {show(role)}")
    failures += _v2_checks(vector, body)
    return failures


def _list_contains(body: object, key: str, item: object) -> list[str]:
    got = _field(body, key)
    if not isinstance(got, list):
        return [f"{key}: {'missing' if got is _MISSING else show(got)}, expected a list"]
    found = (any(_shallow(element, item) for element in got) if isinstance(item, Mapping)
             else item in got)
    return [] if found else [f"{key}: {show(got)} does not contain {show(item)}"]


def _v2_checks(vector: Mapping[str, Any], body: object) -> list[str]:
    failures: list[str] = []
    for key, prefix in (vector.get("expected_field_starts_with") or {}).items():
        got = _field(body, key)
        if not (isinstance(got, str) and got.startswith(prefix)):
            failures.append(f"{key}: {show(got) if got is not _MISSING else 'missing'}, "
                            f"expected a string starting with {show(prefix)}")
    for key, length in (vector.get("expected_field_length") or {}).items():
        got = _field(body, key)
        if not isinstance(got, str | list | Mapping) or len(got) != length:
            failures.append(f"{key}: {show(got) if got is not _MISSING else 'missing'}, "
                            f"expected length {length}")
    facts = _field(body, "facts")
    first = facts[0] if isinstance(facts, list) and facts else _MISSING
    keys = vector.get("expected_first_fact_has_keys")
    if keys and first is not _MISSING:
        failures += _keys_of("facts[0]", first, keys)
    keys = vector.get("expected_first_fact_score_breakdown_keys")
    if keys and isinstance(first, Mapping) and "score_breakdown" in first:
        failures += _keys_of("facts[0].score_breakdown", first["score_breakdown"], keys)
    return failures


def _keys_of(where: str, node: object, keys: Sequence[str]) -> list[str]:
    missing = [k for k in keys if not (isinstance(node, Mapping) and k in node)]
    return [f"{where}: missing key(s) {', '.join(missing)}"] if missing else []
