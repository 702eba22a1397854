package stigmem

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// must(c.Call(ctx, ...)).of(t): the value, or the test fails with the error.
func must[T any](v T, err error) result[T] { return result[T]{v, err} }

type result[T any] struct {
	v   T
	err error
}

func (r result[T]) of(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

// apiError asserts err is an *APIError with this status and code.
func apiError(t *testing.T, err error, status int, code string) *APIError {
	t.Helper()
	var e *APIError
	if !errors.As(err, &e) {
		t.Fatalf("want an *APIError %d %s, got %T: %v", status, code, err, err)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("want %d %s, got %d %s: %s", status, code, e.Status, e.Code, e.Message)
	}
	if e.Message == "" || strings.Contains(e.Error(), "[object") {
		t.Fatalf("error without a readable message: %q", e.Error())
	}
	return e
}

func TestNodeDescribesItself(t *testing.T) {
	c, ctx := node(t)
	if h := must(c.Health(ctx)).of(t); h.Status != "ok" {
		t.Fatalf("healthz: %+v", h)
	}
	wk := must(c.WellKnown(ctx)).of(t)
	if wk.Auth != "none" || wk.NodeURL == "" || wk.Implementation.Name == "" {
		t.Fatalf("well-known: %+v", wk)
	}
	me := must(c.Me(ctx)).of(t)
	if me.Auth != "none" || me.EntityURI != "user:alice" || len(me.Scopes) == 0 {
		t.Fatalf("me: %+v", me)
	}
}

func TestEveryValueTypeRoundTrips(t *testing.T) {
	c, ctx := node(t)
	values := map[string]Value{
		"go:string": String("engineer"), "go:text": Text("two\nlines"),
		"go:number": Number(42.5), "go:boolean": Bool(true),
		"go:datetime": Datetime("2026-01-02T03:04:05Z"), "go:ref": Ref("project:atlas"),
		"go:null": Null(),
	}
	for relation, value := range values {
		fact := must(c.Assert(ctx, AssertRequest{Entity: "user:gotypes", Relation: relation,
			Value: value, Source: "user:alice", Scope: "team"})).of(t)
		if len(fact.ID) != 64 || fact.Signature == "" || fact.Signer == "" || !fact.Live {
			t.Fatalf("%s: not a signed live fact: %+v", relation, fact)
		}
		got := must(c.GetFact(ctx, fact.ID)).of(t)
		if got.Value.Type != value.Type || got.Value.InterpretAs != "content" {
			t.Fatalf("%s: sent %v, read %v (%s)", relation, value, got.Value, got.Value.InterpretAs)
		}
		if value.Type != TypeDatetime && got.Value.V != value.V {
			t.Fatalf("%s: sent %#v, read %#v", relation, value.V, got.Value.V)
		}
		if got.Verification != "valid" || got.Scope != "team" || got.CID != fact.CID {
			t.Fatalf("%s: read back %+v", relation, got)
		}
	}
	if n, ok := Number(2).Num(); !ok || n != 2 {
		t.Fatal("Num")
	}
}

func TestErrorsAreTyped(t *testing.T) {
	c, ctx := node(t)
	_, err := c.GetFact(ctx, strings.Repeat("ab", 32))
	apiError(t, err, 404, "fact_not_found")

	_, err = c.Assert(ctx, AssertRequest{Entity: "user:bob", Relation: "go:age",
		Value: Value{Type: TypeNumber, V: "old"}, Source: "user:alice"})
	e := apiError(t, err, 422, "invalid_request")
	if len(e.Issues) == 0 || e.Detail == "" {
		t.Fatalf("422 without issues or detail: %+v", e)
	}

	if _, err := c.Assert(ctx, AssertRequest{Entity: "user:bob", Relation: "go:x", Source: "user:alice"}); err == nil || !strings.Contains(err.Error(), "Type") {
		t.Fatalf("a Value without a type must not be sent: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Health(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled context: %v", err)
	}
	if _, err := New("localhost:8765"); err == nil {
		t.Fatal("a base URL without a scheme is accepted")
	}
}

func TestListFactsPagesWithTheCursor(t *testing.T) {
	c, ctx := node(t)
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		f := must(c.Assert(ctx, AssertRequest{Entity: "project:gopages", Relation: "go:tag",
			Value: Number(float64(i)), Source: "agent:pager" + string(rune('a'+i))})).of(t)
		want[f.ID] = true
	}
	seen := map[string]bool{}
	// Five sources on one single-valued relation contradict each other: list every side.
	opts := ListFactsOptions{Entity: "project:gopages", Limit: 2, IncludeContradicted: true}
	for pages := 0; ; pages++ {
		page := must(c.ListFacts(ctx, opts)).of(t)
		if page.Total != 5 || pages > 3 {
			t.Fatalf("page %d: total %d", pages, page.Total)
		}
		for _, f := range page.Facts {
			seen[f.ID] = true
		}
		if page.Cursor == nil {
			break
		}
		opts.Cursor = *page.Cursor
	}
	if len(seen) != len(want) {
		t.Fatalf("paged %d facts, asserted %d", len(seen), len(want))
	}
	for id := range want {
		if !seen[id] {
			t.Fatalf("%s not listed", id)
		}
	}
}

