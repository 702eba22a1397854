"""A trust-store change rebuilds the index while other threads read it (a node serving
requests while someone binds an identity): no reader ever meets a closed database."""

from __future__ import annotations

import threading

from stigmem_vault.api.vault import Vault


def test_readers_never_meet_a_closed_index_while_it_is_rebuilt(vault: Vault) -> None:
    vault.assert_fact(entity="project:atlas", relation="project:phase", value="draft")
    errors: list[BaseException] = []
    stop = threading.Event()
    reads = [0]

    def read() -> None:
        while not stop.is_set():
            try:
                vault.conflicts("open")
                vault.query(entity="project:atlas")
                reads[0] += 1
            except BaseException as exc:  # the failure under test, reported below
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for n in range(12):  # each binding changes the trust store, so the index is rebuilt
            vault.create_identity(f"agent:helper{n}")
            assert vault.reload_config() is not None  # as the watcher does on seeing it
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    assert errors == [], errors[:1]
    assert reads[0] > 0
    assert [i.fact.value.v for i in vault.query(entity="project:atlas")] == ["draft"]
