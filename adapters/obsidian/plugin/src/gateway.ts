/**
 * Everything the plugin asks the node, through the TypeScript client. No Obsidian here either:
 * the views and commands call these, and test/live.test.ts calls the same ones against a real
 * `stigmem serve`. The node decides every rule; a refusal comes back as its StigmemError.
 */
import { StigmemClient, StigmemError, StigmemTransportError } from "@stigmem-vault/client";
import type { Conflict, FactRecord, PendingNote, Scope, ScoredFact } from "@stigmem-vault/client";
import {
  entityBadge, noteBadge, resolution, retraction, signProgress,
  type Badge, type Choice, type NoteKind,
} from "./model.js";

export interface GatewayOptions {
  baseUrl: string;
  token?: string | undefined;
  /** Obsidian's requestUrl behind a fetch (no CORS); the global fetch by default. */
  fetch?: typeof fetch | undefined;
  /** Waits between polls of the pending list, and how long to wait for the node to sign. */
  pollMs?: number;
  signTimeoutMs?: number;
}

const SCOPES: Scope[] = ["local", "team", "company", "public"];

/** A one-line reason from anything a call threw: the node's own words when it answered. */
export function reason(error: unknown): string {
  if (error instanceof StigmemError) return `${error.status} ${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

export type SignResult =
  | { outcome: "signed"; factId?: string | undefined }
  | { outcome: "refused"; error: string }
  | { outcome: "timeout" };

export class Gateway {
  readonly client: StigmemClient;
  readonly #pollMs: number;
  readonly #signTimeoutMs: number;

  constructor(options: GatewayOptions) {
    this.client = new StigmemClient({ baseUrl: options.baseUrl, token: options.token,
                                      fetch: options.fetch });
    this.#pollMs = options.pollMs ?? 250;
    this.#signTimeoutMs = options.signTimeoutMs ?? 20_000;
  }

  /** The settings tab's connection test: who the node says we are, or why not. */
  async testConnection(): Promise<string> {
    const known = await this.client.wellKnown();
    const me = await this.client.me();
    return `connected to ${known.node_id} as ${me.entity_uri} (auth ${me.auth}; ` +
           `${me.permissions.join("+")}; scopes ${me.scopes.join(", ")})`;
  }

  async pending(): Promise<PendingNote[]> {
    return (await this.client.pending()).pending;
  }

  /** The badge of a note, from the node's pending list and its record of the note's fact. */
  async badge(path: string, note: NoteKind): Promise<Badge> {
    try {
      if (note.kind === "entity") {
        const [facts, conflicts] = await Promise.all([
          this.client.listFacts({ entity: note.entity, include_contradicted: true, limit: 500 }),
          this.client.conflicts({ status: "open", limit: 500 }),
        ]);
        const open = conflicts.conflicts.filter((c) => c.entity === note.entity).length;
        return entityBadge(facts.facts.length, open);
      }
      if (note.kind === "other") return noteBadge(note, {});
      const pending = (await this.pending()).find((p) => p.path === path);
      if (pending || note.kind !== "fact") return noteBadge(note, { pending });
      const record = await this.#record(note.id);
      const replacer = record?.superseded_by ? await this.#record(record.superseded_by) : undefined;
      return noteBadge(note, { record, replacer });
    } catch (error) {
      if (error instanceof StigmemTransportError || (error instanceof StigmemError && error.status === 401)) {
        return noteBadge(note, { unreachable: reason(error) });
      }
      throw error;
    }
  }

  async #record(id: string): Promise<FactRecord | null> {
    try {
      return await this.client.getFact(id);
    } catch (error) {
      if (error instanceof StigmemError && error.status === 404) return null;
      throw error;
    }
  }

  /**
   * After `sign` was ticked on `path` (the plugin does that through Obsidian, as a person
   * would), wait for the node's watcher: signed, refused with its error, or still pending
   * when the deadline passes. For an edit, the new fact is the original's `superseded_by`.
   */
  async awaitSigned(path: string, originalId?: string): Promise<SignResult> {
    const deadline = Date.now() + this.#signTimeoutMs;
    let seen = false;  // listed as pending at least once
    for (;;) {
      const pending = await this.pending();
      seen ||= pending.some((p) => p.path === path);
      const progress = signProgress(path, pending);
      if (progress.done) {
        if (progress.outcome === "refused") return { outcome: "refused", error: progress.error };
        if (originalId === undefined) return { outcome: "signed" };
        const original = await this.client.getFact(originalId);
        if (original.superseded_by) return { outcome: "signed", factId: original.superseded_by };
        // Signed bytes back and nothing new: the edit changed nothing a fact carries (§14).
        // Unless it was never listed: the node has not seen the save yet (a race a test hit).
        if (seen) return { outcome: "signed" };
      }
      if (Date.now() >= deadline) return { outcome: "timeout" };
      await new Promise((wake) => setTimeout(wake, this.#pollMs));
    }
  }

  /** Drop a pending edit: the note gets its signed bytes back. */
  async revert(path: string): Promise<string> {
    return (await this.client.revertPending(path)).path;
  }

  /** Retract a fact in the token principal's name; the node decides whether that may be. */
  async retract(factId: string): Promise<FactRecord> {
    const [record, me] = await Promise.all([this.client.getFact(factId), this.client.me()]);
    return this.client.assertFact(retraction(record, me.entity_uri));
  }

  async openConflicts(): Promise<Conflict[]> {
    return (await this.client.conflicts({ status: "open", limit: 500 })).conflicts;
  }

  /** One click in the conflicts view: the node writes the resolution fact, or says why not. */
  async resolve(conflict: Conflict, choice: Choice): Promise<string> {
    const answer = await this.client.resolveConflict(conflict.conflict_id, resolution(conflict, choice));
    return answer.resolution_fact_id;
  }

  /** The recall panel: what the vault recalls about an entity, across the token's scopes,
   *  with its graph neighbours. */
  async recall(entity: string, limit = 20): Promise<ScoredFact[]> {
    const answer = await this.client.recall({ query: entity, limit, depth: 1, include_neighbors: true,
                                              min_confidence: 0 });
    return answer.facts;
  }

  /** The live facts about an entity, per scope the token reads (cards; an empty scope is 404). */
  async liveFacts(entity: string): Promise<FactRecord[]> {
    const listed = await this.client.listFacts({ entity, include_contradicted: true, limit: 500 });
    return listed.facts.sort((a, b) => SCOPES.indexOf(a.scope) - SCOPES.indexOf(b.scope)
                                       || a.relation.localeCompare(b.relation));
  }
}