func TestBatchReportsEachItem(t *testing.T) {
	c, ctx := node(t)
	good := AssertRequest{Entity: "user:gobatch", Relation: "go:one", Value: String("a"), Source: "user:alice"}
	bad := AssertRequest{Entity: "user:gobatch", Relation: "go:two", Value: Datetime("not a date"), Source: "user:alice"}
	other := good
	other.Relation = "go:three"
	res := must(c.AssertBatch(ctx, BatchRequest{Facts: []AssertRequest{good, bad, other}})).of(t)
	if res.Accepted != 2 || res.Rejected != 1 || len(res.Results) != 3 {
		t.Fatalf("batch: %+v", res)
	}
	if r := res.Results[1]; r.Status != "rejected" || r.Error == nil || *r.Error == "" {
		t.Fatalf("the bad item: %+v", r)
	}
	if r := res.Results[2]; r.Status != "accepted" || r.FactID == nil {
		t.Fatalf("the third item: %+v", r)
	}
	must(c.GetFact(ctx, *res.Results[2].FactID)).of(t)
}

func TestProvenanceAndVerifyCID(t *testing.T) {
	c, ctx := node(t)
	base := must(c.Assert(ctx, AssertRequest{Entity: "user:goprov", Relation: "go:source",
		Value: String("raw"), Source: "user:alice"})).of(t)
	derived := must(c.Assert(ctx, AssertRequest{Entity: "user:goprov", Relation: "go:summary",
		Value: String("sum"), Source: "user:alice", DerivedFrom: []DerivedLink{{FactID: &base.ID}}})).of(t)
	replaced := must(c.Assert(ctx, AssertRequest{Entity: "user:goprov", Relation: "go:source",
		Value: String("raw2"), Source: "user:alice", Supersedes: base.ID})).of(t)

	p := must(c.Provenance(ctx, base.ID)).of(t)
	if p.FactID != base.ID || p.CID != base.CID {
		t.Fatalf("provenance: %+v", p)
	}
	if len(p.DerivedBy) != 1 || p.DerivedBy[0] != derived.ID {
		t.Fatalf("derived_by %v, want [%s]", p.DerivedBy, derived.ID)
	}
	if len(p.SupersededByChain) != 1 || p.SupersededByChain[0] != replaced.ID {
		t.Fatalf("superseded_by_chain %v, want [%s]", p.SupersededByChain, replaced.ID)
	}
	dp := must(c.Provenance(ctx, derived.ID)).of(t)
	if len(dp.DerivedFrom) != 1 || !dp.DerivedFrom[0].Exists || *dp.DerivedFrom[0].FactID != base.ID {
		t.Fatalf("derived_from: %+v", dp.DerivedFrom)
	}

	check := must(c.VerifyCID(ctx, derived.ID)).of(t)
	if !check.CidValid || !check.SignatureValid || check.ComputedCID != derived.CID || check.Verification != "valid" {
		t.Fatalf("verify-cid: %+v", check)
	}
	_, err := c.VerifyCID(ctx, strings.Repeat("cd", 32))
	apiError(t, err, 404, "fact_not_found")
}

