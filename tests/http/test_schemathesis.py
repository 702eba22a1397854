"""A bounded schemathesis run against a live node: no 5xx, every answer as documented.

The schema is the one the running node serves at ``/openapi.json``. The run is deterministic
(fixed seed, at most ``MAX_EXAMPLES`` generated cases per operation and phase) and takes a few
seconds: examples, coverage (boundary and invalid values for every parameter), fuzzing and
one stateful pass (chains of calls linked through ids in responses), with schemathesis' own
checks. Two node setups:

* ``--auth none`` on loopback (the conformance profile). Such a node serves every request as
  the vault owner, and its schema documents no bearer requirement.
* token auth with a read-write token for agent:codex, every scope: the run also checks that
  requests without a token, or with a wrong one, are refused (``ignored_auth``). (No stateful
  pass here, to keep the whole test well under a minute.)

One check is left out: ``positive_data_acceptance`` expects every request the schema allows to
succeed, but the schema cannot say everything the fact model checks (the identifier grammar
after Unicode normalization, a value matching its type, relation schemas, reserved relations,
that a referenced fact exists); those requests get precise 4xx answers, tested elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.engine import events, from_schema

from stigmem_vault.api.vault import Vault
from stigmem_vault.http.server import running
from stigmem_vault.http.settings import NodeSettings, RateLimit

MAX_EXAMPLES = 25
SEED = 20240611
SKIPPED_CHECKS = {"positive_data_acceptance"}
UNLIMITED = RateLimit(0.0, 0)  # the run must see the API, not the rate limiter


@dataclass
class Run:
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    statuses: dict[str, set[int]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)


def seed_vault(vault: Vault) -> None:
    """A few facts, a conflict and a graph edge, so lookups and links have something to hit."""
    first = vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer",
                              source="agent:codex", scope="team", confidence=0.9)
    vault.assert_fact(entity="user:alice", relation="memory:role", value="manager",
                      source="user:alice", scope="team", confidence=0.8)
    vault.assert_fact(entity="project:atlas", relation="rel:owner", value="user:alice",
                      value_type="ref", source="agent:codex", scope="team")
    vault.assert_fact(entity="user:alice", relation="memory:summary", value="engineer on atlas",
                      source="agent:codex", scope="company", derived_from=[first.id])


@pytest.fixture(scope="module", params=["none", "token"])
def node(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str | None]]:
    """(auth mode, base URL, token) of a node over a freshly seeded vault."""
    root = tmp_path_factory.mktemp(f"schemathesis-{request.param}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STIGMEM_HOME", str(root / "home"))
        vault = Vault.init(root / "vault", owner="user:alice", home=root / "home")
        try:
            vault.create_identity("agent:codex")
            seed_vault(vault)
            token = None
            if request.param == "token":
                token, _ = vault.create_token("agent:codex", scopes=["local", "team", "company",
                                                                     "public"],
                                              perms=["read", "write"])
            settings = NodeSettings(port=0, auth=request.param, watch=False, reads=UNLIMITED,
                                    writes=UNLIMITED)
            with running(vault, settings) as served:
                yield request.param, served.url, token
        finally:
            vault.close()


def load_schema(auth: str, url: str, token: str | None) -> Any:
    document = httpx.get(f"{url}/openapi.json", timeout=10.0).json()
    config: dict[str, Any] = {
        "cache": {"enabled": False},  # no .schemathesis/ folder in the working tree
        "seed": SEED,
        "base-url": url,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True,
                       "database": "none"},
        "checks": {name: {"enabled": False} for name in SKIPPED_CHECKS},
        "request-timeout": 10,
    }
    if auth != "none":  # (a node with --auth none serves the schema without security)
        config["auth"] = {"openapi": {"bearerAuth": {"bearer": token}}}
        config["phases"] = {"stateful": {"enabled": False}}  # the none run walks the links
    return schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(config))


def execute(schema: Any) -> Run:
    run = Run()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    info = check.failure_info
                    if info is not None:
                        run.failures.append(f"{event.recorder.label} [{check.name}] "
                                            f"{info.failure.title}\n{info.failure.message}\n"
                                            f"{info.code_sample}")
            for interaction in event.recorder.interactions.values():
                if interaction.response is None:
                    continue
                status = interaction.response.status_code
                run.statuses.setdefault(event.recorder.label, set()).add(status)
                if status >= 500:
                    run.server_errors.append(f"{interaction.request.method} "
                                             f"{interaction.request.uri}: {status}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            run.errors.append(repr(event))
    return run


@pytest.mark.network
@pytest.mark.slow
def test_schemathesis_finds_nothing(node: tuple[str, str, str | None]) -> None:
    auth, url, token = node
    schema = load_schema(auth, url, token)

    run = execute(schema)

    assert run.errors == []
    assert run.server_errors == []
    assert run.failures == [], "\n\n".join(run.failures)
    tested = {label for label in run.statuses if not label.startswith("Stateful")}
    documented = {f"{method.upper()} {path}" for path, ops in schema.raw_schema["paths"].items()
                  for method in ops}
    assert tested == documented  # every operation was exercised
    successes = {label for label, codes in run.statuses.items() if any(c < 300 for c in codes)}
    assert {"POST /v1/facts", "GET /v1/facts", "POST /v1/recall"} <= successes
