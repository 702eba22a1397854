"""The runner itself: it must be able to fail. Synthetic vectors against canned responses
(httpx.MockTransport), so each rule of contract §5.1 is seen passing and failing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from stigmem_vault.cli.main import cli
from stigmem_vault.conformance import Outcome, Vector, VectorResult, load_vectors, run_vectors
from stigmem_vault.conformance.checks import check_body, contains
from stigmem_vault.errors import FormatError

BASE = "http://node.test"
Handler = Callable[[httpx.Request], httpx.Response]


def vector(vid: str = "v", *, dialect: str = "v1", **fields: Any) -> Vector:
    data = {"id": vid, "method": "GET", "path": "/x", "body": None, "expected_status": 200,
            **fields}
    return Vector(vid, f"{dialect}-test.json", dialect, data)  # type: ignore[arg-type]


def replying(body: object = None, status: int = 200, content: bytes | None = None) -> Handler:
    def handler(_request: httpx.Request) -> httpx.Response:
        if content is not None:
            return httpx.Response(status, content=content)
        return httpx.Response(status, json=body)

    return handler


def run(vectors: list[Vector], handler: Handler, **options: Any) -> list[VectorResult]:
    return run_vectors(BASE, vectors, transport=httpx.MockTransport(handler), **options)


def one(v: Vector, handler: Handler) -> VectorResult:
    [result] = run([v], handler)
    return result


# ---------------------------------------------------------------- status


def test_wrong_status_fails_with_the_status_and_body() -> None:
    result = one(vector(expected_status=201), replying({"detail": "nope"}, 422))
    assert result.outcome is Outcome.FAILED
    assert result.status == 422
    assert result.reason == 'status 422, expected 201; body {"detail": "nope"}'


def test_expected_status_in() -> None:
    v = vector(expected_status_in=[403, 422])
    del v.data["expected_status"]  # type: ignore[attr-defined]
    assert one(v, replying({}, 422)).passed
    assert "expected one of [403, 422]" in one(v, replying({}, 201)).reason


def test_an_expected_error_status_stops_the_body_checks() -> None:
    v = vector(expected_status=422, expected_body_has_keys=["id"])
    assert one(v, replying({"detail": []}, 422)).passed


def test_v2_checks_expected_nested_leniently_on_errors() -> None:
    v1 = vector(expected_status=403, expected_nested={"detail.code": "x", "absent.path": 1})
    v2 = vector(dialect="v2", expected_status=403,
                expected_nested={"detail.code": "x", "absent.path": 1})
    wrong = replying({"detail": {"code": "y"}}, 403)
    assert one(v1, wrong).passed  # v1 checks nothing on an error status
    assert one(v2, wrong).reason == 'detail.code: "y", expected "x"'
    assert one(v2, replying({"detail": {"code": "x"}}, 403)).passed


# ---------------------------------------------------------------- body checks


def test_missing_key() -> None:
    result = one(vector(expected_body_has_keys=["id", "timestamp"]), replying({"id": "a"}))
    assert (result.outcome, result.reason) == (Outcome.FAILED, "missing key(s) timestamp")


def test_contains_is_a_recursive_subset() -> None:
    v = vector(expected_body_contains={"value": {"type": "number"}, "scope": "company"})
    assert one(v, replying({"value": {"type": "number", "v": 1}, "scope": "company", "x": 1})).passed
    assert not one(v, replying({"value": {"type": "string"}, "scope": "company"})).passed
    assert not one(v, replying({"value": {"type": "number"}})).passed


def test_contains_null_needs_the_key() -> None:
    v = vector(expected_body_contains={"attested": None})
    assert one(v, replying({"attested": None})).passed
    assert one(v, replying({})).reason == 'body does not contain {"attested": null}'
    assert not one(v, replying({"attested": False})).passed


def test_contains_lists_v1_versus_v2() -> None:
    body = {"facts": [{"entity": "a", "value": {"type": "ref", "v": "b"}}], "tags": ["x"]}
    deep = {"facts": [{"value": {"type": "ref"}}]}
    assert contains(body, deep, "v1")  # v1: recursive match of some element
    assert not contains(body, deep, "v2")  # v2: shallow ==, the nested dict differs
    assert contains(body, {"tags": ["x"]}, "v1")
    assert not contains(body, {"tags": ["y"]}, "v1")  # v1: scalars must be in the list
    assert contains(body, {"tags": ["y"]}, "v2")  # v2 ignores scalars
    assert contains(body, {"facts": []}, "v1")  # [] only checks "is a list"
    assert not contains({"facts": {}}, {"facts": []}, "v1")


def test_nested_is_exact() -> None:
    v = vector(expected_nested={"value.type": "number", "value.v": 42.5})
    assert one(v, replying({"value": {"type": "number", "v": 42.5}})).passed
    result = one(v, replying({"value": {"type": "number", "v": "42.5"}}))
    assert result.reason == 'value.v: "42.5", expected 42.5'
    null = vector(expected_nested={"value.v": None})
    assert one(null, replying({"value": {"v": None}})).passed
    assert one(null, replying({"value": {}})).reason == "value.v: missing, expected null"


def test_list_contains_mismatch() -> None:
    v = vector(expected_body_list_contains={"namespaces": "garden:"})
    assert one(v, replying({"namespaces": ["rel:", "garden:"]})).passed
    result = one(v, replying({"namespaces": ["rel:"]}))
    assert result.reason == 'namespaces: ["rel:"] does not contain "garden:"'
    assert one(v, replying({})).reason == "namespaces: missing, expected a list"
    dicts = vector(expected_body_list_contains={"members": {"role": "owner"}})
    assert one(dicts, replying({"members": [{"role": "owner", "id": 1}]})).passed
    assert not one(dicts, replying({"members": [{"role": "reader"}]})).passed


def test_value_in() -> None:
    v = vector(expected_body_value_in={"source_attestation": ["enforce", "warn", "off"]})
    assert one(v, replying({"source_attestation": "warn"})).passed
    assert not one(v, replying({"source_attestation": "strict"})).passed
    assert "missing" in one(v, replying({})).reason


def test_response_is_list_and_member_roles() -> None:
    v = vector(expected_response_is_list=True)
    assert one(v, replying([{"slug": "a"}])).passed
    assert not one(v, replying({"items": []})).passed
    roles = vector(expected_members_contain_role="owner")
    assert one(roles, replying({"members": [{"role": "owner"}]})).passed
    assert one(roles, replying({"members": []})).reason == 'no member with role "owner"'


def test_v2_field_checks() -> None:
    body = {"recall_id": "0" * 36, "query_hash": "ab" * 32, "node_id": "stigmem:node:x",
            "facts": [{"id": "f", "score_breakdown": {"recency": 1}}]}
    ok = {"expected_field_starts_with": {"node_id": "stigmem:node:"},
          "expected_field_length": {"recall_id": 36, "query_hash": 64},
          "expected_first_fact_has_keys": ["id"],
          "expected_first_fact_score_breakdown_keys": ["recency"]}
    assert check_body(ok, body, "v2") == []
    bad = {"expected_field_starts_with": {"node_id": "did:"},
           "expected_field_length": {"recall_id": 32},
           "expected_first_fact_has_keys": ["cid"],
           "expected_first_fact_score_breakdown_keys": ["similarity"]}
    assert len(check_body(bad, body, "v2")) == 4
    # Only when there is a first fact, and only when it has a score breakdown.
    assert check_body({"expected_first_fact_has_keys": ["cid"]}, {"facts": []}, "v2") == []
    assert check_body({"expected_first_fact_score_breakdown_keys": ["x"]},
                      {"facts": [{"id": "f"}]}, "v2") == []


def test_a_non_json_response_is_checked_as_an_empty_object() -> None:
    v = vector(expected_status=204, expected_body_has_keys=["id"])
    result = one(v, replying(content=b"", status=204))
    assert result.reason == "missing key(s) id"
    assert one(vector(expected_status=204), replying(content=b"", status=204)).passed


def test_an_unknown_check_fails_rather_than_passing_silently() -> None:
    result = one(vector(expected_headers={"x": "y"}), replying({}))
    assert result.outcome is Outcome.FAILED
    assert result.reason == "this runner cannot check expected_headers"


# ---------------------------------------------------------------- requests


def test_paths_are_sent_verbatim_and_bodies_only_when_not_null() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    encoded = "/v1/facts/stigmem%3A%2F%2Ftestnode%2Fuser%2Falice?scope=company"
    run([vector("a", path=encoded), vector("b", method="POST", path="/v1/facts", body={"k": 1}),
         vector("c", method="DELETE", path="/v1/x")], handler, token="stg_secret")
    assert seen[0].url.raw_path == encoded.encode()
    assert seen[0].content == b""
    assert json.loads(seen[1].content) == {"k": 1}
    assert seen[1].headers["content-type"] == "application/json"
    assert "content-type" not in seen[2].headers
    assert all(r.headers["authorization"] == "Bearer stg_secret" for r in seen)


def test_a_base_url_with_a_path_prefix() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return httpx.Response(200, json={})

    run_vectors(f"{BASE}/node/", [vector(path="/healthz")], transport=httpx.MockTransport(handler))
    assert seen == [b"/node/healthz"]


def test_requires_auth_and_plugins_are_skipped_without_a_request(tmp_path: Path) -> None:
    path = tmp_path / "v2.0-50_plugin.json"
    path.write_text(json.dumps({"requires_plugin": "time-travel", "vectors": [
        {"id": "tt", "method": "GET", "path": "/x", "expected_status": 200}]}))
    loaded = load_vectors([path])
    vectors = [vector("auth", requires_auth=True), *loaded]

    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected, got {request.url}")

    results = run(vectors, handler)
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.SKIPPED, "requires_auth: needs a node with auth enabled"),
        (Outcome.SKIPPED, "requires_plugin: time-travel")]
    assert loaded[0].dialect == "v2"


def test_with_a_token_requires_auth_vectors_are_sent_without_it() -> None:
    """They check that a node with auth refuses anonymous requests; their setup keeps it."""
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        if request.headers.get("authorization") != "Bearer stg_x":
            return httpx.Response(401, json={"detail": "Authorization header required"})
        return httpx.Response(201, json={})

    setup = vector("setup", method="POST", path="/setup", expected_status=201)
    refused = vector("refused", path="/private", expected_status=401, requires_auth=True,
                     requires_setup="setup")
    plain = vector("plain", method="POST", path="/open", expected_status=201)
    results = run([refused, plain, setup], handler, token="stg_x")
    assert [(r.id, r.outcome, r.status) for r in results] == [
        ("refused", Outcome.PASSED, 401), ("plain", Outcome.PASSED, 201),
        ("setup", Outcome.PASSED, 201)]
    assert seen == [("/setup", "Bearer stg_x"), ("/private", None), ("/open", "Bearer stg_x"),
                    ("/setup", "Bearer stg_x")]


def test_setup_chains_run_deepest_first_and_once() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(201 if request.method == "POST" else 200, json={})

    grand = vector("grand", method="POST", path="/grand", expected_status=201)
    parent = vector("parent", method="POST", path="/parent", expected_status=201,
                    requires_setup="grand")
    child = vector("child", path="/child", requires_setup="parent")
    sibling = vector("sibling", path="/sibling", requires_setup="parent")
    orphan = vector("orphan", path="/orphan", requires_setup="no-such-vector")
    # child runs first: its chain sends grand then parent; then grand and parent run as
    # vectors themselves; sibling's chain is already done.
    results = run([child, grand, parent, sibling, orphan], handler)
    assert all(r.passed for r in results)
    assert sent == ["/grand", "/parent", "/child", "/grand", "/parent", "/sibling", "/orphan"]


def test_a_failing_setup_fails_the_vector() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409 if request.url.path == "/make" else 200, json={"d": 1})

    make = vector("make", method="POST", path="/make", expected_status=201)
    use = vector("use", path="/use", requires_setup="make")
    result = run([use, make], handler)[0]
    assert result.outcome is Outcome.FAILED
    assert result.reason == 'setup make: POST /make gave 409 {"d": 1}'


def test_an_unreachable_node_fails_every_vector() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    results = run([vector("a"), vector("b")], handler)
    assert [r.outcome for r in results] == [Outcome.FAILED] * 2
    assert results[0].reason == "request failed: ConnectError: connection refused"


# ---------------------------------------------------------------- files and CLI input


def write(tmp_path: Path, name: str, document: object) -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_directories_load_sorted_json_files(tmp_path: Path) -> None:
    for name, vid in (("b.json", "second"), ("a.json", "first")):
        write(tmp_path, name, {"vectors": [{"id": vid, "method": "GET", "path": "/",
                                            "expected_status": 200}]})
    write(tmp_path, "notes.txt", "not a vector file")
    assert [v.id for v in load_vectors([tmp_path])] == ["first", "second"]
    assert [v.id for v in load_vectors([tmp_path, tmp_path / "a.json"])] == ["first", "second"]


@pytest.mark.parametrize(("document", "message"), [
    ("{not json", "not a readable JSON vector file"),
    ({"vectors": {}}, "a 'vectors' list"),
    ({"vectors": [{"id": "x", "method": "GET", "path": "/"}]}, "needs expected_status"),
    ({"vectors": [{"id": "x", "method": "GET", "path": "v1", "expected_status": 200}]},
     "path must start with '/'"),
    ({"vectors": [{"id": "x", "method": "GET", "path": "/", "expected_status": 200},
                  {"id": "x", "method": "GET", "path": "/", "expected_status": 200}]},
     "vector id 'x' is also in"),
    ({"vectors": [{"id": "x", "method": "GET", "path": "/", "expected_status": 200,
                   "requires_setup": "y"},
                  {"id": "y", "method": "GET", "path": "/", "expected_status": 200,
                   "requires_setup": "x"}]}, "requires_setup cycle"),
])
def test_malformed_files_are_refused(tmp_path: Path, document: object, message: str) -> None:
    path = write(tmp_path, "bad.json", document)
    with pytest.raises(FormatError, match=message):
        load_vectors([path])


def test_cli_bad_input_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    bad = write(tmp_path, "bad.json", "{not json")
    result = runner.invoke(cli, ["conformance", "--base-url", BASE, str(bad)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    missing = runner.invoke(cli, ["conformance", "--base-url", BASE, str(tmp_path / "nope")])
    assert missing.exit_code == 2
    monkeypatch.chdir(tmp_path)  # no ../shared/conformance here to default to
    default = runner.invoke(cli, ["conformance", "--base-url", BASE])
    assert default.exit_code == 2
    assert "no vector directory or file given" in default.stderr
    good = write(tmp_path, "ok.json", {"vectors": [{"id": "x", "method": "GET", "path": "/",
                                                     "expected_status": 200}]})
    url = runner.invoke(cli, ["conformance", "--base-url", "ftp://x", str(good)])
    assert url.exit_code == 2
    assert "base_url" in url.stderr
