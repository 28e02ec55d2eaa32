package crdbcheck

import "strings"

// Allow is a justified exception: a finding of Rule in File whose statement contains Contains.
type Allow struct {
	File, Rule, Contains string
	Why                  string
}

// Allowed is the allow-list. Keep it narrow: one entry per statement, with the reason the
// statement is right on both engines (or runs on one engine only, behind an explicit check).
// An entry that matches nothing fails the repository test, so the list cannot go stale.
var Allowed = []Allow{
	{
		File: "ledger/postgres/postgres.go", Rule: "isolation-level", Contains: "ReadOnly: true, Isolation: pgx.RepeatableRead",
		Why: "read-only reports want one snapshot; on CockroachDB the transaction runs SERIALIZABLE, which gives " +
			"the same snapshot, and a retry it may need is pgdb.Tx's job",
	},
	{
		File: "ledger/journal/postgres/proof.go", Rule: "isolation-level", Contains: "ReadOnly: true, Isolation: pgx.RepeatableRead",
		Why: "a read-only inclusion proof wants one snapshot; SERIALIZABLE on CockroachDB gives it too (retried by pgdb.Tx)",
	},
	{
		File: "cmd/royalty-bench-sqlindex/main.go", Rule: "division", Contains: "INSERT INTO attribution_fingerprints (fingerprint, post_id, author_key)",
		Why: "benchmark-only padding of the table with made-up rows, on the benchmark's own throwaway PostgreSQL; " +
			"integer division only names fake posts, and no server runs it",
	},
}

// allows reports whether an entry of list allows f, and which.
func allows(list []Allow, f Finding) (int, bool) {
	for i, a := range list {
		if a.File == f.File && a.Rule == f.Rule.ID && strings.Contains(f.SQL, a.Contains) {
			return i, true
		}
	}
	return -1, false
}

// Filter returns the findings no entry of list allows, and the entries that allowed nothing.
func Filter(list []Allow, findings []Finding) (rest []Finding, unused []Allow) {
	used := make([]bool, len(list))
	for _, f := range findings {
		if i, ok := allows(list, f); ok {
			used[i] = true
			continue
		}
		rest = append(rest, f)
	}
	for i, a := range list {
		if !used[i] {
			unused = append(unused, a)
		}
	}
	return rest, unused
}
