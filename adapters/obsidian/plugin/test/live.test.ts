/**
 * The plugin's node-facing code against a live `stigmem serve` on a copy of example-vault
 * (`stigmem init --from`, --auth none): badges, the sign gesture (ticking `sign` in the file,
 * as Obsidian's processFrontMatter does, then waiting for the node's watcher), revert, retract,
 * one-click resolution (the function the conflicts view's buttons call) and recall.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { value } from "@stigmem-vault/client";
import { ROOT, startNodeWith, type Node } from "../../../../sdks/typescript/test/node.ts";
import { Gateway, reason } from "../src/gateway.ts";
import { noteKind } from "../src/model.ts";
import { frontmatter, tickSign } from "./notes.ts";

const ATLAS = "stigmem://acme/project/atlas";
const HOMEPAGE = "facts/public/acme/project/68/atlas/project.homepage--bde72aef68ba.md";
const DEADLINE = "facts/team/acme/project/68/atlas/project.deadline--ce0757e7ac2c.md";
const BILLING_HEALTH = "facts/team/acme/service/87/billing/service.health--2b5783754bf4.md";

describe("the plugin against a live node on the example vault", () => {
  let node: Node;
  let gateway: Gateway;
  const read = (path: string) => readFileSync(join(node.vault, path), "utf8");
  const badge = (path: string) => gateway.badge(path, noteKind(path, frontmatter(read(path))));

  before(async () => {
    node = await startNodeWith({ init: ["--owner", "user:alice", "--from", join(ROOT, "example-vault")],
                                 serve: ["--auth", "none", "--sync-interval", "0"] });
    gateway = new Gateway({ baseUrl: node.url, pollMs: 100, signTimeoutMs: 20_000 });
  });
  after(async () => node?.stop());

  test("the connection test says who we are", async () => {
    assert.match(await gateway.testConnection(), /^connected to .* as user:alice \(auth none; read\+write; scopes /);
    const offline = new Gateway({ baseUrl: "http://127.0.0.1:9" });
    await assert.rejects(offline.testConnection(), /GET \/\.well-known\/stigmem/);
    const down = await offline.badge(HOMEPAGE, noteKind(HOMEPAGE, frontmatter(read(HOMEPAGE))));
    assert.equal(down.state, "offline");
  });

  test("badges of fact notes and of an entity note", async () => {
    assert.deepEqual(await badge(HOMEPAGE).then((b) => [b.state, b.label]), ["valid", "valid"]);
    assert.deepEqual(await badge(DEADLINE).then((b) => [b.state, b.label]), ["conflict", "conflict"]);
    const entity = await badge("entities/acme/project/68/atlas.md");
    assert.deepEqual([entity.state, entity.label], ["conflict", "1 open conflict"]);
  });

  test("a pending edit is badged, then reverted", async () => {
    const signed = read(BILLING_HEALTH);
    writeFileSync(join(node.vault, BILLING_HEALTH), signed.replace(/^confidence: .*$/m, "confidence: 0.1"));
    assert.equal((await badge(BILLING_HEALTH)).label, "pending edit");
    assert.equal(await gateway.revert(BILLING_HEALTH), BILLING_HEALTH);
    assert.equal(read(BILLING_HEALTH), signed);
    assert.equal((await badge(BILLING_HEALTH)).state, "valid");
  });

  test("sign a draft: tick sign, the node's watcher signs it", async () => {
    const path = "Drafts/atlas-phase.md";
    mkdirSync(join(node.vault, "Drafts"), { recursive: true });
    writeFileSync(join(node.vault, path),
                  `---\nentity: ${ATLAS}\nrelation: project:phase\nvalue: beta\nscope: team\nsign: false\n---\nWhy: demo day.\n`);
    assert.equal((await badge(path)).label, "unsigned draft");
    writeFileSync(join(node.vault, path), tickSign(read(path)));
    assert.deepEqual(await gateway.awaitSigned(path), { outcome: "signed" });
    assert.equal(existsSync(join(node.vault, path)), false);  // filed under facts/
    const { facts } = await gateway.client.listFacts({ entity: ATLAS, relation: "project:phase" });
    assert.deepEqual(facts.map((f) => [f.value.v, f.source, f.verification]), [["beta", "user:alice", "valid"]]);
  });

  test("a draft the node refuses comes back with its error", async () => {
    const path = "Drafts/bad.md";
    mkdirSync(join(node.vault, "Drafts"), { recursive: true });
    writeFileSync(join(node.vault, path),
                  `---\nentity: ${ATLAS}\nrelation: project:phase\nvalue: x\ntrust: hearsay\nsign: true\n---\n`);
    const result = await gateway.awaitSigned(path);
    assert.equal(result.outcome, "refused");
    assert.match(result.outcome === "refused" ? result.error : "", /trust/);
    assert.equal((await badge(path)).label, "sign refused");
  });

  test("sign an edit of a signed fact: a new fact supersedes it", async () => {
    const path = "facts/company/acme/service/87/billing/service.owner--02cddea80d44.md";
    const before = frontmatter(read(path));
    writeFileSync(join(node.vault, path), tickSign(read(path).replace(/^confidence: .*$/m, "confidence: 0.5")));
    const result = await gateway.awaitSigned(path, String(before.id));
    assert.equal(result.outcome, "signed");
    const made = await gateway.client.getFact(result.outcome === "signed" ? result.factId! : "");
    assert.deepEqual([made.confidence, made.supersedes, made.source], [0.5, before.id, "user:alice"]);
    assert.equal((await badge(path)).label, "replaced");
  });

  test("one click resolves a conflict; the node refuses a second one", async () => {
    const [conflict] = (await gateway.openConflicts()).filter((c) => c.entity === ATLAS);
    assert.ok(conflict);
    const id = await gateway.resolve(conflict, { winner: "b" });
    const resolved = await gateway.client.getFact(id);
    assert.deepEqual([resolved.value.v, resolved.source], [conflict.fact_b!.value.v, "user:alice"]);
    assert.equal((await gateway.openConflicts()).some((c) => c.conflict_id === conflict.conflict_id), false);
    const again = await gateway.resolve(conflict, { winner: "a" }).catch(reason);
    assert.match(String(again), /^409 /);
  });

  test("a new value resolves a conflict too, typed like fact A", async () => {
    const say = (source: string, v: number) => gateway.client.assertFact({
      entity: "service:payments", relation: "service:replicas", value: value.number(v), source, scope: "team" });
    await say("agent:codex", 3);
    await say("agent:scout", 5);
    const [conflict] = (await gateway.openConflicts()).filter((c) => c.entity === "service:payments");
    assert.ok(conflict);
    const id = await gateway.resolve(conflict, { value: "4" });
    assert.deepEqual((await gateway.client.getFact(id)).value.v, 4);
  });

  test("retract a fact: a signed retraction replaces it", async () => {
    const id = String(frontmatter(read(HOMEPAGE)).id);
    const retraction = await gateway.retract(id);
    assert.deepEqual([retraction.confidence, retraction.supersedes], [0, id]);
    assert.equal((await badge(HOMEPAGE)).label, "retracted");
  });

  test("recall for the entity of a note", async () => {
    const recalled = await gateway.recall(ATLAS);
    assert.ok(recalled.some((s) => s.fact.entity === ATLAS), JSON.stringify(recalled.map((s) => s.fact.entity)));
    const live = await gateway.liveFacts(ATLAS);
    assert.ok(live.length >= 3 && live.every((f) => f.entity === ATLAS && f.live));
  });
});
