"""The cid the upstream Python SDK computes for what it sent equals the one the node returns
(docs/spec.md §3, §6.5): the node keeps the data as sent — a whole float stays "7.0", a ref
keeps its case — for every value type. The SDK (stigmem-py, a pinned test dependency) is the
reference: its own client writes, its own `compute_fact_cid` / `verify_fact_cid` check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import stigmem
from http_support import Node

from stigmem_vault.api.vault import Vault

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


@pytest.fixture
def sdk(start_node: Callable[..., Node]) -> Iterator[stigmem.StigmemClient]:
    node = start_node(auth="none")
    with stigmem.StigmemClient(node.url) as client:
        yield client


@pytest.mark.parametrize("value", VALUES, ids=lambda v: f"{v.type}:{getattr(v, 'v', None)!r}")
def test_the_sdk_cid_of_what_it_sent_is_the_nodes(sdk: stigmem.StigmemClient,
                                                  value: stigmem.FactValue) -> None:
    sent = {"entity": "user:bob", "relation": "memory:note", "source": "agent:sdk",
            "confidence": 0.9, "scope": "team"}
    written = sdk.assert_fact(sent["entity"], sent["relation"], value, sent["source"],
                              confidence=0.9, scope="team")
    expected = stigmem.compute_fact_cid(stigmem.Fact(
        id="-", timestamp="-", value=value, **sent))  # from the request alone

    assert written.cid == expected
    assert stigmem.verify_fact_cid(written) == expected
    fetched = sdk.get(written.id)
    assert stigmem.verify_fact_cid(fetched) == expected
    assert fetched.value == value  # nothing the SDK sent was changed


def test_a_whole_float_keeps_its_point_in_the_file_and_after_a_rebuild(
        sdk: stigmem.StigmemClient, vault: Vault) -> None:
    written = sdk.assert_fact("user:bob", "memory:count", stigmem.number_value(7), "agent:sdk",
                              scope="team")
    path = vault.root / str(written.model_extra["path"])  # type: ignore[index]
    assert "value_number: 7.0\n" in path.read_text()
    vault.reindex()
    assert stigmem.verify_fact_cid(sdk.get(written.id)) == written.cid
