"""The real upstream Python SDK (stigmem-py, pinned in pyproject) against our live node, through
every public client method, sync and async, on both kinds of node (docs/spec.md §15.10):

* ``open``: ``--auth none`` (attestation off), no credentials, two client sources of the
  client's own naming (their facts are vouched for by the owner, §9.5);
* ``token``: token auth with attestation enforced (the default), each source with its own
  token (agent:codex and user:alice, the owner, who resolves conflicts).

The SDK's methods: node_info, assert_fact (every value type), get (by id and by cid), query
(filters, paging), retract, list_conflicts, resolve_conflict, federation_status,
subscribe_scope, recall (weights, depth, neighbours, legacy_format, Stigmem-Verify), get_card,
and the module's verify_fact_cid and verify_fact_chain_proof. It has no lint or whoami method (tests/http/
test_http_overview.py covers /v1/lint and /v1/me). ``as_of`` is no recall() parameter: its
request model carries it (extra keys allowed) and is sent as the SDK builds it.
tests/http/test_upstream_sdk_overview.py has cards and peers with real scopes and a real peer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import anyio
import httpx
import pytest
import stigmem
from http_support import Node
from stigmem import AsyncStigmemClient, StigmemClient
from stigmem.exceptions import (
    StigmemAuthError,
    StigmemHTTPError,
    StigmemNotFoundError,
)
from stigmem.models import RecallRequest, RecallResponse, RecallWeights

from stigmem_vault.api.vault import Vault

pytestmark = pytest.mark.network

# Every value type the SDK can build, with the values that used to change on the way.
VALUES = [
    stigmem.string_value('Design "review" — ünïcode\ttab'),
    stigmem.text_value("Shipped.\nNext: audit\tlogs"),
    stigmem.number_value(7),  # the SDK holds it as the float 7.0 and sends 7.0
    stigmem.number_value(7.0),
    stigmem.number_value(-0.0),
    stigmem.number_value(0.5),
    stigmem.number_value(1e21),
    stigmem.number_value(123456789012345.0),
    stigmem.boolean_value(True),
    stigmem.boolean_value(False),
    stigmem.datetime_value("2026-11-24T10:00:00Z"),
    stigmem.ref_value("https://Example.com/Some/Path?Q=1"),
    stigmem.ref_value("stigmem://acme/project/atlas"),
    stigmem.null_value(),
]
LEXICAL = RecallWeights(lexical=1.0, semantic=0.0, graph=0.0, source_trust=0.0, recency=0.0)


@dataclass
class Side:
    """One node as two upstream clients see it: ``a`` writes as source ``a_source``, ``b`` as
    ``b_source``; ``b`` may resolve conflicts."""

    node: Node
    kind: str
    a_source: str
    b_source: str
    keys: tuple[str | None, str | None]
    made: list[StigmemClient] = field(default_factory=list)

    def client(self, which: str = "a") -> StigmemClient:
        self.made.append(StigmemClient(self.node.url, api_key=self.keys[which == "b"]))
        return self.made[-1]

    def async_client(self, which: str = "a") -> AsyncStigmemClient:
        return AsyncStigmemClient(self.node.url, api_key=self.keys[which == "b"])

    @property
    def a(self) -> StigmemClient:
        return self.client("a")

    @property
    def b(self) -> StigmemClient:
        return self.client("b")


@pytest.fixture(params=["open", "token"])
def side(request: pytest.FixtureRequest, start_node: Callable[..., Node]) -> Iterator[Side]:
    if request.param == "open":
        node = start_node(auth="none")
        made = Side(node, "open", "agent:sdk-a", "agent:sdk-b", (None, None))
    else:
        node = start_node()  # token auth, attestation enforced
        made = Side(node, "token", "agent:codex", "user:alice",
                    (node.tokens["codex"], node.tokens["alice"]))
    yield made
    for one in made.made:
        one.close()


def _assert(client: StigmemClient, source: str, relation: str, value: stigmem.FactValue,
            **options: object) -> stigmem.Fact:
    options.setdefault("scope", "team")
    return client.assert_fact("user:bob", relation, value, source, **options)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- node, facts


def test_node_info(side: Side) -> None:
    info = side.a.node_info()
    assert info.auth == ("none" if side.kind == "open" else "required")
    assert info.node_url == side.node.url and info.node_id


def test_every_value_type_by_id_and_cid(side: Side) -> None:
    """The cid the SDK computes from its own request is the node's, and stays so on reads."""
    client = side.a
    for value in VALUES:
        sent = {"entity": "user:bob", "relation": "memory:note", "source": side.a_source,
                "confidence": 0.9, "scope": "team"}
        written = client.assert_fact("user:bob", "memory:note", value, side.a_source,
                                     confidence=0.9, scope="team")
        expected = stigmem.compute_fact_cid(stigmem.Fact(id="-", timestamp="-", value=value,
                                                         **sent))  # type: ignore[arg-type]
        assert written.cid == expected, value
        assert stigmem.verify_fact_cid(written) == expected
        by_id, by_cid = client.get(written.id), client.get(expected)
        assert by_id.id == by_cid.id == written.id
        assert by_id.value == value and stigmem.verify_fact_cid(by_id) == expected
    for unknown in (str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(StigmemNotFoundError) as caught:
            client.get(unknown)
        assert caught.value.detail == "fact not found"


def test_query_filters_and_paging(side: Side) -> None:
    a, b = side.a, side.b
    role = _assert(a, side.a_source, "memory:role", stigmem.string_value("engineer"))
    shaky = _assert(a, side.a_source, "memory:hobby", stigmem.string_value("chess"),
                    confidence=0.4)
    expired = _assert(a, side.a_source, "memory:mood", stigmem.string_value("tired"),
                      valid_until="2020-01-01T00:00:00Z")
    local = _assert(b, side.b_source, "memory:desk", stigmem.string_value("3F"), scope="local")
    clash = _assert(b, side.b_source, "memory:role", stigmem.string_value("manager"))

    def ids(**filters: object) -> set[str]:
        return {f.id for f in a.query(entity="user:bob", **filters).facts}  # type: ignore[arg-type]

    [winner] = ids(relation="memory:role")  # the winners-only view (§13.4) by default
    assert winner in {role.id, clash.id}
    assert ids(relation="memory:role", include_contradicted=True) == {role.id, clash.id}
    assert ids(source=side.b_source, include_contradicted=True) == {local.id, clash.id}
    assert ids(scope="local") == {local.id}
    assert shaky.id in ids() and shaky.id not in ids(min_confidence=0.5)
    assert ids(include_expired=True, relation="memory:mood") == {expired.id}
    assert ids(relation="memory:mood") == set()
    assert ids(relation="memory:hobby") == {shaky.id}
    later = ids(after=role.timestamp, include_contradicted=True)  # 4 writes later: a later ms
    assert clash.id in later and role.id not in later

    for n in range(5):  # one entity each: a source's later fact on a key replaces its earlier
        a.assert_fact(f"user:pet-owner-{n}", "memory:pet", stigmem.string_value("cat"),
                      side.a_source, scope="company")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = a.query(relation="memory:pet", limit=2, cursor=cursor)
        assert len(page.facts) <= 2 and page.total == 5
        seen += [f.id for f in page.facts]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert len(seen) == len(set(seen)) == 5


def test_retract_retires_the_fact(side: Side) -> None:
    a = side.a
    kept = _assert(a, side.a_source, "memory:city", stigmem.string_value("Paris"))
    retraction = a.retract("user:bob", "memory:city", "team", side.a_source,
                           value=stigmem.string_value("Paris"))
    assert retraction.confidence == 0.0
    assert a.query(entity="user:bob", relation="memory:city").facts == []
    assert (a.get(kept.id).model_extra or {})["live"] is False


def test_conflicts_list_page_and_resolve(side: Side) -> None:
    a, b = side.a, side.b
    for relation in ("memory:role", "memory:team", "memory:city"):
        _assert(a, side.a_source, relation, stigmem.string_value("one"))
        _assert(b, side.b_source, relation, stigmem.string_value("two"))
    first = a.list_conflicts(limit=2)
    assert len(first.conflicts) == 2 and first.has_more and first.cursor
    rest = a.list_conflicts(limit=2, cursor=first.cursor)
    assert len(rest.conflicts) == 1 and not rest.has_more
    every = first.conflicts + rest.conflicts
    assert {c.fact_a.relation for c in every} == {"memory:role", "memory:team", "memory:city"}
    assert all(c.status == "unresolved" for c in every)

    by_relation = {c.fact_a.relation: c for c in every}
    city, team = by_relation["memory:city"], by_relation["memory:team"]
    winner = b.resolve_conflict(city.conflict_id, winning_fact_id=city.fact_b.id,
                                resolution_note="b knows")
    assert winner.conflict_status == "resolved"
    merged = b.resolve_conflict(team.conflict_id, new_value=stigmem.string_value("both"))
    assert merged.conflict_status == "resolved"
    assert b.get(merged.resolution_fact_id).value == stigmem.string_value("both")
    assert [c.fact_a.relation for c in a.list_conflicts().conflicts] == ["memory:role"]
    resolved = a.list_conflicts(status="resolved").conflicts
    assert {c.conflict_id for c in resolved} == {city.conflict_id, team.conflict_id}
    assert all(c.resolved_by for c in resolved)


def test_recall_weights_depth_neighbours_as_of(side: Side) -> None:
    a = side.a
    first = _assert(a, side.a_source, "service:latency_p99_ms", stigmem.string_value("250 ms"),
                    scope="local")
    second = _assert(a, side.a_source, "service:latency_p99_ms", stigmem.string_value("900 ms"),
                     scope="local")
    found = a.recall("latency", weights=LEXICAL, depth=1, include_neighbors=False,
                     session_id="s-1", min_confidence=0.5, token_budget=500, limit=10)
    assert [hit.fact.id for hit in found.facts] == [second.id]
    hit = found.facts[0]
    assert hit.score == pytest.approx(hit.score_breakdown.lexical * hit.fact.confidence)
    assert found.tokens_used <= found.token_budget == 500
    legacy = a.recall("latency", legacy_format=True, verify_full=True)
    assert [h.fact.id for h in legacy.facts] == [second.id]
    # No fact chain here (§15.10: integrity is the signed files and commits): no proof, and the
    # SDK's own check says so rather than passing.
    assert legacy.chain_proof is None
    with pytest.raises(stigmem.StigmemVerificationError):
        stigmem.verify_fact_chain_proof(legacy.chain_proof)

    def as_of(point: str) -> RecallResponse:
        body = RecallRequest(query="latency p99", as_of=point).model_dump()
        answer = httpx.post(f"{side.node.url}/v1/recall", json=body, headers=(
            {"Authorization": f"Bearer {side.keys[0]}"} if side.keys[0] else {}))
        assert answer.status_code == 200, answer.text
        return RecallResponse.model_validate(answer.json())

    assert [h.fact.id for h in as_of(str(first.hlc)).facts] == [first.id]
    assert [h.fact.id for h in as_of(str(second.hlc)).facts] == [second.id]
    assert as_of("2020-01-01T00:00:00Z").facts == []


def test_card_and_federation_status(side: Side) -> None:
    a = side.a
    _assert(a, side.a_source, "memory:role", stigmem.string_value("engineer"))
    shaky = _assert(a, side.a_source, "memory:city", stigmem.string_value("Lyon"),
                    confidence=0.5)
    card = a.get_card("user:bob", scope="team", refresh=True)
    assert (card.entity_uri, card.scope, card.has_contradictions) == ("user:bob", "team", False)
    assert shaky.cid in card.fact_hashes and card.avg_confidence == 0.75
    with pytest.raises(StigmemNotFoundError):
        a.get_card("user:nobody", scope="team")
    assert a.federation_status() == []  # no git peers yet (the overview tests add one)


def test_subscribe_scope_polls_with_the_cursor(side: Side) -> None:
    a = side.a
    written = [a.assert_fact(f"user:pet-owner-{n}", "memory:pet", stigmem.string_value("cat"),
                             side.a_source, scope="company").id for n in range(3)]
    batches: list[list[str]] = []
    stop = asyncio.Event()

    def got(facts: list[stigmem.Fact]) -> None:
        batches.append([f.id for f in facts])
        stop.set()

    a.subscribe_scope("company", got, interval_s=0.0, stop_event=stop)
    assert sorted(batches[0]) == sorted(written)


def test_the_async_client_does_the_same(side: Side) -> None:
    async def main() -> None:
        async with side.async_client("a") as a, side.async_client("b") as b:
            assert (await a.node_info()).node_url == side.node.url
            one = await a.assert_fact("user:bob", "memory:role", stigmem.number_value(7),
                                      side.a_source, scope="team")
            assert stigmem.verify_fact_cid(await a.get(str(one.cid))) == one.cid
            two = await b.assert_fact("user:bob", "memory:role", stigmem.number_value(8),
                                      side.b_source, scope="team")
            page = await a.query(entity="user:bob", include_contradicted=True)
            assert {f.id for f in page.facts} == {one.id, two.id}
            assert len((await a.list_conflicts()).conflicts) == 1
            await a.retract("user:bob", "memory:role", "team", side.a_source,
                            value=stigmem.number_value(7))  # a takes its word back
            assert [f.id for f in (await a.query(entity="user:bob")).facts] == [two.id]
            assert (await a.list_conflicts()).conflicts == []  # no longer stands
            three = await a.assert_fact("user:bob", "memory:city", stigmem.string_value("Oslo"),
                                        side.a_source, scope="team")
            await b.assert_fact("user:bob", "memory:city", stigmem.string_value("Rome"),
                                side.b_source, scope="team")
            [conflict] = (await a.list_conflicts()).conflicts
            done = await b.resolve_conflict(conflict.conflict_id, winning_fact_id=three.id)
            assert done.conflict_status == "resolved"
            found = await a.recall("role", scope="team", weights=LEXICAL)
            assert [h.fact.id for h in found.facts] == [two.id]
            card = await a.get_card("user:bob", scope="team")
            assert two.cid in card.fact_hashes and not card.has_contradictions
            assert await a.federation_status() == []
            stop = asyncio.Event()
            batches = [batch async for batch in a.subscribe_scope(
                "team", lambda _facts: stop.set(), interval_s=0.0, stop_event=stop)]
            assert two.id in {f.id for f in batches[0]}

    anyio.run(main)


# ---------------------------------------------------------------------- errors (token node)


@pytest.fixture
def sdk(node: Node) -> Iterator[Callable[[str], StigmemClient]]:
    """``sdk(who)``: an upstream client with that principal's token."""
    made: list[StigmemClient] = []

    def client(who: str) -> StigmemClient:
        made.append(StigmemClient(node.url, api_key=node.tokens[who]))
        return made[-1]

    yield client
    for one in made:
        one.close()


def test_list_conflicts_parses_every_status(sdk: Callable[[str], StigmemClient]) -> None:
    codex, alice = sdk("codex"), sdk("alice")
    for relation in ("memory:role", "memory:city", "memory:team"):
        codex.assert_fact("user:alice", relation, stigmem.string_value("engineer"), "agent:codex",
                          scope="team")
        alice.assert_fact("user:alice", relation, stigmem.string_value("manager"), "user:alice",
                          scope="team")
    [to_resolve] = [c for c in codex.list_conflicts().conflicts
                    if c.fact_a.relation == "memory:city"]
    assert alice.resolve_conflict(to_resolve.conflict_id, winning_fact_id="a").conflict_status \
        == "resolved"
    codex.retract("user:alice", "memory:team", "team", "agent:codex",
                  value=stigmem.string_value("engineer"))  # codex takes its word back: obsolete

    every = codex.list_conflicts(status=None).conflicts  # upstream's model refused "obsolete"
    by_relation = {c.fact_a.relation: c for c in every}
    assert {r: (c.status, (c.model_extra or {})["vault_status"])
            for r, c in by_relation.items()} == {
        "memory:role": ("unresolved", "open"), "memory:city": ("resolved", "resolved"),
        "memory:team": ("resolved", "obsolete")}
    assert by_relation["memory:city"].resolved_by is not None
    assert by_relation["memory:team"].resolved_by is None


def test_error_details_are_text(sdk: Callable[[str], StigmemClient]) -> None:
    codex = sdk("codex")
    with pytest.raises(StigmemHTTPError) as caught:
        codex.assert_fact("user:alice", "memory:role", stigmem.string_value("x"), "agent:codex",
                          confidence=1.5)
    assert caught.value.status_code == 422
    assert isinstance(caught.value.detail, str) and "confidence" in caught.value.detail
    with pytest.raises(StigmemAuthError) as refused:  # someone else's source, enforced
        codex.assert_fact("user:alice", "memory:role", stigmem.string_value("x"), "user:alice")
    assert refused.value.status_code == 403 and isinstance(refused.value.detail, str)
    assert "object" not in str(refused.value)


def test_a_whole_float_keeps_its_point_in_the_file_and_after_a_rebuild(
        start_node: Callable[..., Node], vault: Vault) -> None:
    with StigmemClient(start_node(auth="none").url) as client:
        written = client.assert_fact("user:bob", "memory:count", stigmem.number_value(7),
                                     "agent:sdk", scope="team")
        path = vault.root / str((written.model_extra or {})["path"])
        assert "value_number: 7.0\n" in path.read_text()
        vault.reindex()
        assert stigmem.verify_fact_cid(client.get(written.id)) == written.cid
