/**
 * The shapes of docs/openapi.json, written by hand (no code generator at run time).
 * Field names are the wire's (snake_case) so a record can be passed on unchanged.
 */

export type Scope = "local" | "team" | "company" | "public";
export type TrustClass = "observed" | "inferred" | "reported" | "stale-risk";
export type InterpretAs = "content" | "instruction";
/** How a fact's signature checks out (docs/spec.md §9.5). */
export type Verification =
  | "valid" | "vouched" | "unattested" | "unknown-signer" | "id-mismatch"
  | "invalid-signature" | "malformed";
export type LintCheck =
  | "contradiction" | "stale" | "orphan" | "broken_ref" | "namespacing" | "schema"
  | "low_confidence";

/** A typed value, tagged by `type`: the TypeScript type of `v` follows it. */
export type Value =
  | { type: "string"; v: string }
  | { type: "text"; v: string }
  | { type: "number"; v: number }
  | { type: "boolean"; v: boolean }
  | { type: "datetime"; v: string }
  | { type: "ref"; v: string }
  | { type: "null"; v: null };
export type ValueType = Value["type"];
/** A value as the node returns it. */
export type FactValue = Value & { interpret_as: InterpretAs };
/** A value as a client sends it (`interpret_as` defaults to content; `v` may be left out for null). */
export type FactValueIn =
  (Value | { type: "null"; v?: null | undefined }) & { interpret_as?: InterpretAs | undefined };

export interface DerivedLink { fact_id?: string | null | undefined; hash?: string | null }

export interface AssertRequest {
  entity: string;
  relation: string;
  value: FactValueIn;
  source: string;
  confidence?: number | undefined;
  scope?: Scope | undefined;
  trust?: TrustClass | undefined;
  supersedes?: string | null | undefined;
  derived_from?: Array<DerivedLink | string> | undefined;
  valid_until?: string | null | undefined;
  garden_id?: string | null | undefined;
  write_mode?: "assert" | "summarize_with_provenance" | undefined;
  /** Accepted for upstream clients, ignored by this node. */
  attestation?: Record<string, unknown> | null | undefined;
}

export interface FactRecord {
  id: string;
  cid: string;
  entity: string;
  relation: string;
  value: FactValue;
  source: string;
  signer: string;
  signature: string;
  scope: Scope;
  confidence: number;
  effective_confidence: number | null;
  trust_class: TrustClass;
  timestamp: string;
  hlc: string;
  valid_until: string | null;
  supersedes: string | null;
  superseded_by: string | null;
  derived_from: DerivedLink[];
  live: boolean;
  expired: boolean;
  contradicted: boolean;
  verification: Verification;
  vouched_by: string | null;
  attested: boolean | null;
  attested_key_id: string | null;
  source_trust: number | null;
  garden_id: string | null;
  quarantine_garden_id: string | null;
  quarantine_status: string | null;
  origin_node_id: string | null;
  origin_allowed_scopes: string[] | null;
  received_from: string | null;
  path: string | null;
  sanitizer_redacted: boolean;
  sanitizer_warnings: string[];
  warnings: string[];
}

export interface FactQuery {
  entity?: string | undefined;
  relation?: string | undefined;
  source?: string | undefined;
  scope?: Scope | undefined;
  trust?: TrustClass | undefined;
  min_confidence?: number | undefined;
  include_contradicted?: boolean | undefined;
  include_expired?: boolean | undefined;
  include_superseded?: boolean | undefined;
  /** Only facts signed after this ISO timestamp. */
  after?: string | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
  /** The vault as of an HLC or an ISO time. */
  as_of?: string | undefined;
  garden_id?: string | undefined;
  attested?: boolean | undefined;
}

export interface FactList {
  facts: FactRecord[];
  total: number;
  cursor: string | null;
  tombstone_notices: unknown[];
}

