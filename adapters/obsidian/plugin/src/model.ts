/**
 * What a note is and what its badge says, from its properties and the node's answers. Pure:
 * no Obsidian, no network, so every rule here has a unit test (test/model.test.ts). The rules
 * themselves (what verifies, what is pending, what conflicts) are the node's: this module only
 * reads its answers.
 */
import type {
  AssertRequest, Conflict, FactRecord, PendingNote, ResolveRequest, Value,
} from "@stigmem-vault/client";

export type Frontmatter = Record<string, unknown>;

/** The kinds of note a stigmem vault holds (spec §7, §8.3, §14, §14.1). */
export type NoteKind =
  | { kind: "fact"; id: string; entity: string }
  | { kind: "draft"; entity: string }
  | { kind: "entity"; entity: string }
  | { kind: "conflict"; conflictId: string; entity: string; status: string }
  | { kind: "other" };

function text(fm: Frontmatter, key: string): string {
  const v = fm[key];
  return typeof v === "string" ? v.trim() : typeof v === "number" ? String(v) : "";
}

/** Which kind of note `path` with these properties is. */
export function noteKind(path: string, fm: Frontmatter | undefined): NoteKind {
  if (fm === undefined || !path.endsWith(".md")) return { kind: "other" };
  const entity = text(fm, "entity");
  const marker = text(fm, "stigmem_note");
  if (marker === "entity" && entity) return { kind: "entity", entity };
  if (marker === "conflict" && text(fm, "conflict")) {
    return { kind: "conflict", conflictId: text(fm, "conflict"), entity, status: text(fm, "status") };
  }
  if (marker) return { kind: "other" };
  if (entity && text(fm, "relation")) {
    if (!text(fm, "signature")) return { kind: "draft", entity };
    const id = text(fm, "id").toLowerCase();
    if (/^[0-9a-f]{64}$/.test(id)) return { kind: "fact", id, entity };
    return { kind: "draft", entity };  // signed but without its id: not a fact file we know
  }
  return { kind: "other" };
}

export type BadgeState =
  | "valid" | "vouched" | "pending" | "conflict" | "draft" | "replaced" | "invalid"
  | "unknown" | "offline" | "live";

export interface Badge { state: BadgeState; label: string; title: string }

/** What the node said about a fact note, or a draft, or a conflict note. */
export interface NoteFacts {
  /** This note's entry in GET /v1/pending, if it is pending. */
  pending?: PendingNote | undefined;
  /** For a fact note: the node's record of the id in its `id` property (null: 404). */
  record?: FactRecord | null | undefined;
  /** For a replaced fact: the fact that replaced it (a retraction has confidence 0). */
  replacer?: FactRecord | null | undefined;
  /** The node could not be reached (or refused the token): say so, never guess. */
  unreachable?: string | undefined;
}

function pendingBadge(p: PendingNote): Badge {
  if (p.error) return { state: "pending", label: "sign refused", title: `the node refused to sign it: ${p.error}` };
  const what = p.kind === "edit" ? "pending edit" : p.kind === "draft" ? "unsigned draft"
    : "pending resolution";
  if (p.ticked) return { state: "pending", label: `${what}: signing…`, title: "sign is ticked: the node's watcher signs it" };
  return {
    state: p.kind === "draft" ? "draft" : "pending", label: what,
    title: p.kind === "edit"
      ? "edited but not signed: every reader still sees the signed original. Sign it (command: Sign) or revert it."
      : "not signed yet: tick sign (command: Sign) when it is ready",
  };
}

/** The badge of a fact note, a draft or a conflict note. */
export function noteBadge(note: NoteKind, facts: NoteFacts): Badge {
  if (facts.unreachable !== undefined) {
    return { state: "offline", label: "node offline", title: facts.unreachable };
  }
  if (facts.pending) return pendingBadge(facts.pending);
  if (note.kind === "draft") {
    return { state: "draft", label: "unsigned draft", title: "not signed: tick sign (command: Sign) when it is ready" };
  }
  if (note.kind === "conflict") {
    if (note.status === "open") {
      return { state: "conflict", label: "open conflict",
               title: "set winner or value and tick sign (command: Sign), or resolve it in the Conflicts view" };
    }
    return { state: "replaced", label: note.status || "conflict note", title: "no longer open" };
  }
  if (note.kind !== "fact") return { state: "unknown", label: "", title: "" };
  const r = facts.record;
  if (r === null || r === undefined) {
    return { state: "unknown", label: "not indexed", title: "the node has no fact with this note's id (yet)" };
  }
  if (r.verification !== "valid" && r.verification !== "vouched") {
    return { state: "invalid", label: r.verification ?? "unverified", title: `verdict: ${r.verification}` };
  }
  if (r.superseded_by) {
    const retracted = facts.replacer?.confidence === 0;
    return { state: "replaced", label: retracted ? "retracted" : "replaced",
             title: `${retracted ? "retracted" : "replaced"} by ${r.superseded_by.slice(0, 12)}` };
  }
  if (r.confidence === 0) return { state: "replaced", label: "retraction", title: `retracts ${r.supersedes?.slice(0, 12) ?? "?"}` };
  if (r.contradicted) return { state: "conflict", label: "conflict", title: "part of an open conflict: see the Conflicts view" };
  if (r.verification === "vouched") {
    return { state: "vouched", label: "vouched-for", title: `signed by ${r.vouched_by ?? "the vault"} for ${r.source}` };
  }
  return { state: "valid", label: "valid", title: `signed by its source, ${r.source}` };
}

