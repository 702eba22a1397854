"""The HTTP node: a FastAPI app over one open ``Vault``.

Handlers are plain ``def`` functions, so FastAPI runs them in its worker threads and the
synchronous core (SQLite, git, PyNaCl) never blocks the event loop. Errors are translated in
one place (``_install_error_handlers``) into the upstream error bodies.
"""

from __future__ import annotations

import errno
import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stigmem_vault import __version__
from stigmem_vault.api.access import Principal
from stigmem_vault.api.vault import Vault
from stigmem_vault.errors import (
    AccessDenied,
    InvalidFact,
    NotFound,
    StigmemError,
)
from stigmem_vault.http.settings import NodeSettings, RateLimit


class RateLimiter:
    """Per-principal token buckets for reads and writes."""

    def __init__(self, reads: RateLimit, writes: RateLimit) -> None:
        self._limits = {"read": reads, "write": writes}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, who: str, kind: str) -> float:
        """0 if the request may proceed (and is counted), else seconds until it may."""
        limit = self._limits[kind]
        if limit.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get((who, kind), (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - last) * limit.rate)
            if tokens < 1.0:
                self._buckets[(who, kind)] = (tokens, now)
                return (1.0 - tokens) / limit.rate
            self._buckets[(who, kind)] = (tokens - 1.0, now)
            return 0.0


def create_app(vault: Vault | None, settings: NodeSettings) -> FastAPI:
    """The node's ASGI app over ``vault`` (None: an app that only describes its routes, for the
    OpenAPI document; it serves nothing)."""
    # The routes import this module's dependencies.
    from stigmem_vault.http import gardens, openapi, overview_routes, routes

    app = FastAPI(
        title="stigmem-vault node",
        version=__version__,
        description="A Stigmem v1 node over a signed, git-backed Markdown vault.",
    )
    app.state.vault = vault
    app.state.settings = settings
    app.state.limiter = RateLimiter(settings.reads, settings.writes)
    _install_body_limit(app, settings.max_body_bytes)
    _install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(gardens.router)
    app.include_router(overview_routes.router)
    openapi.install(app, settings.auth)
    return app


def _install_body_limit(app: FastAPI, limit: int) -> None:
    app.add_middleware(BodyLimit, limit=limit)


