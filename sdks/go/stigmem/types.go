package stigmem

import "encoding/json"

// Nullable fields of the wire format are pointers (nil: JSON null).

// DerivedLink names a fact this one was derived from: by id or by content hash.
type DerivedLink struct {
	FactID *string `json:"fact_id,omitempty"`
	Hash   *string `json:"hash,omitempty"`
}

// FactRecord is a fact as the node returns it (upstream's fields plus ours:
// signer, signature, verification, vouched_by, supersedes, live, path, ...).
type FactRecord struct {
	ID                  string        `json:"id"`
	Entity              string        `json:"entity"`
	Relation            string        `json:"relation"`
	Value               Value         `json:"value"`
	Source              string        `json:"source"`
	Timestamp           string        `json:"timestamp"`
	HLC                 string        `json:"hlc"`
	ReceivedFrom        *string       `json:"received_from"`
	ValidUntil          *string       `json:"valid_until"`
	Confidence          float64       `json:"confidence"`
	Scope               string        `json:"scope"`
	AttestedKeyID       *string       `json:"attested_key_id"`
	OriginNodeID        *string       `json:"origin_node_id"`
	OriginAllowedScopes []string      `json:"origin_allowed_scopes"`
	GardenID            *string       `json:"garden_id"`
	Attested            *bool         `json:"attested"`
	Contradicted        bool          `json:"contradicted"`
	Warnings            []string      `json:"warnings"`
	SourceTrust         *float64      `json:"source_trust"`
	QuarantineStatus    *string       `json:"quarantine_status"`
	QuarantineGardenID  *string       `json:"quarantine_garden_id"`
	EffectiveConfidence *float64      `json:"effective_confidence"`
	SanitizerWarnings   []string      `json:"sanitizer_warnings"`
	SanitizerRedacted   bool          `json:"sanitizer_redacted"`
	CID                 string        `json:"cid"`
	DerivedFrom         []DerivedLink `json:"derived_from"`
	Signer              string        `json:"signer"`
	Signature           string        `json:"signature"`
	TrustClass          string        `json:"trust_class"`
	Verification        string        `json:"verification"`
	VouchedBy           *string       `json:"vouched_by"`
	Supersedes          *string       `json:"supersedes"`
	SupersededBy        *string       `json:"superseded_by"`
	Live                bool          `json:"live"`
	Expired             bool          `json:"expired"`
	Path                *string       `json:"path"`
}

// AssertRequest is the body of POST /v1/facts (and one item of a batch).
// Empty optional fields are left out, so the node's defaults apply.
type AssertRequest struct {
	Entity      string        `json:"entity"`
	Relation    string        `json:"relation"`
	Value       Value         `json:"value"`
	Source      string        `json:"source"`
	Confidence  *float64      `json:"confidence,omitempty"`
	Scope       string        `json:"scope,omitempty"`
	Trust       string        `json:"trust,omitempty"`
	ValidUntil  string        `json:"valid_until,omitempty"`
	Supersedes  string        `json:"supersedes,omitempty"`
	GardenID    string        `json:"garden_id,omitempty"`
	DerivedFrom []DerivedLink `json:"derived_from,omitempty"`
	WriteMode   string        `json:"write_mode,omitempty"`
}

