"""Relation schemas: what value a relation takes and whether it is single- or multi-valued.

A schema is declared in ``.stigmem/schemas/*.yaml`` (see docs/spec.md §Relation schemas)::

    relation: codex:current_state
    type: string
    cardinality: single          # single (default) | multi
    enum: [draft, review, done]  # optional
    min: 0                       # optional, numbers only
    max: 10                      # optional, numbers only
    description: Where Codex thinks the project stands.

A relation with no registered schema accepts any value type and is single-valued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.identifiers import normalize_relation
from stigmem_vault.model.values import (
    Scalar,
    Value,
    ValueType,
    enum_member,
    make_value,
    ref_target,
)


class Cardinality(StrEnum):
    SINGLE = "single"
    MULTI = "multi"


@dataclass(frozen=True, slots=True)
class RelationSchema:
    relation: str
    type: ValueType | None = None
    cardinality: Cardinality = Cardinality.SINGLE
    enum: tuple[Scalar, ...] | None = None
    min: float | None = None
    max: float | None = None
    description: str = ""

    def check(self, value: Value) -> None:
        """Raise InvalidFact if ``value`` breaks this schema."""
        where = f"value (schema {self.relation})"
        if self.type is not None and value.type is not self.type:
            raise InvalidFact(where, f"must be of type {self.type}, got {value.type}")
        # A ref is compared by what it points at (its case kept in the value, §3).
        shown = ref_target(value.v) if value.type is ValueType.REF and isinstance(value.v, str) \
            else value.v
        if self.enum is not None and shown not in self.enum:
            allowed = ", ".join(repr(item) for item in self.enum)
            raise InvalidFact(where, f"{value.v!r} is not one of: {allowed}")
        if value.type is ValueType.NUMBER:
            assert isinstance(value.v, int | float)
            if self.min is not None and value.v < self.min:
                raise InvalidFact(where, f"{value.v} is below the minimum {self.min}")
            if self.max is not None and value.v > self.max:
                raise InvalidFact(where, f"{value.v} is above the maximum {self.max}")


_KEYS = {"relation", "type", "cardinality", "enum", "min", "max", "description"}


def parse_schema(data: Mapping[str, object]) -> RelationSchema:
    """Build a RelationSchema from a parsed YAML mapping, naming the bad field on error."""
    unknown = set(data) - _KEYS
    if unknown:
        raise InvalidFact(", ".join(sorted(unknown)), f"unknown schema key(s); allowed: {sorted(_KEYS)}")
    relation = normalize_relation(data.get("relation"), "relation")
    vtype = None
    if data.get("type") is not None:
        try:
            vtype = enum_member(ValueType, data["type"])
        except ValueError:
            raise InvalidFact("type", f"{data['type']!r} is not a value type") from None
    try:
        cardinality = enum_member(Cardinality, data.get("cardinality", "single"))
    except ValueError:
        raise InvalidFact("cardinality", f"{data.get('cardinality')!r} is not single or multi") from None
    enum = None
    if data.get("enum") is not None:
        raw = data["enum"]
        if not isinstance(raw, list) or not raw:
            raise InvalidFact("enum", "must be a non-empty list")
        # With a declared type, enum members are checked (and normalized) like values.
        enum = tuple(make_value(vtype, item, "enum").v for item in raw) if vtype else tuple(raw)
        if vtype is ValueType.REF:
            enum = tuple(ref_target(str(item), "enum") for item in enum)
    bounds: dict[str, float | None] = {}
    for key in ("min", "max"):
        raw_bound = data.get(key)
        if raw_bound is not None and (isinstance(raw_bound, bool) or not isinstance(raw_bound, int | float)):
            raise InvalidFact(key, f"must be a number, got {raw_bound!r}")
        bounds[key] = raw_bound
    if (bounds["min"] is not None or bounds["max"] is not None) and vtype not in (None, ValueType.NUMBER):
        raise InvalidFact("min/max", f"only apply to number relations, not {vtype}")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise InvalidFact("description", "must be a string")
    return RelationSchema(relation, vtype, cardinality, enum, bounds["min"], bounds["max"], description)
