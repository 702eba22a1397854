"""The node's OpenAPI document: built from the routes, tidied, served, and committed.

The document does not depend on a vault, and of the node's settings only on its auth mode: the
copy committed in ``docs/openapi.json`` is exactly what every node with token auth serves at
``/openapi.json`` (a test holds them equal); a node started with ``--auth none`` serves it
without the bearer requirement and the 401 answers, which it never gives. The document itself
needs no token. Regenerate it after changing a route::

    python -m stigmem_vault.http.openapi > docs/openapi.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

SECURITY_SCHEME = "bearerAuth"
PUBLIC_TAGS = {"ops"}  # health and discovery need no token

DESCRIPTION = """\
A Stigmem v1 node over a signed, git-backed Markdown vault. Every write becomes a signed fact
file and a git commit; answers use the upstream Stigmem v1 wire format, with this node's
additions (signature, signer, trust class, verification, supersession) as extra keys.

**Auth.** `Authorization: Bearer <token>`. A token is bound to one principal, a set of scopes
and the permissions `read` and/or `write`; reads only ever return facts in the token's scopes.
Missing or unknown token: 401 with `WWW-Authenticate: Bearer`. A node started with
`--auth none` (loopback only) serves every request as the vault owner.

**Errors.** Every error is `{"detail": "<one line>", "error": {"code", "message", "field"?,
"issues"?}}`: `detail` is a string, as upstream clients expect; `error.code` is machine-readable
(`fact_not_found`, `cid_malformed`, `source_not_owned`...). Invalid fields are 422 with
`error.issues` = `[{"loc", "msg", "type"}]` naming each field and the reason. Bodies over the
node's limit get 413. Per-principal rate limits answer 429 with `Retry-After`.
"""


def document(app: FastAPI, auth: str = "token") -> dict[str, Any]:
    """The OpenAPI document of ``app`` under ``auth``, tidied for readers and generators."""
    doc = get_openapi(title=app.title, version=app.version, description=DESCRIPTION,
                      routes=app.routes, tags=[
                          {"name": "facts", "description": "assert, query, get and verify facts"},
                          {"name": "recall", "description": "ranked recall and the entity graph"},
                          {"name": "conflicts", "description": "contradictions and their "
                                                               "resolution"},
                          {"name": "overview", "description": "lint, entity cards, federation "
                                                              "status, the caller; refusals"},
                          {"name": "ops", "description": "health and discovery (no token)"},
                      ])
    if auth == "token":
        doc.setdefault("components", {})["securitySchemes"] = {
            SECURITY_SCHEME: {"type": "http", "scheme": "bearer",
                              "description": "a token from `stigmem token create`"}}
    ours_422 = _our_validation_answer(doc)
    for operations in doc["paths"].values():
        for operation in operations.values():
            answers = operation["responses"]
            if "HTTPValidationError" in json.dumps(answers.get("422", {})) and ours_422:
                # FastAPI documents its own 422 on a route with parameters that declares none;
                # every 422 of this node has our error shape (app.py's handlers).
                answers["422"] = ours_422
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _not_nullable(parameter["schema"])
            if auth != "token":
                operation["responses"].pop("401", None)  # every request is the operator's
            elif not PUBLIC_TAGS.intersection(operation.get("tags", [])):
                operation["security"] = [{SECURITY_SCHEME: []}]
    _prune_components(doc)
    return doc


def _our_validation_answer(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The 422 answer as the routes that declare it document it (schemas.errors)."""
    for operations in doc["paths"].values():
        for operation in operations.values():
            answer = operation["responses"].get("422")
            if answer and "HTTPValidationError" not in json.dumps(answer):
                return dict(answer)
    return None


def _not_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: ``str | None`` means optional, not ``null``."""
    branches = schema.get("anyOf")
    if not branches:
        return schema
    kept = [branch for branch in branches if branch != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(branches):
        return schema
    tidy = {key: value for key, value in schema.items() if key != "anyOf"}
    if tidy.get("default", ...) is None:
        del tidy["default"]
    return {**kept[0], **tidy}


def _prune_components(doc: dict[str, Any]) -> None:
    """Drop schemas nothing refers to (FastAPI's default 422 models, replaced by ours)."""
    schemas = doc.get("components", {}).get("schemas", {})
    prefix = "#/components/schemas/"
    reachable: set[str] = set()
    pending = [doc["paths"]]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix) and ref[len(prefix):] not in reachable:
                reachable.add(ref[len(prefix):])
                pending.append(schemas.get(ref[len(prefix):], {}))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    for name in set(schemas) - reachable:
        del schemas[name]


def install(app: FastAPI, auth: str = "token") -> None:
    """Serve the tidied document at ``/openapi.json`` (built once, on first request)."""
    cache: dict[str, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        if "doc" not in cache:
            cache["doc"] = document(app, auth)
        return cache["doc"]

    # FastAPI's documented way to replace the document it serves is to assign app.openapi;
    # mypy refuses assigning to a method, and FastAPI offers no other hook.
    app.openapi = openapi  # type: ignore[method-assign]


def render(doc: dict[str, Any]) -> str:
    """The committed form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    from stigmem_vault.http.app import create_app
    from stigmem_vault.http.settings import NodeSettings

    # The document describes routes only; no vault is opened to build it.
    app = create_app(None, NodeSettings())
    sys.stdout.write(render(app.openapi()))


if __name__ == "__main__":
    main()