// BatchRequest is the body of POST /v1/facts/batch.
type BatchRequest struct {
	Facts          []AssertRequest `json:"facts"`
	Atomic         bool            `json:"atomic,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
}

type BatchItem struct {
	Index  int     `json:"index"`
	Status string  `json:"status"` // accepted or rejected
	FactID *string `json:"fact_id"`
	Error  *string `json:"error"`
}

type BatchResult struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Results  []BatchItem `json:"results"`
}

type FactList struct {
	Facts            []FactRecord      `json:"facts"`
	Total            int               `json:"total"`
	Cursor           *string           `json:"cursor"`
	TombstoneNotices []json.RawMessage `json:"tombstone_notices"`
}

type ProvenanceLink struct {
	Hash   *string `json:"hash"`
	Exists bool    `json:"exists"`
	FactID *string `json:"fact_id"`
	Entity *string `json:"entity"`
}

type Commit struct {
	Commit  string `json:"commit"`
	Message string `json:"message"`
}

type Provenance struct {
	FactID             string           `json:"fact_id"`
	CID                string           `json:"cid"`
	DerivedFrom        []ProvenanceLink `json:"derived_from"`
	Signer             string           `json:"signer"`
	SignerSources      []string         `json:"signer_sources"`
	Verification       *string          `json:"verification"`
	VerificationReason *string          `json:"verification_reason"`
	SupersedesChain    []string         `json:"supersedes_chain"`
	SupersededByChain  []string         `json:"superseded_by_chain"`
	DerivedBy          []string         `json:"derived_by"`
	Commits            []Commit         `json:"commits"`
}

type CidCheck struct {
	CidValid           bool    `json:"cid_valid"`
	ComputedCID        string  `json:"computed_cid"`
	StoredCID          string  `json:"stored_cid"`
	MismatchReason     *string `json:"mismatch_reason"`
	SignatureValid     bool    `json:"signature_valid"`
	Verification       string  `json:"verification"`
	VerificationReason string  `json:"verification_reason"`
}

type Conflict struct {
	ConflictID  string      `json:"conflict_id"`
	FactA       *FactRecord `json:"fact_a"`
	FactB       *FactRecord `json:"fact_b"`
	Status      string      `json:"status"`       // upstream's: unresolved or resolved
	VaultStatus string      `json:"vault_status"` // ours: open, resolved or obsolete
	ResolvedBy  *string     `json:"resolved_by"`
	DetectedAt  string      `json:"detected_at"`
	Entity      string      `json:"entity"`
	Relation    string      `json:"relation"`
	Scope       string      `json:"scope"`
}

type ConflictList struct {
	Conflicts []Conflict `json:"conflicts"`
	Cursor    *string    `json:"cursor"`
	HasMore   bool       `json:"has_more"`
}

// ResolveRequest settles a conflict: a winner (a, b or a fact id) or a new value.
type ResolveRequest struct {
	WinningFactID  string `json:"winning_fact_id,omitempty"`
	NewValue       *Value `json:"new_value,omitempty"`
	ResolutionNote string `json:"resolution_note,omitempty"`
}

type Resolution struct {
	ResolutionFactID string `json:"resolution_fact_id"`
	ConflictStatus   string `json:"conflict_status"`
}

// PendingNote is a person's draft, edit of a signed fact or conflict choice not signed yet.
type PendingNote struct {
	Path       string  `json:"path"`
	Kind       string  `json:"kind"` // draft, edit or resolution
	FactID     *string `json:"fact_id"`
	ConflictID *string `json:"conflict_id"`
	Ticked     bool    `json:"ticked"`
	Error      *string `json:"error"`
}

// PendingList is the answer of GET /v1/pending.
type PendingList struct {
	Pending []PendingNote `json:"pending"`
}

// Reverted is the answer of POST /v1/pending/revert.
type Reverted struct {
	Path string `json:"path"`
}

// RecallWeights says how much each signal counts; nil fields take the node's defaults.
type RecallWeights struct {
	Lexical     *float64 `json:"lexical,omitempty"`
	Semantic    *float64 `json:"semantic,omitempty"`
	Graph       *float64 `json:"graph,omitempty"`
	SourceTrust *float64 `json:"source_trust,omitempty"`
	Recency     *float64 `json:"recency,omitempty"`
}

// RecallRequest is the body of POST /v1/recall. Zero optional fields take the node's
// defaults; IncludeNeighbors is a pointer because its default is true.
type RecallRequest struct {
	Query            string         `json:"query"`
	Scope            string         `json:"scope,omitempty"`
	Limit            int            `json:"limit,omitempty"`
	MinConfidence    *float64       `json:"min_confidence,omitempty"`
	TokenBudget      int            `json:"token_budget,omitempty"`
	AsOf             string         `json:"as_of,omitempty"`
	Depth            int            `json:"depth,omitempty"`
	IncludeNeighbors *bool          `json:"include_neighbors,omitempty"`
	Weights          *RecallWeights `json:"weights,omitempty"`
}

type ScoreBreakdown struct {
	Lexical            float64  `json:"lexical"`
	Semantic           float64  `json:"semantic"`
	Graph              float64  `json:"graph"`
	SourceTrust        *float64 `json:"source_trust"`
	Recency            float64  `json:"recency"`
	WeightedTotal      float64  `json:"weighted_total"`
	TrustClass         float64  `json:"trust_class"`
	Confidence         float64  `json:"confidence"`
	ContradictedFactor float64  `json:"contradicted_factor"`
}

type ScoredFact struct {
	Fact           FactRecord     `json:"fact"`
	Score          float64        `json:"score"`
	ScoreBreakdown ScoreBreakdown `json:"score_breakdown"`
	HopDistance    int            `json:"hop_distance"`
	TokenEstimate  int            `json:"token_estimate"`
	FromCard       bool           `json:"from_card"`
}

type RecallResult struct {
	RecallID         string                 `json:"recall_id"`
	QueryHash        string                 `json:"query_hash"`
	Facts            []ScoredFact           `json:"facts"`
	Content          []ScoredFact           `json:"content"`
	Instructions     []ScoredFact           `json:"instructions"`
	TotalScored      int                    `json:"total_scored"`
	TokenBudget      int                    `json:"token_budget"`
	TokensUsed       int                    `json:"tokens_used"`
	Truncated        bool                   `json:"truncated"`
	TombstoneNotices []json.RawMessage      `json:"tombstone_notices"`
	ChainProof       map[string]interface{} `json:"chain_proof"`
}

type MemoryCard struct {
	EntityURI         string       `json:"entity_uri"`
	Scope             string       `json:"scope"`
	Summary           string       `json:"summary"`
	FactHashes        []string     `json:"fact_hashes"`
	AvgConfidence     float64      `json:"avg_confidence"`
	RefreshedAt       *string      `json:"refreshed_at"`
	IsStale           bool         `json:"is_stale"`
	HasContradictions bool         `json:"has_contradictions"`
	Facts             []FactRecord `json:"facts"`
}

type Neighbor struct {
	Entity      string   `json:"entity"`
	Relation    string   `json:"relation"`
	Hops        int      `json:"hops"`
	Confidence  float64  `json:"confidence"`
	SourceTrust *float64 `json:"source_trust"`
	Path        []string `json:"path"`
}

type Neighbors struct {
	Entity     string     `json:"entity"`
	Depth      int        `json:"depth"`
	Neighbors  []Neighbor `json:"neighbors"`
	NextCursor *string    `json:"next_cursor"`
	TotalHint  int        `json:"total_hint"`
}

// LintRequest is the body of POST /v1/lint.
type LintRequest struct {
	Scope           string   `json:"scope"`
	Checks          []string `json:"checks,omitempty"`
	Entity          string   `json:"entity,omitempty"`
	Relation        string   `json:"relation,omitempty"`
	MinConfidence   *float64 `json:"min_confidence,omitempty"`
	StaleLookaheadS *float64 `json:"stale_lookahead_s,omitempty"`
}

type LintFinding struct {
	Check    string   `json:"check"`
	Severity string   `json:"severity"`
	Entity   string   `json:"entity"`
	Relation *string  `json:"relation"`
	FactIDs  []string `json:"fact_ids"`
	Detail   string   `json:"detail"`
}

type LintResult struct {
	Findings  []LintFinding `json:"findings"`
	CheckedAt string        `json:"checked_at"`
	Scope     string        `json:"scope"`
	ChecksRun []string      `json:"checks_run"`
	FactCount int           `json:"fact_count"`
}

type Me struct {
	EntityURI   string   `json:"entity_uri"`
	Permissions []string `json:"permissions"`
	OIDCSub     *string  `json:"oidc_sub"`
	TenantID    *string  `json:"tenant_id"`
	Scopes      []string `json:"scopes"`
	TokenID     *string  `json:"token_id"`
	Auth        string   `json:"auth"` // token or none
}

type Remote struct {
	Name      string   `json:"name"`
	URL       string   `json:"url"`
	Scopes    []string `json:"scopes"`
	LastSync  *string  `json:"last_sync"`
	LastError *string  `json:"last_error"`
}

type Peer struct {
	PeerID        string   `json:"peer_id"`
	NodeID        string   `json:"node_id"`
	NodeURL       string   `json:"node_url"`
	Status        string   `json:"status"`
	AllowedScopes []string `json:"allowed_scopes"`
	EstablishedAt *string  `json:"established_at"`
	Owner         string   `json:"owner"`
	Fingerprint   string   `json:"fingerprint"`
	Trust         string   `json:"trust"`
	Remote        *string  `json:"remote"`
}

type PeerList struct {
	Peers   []Peer   `json:"peers"`
	Remotes []Remote `json:"remotes"`
}

type GardenMember struct {
	EntityURI string `json:"entity_uri"`
	Role      string `json:"role"`
	AddedBy   string `json:"added_by"`
	AddedAt   string `json:"added_at"`
}

type Garden struct {
	ID          string         `json:"id"`
	GardenID    string         `json:"garden_id"`
	Slug        string         `json:"slug"`
	Name        string         `json:"name"`
	Scope       string         `json:"scope"`
	Description *string        `json:"description"`
	Quarantine  bool           `json:"quarantine"`
	CreatedBy   string         `json:"created_by"`
	CreatedAt   string         `json:"created_at"`
	Members     []GardenMember `json:"members"`
}

// GardenCreateRequest is the body of POST /v1/gardens.
type GardenCreateRequest struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Scope       string `json:"scope,omitempty"`
	Description string `json:"description,omitempty"`
	Quarantine  bool   `json:"quarantine,omitempty"`
}

type Health struct {
	Status string `json:"status"`
}

type WellKnown struct {
	Version           string   `json:"version"`
	NodeID            *string  `json:"node_id"`
	NodeURL           string   `json:"node_url"`
	Auth              string   `json:"auth"`
	Federation        string   `json:"federation"`
	SourceAttestation string   `json:"source_attestation"`
	Namespaces        []string `json:"namespaces"`
	Spec              string   `json:"spec"`
	CORS              struct {
		DevLocalhost bool     `json:"dev_localhost"`
		Configured   []string `json:"configured"`
	} `json:"cors"`
	Implementation struct {
		Name       string `json:"name"`
		FactFormat string `json:"fact_format"`
	} `json:"implementation"`
}
