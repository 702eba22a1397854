import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  StigmemClient, StigmemError, StigmemTransportError, value, type AssertRequest, type FactRecord,
} from "../src/index.js";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startNode, type Node } from "./node.js";

/** A claim about project:atlas by agent:codex in team scope; `extra` overrides. */
function fact(relation: string, v: AssertRequest["value"],
              extra: Partial<AssertRequest> = {}): AssertRequest {
  return { entity: "project:atlas", relation, value: v, source: "agent:codex", scope: "team",
           ...extra };
}

async function rejection(promise: Promise<unknown>): Promise<StigmemError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StigmemError, `not a StigmemError: ${String(error)}`);
    assert.doesNotMatch(error.message, /\[object Object\]/);
    return error;
  }
  assert.fail("the call succeeded");
}

describe("an --auth none node", () => {
  let node: Node;
  let client: StigmemClient;
  before(async () => {
    node = await startNode("--auth", "none");
    client = new StigmemClient({ baseUrl: node.url + "/" });
  });
  after(async () => node?.stop());

  test("well-known, health and me", async () => {
    const known = await client.wellKnown();
    assert.equal(known.auth, "none");
    assert.equal(known.source_attestation, "off");
    assert.deepEqual(await client.health(), { status: "ok" });
    const me = await client.me();
    assert.equal(me.auth, "none");
    assert.equal(me.entity_uri, "user:alice");
    assert.deepEqual([...me.permissions].sort(), ["read", "write"]);
  });

  test("facts of every value type round-trip, by id and by cid", async () => {
    const sent = [
      value.string("bob"), value.text("a longer\nnote"), value.number(3.5), value.boolean(true),
      value.datetime(new Date("2026-01-02T03:04:05Z")), value.ref("user:bob"), value.null(),
    ];
    for (const [i, v] of sent.entries()) {
      const written = await client.assertFact(fact(`codex:kind${i}`, v));
      assert.equal(written.value.type, v.type);
      assert.equal(written.relation, `codex:kind${i}`);
      assert.equal(written.verification, "vouched");  // every client claim on --auth none
      assert.equal(written.vouched_by, "user:alice");
      const byId = await client.getFact(written.id);
      const byCid = await client.getFact(written.cid);
      assert.deepEqual(byCid, byId);
      assert.deepEqual(byId.value, written.value);
    }
    const number = await client.assertFact(fact("codex:budget", value.number(42)));
    if (number.value.type === "number") assert.equal(number.value.v + 1, 43);  // narrowed
    else assert.fail(`number came back as ${number.value.type}`);

    const listed = await client.listFacts({ entity: "project:atlas", relation: "codex:kind0" });
    assert.equal(listed.total, 1);
    assert.deepEqual(listed.facts[0]?.value, { type: "string", v: "bob", interpret_as: "content" });
    const none = await client.listFacts({ entity: "project:atlas", as_of: "2000-01-01T00:00:00Z" });
    assert.equal(none.total, 0);
  });

  test("provenance and verify-cid of a derived, superseding fact", async () => {
    const first = await client.assertFact(fact("codex:state", value.string("draft")));
    const second = await client.assertFact(fact("codex:state", value.string("final"), {
      supersedes: first.id, derived_from: [first.id],
    }));
    assert.equal(second.supersedes, first.id);
    const provenance = await client.provenance(second.id);
    assert.equal(provenance.fact_id, second.id);
    assert.equal(provenance.cid, second.cid);
    assert.deepEqual(provenance.supersedes_chain, [first.id]);
    assert.equal(provenance.derived_from[0]?.exists, true);
    const check = await client.verifyCid(second.id);
    assert.equal(check.cid_valid, true);
    // signature_valid means signed by the source itself; here the owner vouched for agent:codex.
    assert.equal(check.signature_valid, false);
    assert.equal(check.verification, "vouched");
    assert.match(check.verification_reason, /vouched for by user:alice/);
    assert.equal(check.stored_cid, second.cid);
    const old = await client.getFact(first.id);
    assert.equal(old.live, false);
    assert.equal(old.superseded_by, second.id);
    const liveOnly = await client.listFacts({ relation: "codex:state" });
    assert.deepEqual(liveOnly.facts.map((f) => f.id), [second.id]);
    const withOld = await client.listFacts({ relation: "codex:state", include_superseded: true });
    assert.deepEqual(new Set(withOld.facts.map((f) => f.id)), new Set([first.id, second.id]));
  });

  test("a batch reports each item", async () => {
    const result = await client.assertBatch({
      facts: [fact("codex:batch", value.string("one")),
              fact("codex:batch2", { type: "number", v: "not a number" as unknown as number })],
    });
    assert.equal(result.accepted, 1);
    assert.equal(result.rejected, 1);
    assert.equal(result.results[0]?.status, "accepted");
    assert.equal(result.results[1]?.status, "rejected");
    assert.equal(typeof result.results[1]?.error, "string");
    const atomic = await client.assertBatch({
      atomic: true,
      facts: [fact("codex:batch3", value.string("x")),
              fact("codex:batch4", { type: "number", v: "nope" as unknown as number })],
    });
    assert.deepEqual([atomic.accepted, atomic.rejected], [0, 2]);
    assert.match(atomic.results[0]?.error ?? "", /the batch is atomic/);
    assert.equal((await client.listFacts({ relation: "codex:batch3" })).total, 0);

    const keyed = { idempotency_key: "ts-sdk-1", facts: [fact("codex:batch5", value.string("k"))] };
    const first = await client.assertBatch(keyed);
    assert.deepEqual(await client.assertBatch(keyed), first);  // the stored answer, no new write
    assert.equal((await client.listFacts({ relation: "codex:batch5" })).total, 1);
    const reused = await rejection(client.assertBatch({ ...keyed,
      facts: [fact("codex:batch5", value.string("other"))] }));
    assert.deepEqual([reused.status, reused.code], [409, "idempotency_key_reused"]);
  });

  test("errors are typed: status, code, field, issues", async () => {
    const missing = await rejection(client.getFact("f".repeat(64)));
    assert.equal(missing.status, 404);
    assert.equal(missing.name, "StigmemError");
    assert.match(missing.code, /not_found/);
    const invalid = await rejection(client.assertFact(
      fact("codex:bad", { type: "number", v: "x" as unknown as number })));
    assert.equal(invalid.status, 422);
    assert.ok(invalid.issues.length > 0 || invalid.field !== null, invalid.message);
    const deep = await rejection(client.neighbors({ entity: "project:atlas", scope: "team", depth: 9 }));
    assert.equal(deep.status, 400);
    assert.equal(deep.code, "graph_depth_exceeded");
    const scope = await rejection(client.listFacts({ scope: "galaxy" as "team" }));
    assert.ok(scope.status === 400 || scope.status === 422, String(scope.status));
  });

  test("recall with as_of, weights, depth and neighbours", async () => {
    await client.assertFact(fact("codex:owner", value.ref("user:bob")));
    await client.assertFact({ ...fact("codex:role", value.string("reviewer")), entity: "user:bob" });
    const recalled = await client.recall({
      query: "atlas owner", scope: "team", depth: 2, include_neighbors: true,
      weights: { lexical: 0.6, graph: 0.3, recency: 0.1 },
    });
    assert.ok(recalled.facts.some((s) => s.fact.relation === "codex:owner"));
    assert.equal(recalled.chain_proof, null);
    const scored = recalled.facts[0]!;
    assert.equal(typeof scored.score_breakdown.weighted_total, "number");
    const past = await client.recall({ query: "atlas owner", as_of: "2000-01-01T00:00:00Z" });
    assert.equal(past.facts.length, 0);
  });

  test("graph neighbours, card and lint", async () => {
    await client.assertFact(fact("codex:lead", value.ref("user:carol")));
    const neighbors = await client.neighbors({ entity: "project:atlas", scope: "team", depth: 1 });
    assert.equal(neighbors.entity, "project:atlas");
    assert.ok(neighbors.neighbors.some((n) => n.entity === "user:carol" && n.hops === 1),
              JSON.stringify(neighbors));
    const card = await client.card("project:atlas", { scope: "team" });
    assert.equal(card.entity_uri, "project:atlas");
    assert.ok(card.facts.length > 0);
    const lint = await client.lint({ scope: "team", checks: ["orphan", "namespacing"] });
    assert.equal(lint.scope, "team");
    assert.deepEqual([...lint.checks_run].sort(), ["namespacing", "orphan"]);
    assert.ok(lint.fact_count > 0);
  });

  test("a conflict is listed and resolved by a winner", async () => {
    const a = await client.assertFact(fact("codex:deadline", value.string("march"),
                                           { source: "agent:codex" }));
    const b = await client.assertFact(fact("codex:deadline", value.string("april"),
                                           { source: "agent:claude" }));
    const open = await client.conflicts({ status: "open" });
    const conflict = open.conflicts.find((c) => c.relation === "codex:deadline");
    assert.ok(conflict, JSON.stringify(open));
    assert.deepEqual(new Set([conflict.fact_a?.id, conflict.fact_b?.id]), new Set([a.id, b.id]));
    assert.equal(conflict.vault_status, "open");
    const resolution = await client.resolveConflict(conflict.conflict_id, { winning_fact_id: b.id });
    assert.equal(resolution.conflict_status, "resolved");
    const again = await rejection(client.resolveConflict(conflict.conflict_id, { winning_fact_id: b.id }));
    assert.ok(again.status === 409 || again.status === 404, `${again.status} ${again.code}`);
    const resolved = await client.conflicts({ status: "resolved" });
    assert.ok(resolved.conflicts.some((c) => c.conflict_id === conflict.conflict_id));
  });

  test("a pending edit is listed and reverted", async () => {
    const signed = await client.assertFact(fact("codex:phase", value.string("build")));
    const file = join(node.vault, signed.path!);
    const original = readFileSync(file, "utf8");
    writeFileSync(file, original.replace("value_string: \"build\"", "value_string: \"ship\""));
    const { pending } = await client.pending();
    assert.deepEqual(pending.filter((n) => n.path === signed.path),
                     [{ path: signed.path, kind: "edit", fact_id: signed.id, conflict_id: null,
                        ticked: false, error: null }]);
    assert.deepEqual(await client.revertPending(signed.id), { path: signed.path });
    assert.equal(readFileSync(file, "utf8"), original);
    const refused = await rejection(client.revertPending("Drafts/none.md"));
    assert.equal(refused.status, 422);
    assert.equal(refused.field, "target");
  });

  test("pages follow the cursor", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listFacts({ entity: "project:atlas", limit: 2, cursor });
      assert.ok(page.facts.length <= 2);
      seen.push(...page.facts.map((f) => f.id));
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
    const all = await client.listFacts({ entity: "project:atlas", limit: 500 });
    assert.ok(all.total > 2);
    assert.deepEqual(new Set(seen), new Set(all.facts.map((f) => f.id)));
    assert.equal(seen.length, all.facts.length);
  });

  test("a caller's abort stays an AbortError", async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(client.me({ signal: controller.signal }), { name: "AbortError" });
  });

  test("federation peers of a vault that met none", async () => {
    const peers = await client.federationPeers();
    assert.deepEqual(peers, { peers: [], remotes: [] });
  });

  test("gardens and their members", async () => {
    const garden = await client.createGarden({ slug: "atlas-core", name: "Atlas core", scope: "team" });
    assert.equal(garden.slug, "atlas-core");
    assert.ok((await client.listGardens()).some((g) => g.garden_id === garden.garden_id));
    assert.equal((await client.getGarden("atlas-core")).garden_id, garden.garden_id);
    const added = await client.addGardenMember("atlas-core", { entity_uri: "agent:codex" });
    assert.equal(added.role, "reader");
    const updated = await client.updateGardenMember("atlas-core", "agent:codex", { role: "writer" });
    assert.equal(updated.role, "writer");
    const members = await client.listGardenMembers("atlas-core");
    assert.ok(members.some((m) => m.entity_uri === "agent:codex" && m.role === "writer"));
    const inGarden = await client.assertFact(fact("codex:secret", value.string("x"),
                                                  { garden_id: "atlas-core" }));
    assert.equal(inGarden.garden_id, garden.garden_id);
    assert.equal(await client.removeGardenMember("atlas-core", "agent:codex"), undefined);
    assert.ok(!(await client.listGardenMembers("atlas-core")).some((m) => m.entity_uri === "agent:codex"));
    assert.equal(await client.deleteGarden("atlas-core"), undefined);
    const gone = await rejection(client.getGarden("atlas-core"));
    assert.equal(gone.status, 404);
  });
});