export interface BatchRequest {
  facts: AssertRequest[];
  /** All or nothing: one rejected item rejects the batch. */
  atomic?: boolean | undefined;
  idempotency_key?: string | null | undefined;
}
export interface BatchItem {
  index: number;
  status: "accepted" | "rejected";
  fact_id?: string | null | undefined;
  error?: string | null | undefined;
}
export interface BatchResult { accepted: number; rejected: number; results: BatchItem[] }

export interface Commit { commit: string; message: string }
export interface ProvenanceLink {
  fact_id?: string | null | undefined;
  hash: string | null;
  entity?: string | null | undefined;
  exists: boolean;
}
export interface Provenance {
  fact_id: string;
  cid: string;
  signer: string;
  signer_sources: string[];
  verification: string | null;
  verification_reason: string | null;
  commits: Commit[];
  derived_from: ProvenanceLink[];
  derived_by: string[];
  supersedes_chain: string[];
  superseded_by_chain: string[];
}

export interface CidCheck {
  stored_cid: string;
  computed_cid: string;
  cid_valid: boolean;
  mismatch_reason: string | null;
  signature_valid: boolean;
  verification: string;
  verification_reason: string;
}

export type ConflictStatusFilter = "open" | "unresolved" | "resolved" | "obsolete" | "all";
export interface ConflictQuery {
  status?: ConflictStatusFilter | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
}
export interface Conflict {
  conflict_id: string;
  entity: string;
  relation: string;
  scope: Scope;
  detected_at: string;
  fact_a: FactRecord | null;
  fact_b: FactRecord | null;
  /** Upstream's status. */
  status: "unresolved" | "resolved";
  /** The vault's own status. */
  vault_status: "open" | "resolved" | "obsolete";
  resolved_by: string | null;
}
export interface ConflictList { conflicts: Conflict[]; cursor: string | null; has_more: boolean }
/** Either a winner among the conflict's facts or a new value. */
export interface ResolveRequest {
  winning_fact_id?: string | null | undefined;
  new_value?: FactValueIn | null | undefined;
  resolution_note?: string | null | undefined;
}
export interface Resolution { conflict_status: "resolved"; resolution_fact_id: string }

/** A person's draft, edit of a signed fact or conflict choice not signed yet (spec §14). */
export interface PendingNote {
  path: string;
  kind: "draft" | "edit" | "resolution";
  /** An edit: the signed original every reader still sees. */
  fact_id: string | null;
  /** A resolution: the conflict its note is about. */
  conflict_id: string | null;
  /** Its `sign` checkbox is ticked; a writer has not signed it yet. */
  ticked: boolean;
  /** Why its last `sign` was refused (its `stigmem_error`). */
  error: string | null;
}
export interface PendingList { pending: PendingNote[] }
export interface Reverted { path: string }

export interface RecallWeights {
  lexical?: number | undefined;
  semantic?: number | undefined;
  graph?: number | undefined;
  recency?: number | undefined;
  source_trust?: number | undefined;
}
export interface RecallRequest {
  query: string;
  scope?: Scope | null | undefined;
  limit?: number | undefined;
  min_confidence?: number | undefined;
  token_budget?: number | undefined;
  /** The vault as of an HLC or ISO time. */
  as_of?: string | null | undefined;
  weights?: RecallWeights | null | undefined;
  /** Graph hops to walk from the entities found. */
  depth?: number | undefined;
  include_neighbors?: boolean | undefined;
}
export interface ScoreBreakdown {
  lexical: number;
  semantic: number;
  graph: number;
  recency: number;
  confidence: number;
  trust_class: number;
  contradicted_factor: number;
  source_trust: number | null;
  weighted_total: number;
}
export interface ScoredFact {
  fact: FactRecord;
  score: number;
  score_breakdown: ScoreBreakdown;
  hop_distance: number;
  from_card: boolean;
  token_estimate: number;
}
export interface RecallResult {
  recall_id: string;
  query_hash: string;
  facts: ScoredFact[];
  content: ScoredFact[];
  instructions: ScoredFact[];
  total_scored: number;
  token_budget: number;
  tokens_used: number;
  truncated: boolean;
  /** Always null on this node: integrity is signed files and commits. */
  chain_proof: Record<string, unknown> | null;
  tombstone_notices: unknown[];
}

