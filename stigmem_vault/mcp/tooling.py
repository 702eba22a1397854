"""How a function becomes one of our MCP tools: arguments checked by name first, every refusal
one line, deprecated argument names still understood, lists sent as JSON text accepted.

The SDK's own argument check reports pydantic's multi-line text, and it silently drops an
argument it does not know (a misspelt ``qeury`` becomes "query: field required"). Here an
unknown argument is named, with the ones the tool takes; a value of the wrong type or out of
range is ``field: reason (got value)``; and the input schema says ``additionalProperties:
false``, so a host can check as much before calling.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver.context import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError

from stigmem_vault.errors import AccessDenied, StigmemError

PRE_PARSED = frozenset({"derived_from", "checks"})  # list arguments a host may send as JSON text
P = ParamSpec("P")
R = TypeVar("R")


def one_line(exc: StigmemError) -> str:
    text = f"{exc.code}: {exc.reason}" if isinstance(exc, AccessDenied) else str(exc)
    return " ".join(text.split())


def _guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a refused call into a tool error with the API's one-line message, never a crash."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except StigmemError as exc:
            raise ToolError(one_line(exc)) from exc

    return wrapper


class _AsSent(FuncMetadata):
    """Arguments exactly as the client sent them, but for lists sent as JSON text.

    The SDK parses every string argument that looks like JSON unless its type is plain ``str``
    (some hosts send lists as JSON text): the string value "null" would be stored as a null
    and '{"retries": 3}' refused. Only the list arguments need it.
    """

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        parsed = super().pre_parse_json(data)
        return {key: parsed[key] if key in PRE_PARSED else value for key, value in data.items()}


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validation_reason(exc: ValidationError) -> str:
    """pydantic's errors as one line: ``field: reason (got value)``, joined by ``; ``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        if error["type"] == "missing":
            parts.append(f"{where}: required")
            continue
        reason = " ".join(str(error["msg"]).split())
        got = error.get("input")
        parts.append(f"{where}: {reason}" + (f" (got {_shown(got)})"
                                             if isinstance(got, str | int | float | bool) else ""))
    return "; ".join(parts)


class StrictTool(Tool):
    """A tool whose arguments are checked by name (with deprecated ``aliases``) before the
    SDK validates them, every refusal as one line."""

    aliases: dict[str, str] = Field(default_factory=dict)  # deprecated name -> current name

    def checked(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        given = dict(arguments)
        for old, new in self.aliases.items():
            if old in given:
                if new in given:
                    raise self._refuse(f"give {new} only ({old} is its deprecated name)")
                given[new] = given.pop(old)
        known = list(self.parameters.get("properties", {}))
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise self._refuse(f"unknown argument {unknown[0]!r}; {self.name} takes "
                               f"{', '.join(known)}")
        try:
            self.fn_metadata.validate_arguments(given)
        except ValidationError as exc:
            raise self._refuse(validation_reason(exc)) from None
        return given

    def _refuse(self, reason: str) -> ToolError:
        # The SDK's own prefix, as every other refusal of a tool carries.
        return ToolError(f"Error executing tool {self.name}: {reason}")

    async def run(self, arguments: dict[str, Any], context: Context[Any, Any],
                  convert_result: bool = False) -> Any:
        return await super().run(self.checked(arguments), context, convert_result)


def make_tool(fn: Callable[..., Any], annotations: ToolAnnotations,
              aliases: Mapping[str, str] | None = None) -> StrictTool:
    tool = StrictTool.from_function(_guarded(fn), annotations=annotations)
    assert isinstance(tool, StrictTool)
    meta = tool.fn_metadata
    tool.fn_metadata = _AsSent(arg_model=meta.arg_model, output_schema=meta.output_schema,
                               output_model=meta.output_model, wrap_output=meta.wrap_output)
    tool.parameters["additionalProperties"] = False
    tool.aliases = dict(aliases or {})
    return tool


__all__ = ["StrictTool", "make_tool", "one_line", "validation_reason"]