func TestConflictsListAndResolve(t *testing.T) {
	c, ctx := node(t)
	a := must(c.Assert(ctx, AssertRequest{Entity: "user:goconflict", Relation: "memory:role",
		Value: String("engineer"), Source: "agent:codex", Scope: "team"})).of(t)
	b := must(c.Assert(ctx, AssertRequest{Entity: "user:goconflict", Relation: "memory:role",
		Value: String("manager"), Source: "user:alice", Scope: "team"})).of(t)

	var found *Conflict
	list := must(c.ListConflicts(ctx, ListConflictsOptions{Status: "open", Limit: 500})).of(t)
	for i := range list.Conflicts {
		if list.Conflicts[i].Entity == "user:goconflict" {
			found = &list.Conflicts[i]
		}
	}
	if found == nil {
		t.Fatalf("no open conflict on user:goconflict in %+v", list)
	}
	sides := map[string]bool{found.FactA.ID: true, found.FactB.ID: true}
	if !sides[a.ID] || !sides[b.ID] || found.Status != "unresolved" || found.VaultStatus != "open" {
		t.Fatalf("conflict: %+v", found)
	}

	res := must(c.ResolveConflict(ctx, found.ConflictID, ResolveRequest{WinningFactID: b.ID, ResolutionNote: "promoted"})).of(t)
	if res.ConflictStatus != "resolved" || len(res.ResolutionFactID) != 64 {
		t.Fatalf("resolution: %+v", res)
	}
	resolved := must(c.ListConflicts(ctx, ListConflictsOptions{Status: "resolved", Limit: 500})).of(t)
	ok := false
	for _, cf := range resolved.Conflicts {
		if cf.ConflictID == found.ConflictID {
			ok = cf.ResolvedBy != nil && *cf.ResolvedBy == res.ResolutionFactID
		}
	}
	if !ok {
		t.Fatalf("not listed as resolved by %s: %+v", res.ResolutionFactID, resolved)
	}
	_, err := c.ResolveConflict(ctx, found.ConflictID, ResolveRequest{WinningFactID: a.ID})
	var e *APIError
	if !errors.As(err, &e) || e.Status < 400 {
		t.Fatalf("resolving twice: %v", err)
	}
}

func TestPendingEditListedAndReverted(t *testing.T) {
	c, ctx := node(t)
	signed := must(c.Assert(ctx, AssertRequest{Entity: "project:gopending", Relation: "go:phase",
		Value: String("build"), Source: "user:alice"})).of(t)
	file := filepath.Join(nodeVault, *signed.Path)
	original, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(original), `value_string: "build"`, `value_string: "ship"`, 1)
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	listed := must(c.Pending(ctx)).of(t)
	found := false
	for _, n := range listed.Pending {
		if n.Path == *signed.Path {
			found = n.Kind == "edit" && n.FactID != nil && *n.FactID == signed.ID && !n.Ticked
		}
	}
	if !found {
		t.Fatalf("edit of %s not listed: %+v", *signed.Path, listed)
	}
	reverted := must(c.RevertPending(ctx, signed.ID)).of(t)
	if reverted.Path != *signed.Path {
		t.Fatalf("reverted %q, want %q", reverted.Path, *signed.Path)
	}
	if now, _ := os.ReadFile(file); string(now) != string(original) {
		t.Fatalf("the file did not get its signed bytes back:\n%s", now)
	}
	_, err = c.RevertPending(ctx, "Drafts/none.md")
	var e *APIError
	if !errors.As(err, &e) || e.Status != 422 || e.Field != "target" {
		t.Fatalf("revert of no edit: %v", err)
	}
}