describe("a token node", () => {
  let node: Node;
  let token: string;
  before(async () => {
    node = await startNode();
    await node.cli("identity", "create", "agent:codex").catch(() => undefined);
    token = (await node.cli("token", "create", "agent:codex", "--scopes", "team",
                            "--perms", "read,write")).trim();
  });
  after(async () => node?.stop());

  test("no token is 401, a foreign source 403 source_not_owned", async () => {
    const anonymous = await rejection(new StigmemClient({ baseUrl: node.url }).me());
    assert.equal(anonymous.status, 401);
    const client = new StigmemClient({ baseUrl: node.url, token });
    const me = await client.me();
    assert.equal(me.entity_uri, "agent:codex");
    assert.deepEqual(me.scopes, ["team"]);
    const own: FactRecord = await client.assertFact(fact("codex:state", value.string("mine")));
    assert.equal(own.verification, "valid");
    const check = await client.verifyCid(own.id);
    assert.deepEqual([check.cid_valid, check.signature_valid, check.verification], [true, true, "valid"]);
    const forged = await rejection(client.assertFact(fact("codex:state", value.string("x"),
                                                          { source: "user:alice" })));
    assert.equal(forged.status, 403);
    assert.equal(forged.code, "source_not_owned");
    const outside = await rejection(client.assertFact(fact("codex:state", value.string("x"),
                                                           { scope: "local" })));
    assert.equal(outside.code, "scope_not_permitted");
  });
});

test("an unreachable node is a StigmemTransportError", async () => {
  const client = new StigmemClient({ baseUrl: "http://127.0.0.1:9" });
  await assert.rejects(client.health(), (error: unknown) =>
    error instanceof StigmemTransportError && /GET \/healthz/.test(error.message));
});
