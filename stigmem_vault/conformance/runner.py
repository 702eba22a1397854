"""Run upstream-format conformance vectors against any node, over HTTP.

The mechanics are the upstream harness's (docs/upstream-wire-contract.md §5), for a base URL
(§5.2, "cheaper option"): one store for the whole run, files in sorted order, vectors in file
order; a ``requires_setup`` chain runs deepest ancestor first, and a vector id whose request
already succeeded (status < 300) is not sent again as a prerequisite. Vectors that need a
plugin (``requires_plugin``) are skipped. Vectors that need auth (``requires_auth: true``) check
that a node with auth enabled refuses a request without credentials: they are skipped unless
the run has a token (the node has auth), and then sent without it (their setup chains with
it). Paths are sent verbatim
(they are already percent-encoded), a JSON body only when it is not null, and a response that is
not JSON is checked as ``{}``.

httpx is imported when a run starts, so importing this module (and the CLI) stays light.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stigmem_vault.conformance.checks import (
    Dialect,
    check_body,
    check_error_body,
    check_status,
    show,
    unknown_checks,
)
from stigmem_vault.errors import FormatError, InvalidFact

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUT = 10.0  # seconds per request


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Vector:
    """One vector as read from its file, with what the run needs to know about it."""

    id: str
    file: str
    dialect: Dialect
    data: Mapping[str, Any] = field(repr=False)

    @property
    def method(self) -> str:
        return str(self.data["method"]).upper()

    @property
    def path(self) -> str:
        return str(self.data["path"])


@dataclass(frozen=True, slots=True)
class VectorResult:
    id: str
    file: str
    outcome: Outcome
    reason: str = ""
    method: str = ""
    path: str = ""
    status: int | None = None  # the vector's own response status, when it was sent

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "file": self.file, "outcome": self.outcome.value,
                "reason": self.reason, "method": self.method, "path": self.path,
                "status": self.status}


def summary(results: Iterable[VectorResult]) -> dict[str, int]:
    counts = {outcome.value: 0 for outcome in Outcome}
    for result in results:
        counts[result.outcome.value] += 1
    return counts


# ---------------------------------------------------------------- loading


def vector_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files to run: a directory gives its ``*.json`` files sorted by name; files as given."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise FormatError(path, "no *.json vector files in this directory")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FormatError(path, "no such vector file or directory")
    unique = list(dict.fromkeys(p.resolve() for p in files))  # the same file given twice runs once
    return unique


def dialect_of(path: Path) -> Dialect:
    """Which upstream runner's rules apply: files named ``v2…`` are v2's, the rest v1's."""
    return "v2" if path.name.lower().startswith("v2") else "v1"


def load_vectors(paths: Iterable[str | Path]) -> list[Vector]:
    """Every vector of the given files and directories, in run order; FormatError if malformed."""
    vectors: list[Vector] = []
    seen: dict[str, Path] = {}
    for path in vector_files(paths):
        try:
            document = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise FormatError(path, f"not a readable JSON vector file: {exc}") from None
        if not isinstance(document, dict) or not isinstance(document.get("vectors"), list):
            raise FormatError(path, "a vector file is a JSON object with a 'vectors' list")
        file_plugin = document.get("requires_plugin")
        for index, item in enumerate(document["vectors"]):
            vector = _vector(path, index, item, file_plugin)
            if vector.id in seen:
                raise FormatError(path, f"vector id {vector.id!r} is also in {seen[vector.id]}")
            seen[vector.id] = path
            vectors.append(vector)
    by_id = {v.id: v for v in vectors}
    for vector in vectors:
        setup_chain(vector, by_id)  # a cycle is a broken file: refuse it before running
    return vectors


def setup_chain(vector: Vector, by_id: Mapping[str, Vector]) -> list[Vector]:
    """The ``requires_setup`` ancestors of a vector, deepest first (an unknown id ends it)."""
    chain: list[Vector] = []
    parent_id = vector.data.get("requires_setup")
    while parent_id and parent_id in by_id:
        parent = by_id[parent_id]
        if parent.id == vector.id or any(parent.id == c.id for c in chain):
            raise FormatError(vector.file, f"vector {vector.id}: requires_setup cycle through "
                                           f"{parent_id}")
        chain.append(parent)
        parent_id = parent.data.get("requires_setup")
    return chain[::-1]


