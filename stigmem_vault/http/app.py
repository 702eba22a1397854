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
from fastapi.exception_handlers import http_exception_handler
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
        reply = JSONResponse({"detail": f"request body exceeds {self.limit} bytes"},
                             status_code=413)
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
        return JSONResponse({"detail": [_issue(error) for error in exc.errors()]},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
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
                exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))}
        return await http_exception_handler(request, exc)


def _vault_root(request: Request) -> Path | None:
    vault: Vault | None = request.app.state.vault
    return vault.root if vault is not None else None


# Seconds a client should wait before retrying a write the disk had no room for.
FULL_RETRY_AFTER = 30
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/[^\s'\"(),;]+")


def error_response(exc: BaseException, root: Path | None = None) -> JSONResponse:
    """The answer for an error the API raised: its status, and a message naming no server
    path (paths inside the vault are given relative to it)."""
    # The status is the error's own (errors.py); only the body's shape is chosen here.
    status = exc.http_status if isinstance(exc, StigmemError) else 503
    if isinstance(exc, InvalidFact):
        detail = [{"type": "value_error", "loc": ["body", *exc.field.split(".")],
                   "msg": public_text(exc.reason, root), "input": None}]
        return JSONResponse({"detail": detail}, status_code=status)
    if isinstance(exc, AccessDenied):
        return JSONResponse({"detail": {"code": exc.code, "message": public_text(exc.reason, root)}},
                            status_code=status)
    if isinstance(exc, NotFound):
        return JSONResponse({"detail": f"{public_text(exc.what)} not found"}, status_code=status)
    message = public_text(str(exc) or type(exc).__name__, root)
    if status < 500:
        return JSONResponse({"detail": message}, status_code=status)
    if _out_of_space(exc):
        # ENOSPC / EDQUOT / SQLITE_FULL: nothing was acknowledged; retrying later may succeed.
        return JSONResponse({"detail": {"code": "storage_full", "message": message}},
                            status_code=503, headers={"Retry-After": str(FULL_RETRY_AFTER)})
    # Vault configuration or storage trouble (and a remote that failed us: 502): the node
    # cannot serve this now.
    return JSONResponse({"detail": {"code": "node_unavailable", "message": message}},
                        status_code=status)


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