export interface NeighborQuery {
  entity: string;
  scope: Scope;
  /** 1 to 3. */
  depth?: number | undefined;
  /** A relation prefix, e.g. `memory:*`. */
  relation_filter?: string | undefined;
  min_confidence?: number | undefined;
  page_size?: number | undefined;
  cursor?: string | undefined;
}
export interface Neighbor {
  entity: string;
  relation: string;
  hops: number;
  path: string[];
  confidence: number;
  source_trust: number | null;
}
export interface Neighbors {
  entity: string;
  depth: number;
  neighbors: Neighbor[];
  next_cursor: string | null;
  total_hint: number;
}

export interface LintRequest {
  scope: Scope;
  entity?: string | null | undefined;
  relation?: string | null | undefined;
  checks?: LintCheck[] | null | undefined;
  min_confidence?: number | undefined;
  stale_lookahead_s?: number | undefined;
}
export interface LintFinding {
  check: LintCheck;
  severity: "error" | "warning" | "info";
  entity: string;
  relation: string | null;
  fact_ids: string[];
  detail: string;
}
export interface LintResult {
  scope: Scope;
  checked_at: string;
  checks_run: LintCheck[];
  fact_count: number;
  findings: LintFinding[];
}

export interface CardQuery { scope?: Scope | undefined; refresh?: boolean }
export interface MemoryCard {
  entity_uri: string;
  scope: Scope;
  summary: string;
  facts: FactRecord[];
  fact_hashes: string[];
  avg_confidence: number;
  has_contradictions: boolean;
  is_stale: boolean;
  refreshed_at: string | null;
}

export interface Peer {
  peer_id: string;
  node_id: string;
  node_url: string;
  owner: string;
  fingerprint: string;
  allowed_scopes: Scope[];
  status: "pending_verification" | "active" | "revoked";
  trust: "pending" | "trusted" | "revoked";
  established_at: string | null;
  remote: string | null;
}
export interface Remote {
  name: string;
  url: string;
  scopes: Scope[];
  last_sync: string | null;
  last_error: string | null;
}
export interface PeerList { peers: Peer[]; remotes: Remote[] }

export interface Me {
  entity_uri: string;
  auth: "token" | "none";
  token_id: string | null;
  scopes: Scope[];
  permissions: Array<"read" | "write">;
  tenant_id: null;
  oidc_sub: null;
}

export interface GardenCreateRequest {
  slug: string;
  name: string;
  description?: string | null | undefined;
  scope?: Scope | undefined;
  quarantine?: boolean | undefined;
}
export interface GardenMemberRecord {
  entity_uri: string;
  role: string;
  added_at: string;
  added_by: string;
}
export interface GardenRecord {
  id: string;
  garden_id: string;
  slug: string;
  name: string;
  description: string | null;
  scope: Scope;
  quarantine: boolean;
  created_at: string;
  created_by: string;
  members: GardenMemberRecord[];
}
export interface GardenMemberRequest { entity_uri: string; role?: string | undefined }
export interface GardenMemberUpdateRequest { role: string }

export interface Health { status: "ok" }
export interface WellKnown {
  spec: string;
  version: string;
  node_id: string | null;
  node_url: string;
  auth: "required" | "none";
  federation: "enabled" | "disabled";
  source_attestation: "enforce" | "warn" | "off";
  namespaces: string[];
  implementation: { name: string; fact_format: string };
  cors: { configured: string[]; dev_localhost: boolean };
}

/** One field that breaks a rule, in a 422's `error.issues`. */
export interface ValidationIssue {
  type: string;
  loc: Array<string | number>;
  msg: string;
  input?: unknown | undefined;
  ctx?: Record<string, unknown> | null | undefined;
}
/** Every error answer's body (docs/spec.md §15.7). */
export interface ErrorBody {
  detail: string;
  error: {
    code: string;
    message: string;
    field?: string | null | undefined;
    issues?: ValidationIssue[] | null | undefined;
  };
}