def _vector(path: Path, index: int, item: object, file_plugin: object) -> Vector:
    where = f"vectors[{index}]"
    if not isinstance(item, dict):
        raise FormatError(path, f"{where} is not an object")
    for key in ("id", "method", "path"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise FormatError(path, f"{where}: '{key}' must be a non-empty string")
    if not item["path"].startswith("/"):
        raise FormatError(path, f"{where} ({item['id']}): path must start with '/'")
    if "expected_status" not in item and not isinstance(item.get("expected_status_in"), list):
        raise FormatError(path, f"{where} ({item['id']}): needs expected_status or "
                                f"expected_status_in")
    if file_plugin and "requires_plugin" not in item:
        item = {**item, "requires_plugin": file_plugin}
    return Vector(item["id"], str(path), dialect_of(path), item)


# ---------------------------------------------------------------- running


def raw_path(base_path: str, path: str) -> bytes:
    """The request target, sent verbatim: the vector's path is already percent-encoded.

    Only bytes that cannot appear in a request line at all (controls, space, non-ASCII) are
    percent-encoded; an existing ``%2F`` stays ``%2F``.
    """
    target = base_path.rstrip("/") + path
    out = bytearray()
    for byte in target.encode("utf-8"):
        out += bytes([byte]) if 0x21 <= byte <= 0x7E else f"%{byte:02X}".encode()
    return bytes(out)


class _Run:
    """One run over one node: the client, the ids already done, the gardens already made."""

    def __init__(self, client: httpx.Client, base_url: str, vectors: Sequence[Vector],
                 authenticated: bool = False) -> None:
        import httpx

        self._httpx = httpx
        self.client = client
        self.authenticated = authenticated  # the run has a token: the node has auth enabled
        self.base = httpx.URL(base_url)
        self.base_path = self.base.raw_path.decode("ascii").partition("?")[0]
        self.by_id = {v.id: v for v in vectors}
        self.done: set[str] = set()  # ids whose request succeeded (< 300) on this store
        self.gardens: set[str] = set()

    def send(self, method: str, path: str, body: object,
             anonymous: bool = False) -> tuple[int, object]:
        url = self.base.copy_with(raw_path=raw_path(self.base_path, path))
        options: dict[str, Any] = {} if body is None else {"json": body}
        request = self.client.build_request(method, url, **options)
        if anonymous:
            request.headers.pop("Authorization", None)
        response = self.client.send(request)
        try:
            parsed: object = response.json()
        except ValueError:
            parsed = {}
        return response.status_code, parsed

    def run(self, vector: Vector) -> VectorResult:
        data = vector.data

        def result(outcome: Outcome, reason: str = "", status: int | None = None) -> VectorResult:
            return VectorResult(vector.id, vector.file, outcome, reason, vector.method,
                                vector.path, status)

        anonymous = data.get("requires_auth") is True
        if anonymous and not self.authenticated:
            return result(Outcome.SKIPPED, "requires_auth: needs a node with auth enabled")
        if data.get("requires_plugin"):
            return result(Outcome.SKIPPED, f"requires_plugin: {data['requires_plugin']}")
        unknown = unknown_checks(data)
        if unknown:
            return result(Outcome.FAILED, f"this runner cannot check {', '.join(unknown)}")
        try:
            problem = self.prepare(vector)
            if problem:
                return result(Outcome.FAILED, problem)
            status, body = self.send(vector.method, vector.path, data.get("body"), anonymous)
        except self._httpx.HTTPError as exc:
            return result(Outcome.FAILED, f"request failed: {type(exc).__name__}: {exc}")
        if status < 300:
            self.done.add(vector.id)
        failures = check_status(data, status)
        if failures:
            return result(Outcome.FAILED, f"{failures[0]}; body {show(body)}", status)
        if status >= 400:
            failures = check_error_body(data, body, vector.dialect)
        else:
            failures = check_body(data, body, vector.dialect)
        if failures:
            return result(Outcome.FAILED, "; ".join(failures), status)
        return result(Outcome.PASSED, "", status)

    def prepare(self, vector: Vector) -> str:
        """Make the state the vector needs; a failure's reason, or "" when ready."""
        slug = vector.data.get("requires_garden")
        if slug and slug not in self.gardens:
            status, body = self.send("POST", "/v1/gardens",
                                     {"slug": slug, "name": slug, "scope": "local"})
            if status not in (201, 409):
                return f"requires_garden {slug}: POST /v1/gardens gave {status} {show(body)}"
            self.gardens.add(slug)
        for parent in setup_chain(vector, self.by_id):
            if parent.id in self.done:
                continue
            status, body = self.send(parent.method, parent.path, parent.data.get("body"))
            if status >= 300:
                return f"setup {parent.id}: {parent.method} {parent.path} gave {status} {show(body)}"
            self.done.add(parent.id)
        return ""


def run_vectors(base_url: str, vectors: Sequence[Vector], *, token: str | None = None,
                timeout: float = DEFAULT_TIMEOUT,
                transport: httpx.BaseTransport | None = None) -> list[VectorResult]:
    """Run ``vectors`` in order against the node at ``base_url``; one result per vector.

    ``token`` is sent as a bearer token with every request but those of ``requires_auth``
    vectors, which are sent without it (and skipped without a token). ``transport`` replaces the network
    (tests pass an ``httpx.MockTransport``).
    """
    import httpx

    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidFact("base_url", f"{base_url!r} is not an http(s) URL with a host")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(headers=headers, timeout=timeout, transport=transport,
                      follow_redirects=False, trust_env=False) as client:
        run = _Run(client, base_url, vectors, authenticated=token is not None)
        return [run.run(vector) for vector in vectors]


def run_conformance(base_url: str, paths: Iterable[str | Path], **options: Any) -> list[VectorResult]:
    """Load the vector files and directories in ``paths`` and run them against ``base_url``."""
    return run_vectors(base_url, load_vectors(paths), **options)
