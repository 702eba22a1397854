"""Typed fact values: the seven upstream types, each checked at the boundary.

A value is parsed once into a :class:`Value`; everything downstream can rely on its invariants:

* ``string``  a str of at most 4 KiB (UTF-8), no control characters but tab/newline/CR
* ``text``    the same, up to 64 KiB
* ``number``  a finite number exactly representable as an IEEE-754 double. An integer stays an
              ``int`` (below 2**53) and a float a ``float``, even a whole one: 42 and 42.0 are
              one value (equal, same canonical bytes), but keep the spelling the writer gave,
              which the upstream cid hashes ("42" vs "42.0")
* ``boolean`` a real boolean, never the string "false"
* ``datetime`` an ISO 8601 date or date-time string, kept verbatim (after trimming)
* ``ref``     a string naming an identifier (see identifiers.py) or a fact id, kept as given:
              ``ref_target`` is the entity (or fact id) it points at
* ``null``    no value
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.identifiers import check_scalar_values, normalize_identifier

MAX_STRING_BYTES = 4 * 1024
MAX_TEXT_BYTES = 64 * 1024
_MAX_EXACT_INT = 2**53
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_FACT_ID = re.compile(r"^[0-9a-f]{64}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)

_E = TypeVar("_E", bound=StrEnum)


def enum_member(enum: type[_E], raw: object) -> _E:
    """``enum(raw)`` for input of any type: the member whose value ``raw`` is, else ValueError
    (as the call itself raises for a non-string)."""
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a valid {enum.__name__}")
    return enum(raw)


class ValueType(StrEnum):
    STRING = "string"
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    REF = "ref"
    NULL = "null"


Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Value:
    """A validated, typed value. Build it with :func:`make_value`."""

    type: ValueType
    v: Scalar

    def display(self) -> str:
        """A human rendering, used in note bodies and CLI tables."""
        if self.type is ValueType.NULL:
            return "null"
        if self.type is ValueType.BOOLEAN:
            return "true" if self.v else "false"
        return str(self.v)


def is_fact_id(text: str) -> bool:
    return bool(_FACT_ID.match(text))


def make_value(type_name: object, v: object, field: str = "value") -> Value:
    """Validate ``v`` against ``type_name`` and return the typed Value."""
    try:
        vtype = enum_member(ValueType, type_name)
    except ValueError:
        allowed = ", ".join(t.value for t in ValueType)
        raise InvalidFact(
            f"{field}.type", f"{type_name!r} is not a value type (one of: {allowed})"
        ) from None
    check = _CHECKS[vtype]
    return Value(vtype, check(v, f"{field}.v"))


def _check_string(v: object, field: str, limit: int) -> str:
    if not isinstance(v, str):
        raise InvalidFact(field, f"must be a string, got {_json_type(v)}")
    check_scalar_values(v, field)
    if _BAD_CHARS.search(v):
        raise InvalidFact(field, "contains a control character or an unpaired surrogate")
    if len(v.encode("utf-8")) > limit:
        raise InvalidFact(field, f"is longer than {limit} bytes of UTF-8")
    return v


def _check_number(v: object, field: str) -> int | float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InvalidFact(field, f"must be a number, got {_json_type(v)} {v!r}")
    try:
        number = float(v)
    except OverflowError:
        raise InvalidFact(field, f"{v} is too large for a 64-bit float") from None
    if not math.isfinite(number):
        raise InvalidFact(field, f"must be a finite number, got {v!r}")
    # An integer the double does not hold exactly is refused (2**53 + 1 would lose a digit),
    # unless it is the double's own shortest rendering: RFC 8785 and fact files write the
    # double 5.237244185839319e16 as 52372441858393190, and that must read back as itself.
    if isinstance(v, int) and float(v) != v and int(Decimal(repr(number))) != v:
        raise InvalidFact(field, f"{v} cannot be represented exactly as a 64-bit float")
    if isinstance(v, int) and abs(v) < _MAX_EXACT_INT:
        return v
    # A float stays a float, 7.0 included: its canonical bytes are those of 7 (§6.2), but the
    # upstream cid a client computes hashes Python's str() of what it sent, "7.0" (§6.5).
    return number


def _check_boolean(v: object, field: str) -> bool:
    if not isinstance(v, bool):
        raise InvalidFact(field, f"must be true or false, got {_json_type(v)} {v!r}")
    return v


def parse_iso_datetime(text: str, field: str) -> datetime:
    """Parse an ISO 8601 date or date-time; naive values are taken as UTC."""
    stripped = text.strip()
    if _ISO_DATE.match(stripped):
        try:
            day = date.fromisoformat(stripped)
        except ValueError as exc:
            raise InvalidFact(field, f"{text!r} is not a valid date: {exc}") from None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if not _ISO_DATETIME.match(stripped):
        raise InvalidFact(
            field, f"{text!r} is not an ISO 8601 date-time (e.g. 2026-11-24T10:00:00Z)"
        )
    try:
        parsed = datetime.fromisoformat(stripped.replace("z", "Z"))
    except ValueError as exc:
        raise InvalidFact(field, f"{text!r} is not a valid date-time: {exc}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def expiry_instant(valid_until: str) -> datetime:
    """When a fact with this ``valid_until`` stops being live.

    A date-time is the instant itself; a bare date means "valid through that day", so it
    expires at the start of the next day (UTC).
    """
    instant = parse_iso_datetime(valid_until, "valid_until")
    if _ISO_DATE.match(valid_until.strip()):
        instant += timedelta(days=1)
    return instant


def _check_datetime(v: object, field: str) -> str:
    if not isinstance(v, str):
        raise InvalidFact(field, f"must be an ISO 8601 string, got {_json_type(v)}")
    parse_iso_datetime(v, field)
    return v.strip()


def _check_ref(v: object, field: str) -> str:
    """A ref is kept exactly as given (a URL's path and query are case-sensitive, and the
    upstream cid hashes the string sent); it must name an identifier or a fact id."""
    text = _check_string(v, field, MAX_STRING_BYTES)
    ref_target(text, field)
    return text


def ref_target(v: str, field: str = "value.v") -> str:
    """What a ref value points at: a fact id (any case, trimmed), else the identifier in normal
    form (§2.1), which is how entities are named: the graph links by it."""
    if is_fact_id(v.strip().lower()):
        return v.strip().lower()
    return normalize_identifier(v, field)


def _check_null(v: object, field: str) -> None:
    if v is not None:
        raise InvalidFact(field, f"must be absent or null for type null, got {v!r}")
    return None


_CHECKS = {
    ValueType.STRING: lambda v, f: _check_string(v, f, MAX_STRING_BYTES),
    ValueType.TEXT: lambda v, f: _check_string(v, f, MAX_TEXT_BYTES),
    ValueType.NUMBER: _check_number,
    ValueType.BOOLEAN: _check_boolean,
    ValueType.DATETIME: _check_datetime,
    ValueType.REF: _check_ref,
    ValueType.NULL: _check_null,
}


def _json_type(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def parse_cli_value(type_name: str, text: str) -> object:
    """Turn a command-line ``--value`` into the Python value its type expects.

    For number, boolean and null the text is read as JSON, so ``42``, ``4.5e3``, ``true`` and
    ``null`` work while ``abc`` or ``"false"`` (a quoted string) are refused by the type check.
    For the string-like types the text is the value itself.
    """
    if type_name not in ("number", "boolean", "null"):
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidFact("value.v", f"{text!r} is not a {type_name}") from None
