import { errorFrom, StigmemTransportError } from "./errors.js";
import type {
  AssertRequest, BatchRequest, BatchResult, CardQuery, CidCheck, ConflictList, ConflictQuery,
  FactList, FactQuery, FactRecord, GardenCreateRequest, GardenMemberRecord, GardenMemberRequest,
  GardenMemberUpdateRequest, GardenRecord, Health, LintRequest, LintResult, Me, MemoryCard,
  NeighborQuery, Neighbors, PeerList, PendingList, Provenance, RecallRequest, RecallResult, Resolution,
  ResolveRequest, Reverted, WellKnown,
} from "./types.js";

export interface ClientOptions {
  /** The node's address, e.g. `http://127.0.0.1:8765`. */
  baseUrl: string;
  /** A bearer token from `stigmem token create` (leave out for an `--auth none` node). */
  token?: string | undefined;
  /** Another fetch (tests, proxies); the global one by default. */
  fetch?: typeof fetch | undefined;
  /** Headers added to every request. */
  headers?: Record<string, string> | undefined;
}

/** Per-call options. */
export interface CallOptions { signal?: AbortSignal | undefined }

type Query = Record<string, string | number | boolean | null | undefined>;
interface Call { query?: Query; body?: unknown; options?: CallOptions | undefined }

/**
 * A client for a stigmem-vault node: one method per operation of docs/openapi.json.
 * Every method resolves to the body the node answers with, or rejects with a StigmemError
 * (the node said no) or a StigmemTransportError (no answer, or not JSON).
 */