func TestRecallAsOfWeightsAndNeighbors(t *testing.T) {
	c, ctx := node(t)
	before := time.Now().UTC().Add(-2 * time.Second).Format(time.RFC3339)
	must(c.Assert(ctx, AssertRequest{Entity: "project:gorecall", Relation: "go:owner",
		Value: Ref("user:gorecallowner"), Source: "user:alice"})).of(t)
	must(c.Assert(ctx, AssertRequest{Entity: "user:gorecallowner", Relation: "go:hobby",
		Value: String("zither"), Source: "user:alice"})).of(t)

	one := 1.0
	zero := 0.0
	yes, no := true, false
	req := RecallRequest{Query: "gorecall", Depth: 1, IncludeNeighbors: &yes, MinConfidence: &zero,
		Weights: &RecallWeights{Lexical: &one}}
	got := must(c.Recall(ctx, req)).of(t)
	var direct, neighbour bool
	for _, sf := range got.Facts {
		if sf.Fact.Entity == "project:gorecall" && sf.HopDistance == 0 {
			direct = true
		}
		if sf.Fact.Entity == "user:gorecallowner" && sf.HopDistance > 0 {
			neighbour = true
		}
	}
	if !direct || !neighbour || len(got.RecallID) != 36 || len(got.Instructions) != 0 {
		t.Fatalf("recall (direct %v, neighbour %v): %+v", direct, neighbour, got)
	}

	req.IncludeNeighbors = &no
	for _, sf := range must(c.Recall(ctx, req)).of(t).Facts {
		if sf.HopDistance > 0 {
			t.Fatalf("include_neighbors false, got %+v", sf.Fact)
		}
	}
	req.AsOf = before
	req.IncludeNeighbors = nil
	for _, sf := range must(c.Recall(ctx, req)).of(t).Facts {
		if strings.Contains(sf.Fact.Entity, "gorecall") {
			t.Fatalf("as_of %s still recalls %s", before, sf.Fact.ID)
		}
	}
	_, err := c.Recall(ctx, RecallRequest{Query: "x", Depth: 9})
	apiError(t, err, 422, "invalid_request")
}

func TestCardNeighborsAndLint(t *testing.T) {
	c, ctx := node(t)
	must(c.Assert(ctx, AssertRequest{Entity: "project:gocard", Relation: "go:lead",
		Value: Ref("user:gocardlead"), Source: "user:alice"})).of(t)
	low := 0.2
	must(c.Assert(ctx, AssertRequest{Entity: "project:gocard", Relation: "go:status",
		Value: String("green"), Source: "user:alice", Confidence: &low})).of(t)

	card := must(c.Card(ctx, "project:gocard", "local")).of(t)
	if card.EntityURI != "project:gocard" || len(card.Facts) != 2 || len(card.FactHashes) != 2 {
		t.Fatalf("card: %+v", card)
	}
	nb := must(c.Neighbors(ctx, "project:gocard", "local", NeighborsOptions{Depth: 1})).of(t)
	if len(nb.Neighbors) != 1 || nb.Neighbors[0].Entity != "user:gocardlead" || nb.Neighbors[0].Hops != 1 {
		t.Fatalf("neighbors: %+v", nb)
	}
	lint := must(c.Lint(ctx, LintRequest{Scope: "local", Entity: "project:gocard", Checks: []string{"low_confidence"}})).of(t)
	if lint.FactCount != 2 || len(lint.Findings) != 1 || lint.Findings[0].Check != "low_confidence" {
		t.Fatalf("lint: %+v", lint)
	}
}