/** The badge of an entity note: its open conflicts first, then how many live facts it has. */
export function entityBadge(live: number, openConflicts: number, unreachable?: string): Badge {
  if (unreachable !== undefined) return { state: "offline", label: "node offline", title: unreachable };
  if (openConflicts > 0) {
    return { state: "conflict", label: `${openConflicts} open conflict${openConflicts > 1 ? "s" : ""}`,
             title: "see the Conflicts view" };
  }
  return { state: "live", label: `${live} live fact${live === 1 ? "" : "s"}`, title: "as the node sees it now" };
}

/** A retraction of `record` (spec §4.2): the same claim at confidence 0, superseding it,
 *  in the name of `principal` (the token's). The node checks it like any other write. */
export function retraction(record: FactRecord, principal: string): AssertRequest {
  return {
    entity: record.entity, relation: record.relation, value: record.value, source: principal,
    confidence: 0, scope: record.scope, trust: record.trust_class, valid_until: record.valid_until,
    supersedes: record.id, garden_id: record.garden_id,
  };
}

export type Choice = { winner: "a" | "b" } | { value: string };

/** The resolve request for a choice made in the conflicts view. A new value is typed like
 *  fact A's value, as in a conflict note (§14: text read as JSON for number, boolean, null). */
export function resolution(conflict: Conflict, choice: Choice): ResolveRequest {
  if ("winner" in choice) {
    const side = choice.winner === "a" ? conflict.fact_a : conflict.fact_b;
    if (!side) throw new Error(`fact ${choice.winner.toUpperCase()} of this conflict is gone`);
    return { winning_fact_id: side.id };
  }
  const type = conflict.fact_a?.value.type ?? "string";
  const raw = choice.value.trim();
  if (!raw) throw new Error("type a value first");
  if (type === "number" || type === "boolean" || type === "null") {
    let v: unknown;
    try { v = JSON.parse(raw); } catch { throw new Error(`${raw} is not a ${type}`); }
    return { new_value: { type, v } as Value };
  }
  return { new_value: { type, v: raw } as Value };
}

/** A value as a person reads it. */
export function showValue(v: Value | undefined): string {
  if (v === undefined) return "—";
  if (v.type === "null") return "null";
  return String(v.v);
}

/** What signing came to, judged from the pending list after `sign` was ticked. */
export type SignProgress =
  | { done: false }
  | { done: true; outcome: "signed" }
  | { done: true; outcome: "refused"; error: string };

/** One poll of the pending list after ticking `sign` on `path`: done once the node no longer
 *  lists it as pending, or lists it unticked with the error it refused it for. An edit the
 *  node could not sign is parked as the draft `inbox/<owner>/<stem>-edit.md` with its error
 *  (§14): that is a refusal too. */
export function signProgress(path: string, pending: PendingNote[]): SignProgress {
  const entry = pending.find((p) => p.path === path);
  if (entry === undefined) {
    const stem = path.slice(path.lastIndexOf("/") + 1).replace(/\.md$/, "");
    const parked = pending.find((p) => p.error && p.path.startsWith("inbox/")
                                && p.path.endsWith(`/${stem}-edit.md`));
    if (parked) return { done: true, outcome: "refused", error: `${parked.error} (parked as ${parked.path})` };
    return { done: true, outcome: "signed" };
  }
  if (!entry.ticked && entry.error) return { done: true, outcome: "refused", error: entry.error };
  return { done: false };
}

/** The vault path of the entity note an entity's fact note links to, among the note's links. */
export function entityNoteLink(links: Array<{ link: string; displayText?: string | undefined }>,
                               entity: string): string | undefined {
  const found = links.find((l) => l.link.startsWith("entities/") && l.displayText === entity)
    ?? links.find((l) => l.link.startsWith("entities/"));
  return found?.link;
}
