package postgres_test

import (
	"math/big"
	"testing"

	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/postgres"
)

// TestUsageResponses: a report's response is stored in the transaction that books it, by
// PostUsage (direct and group commit) and PostUsageBatch; a replay stores nothing more, a
// report without a response has none, and the response is part of the payload hash.
func TestUsageResponses(t *testing.T) {
	for _, gc := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "group commit"}[gc], func(t *testing.T) {
			e := newEnv(t, postgres.Config{GroupCommit: postgres.GroupCommit{Disabled: !gc}})
			prov := e.principal("provider")
			with := usage(prov, "r1", "1", key(1), big.NewRat(1, 2))
			with.Response = "Good question. The chain squeaks after rain."
			without := usage(prov, "r2", "1", key(1), big.NewRat(1, 2))
			a, err := e.store.PostUsage(e.ctx, with)
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.store.PostUsage(e.ctx, without)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := e.store.PostUsage(e.ctx, with); err != nil || !again.Replayed {
				t.Fatalf("replay: %+v, %v", again, err)
			}
			other := with
			other.Response = "Another response entirely."
			if _, err := e.store.PostUsage(e.ctx, other); err == nil {
				t.Fatal("the same request id with another response was not a conflict")
			}
			batch := []ledger.UsageRequest{usage(prov, "b1", "1", key(2), big.NewRat(1, 3)), usage(prov, "b2", "2", key(2), big.NewRat(1, 3))}
			batch[0].Response, batch[1].Response = "first response", "second response"
			rs, err := e.store.PostUsageBatch(e.ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{a.Usage.TransactionID, b.Usage.TransactionID, rs[0].Usage.TransactionID, rs[1].Usage.TransactionID}
			got, err := e.store.UsageResponses(e.ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{ids[0]: with.Response, ids[2]: "first response", ids[3]: "second response"}
			if len(got) != len(want) {
				t.Fatalf("responses %v, want %v", got, want)
			}
			for id, w := range want {
				if got[id] != w {
					t.Errorf("response of %s = %q, want %q", id, got[id], w)
				}
			}
			var rows int
			if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM ledger_usage_responses`).Scan(&rows); err != nil || rows != 3 {
				t.Fatalf("%d response rows (%v), want 3: a replay or a conflict wrote one", rows, err)
			}
			if _, err := e.store.UsageResponses(e.ctx, []string{"not-a-uuid"}); err == nil {
				t.Fatal("a malformed id was accepted")
			}
			e.check()
		})
	}
}
