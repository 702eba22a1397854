// Package stigmem is a client for a stigmem-vault node's HTTP API (the upstream
// Stigmem v1 wire format plus the vault's additions: signatures, verification,
// batch, provenance). Every call takes a context; a non-2xx answer is an *APIError.
package stigmem

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxBody bounds what the client reads of one answer (a page of 500 facts fits well).
const maxBody = 64 << 20

// Client talks to one node. The zero value is not usable: call New.
type Client struct {
	baseURL string
	token   string
	http    *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends a bearer token (omit it for a node served with --auth none).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient replaces http.DefaultClient (for timeouts, transports, proxies).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client for the node at baseURL, e.g. "http://127.0.0.1:8765".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("stigmem: base URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("stigmem: base URL %q: want http(s)://host[:port]", baseURL)
	}
	c := &Client{baseURL: strings.TrimRight(baseURL, "/"), http: http.DefaultClient}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// segment escapes one path segment; ':' stays as it is (entities and refs are full of them).
func segment(s string) string { return url.PathEscape(s) }

// do sends one request; body (if not nil) goes as JSON, and a 2xx answer is decoded
// into out (if not nil). Anything else is an *APIError.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out interface{}) error {
	target := c.baseURL + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("stigmem: %s %s: encoding the body: %w", method, path, err)
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return fmt.Errorf("stigmem: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("stigmem: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("stigmem: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseAPIError(resp.StatusCode, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("stigmem: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// call decodes a 2xx answer into a new T; on error it returns nil.
func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, body interface{}) (*T, error) {
	var out T
	if err := c.do(ctx, method, path, query, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// callList is call for the endpoints answering a bare JSON array.
func callList[T any](ctx context.Context, c *Client, method, path string, query url.Values, body interface{}) ([]T, error) {
	var out []T
	if err := c.do(ctx, method, path, query, body, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// --- node ---

// Health calls GET /healthz.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	return call[Health](ctx, c, "GET", "/healthz", nil, nil)
}

// WellKnown calls GET /.well-known/stigmem: what the node is and speaks.
func (c *Client) WellKnown(ctx context.Context) (*WellKnown, error) {
	return call[WellKnown](ctx, c, "GET", "/.well-known/stigmem", nil, nil)
}

// Me calls GET /v1/me: the principal behind the token, its permissions and scopes.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	return call[Me](ctx, c, "GET", "/v1/me", nil, nil)
}

// --- facts ---

// Assert calls POST /v1/facts: the node signs and stores the fact.
func (c *Client) Assert(ctx context.Context, fact AssertRequest) (*FactRecord, error) {
	return call[FactRecord](ctx, c, "POST", "/v1/facts", nil, fact)
}

// AssertBatch calls POST /v1/facts/batch (1 to 1000 facts; Atomic: all or none).
func (c *Client) AssertBatch(ctx context.Context, batch BatchRequest) (*BatchResult, error) {
	return call[BatchResult](ctx, c, "POST", "/v1/facts/batch", nil, batch)
}

// GetFact calls GET /v1/facts/{ref}: ref is a fact id, a unique id prefix or a cid.
func (c *Client) GetFact(ctx context.Context, ref string) (*FactRecord, error) {
	return call[FactRecord](ctx, c, "GET", "/v1/facts/"+segment(ref), nil, nil)
}

// Provenance calls GET /v1/facts/{id}/provenance.
func (c *Client) Provenance(ctx context.Context, factID string) (*Provenance, error) {
	return call[Provenance](ctx, c, "GET", "/v1/facts/"+segment(factID)+"/provenance", nil, nil)
}

// VerifyCID calls POST /v1/facts/{id}/verify-cid: recomputes the cid and checks the file.
func (c *Client) VerifyCID(ctx context.Context, factID string) (*CidCheck, error) {
	return call[CidCheck](ctx, c, "POST", "/v1/facts/"+segment(factID)+"/verify-cid", nil, nil)
}

// ListFactsOptions filters GET /v1/facts; zero fields are not sent.
type ListFactsOptions struct {
	Entity, Relation, Source, Scope, Trust string
	MinConfidence                          *float64
	IncludeContradicted                    bool
	IncludeExpired                         bool
	IncludeSuperseded                      bool
	After, Cursor, AsOf, GardenID          string
	Limit                                  int
	Attested                               *bool
}

func (o ListFactsOptions) values() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("entity", o.Entity)
	set("relation", o.Relation)
	set("source", o.Source)
	set("scope", o.Scope)
	set("trust", o.Trust)
	set("after", o.After)
	set("cursor", o.Cursor)
	set("as_of", o.AsOf)
	set("garden_id", o.GardenID)
	if o.MinConfidence != nil {
		q.Set("min_confidence", fmt.Sprint(*o.MinConfidence))
	}
	if o.IncludeContradicted {
		q.Set("include_contradicted", "true")
	}
	if o.IncludeExpired {
		q.Set("include_expired", "true")
	}
	if o.IncludeSuperseded {
		q.Set("include_superseded", "true")
	}
	if o.Limit > 0 {
		q.Set("limit", fmt.Sprint(o.Limit))
	}
	if o.Attested != nil {
		q.Set("attested", fmt.Sprint(*o.Attested))
	}
	return q
}

// ListFacts calls GET /v1/facts: one page; pass the returned Cursor back for the next.
func (c *Client) ListFacts(ctx context.Context, opts ListFactsOptions) (*FactList, error) {
	return call[FactList](ctx, c, "GET", "/v1/facts", opts.values(), nil)
}

// --- conflicts ---

// ListConflictsOptions filters GET /v1/conflicts: Status is open, unresolved, resolved,
// obsolete or all (the default).
type ListConflictsOptions struct {
	Status, Cursor string
	Limit          int
}

// ListConflicts calls GET /v1/conflicts.
func (c *Client) ListConflicts(ctx context.Context, opts ListConflictsOptions) (*ConflictList, error) {
	q := url.Values{}
	if opts.Status != "" {
		q.Set("status", opts.Status)
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	if opts.Limit > 0 {
		q.Set("limit", fmt.Sprint(opts.Limit))
	}
	return call[ConflictList](ctx, c, "GET", "/v1/conflicts", q, nil)
}

// ResolveConflict calls POST /v1/conflicts/{id}/resolve.
func (c *Client) ResolveConflict(ctx context.Context, conflictID string, r ResolveRequest) (*Resolution, error) {
	return call[Resolution](ctx, c, "POST", "/v1/conflicts/"+segment(conflictID)+"/resolve", nil, r)
}

// --- pending notes (the vault owner with every scope) ---

// Pending calls GET /v1/pending: drafts, edits and conflict choices waiting for their
// sign tick (what `stigmem status` lists).
func (c *Client) Pending(ctx context.Context) (*PendingList, error) {
	return call[PendingList](ctx, c, "GET", "/v1/pending", nil, nil)
}

// RevertPending calls POST /v1/pending/revert: a pending edit (a vault path, or the edited
// fact's id) gets its signed bytes back, as `stigmem revert` does.
func (c *Client) RevertPending(ctx context.Context, target string) (*Reverted, error) {
	return call[Reverted](ctx, c, "POST", "/v1/pending/revert", nil, map[string]string{"target": target})
}

// --- recall, cards, graph, lint ---

// Recall calls POST /v1/recall.
func (c *Client) Recall(ctx context.Context, r RecallRequest) (*RecallResult, error) {
	return call[RecallResult](ctx, c, "POST", "/v1/recall", nil, r)
}

// Card calls GET /v1/cards/{entity}: the entity's live facts in one scope ("" : local).
func (c *Client) Card(ctx context.Context, entity, scope string) (*MemoryCard, error) {
	q := url.Values{}
	if scope != "" {
		q.Set("scope", scope)
	}
	return call[MemoryCard](ctx, c, "GET", "/v1/cards/"+segment(entity), q, nil)
}

// NeighborsOptions tunes GET /v1/graph/neighbors; zero fields take the node's defaults.
type NeighborsOptions struct {
	Depth          int
	RelationFilter string
	MinConfidence  *float64
	PageSize       int
	Cursor         string
}

// Neighbors calls GET /v1/graph/neighbors: entities reached through ref facts.
func (c *Client) Neighbors(ctx context.Context, entity, scope string, opts NeighborsOptions) (*Neighbors, error) {
	q := url.Values{"entity": {entity}, "scope": {scope}}
	if opts.Depth > 0 {
		q.Set("depth", fmt.Sprint(opts.Depth))
	}
	if opts.RelationFilter != "" {
		q.Set("relation_filter", opts.RelationFilter)
	}
	if opts.MinConfidence != nil {
		q.Set("min_confidence", fmt.Sprint(*opts.MinConfidence))
	}
	if opts.PageSize > 0 {
		q.Set("page_size", fmt.Sprint(opts.PageSize))
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	return call[Neighbors](ctx, c, "GET", "/v1/graph/neighbors", q, nil)
}

// Lint calls POST /v1/lint: a sweep of one scope for contradictions, stale facts, ...
func (c *Client) Lint(ctx context.Context, r LintRequest) (*LintResult, error) {
	return call[LintResult](ctx, c, "POST", "/v1/lint", nil, r)
}

// --- federation ---

// FederationPeers calls GET /v1/federation/peers: peer vaults and git remotes.
func (c *Client) FederationPeers(ctx context.Context) (*PeerList, error) {
	return call[PeerList](ctx, c, "GET", "/v1/federation/peers", nil, nil)
}

// --- gardens ---

// ListGardens calls GET /v1/gardens: the gardens the principal is a member of.
func (c *Client) ListGardens(ctx context.Context) ([]Garden, error) {
	return callList[Garden](ctx, c, "GET", "/v1/gardens", nil, nil)
}

// CreateGarden calls POST /v1/gardens.
func (c *Client) CreateGarden(ctx context.Context, r GardenCreateRequest) (*Garden, error) {
	return call[Garden](ctx, c, "POST", "/v1/gardens", nil, r)
}

// GetGarden calls GET /v1/gardens/{garden} (id or slug).
func (c *Client) GetGarden(ctx context.Context, garden string) (*Garden, error) {
	return call[Garden](ctx, c, "GET", "/v1/gardens/"+segment(garden), nil, nil)
}

// DeleteGarden calls DELETE /v1/gardens/{garden}.
func (c *Client) DeleteGarden(ctx context.Context, garden string) error {
	return c.do(ctx, "DELETE", "/v1/gardens/"+segment(garden), nil, nil, nil)
}

// ListMembers calls GET /v1/gardens/{garden}/members.
func (c *Client) ListMembers(ctx context.Context, garden string) ([]GardenMember, error) {
	return callList[GardenMember](ctx, c, "GET", "/v1/gardens/"+segment(garden)+"/members", nil, nil)
}

// AddMember calls POST /v1/gardens/{garden}/members; role is admin, writer or reader
// ("" : reader).
func (c *Client) AddMember(ctx context.Context, garden, entityURI, role string) (*GardenMember, error) {
	body := map[string]string{"entity_uri": entityURI}
	if role != "" {
		body["role"] = role
	}
	return call[GardenMember](ctx, c, "POST", "/v1/gardens/"+segment(garden)+"/members", nil, body)
}

// UpdateMember calls PATCH /v1/gardens/{garden}/members/{member}: a new role.
func (c *Client) UpdateMember(ctx context.Context, garden, member, role string) (*GardenMember, error) {
	path := "/v1/gardens/" + segment(garden) + "/members/" + segment(member)
	return call[GardenMember](ctx, c, "PATCH", path, nil, map[string]string{"role": role})
}

// RemoveMember calls DELETE /v1/gardens/{garden}/members/{member}.
func (c *Client) RemoveMember(ctx context.Context, garden, member string) error {
	path := "/v1/gardens/" + segment(garden) + "/members/" + segment(member)
	return c.do(ctx, "DELETE", path, nil, nil, nil)
}