class BodyLimit:
    """413 for a request body over ``limit`` bytes.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` runs every request
    through an extra task and memory stream, which cost as much as the rest of the stack.
    A body without a Content-Length is read up to the limit before the app sees it.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        reply = error_json(413, f"request body exceeds {self.limit} bytes")
        await reply(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StigmemError)
    async def stigmem_error(request: Request, exc: StigmemError) -> JSONResponse:
        return error_response(exc, _vault_root(request))

    @app.exception_handler(OSError)
    @app.exception_handler(sqlite3.Error)
    async def storage_error(request: Request, exc: Exception) -> JSONResponse:
        # Storage trouble that reached the front end unwrapped: the node, not the client.
        return error_response(exc, _vault_root(request))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error([_issue(error) for error in exc.errors()])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the methods of the first route on the path; GET and POST
            # /v1/facts are two routes, so list every method of the path's own template (the
            # most literal one: /v1/facts/batch, not /v1/facts/{fact_ref}).
            from stigmem_vault.http import gardens, overview_routes, routes

            candidates = [route for route in (*request.app.router.routes, *routes.router.routes,
                                              *gardens.router.routes,
                                              *overview_routes.router.routes)
                          if isinstance(route, Route) and route.methods
                          and route.matches(request.scope)[0] != Match.NONE]
            if candidates:
                literal = min(route.path.count("{") for route in candidates)
                methods = {m for route in candidates if route.path.count("{") == literal
                           for m in route.methods or ()}
                headers["Allow"] = ", ".join(sorted(methods))
        detail = exc.detail
        if isinstance(detail, dict):  # {"code", "message", "field"?} raised by a route
            extra = {key: value for key, value in detail.items() if key not in ("code", "message")}
            message = str(detail.get("message", ""))
            field = detail.get("field")
            return error_json(exc.status_code, message, detail.get("code"), headers,
                              detail=f"{field}: {message}" if field else message, **extra)
        return error_json(exc.status_code, str(detail), headers=headers)


def _vault_root(request: Request) -> Path | None:
    vault: Vault | None = request.app.state.vault
    return vault.root if vault is not None else None


# Seconds a client should wait before retrying a write the disk had no room for.
FULL_RETRY_AFTER = 30
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/[^\s'\"(),;]+")


# The code of an answer whose error names none of its own.
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
                 422: "invalid_request", 429: "rate_limited", 502: "remote_failed",
                 503: "node_unavailable"}


def error_json(status: int, message: str, code: str | None = None,
               headers: dict[str, str] | None = None, *, detail: str | None = None,
               **extra: Any) -> JSONResponse:
    """The one shape of every error answer: ``detail``, a one-line string (what upstream SDKs
    read and print; ``message`` unless given), and ``error``, the machine-readable form:
    ``code``, ``message``, and where they apply ``field`` and ``issues``."""
    error = {"code": code or _STATUS_CODES.get(status, "error"), "message": message,
             **{key: value for key, value in extra.items() if value is not None}}
    return JSONResponse({"detail": message if detail is None else detail, "error": error},
                        status_code=status, headers=headers)


def validation_error(issues: list[dict[str, Any]], field: str | None = None) -> JSONResponse:
    """422 for fields that break a rule: each issue names its field (``loc``) and the reason."""
    message = "; ".join(f"{'.'.join(str(p) for p in _field_path(issue['loc'])) or 'body'}: "
                        f"{issue['msg']}" for issue in issues)
    return error_json(422, message, "invalid_request", field=field, issues=issues)


def _field_path(loc: list[Any]) -> list[Any]:
    # ["body", "value", "v"] names the field value.v; ["query", "limit"] the parameter limit.
    return loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc


def error_response(exc: BaseException, root: Path | None = None) -> JSONResponse:
    """The answer for an error the API raised: its status, and a message naming no server
    path (paths inside the vault are given relative to it)."""
    # The status is the error's own (errors.py); only the body's shape is chosen here.
    status = exc.http_status if isinstance(exc, StigmemError) else 503
    if isinstance(exc, InvalidFact):
        return validation_error([{"type": "value_error", "loc": ["body", *exc.field.split(".")],
                                  "msg": public_text(exc.reason, root), "input": None}],
                                field=exc.field)
    if isinstance(exc, AccessDenied):
        return error_json(status, public_text(exc.reason, root), exc.code)
    if isinstance(exc, NotFound):
        # Upstream's words in detail ("fact not found"); error.message names the reference.
        return error_json(status, public_text(str(exc), root),
                          f"{exc.what}_not_found".replace(" ", "_"),
                          detail=f"{public_text(exc.what)} not found")
    message = public_text(str(exc) or type(exc).__name__, root)
    if status < 500:
        return error_json(status, message)
    if _out_of_space(exc):
        # ENOSPC / EDQUOT / SQLITE_FULL: nothing was acknowledged; retrying later may succeed.
        return error_json(503, message, "storage_full",
                          {"Retry-After": str(FULL_RETRY_AFTER)})
    # Vault configuration or storage trouble (and a remote that failed us: 502): the node
    # cannot serve this now.
    return error_json(status, message, "node_unavailable")


def _out_of_space(exc: BaseException | None) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == \
                sqlite3.SQLITE_FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def public_text(text: str, root: Path | None = None) -> str:
    """``text`` fit to send: paths in the vault made relative, any other absolute path hidden,
    and lone surrogates escaped (a JSON answer is UTF-8)."""
    if root is not None:
        for prefix in {str(root), str(root.resolve())}:
            text = text.replace(prefix + "/", "").replace(prefix, ".")
    text = _ABSOLUTE_PATH.sub("<server path>", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_ISSUE_MESSAGES = {
    "string_unicode": "contains a lone surrogate (U+D800-U+DFFF): text must be Unicode scalar "
                      "values",
}


def _issue(error: Any) -> dict[str, Any]:
    """One validation issue, safe to render: the input is echoed only when it is a scalar
    (never a deep or huge structure), strings are cut short and surrogates escaped."""
    issue = {"type": error["type"],
             "loc": [part if isinstance(part, int) else public_text(str(part))
                     for part in error["loc"]],
             "msg": _ISSUE_MESSAGES.get(error["type"], public_text(_message(error))),
             "input": _echo(error.get("input"))}
    if error.get("ctx"):
        issue["ctx"] = {key: _echo(value) if isinstance(value, int | float | str | None)
                        else public_text(str(value)) for key, value in error["ctx"].items()}
    return issue


def _message(error: Any) -> str:
    # A validator's own reason, without pydantic's "Value error, " in front of it.
    reason = (error.get("ctx") or {}).get("error")
    return str(reason) if error["type"] == "value_error" and reason is not None else \
        str(error["msg"])


def _echo(value: object) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return public_text(value[:200] + ("..." if len(value) > 200 else ""))
    return None


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: a JSON object, refusing a key given twice (json.loads would
    silently keep the last one)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return result


def parse_json(body: bytes) -> Any:
    """A request body as JSON: duplicate keys are refused (400 naming the key), and so is
    nesting too deep for the parser (400); other syntax errors stay FastAPI's 422."""
    try:
        return json.loads(body, object_pairs_hook=_unique_keys)
    except DuplicateKey as exc:
        key = public_text(exc.key)
        raise HTTPException(400, detail={
            "code": "duplicate_key", "field": key,
            "message": f"the key {key!r} appears twice in one JSON object; send it once"}) from None
    except RecursionError:
        raise HTTPException(400, detail={"code": "json_too_deep",
                                         "message": "the JSON body is nested too deeply"}) from None


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """Routes whose JSON bodies are parsed by :func:`parse_json` (in the one parse FastAPI
    does anyway: the duplicate check is the object hook, no second pass)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict


def bad_parameter(exc: InvalidFact) -> HTTPException:
    """Query-string problems are 400 upstream (assert bodies are 422)."""
    return HTTPException(400, detail={"code": "invalid_parameter", "field": exc.field,
                                      "message": public_text(exc.reason)})


def _principal(request: Request) -> Principal:
    vault: Vault = request.app.state.vault
    settings: NodeSettings = request.app.state.settings
    if settings.auth == "none":
        return vault.operator()
    header = request.headers.get("authorization", "")
    if not header:
        raise HTTPException(401, detail="Authorization header required",
                            headers={"WWW-Authenticate": "Bearer"})
    scheme, _, raw = header.partition(" ")
    principal = vault.authenticate(raw.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        raise HTTPException(401, detail="Invalid or expired API key",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


def _limited(kind: str, *, permission: bool = True) -> Callable[[Request], Awaitable[Principal]]:
    # async: FastAPI runs a plain-def dependency in a worker thread, one more hand-over per
    # request for a check that costs microseconds (the token store is cached by its stat).
    async def dependency(request: Request) -> Principal:
        principal = _principal(request)
        if permission:
            principal.require(kind)
        wait = request.app.state.limiter.retry_after(principal.token_id or "operator", kind)
        if wait > 0:
            raise HTTPException(429, detail="rate limit exceeded",
                                headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        return principal

    return dependency


# The caller whatever its permissions (counted as a read): for "who am I" and for refusals
# that must come after the token check.
principal_of = _limited("read", permission=False)


reader = Depends(_limited("read"))
writer = Depends(_limited("write"))