func TestFederationPeersOfALoneVault(t *testing.T) {
	c, ctx := node(t)
	peers := must(c.FederationPeers(ctx)).of(t)
	if peers.Peers == nil || peers.Remotes == nil || len(peers.Remotes) != 0 {
		t.Fatalf("peers: %+v", peers)
	}
}

func TestGardensAndMembers(t *testing.T) {
	c, ctx := node(t)
	g := must(c.CreateGarden(ctx, GardenCreateRequest{Slug: "go-garden", Name: "Go garden", Scope: "team"})).of(t)
	if g.Slug != "go-garden" || g.Scope != "team" || !strings.HasSuffix(g.GardenID, "/garden/go-garden") {
		t.Fatalf("created: %+v", g)
	}
	if got := must(c.GetGarden(ctx, "go-garden")).of(t); got.GardenID != g.GardenID {
		t.Fatalf("get: %+v", got)
	}
	listed := false
	for _, x := range must(c.ListGardens(ctx)).of(t) {
		listed = listed || x.GardenID == g.GardenID
	}
	if !listed {
		t.Fatal("the new garden is not listed")
	}
	m := must(c.AddMember(ctx, "go-garden", "agent:gardener", "writer")).of(t)
	if m.EntityURI != "agent:gardener" || m.Role != "writer" {
		t.Fatalf("added: %+v", m)
	}
	if m := must(c.UpdateMember(ctx, "go-garden", "agent:gardener", "reader")).of(t); m.Role != "reader" {
		t.Fatalf("updated: %+v", m)
	}
	roles := map[string]string{}
	for _, x := range must(c.ListMembers(ctx, "go-garden")).of(t) {
		roles[x.EntityURI] = x.Role
	}
	if roles["agent:gardener"] != "reader" {
		t.Fatalf("members: %v", roles)
	}
	if err := c.RemoveMember(ctx, "go-garden", "agent:gardener"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteGarden(ctx, "go-garden"); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetGarden(ctx, "go-garden")
	var e *APIError
	if !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("a deleted garden: %v", err)
	}
}

func TestEntitiesWithSlashesAndRefsByCID(t *testing.T) {
	c, ctx := node(t)
	entity := "stigmem://acme/project/goslash"
	f := must(c.Assert(ctx, AssertRequest{Entity: entity, Relation: "go:name",
		Value: String("slash"), Source: "user:alice"})).of(t)
	card := must(c.Card(ctx, entity, "")).of(t)
	if card.EntityURI != entity || len(card.Facts) != 1 || card.Facts[0].ID != f.ID {
		t.Fatalf("card of %s: %+v", entity, card)
	}
	if got := must(c.GetFact(ctx, f.CID)).of(t); got.ID != f.ID {
		t.Fatalf("by cid %s: %s", f.CID, got.ID)
	}
	if got := must(c.GetFact(ctx, f.ID[:12])).of(t); got.ID != f.ID {
		t.Fatalf("by prefix %s: %s", f.ID[:12], got.ID)
	}
}

func TestATokenIsSentAndItsAbsenceIsA401(t *testing.T) {
	node(t) // skips without a binary
	url, token, stop, err := startNode(stigmemBin, t.TempDir(), "token")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	anonymous, _ := New(url)
	_, err = anonymous.Me(ctx)
	apiError(t, err, 401, "unauthorized")

	c, err := New(url, WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	me := must(c.Me(ctx)).of(t)
	if me.Auth != "token" || me.EntityURI != "user:alice" || me.TokenID == nil {
		t.Fatalf("me: %+v", me)
	}
	f := must(c.Assert(ctx, AssertRequest{Entity: "user:gotoken", Relation: "go:x",
		Value: Bool(false), Source: "user:alice"})).of(t)
	if f.Attested == nil || !*f.Attested {
		t.Fatalf("a write under a token for its own principal is attested: %+v", f.Attested)
	}
}
