/**
 * Every operation of docs/openapi.json has a method, and that method sends the operation's
 * HTTP method to a path its template matches. A new route on the node without a method here
 * fails this test. The fetch is recorded, not sent: what the node answers is tested elsewhere.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { StigmemClient } from "../src/index.js";

// dist-test/test/coverage.test.js -> the repository root, four levels up.
const ROOT = resolve(fileURLToPath(import.meta.url), "../../../../..");

/** Each operation, and a call of its method with arguments of the right shape. */
const calls: Record<string, (c: StigmemClient) => Promise<unknown>> = {
  "GET /.well-known/stigmem": (c) => c.wellKnown(),
  "GET /healthz": (c) => c.health(),
  "GET /v1/me": (c) => c.me(),
  "POST /v1/facts": (c) => c.assertFact({ entity: "user:a", relation: "x:y", value: { type: "string", v: "v" }, source: "user:a" }),
  "POST /v1/facts/batch": (c) => c.assertBatch({ facts: [] }),
  "GET /v1/facts": (c) => c.listFacts({ entity: "user:a" }),
  "GET /v1/facts/{fact_ref}": (c) => c.getFact("abc123"),
  "GET /v1/facts/{fact_id}/provenance": (c) => c.provenance("abc123"),
  "POST /v1/facts/{fact_id}/verify-cid": (c) => c.verifyCid("abc123"),
  "GET /v1/pending": (c) => c.pending(),
  "POST /v1/pending/revert": (c) => c.revertPending("facts/team/x.md"),
  "GET /v1/conflicts": (c) => c.conflicts(),
  "POST /v1/conflicts/{conflict_id}/resolve": (c) => c.resolveConflict("c1", { winning_fact_id: "abc123" }),
  "POST /v1/recall": (c) => c.recall({ query: "atlas" }),
  "GET /v1/cards/{entity_uri}": (c) => c.card("user:a"),
  "GET /v1/graph/neighbors": (c) => c.neighbors({ entity: "user:a", scope: "team" }),
  "POST /v1/lint": (c) => c.lint({ scope: "team" }),
  "GET /v1/federation/peers": (c) => c.federationPeers(),
  "GET /v1/gardens": (c) => c.listGardens(),
  "POST /v1/gardens": (c) => c.createGarden({ slug: "g", name: "G" }),
  "GET /v1/gardens/{garden}": (c) => c.getGarden("g"),
  "DELETE /v1/gardens/{garden}": (c) => c.deleteGarden("g"),
  "GET /v1/gardens/{garden}/members": (c) => c.listGardenMembers("g"),
  "POST /v1/gardens/{garden}/members": (c) => c.addGardenMember("g", { entity_uri: "user:b" }),
  "PATCH /v1/gardens/{garden}/members/{member}": (c) => c.updateGardenMember("g", "user:b", { role: "reader" }),
  "DELETE /v1/gardens/{garden}/members/{member}": (c) => c.removeGardenMember("g", "user:b"),
};

function operations(): string[] {
  const spec = JSON.parse(readFileSync(resolve(ROOT, "docs", "openapi.json"), "utf8")) as {
    paths: Record<string, Record<string, unknown>>;
  };
  return Object.entries(spec.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
}

/** A path template as a pattern: each `{name}` is one non-empty segment. */
function pattern(template: string): RegExp {
  const parts = template.split(/\{[^}]+\}/).map((part) => part.replace(/[.*+?^$()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join("[^/]+")}$`);
}

test("every operation of docs/openapi.json has a method", () => {
  const missing = operations().filter((op) => !(op in calls));
  assert.deepEqual(missing, [], "operations without a method in StigmemClient");
  const stale = Object.keys(calls).filter((op) => !operations().includes(op));
  assert.deepEqual(stale, [], "operations here that docs/openapi.json no longer has");
});

test("each method sends its operation's method and path", async () => {
  for (const [op, call] of Object.entries(calls)) {
    const sent: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      sent.push(`${init?.method ?? "GET"} ${new URL(String(input)).pathname}`);
      return new Response("{}", { status: 200, headers: { "content-type": "application/json" } });
    };
    await call(new StigmemClient({ baseUrl: "http://127.0.0.1:9", fetch: recording }));
    assert.equal(sent.length, 1, `${op}: ${sent.length} requests`);
    const [method, template] = op.split(" ") as [string, string];
    const [sentMethod, sentPath] = sent[0]!.split(" ") as [string, string];
    assert.equal(sentMethod, method, op);
    assert.match(sentPath, pattern(template), op);
  }
});
