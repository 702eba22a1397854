import { test } from "node:test";
import assert from "node:assert/strict";
import type { Conflict, FactRecord, PendingNote } from "@stigmem-vault/client";
import {
  entityBadge, entityNoteLink, noteBadge, noteKind, resolution, retraction, showValue, signProgress,
} from "../src/model.ts";
import { readSettings } from "../src/settings-data.ts";

const ID = "ce0757e7ac2c222b73a6e98039c4a4eacf6392f3b448937ee9f287c771e3c15c";
const FACT = { entity: "stigmem://acme/project/atlas", relation: "project:deadline", id: ID,
               signature: "sig", value_type: "datetime", value_datetime: "2027-04-15" };

function record(extra: Partial<FactRecord> = {}): FactRecord {
  return {
    id: ID, entity: FACT.entity, relation: FACT.relation, source: "agent:codex", scope: "team",
    value: { type: "datetime", v: "2027-04-15", interpret_as: "content" }, confidence: 0.6,
    trust_class: "inferred", verification: "valid", vouched_by: null, contradicted: false,
    supersedes: null, superseded_by: null, live: true, valid_until: null, garden_id: null,
    path: "facts/team/x.md", ...extra,
  } as FactRecord;
}

function pending(extra: Partial<PendingNote>): PendingNote {
  return { path: "facts/team/x.md", kind: "edit", fact_id: ID, conflict_id: null, ticked: false,
           error: null, ...extra };
}

test("noteKind tells fact notes, drafts, entity and conflict notes apart", () => {
  assert.deepEqual(noteKind("facts/team/x.md", FACT), { kind: "fact", id: ID, entity: FACT.entity });
  assert.deepEqual(noteKind("Drafts/a.md", { entity: "user:bob", relation: "memory:role", value: "x" }),
                   { kind: "draft", entity: "user:bob" });
  assert.deepEqual(noteKind("entities/acme/project/68/atlas.md",
                            { stigmem_note: "entity", entity: FACT.entity }),
                   { kind: "entity", entity: FACT.entity });
  assert.deepEqual(noteKind("conflicts/team/a.md", { stigmem_note: "conflict", conflict: "6ca8", entity: "e" }),
                   { kind: "conflict", conflictId: "6ca8", entity: "e", status: "" });
  assert.deepEqual(noteKind("notes/plain.md", { tags: ["x"] }), { kind: "other" });
  assert.deepEqual(noteKind("notes/plain.md", undefined), { kind: "other" });
  assert.deepEqual(noteKind("views/live.base", FACT), { kind: "other" });
  // signed, but its id property is not a fact id: nothing the node can be asked about
  assert.deepEqual(noteKind("facts/x.md", { ...FACT, id: "nope" }), { kind: "draft", entity: FACT.entity });
});

test("a fact note's badge follows the node's record", () => {
  const fact = noteKind("facts/team/x.md", FACT);
  assert.equal(noteBadge(fact, { record: record() }).state, "valid");
  const vouched = noteBadge(fact, { record: record({ verification: "vouched", vouched_by: "user:alice" }) });
  assert.deepEqual([vouched.state, vouched.label], ["vouched", "vouched-for"]);
  assert.match(vouched.title, /user:alice/);
  assert.equal(noteBadge(fact, { record: record({ contradicted: true }) }).state, "conflict");
  assert.equal(noteBadge(fact, { record: record({ superseded_by: "ab".repeat(32) }) }).label, "replaced");
  assert.equal(noteBadge(fact, { record: record({ superseded_by: "ab".repeat(32) }),
                                 replacer: record({ confidence: 0 }) }).label, "retracted");
  assert.equal(noteBadge(fact, { record: record({ confidence: 0, supersedes: "ab".repeat(32) }) }).label,
               "retraction");
  assert.equal(noteBadge(fact, { record: record({ verification: "unattested" }) }).state, "invalid");
  assert.equal(noteBadge(fact, { record: null }).label, "not indexed");
});

test("pending beats the record, and offline beats everything", () => {
  const fact = noteKind("facts/team/x.md", FACT);
  assert.deepEqual([noteBadge(fact, { pending: pending({}), record: record() }).state,
                    noteBadge(fact, { pending: pending({}) }).label], ["pending", "pending edit"]);
  assert.equal(noteBadge(fact, { pending: pending({ ticked: true }) }).label, "pending edit: signing…");
  const refused = noteBadge(fact, { pending: pending({ kind: "draft", error: "trust: hearsay" }) });
  assert.equal(refused.label, "sign refused");
  assert.match(refused.title, /hearsay/);
  const draft = noteKind("Drafts/a.md", { entity: "user:bob", relation: "memory:role" });
  assert.equal(noteBadge(draft, {}).state, "draft");
  assert.equal(noteBadge(draft, { pending: pending({ kind: "draft" }) }).label, "unsigned draft");
  const offline = noteBadge(fact, { unreachable: "ECONNREFUSED", pending: pending({}) });
  assert.deepEqual([offline.state, offline.title], ["offline", "ECONNREFUSED"]);
});