export class StigmemClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.token;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#headers = { ...options.headers };
  }

  // -- node ------------------------------------------------------------------------------
  wellKnown(options?: CallOptions): Promise<WellKnown> {
    return this.#call("GET", "/.well-known/stigmem", { options });
  }
  health(options?: CallOptions): Promise<Health> {
    return this.#call("GET", "/healthz", { options });
  }
  /** Who the token speaks for, with its scopes and permissions. */
  me(options?: CallOptions): Promise<Me> {
    return this.#call("GET", "/v1/me", { options });
  }

  // -- facts -----------------------------------------------------------------------------
  /** Write one fact, signed with the token principal's key; the 201 body. */
  assertFact(fact: AssertRequest, options?: CallOptions): Promise<FactRecord> {
    return this.#call("POST", "/v1/facts", { body: fact, options });
  }
  assertBatch(batch: BatchRequest, options?: CallOptions): Promise<BatchResult> {
    return this.#call("POST", "/v1/facts/batch", { body: batch, options });
  }
  listFacts(query: FactQuery = {}, options?: CallOptions): Promise<FactList> {
    return this.#call("GET", "/v1/facts", { query: { ...query }, options });
  }
  /** One fact by its id or its cid. */
  getFact(ref: string, options?: CallOptions): Promise<FactRecord> {
    return this.#call("GET", `/v1/facts/${segment(ref)}`, { options });
  }
  provenance(factId: string, options?: CallOptions): Promise<Provenance> {
    return this.#call("GET", `/v1/facts/${segment(factId)}/provenance`, { options });
  }
  /** Recompute a fact's cid and check its signature on the node. */
  verifyCid(factId: string, options?: CallOptions): Promise<CidCheck> {
    return this.#call("POST", `/v1/facts/${segment(factId)}/verify-cid`, { options });
  }

  // -- conflicts -------------------------------------------------------------------------
  conflicts(query: ConflictQuery = {}, options?: CallOptions): Promise<ConflictList> {
    return this.#call("GET", "/v1/conflicts", { query: { ...query }, options });
  }
  resolveConflict(conflictId: string, resolution: ResolveRequest,
                  options?: CallOptions): Promise<Resolution> {
    return this.#call("POST", `/v1/conflicts/${segment(conflictId)}/resolve`,
                      { body: resolution, options });
  }

  // -- pending notes (the vault owner with every scope) ---------------------------------
  /** Drafts, edits and conflict choices waiting for their `sign` tick (`stigmem status`). */
  pending(options?: CallOptions): Promise<PendingList> {
    return this.#call("GET", "/v1/pending", { options });
  }
  /** Drop a pending edit (a vault path or the edited fact's id): `stigmem revert`. */
  revertPending(target: string, options?: CallOptions): Promise<Reverted> {
    return this.#call("POST", "/v1/pending/revert", { body: { target }, options });
  }

  // -- reading the graph -----------------------------------------------------------------
  recall(request: RecallRequest, options?: CallOptions): Promise<RecallResult> {
    return this.#call("POST", "/v1/recall", { body: request, options });
  }
  neighbors(query: NeighborQuery, options?: CallOptions): Promise<Neighbors> {
    return this.#call("GET", "/v1/graph/neighbors", { query: { ...query }, options });
  }
  card(entity: string, query: CardQuery = {}, options?: CallOptions): Promise<MemoryCard> {
    return this.#call("GET", `/v1/cards/${segment(entity)}`, { query: { ...query }, options });
  }
  lint(request: LintRequest, options?: CallOptions): Promise<LintResult> {
    return this.#call("POST", "/v1/lint", { body: request, options });
  }

  // -- federation ------------------------------------------------------------------------
  /** The vaults met over git, and the configured remotes. */
  federationPeers(options?: CallOptions): Promise<PeerList> {
    return this.#call("GET", "/v1/federation/peers", { options });
  }

  // -- gardens ---------------------------------------------------------------------------
  listGardens(options?: CallOptions): Promise<GardenRecord[]> {
    return this.#call("GET", "/v1/gardens", { options });
  }
  createGarden(garden: GardenCreateRequest, options?: CallOptions): Promise<GardenRecord> {
    return this.#call("POST", "/v1/gardens", { body: garden, options });
  }
  /** A garden by its id, slug or record id. */
  getGarden(garden: string, options?: CallOptions): Promise<GardenRecord> {
    return this.#call("GET", `/v1/gardens/${segment(garden)}`, { options });
  }
  deleteGarden(garden: string, options?: CallOptions): Promise<void> {
    return this.#call("DELETE", `/v1/gardens/${segment(garden)}`, { options });
  }
  listGardenMembers(garden: string, options?: CallOptions): Promise<GardenMemberRecord[]> {
    return this.#call("GET", `/v1/gardens/${segment(garden)}/members`, { options });
  }
  addGardenMember(garden: string, member: GardenMemberRequest,
                  options?: CallOptions): Promise<GardenMemberRecord> {
    return this.#call("POST", `/v1/gardens/${segment(garden)}/members`, { body: member, options });
  }
  updateGardenMember(garden: string, member: string, update: GardenMemberUpdateRequest,
                     options?: CallOptions): Promise<GardenMemberRecord> {
    return this.#call("PATCH", `/v1/gardens/${segment(garden)}/members/${segment(member)}`,
                      { body: update, options });
  }
  removeGardenMember(garden: string, member: string, options?: CallOptions): Promise<void> {
    return this.#call("DELETE", `/v1/gardens/${segment(garden)}/members/${segment(member)}`,
                      { options });
  }

  async #call<T>(method: string, path: string, { query, body, options }: Call): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: "application/json", ...this.#headers };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (options?.signal !== undefined) init.signal = options.signal;
    let response: Response;
    try {
      response = await this.#fetch(url, init);
    } catch (cause) {
      if (options?.signal?.aborted) throw cause;  // the caller's own abort stays an AbortError
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new StigmemTransportError(`${method} ${url.pathname}: ${reason}`, { cause });
    }
    if (!response.ok) throw await errorFrom(response);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new StigmemTransportError(
        `${method} ${url.pathname}: answer ${response.status} is not JSON: ${text.slice(0, 200)}`);
    }
  }
}

/** One path segment: entity URIs and ids keep their `:` but never add a `/` or `?`. */
function segment(part: string): string {
  return encodeURIComponent(part).replace(/%3A/gi, ":");
}
