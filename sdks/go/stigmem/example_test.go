package stigmem_test

import (
	"context"
	"fmt"
	"log"

	"github.com/stigmem/stigmem-vault/sdks/go/stigmem"
)

// The README's example: compiled by `go test`, not run (it needs a node on 8765).
func Example() {
	ctx := context.Background()
	c, err := stigmem.New("http://127.0.0.1:8765", stigmem.WithToken("TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	fact, err := c.Assert(ctx, stigmem.AssertRequest{Entity: "user:alice", Relation: "memory:role",
		Value: stigmem.String("engineer"), Source: "agent:codex", Scope: "team"})
	if err != nil {
		log.Fatal(err) // an *stigmem.APIError: Status, Code, Message, Field
	}
	got, _ := c.Recall(ctx, stigmem.RecallRequest{Query: "alice role"})
	fmt.Println(fact.ID, fact.Verification, len(got.Facts))
}