test("a conflict note's badge: open, a choice pending, resolved", () => {
  const open = noteKind("conflicts/a.md", { stigmem_note: "conflict", conflict: "6ca8", status: "open" });
  assert.deepEqual([noteBadge(open, {}).state, noteBadge(open, {}).label], ["conflict", "open conflict"]);
  const choosing = noteBadge(open, { pending: pending({ kind: "resolution", fact_id: null, conflict_id: "6ca8" }) });
  assert.equal(choosing.label, "pending resolution");
  const done = noteKind("conflicts/a.md", { stigmem_note: "conflict", conflict: "6ca8", status: "resolved" });
  assert.deepEqual([noteBadge(done, {}).state, noteBadge(done, {}).label], ["replaced", "resolved"]);
});

test("an entity note's badge: open conflicts first, else its live facts", () => {
  assert.deepEqual(entityBadge(6, 1), { state: "conflict", label: "1 open conflict", title: "see the Conflicts view" });
  assert.equal(entityBadge(6, 2).label, "2 open conflicts");
  assert.equal(entityBadge(1, 0).label, "1 live fact");
  assert.equal(entityBadge(0, 0).label, "0 live facts");
  assert.equal(entityBadge(3, 0, "down").state, "offline");
});

test("a retraction is the same claim at confidence 0, superseding it, in the principal's name", () => {
  const r = retraction(record({ valid_until: "2027-12-31" }), "user:alice");
  assert.deepEqual(r, { entity: FACT.entity, relation: FACT.relation, source: "user:alice",
                        value: { type: "datetime", v: "2027-04-15", interpret_as: "content" },
                        confidence: 0, scope: "team", trust: "inferred", valid_until: "2027-12-31",
                        supersedes: ID, garden_id: null });
});

test("a resolution names a side's id, or a value typed like fact A's", () => {
  const conflict = { conflict_id: "c".repeat(32), fact_a: record({ id: "a".repeat(64) }),
                     fact_b: record({ id: "b".repeat(64) }) } as Conflict;
  assert.deepEqual(resolution(conflict, { winner: "a" }), { winning_fact_id: "a".repeat(64) });
  assert.deepEqual(resolution(conflict, { winner: "b" }), { winning_fact_id: "b".repeat(64) });
  assert.deepEqual(resolution(conflict, { value: " 2027-05-01 " }),
                   { new_value: { type: "datetime", v: "2027-05-01" } });
  const numeric = { ...conflict, fact_a: record({ value: { type: "number", v: 1, interpret_as: "content" } }) };
  assert.deepEqual(resolution(numeric, { value: "42" }), { new_value: { type: "number", v: 42 } });
  assert.throws(() => resolution(numeric, { value: "forty" }), /forty is not a number/);
  assert.throws(() => resolution(conflict, { value: "  " }), /type a value/);
  assert.throws(() => resolution({ ...conflict, fact_b: null }, { winner: "b" }), /fact B/);
});

test("signProgress: waiting while listed, signed once gone, refused with the node's error", () => {
  const path = "Drafts/plan.md";
  assert.deepEqual(signProgress(path, [pending({ path, kind: "draft", ticked: true })]), { done: false });
  assert.deepEqual(signProgress(path, [pending({ path, kind: "draft" })]), { done: false });
  assert.deepEqual(signProgress(path, [pending({ path: "other.md" })]), { done: true, outcome: "signed" });
  assert.deepEqual(signProgress(path, [pending({ path, kind: "draft", error: "value: empty" })]),
                   { done: true, outcome: "refused", error: "value: empty" });
  const fact = "facts/team/a/project.deadline--ce0757e7ac2c.md";
  const parked = pending({ path: "inbox/user-alice/project.deadline--ce0757e7ac2c-edit.md", kind: "draft",
                           error: "trust: hearsay" });
  const refused = signProgress(fact, [parked]);
  assert.ok(refused.done && refused.outcome === "refused" && /hearsay.*parked as inbox/.test(refused.error));
});

test("entityNoteLink and showValue", () => {
  const links = [{ link: "entities/agent/c4/codex", displayText: "agent:codex" },
                 { link: "entities/acme/project/68/atlas", displayText: FACT.entity }];
  assert.equal(entityNoteLink(links, FACT.entity), "entities/acme/project/68/atlas");
  assert.equal(entityNoteLink([{ link: "notes/x" }], FACT.entity), undefined);
  assert.equal(showValue({ type: "null", v: null }), "null");
  assert.equal(showValue({ type: "boolean", v: false }), "false");
});

test("settings read back from data.json whatever it holds", () => {
  assert.deepEqual(readSettings(undefined), { nodeUrl: "http://127.0.0.1:8765", token: "" });
  assert.deepEqual(readSettings({ nodeUrl: " http://127.0.0.1:9000 ", token: " stg_x " }),
                   { nodeUrl: "http://127.0.0.1:9000", token: "stg_x" });
  assert.deepEqual(readSettings({ nodeUrl: 3, token: null }), { nodeUrl: "http://127.0.0.1:8765", token: "" });
  assert.deepEqual(readSettings("garbage"), { nodeUrl: "http://127.0.0.1:8765", token: "" });
});
