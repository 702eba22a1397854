"""The HTTP node: a FastAPI app over one open ``Vault``.

Handlers are plain ``def`` functions, so FastAPI runs them in its worker threads and the
synchronous core (SQLite, git, PyNaCl) never blocks the event loop. Errors are translated in
one place (``_install_error_handlers``) into the upstream error bodies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stigmem_vault import __version__
from stigmem_vault.api.access import Principal
from stigmem_vault.api.vault import Vault
from stigmem_vault.errors import (
    AccessDenied,
    FormatError,
    InvalidFact,
    MisuseError,
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


def create_app(vault: Vault, settings: NodeSettings) -> FastAPI:
    from stigmem_vault.http import openapi, routes  # routes import this module's dependencies

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
    openapi.install(app)
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
    async def stigmem_error(_request: Request, exc: StigmemError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            # Starlette names only the methods of the first route on the path; GET and POST
            # /v1/facts are two routes, so list every method of the path's own template (the
            # most literal one: /v1/facts/batch, not /v1/facts/{fact_ref}).
            from stigmem_vault.http.routes import router

            candidates = [route for route in (*request.app.router.routes, *router.routes)
                          if isinstance(route, Route) and route.methods
                          and route.matches(request.scope)[0] != Match.NONE]
            if candidates:
                literal = min(route.path.count("{") for route in candidates)
                methods = {m for route in candidates if route.path.count("{") == literal
                           for m in route.methods or ()}
                exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))}
        return await http_exception_handler(request, exc)


def error_response(exc: StigmemError) -> JSONResponse:
    if isinstance(exc, InvalidFact):
        detail = [{"type": "value_error", "loc": ["body", *exc.field.split(".")],
                   "msg": exc.reason, "input": None}]
        return JSONResponse({"detail": detail}, status_code=422)
    if isinstance(exc, AccessDenied):
        return JSONResponse({"detail": {"code": exc.code, "message": exc.reason}}, status_code=403)
    if isinstance(exc, NotFound):
        return JSONResponse({"detail": f"{exc.what} not found"}, status_code=404)
    if isinstance(exc, FormatError | MisuseError):
        return JSONResponse({"detail": str(exc)}, status_code=400)
    # Vault configuration or storage trouble: the node cannot serve this now.
    return JSONResponse({"detail": {"code": "node_unavailable", "message": str(exc)}},
                        status_code=503)


def bad_parameter(exc: InvalidFact) -> HTTPException:
    """Query-string problems are 400 upstream (assert bodies are 422)."""
    return HTTPException(400, detail={"code": "invalid_parameter", "field": exc.field,
                                      "message": exc.reason})


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


def _limited(kind: str) -> Callable[[Request], Awaitable[Principal]]:
    # async: FastAPI runs a plain-def dependency in a worker thread, one more hand-over per
    # request for a check that costs microseconds (the token store is cached by its stat).
    async def dependency(request: Request) -> Principal:
        principal = _principal(request)
        principal.require(kind)
        wait = request.app.state.limiter.retry_after(principal.token_id or "operator", kind)
        if wait > 0:
            raise HTTPException(429, detail="rate limit exceeded",
                                headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        return principal

    return dependency


reader = Depends(_limited("read"))
writer = Depends(_limited("write"))
