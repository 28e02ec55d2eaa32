// Package crdbcheck finds SQL that CockroachDB rejects or runs differently from PostgreSQL, in
// the migrations and in the SQL strings of the Go code. No CockroachDB binary can run where
// royalty is built and tested, so this static check stands in for running the schema and the
// queries on CockroachDB (docs/design.md §3, "CockroachDB compatibility, checked"). Its test
// (repo_test.go) runs in `make test` and fails on every finding that is not on the allow-list
// (allow.go).
//
// The check is textual: comments and the contents of string literals are blanked out, and the
// rules are patterns over what remains, plus a small tokenizer for the arithmetic rules. No SQL
// parser for the PostgreSQL dialect is available as a pure-Go module here (pg_query_go needs
// cgo and CockroachDB's own parser is not under an open-source licence), and the rules below need
// no more than that.
package crdbcheck

import (
	"regexp"
	"strings"
)

// Rule is one thing CockroachDB rejects or treats differently.
type Rule struct {
	ID string
	// Why says what CockroachDB does and where that is documented.
	Why string
	// MigrationsOnly rules apply to migration files only; CodeOnly rules to SQL in Go code only.
	MigrationsOnly, CodeOnly bool
	// VariantsExempt: the rule does not apply to CockroachDB-only migration variants
	// (migrations/cockroachdb/), which exist to hold what only CockroachDB accepts.
	VariantsExempt bool

	re    *regexp.Regexp
	match func(c *Checker, s *sqlText) []int // offsets of the findings in s
}

// Rules are every rule, in the order findings are reported.
var Rules = []*Rule{
	{
		ID: "trigger",
		// CockroachDB docs, "PostgreSQL Compatibility" (v24.1 and earlier): "Triggers. These must
		// be implemented in your application logic." Later versions have triggers only as a
		// preview, on PL/pgSQL functions (see "function").
		Why: "CockroachDB does not support triggers (docs: PostgreSQL Compatibility, unsupported features); do it in Go",
		re:  regexp.MustCompile(`(?i)\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\b|\bEXECUTE\s+(?:PROCEDURE|FUNCTION)\b`),
	},
	{
		ID: "function",
		// CockroachDB docs, "PostgreSQL Compatibility": stored procedures unsupported before
		// v23.2, user-defined functions limited (v22.2 on, "Known limitations: user-defined
		// functions"); PL/pgSQL only from v23.2. Logic in the database also escapes the Go
		// tests and the retry-safe transaction wrapper (internal/pgdb.Tx).
		Why: "stored functions and procedures are unsupported or partial on CockroachDB (docs: PostgreSQL Compatibility; UDF known limitations); keep logic in Go",
		re:  regexp.MustCompile(`(?i)\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\b|\bLANGUAGE\s+plpgsql\b|(?:^|;)\s*DO\s+(?:LANGUAGE\s+\w+\s+)?[$']|(?:^|;)\s*CALL\s+\w`),
	},
	{
		ID: "advisory-lock",
		// CockroachDB docs, "PostgreSQL Compatibility", unsupported features: "Advisory Lock
		// Functions (although some functions are defined with no-op implementations)". A lock
		// that does not lock lets two holders in: a chain guarded by one would fork silently.
		Why: "advisory locks are no-ops on CockroachDB (docs: PostgreSQL Compatibility): two holders would both get the lock; use a lease row",
		re:  regexp.MustCompile(`(?i)\bpg_(?:try_)?advisory_\w+`),
	},
	{
		ID: "serial",
		// CockroachDB docs, "SERIAL": translated to unique_rowid() (or a sequence, by
		// serial_normalization); "not guaranteed to increase monotonically".
		Why: "SERIAL is unique_rowid() on CockroachDB, neither gap-free nor monotonic (docs: SERIAL); use UUID DEFAULT gen_random_uuid()",
		re:  regexp.MustCompile(`(?i)\b(?:small|big)?serial[248]?\b`),
	},
	{
		ID: "deferrable",
		// cockroachdb/cockroach#31632 (FK options: deferrable): constraints are always checked
		// immediately; SET TRANSACTION … DEFERRABLE is parsed but unimplemented
		// (cockroachdb/docs#8338).
		Why: "CockroachDB checks every constraint immediately: DEFERRABLE and SET CONSTRAINTS are unsupported (cockroach#31632)",
		re:  regexp.MustCompile(`(?i)\bDEFERRABLE\b|\bINITIALLY\s+(?:DEFERRED|IMMEDIATE)\b|\bSET\s+CONSTRAINTS\b`),
	},
	{
		ID: "listen-notify",
		// cockroachdb/cockroach#41522 (support NOTIFY, LISTEN and UNLISTEN): open; the
		// statements are syntax errors.
		Why: "LISTEN/NOTIFY/UNLISTEN and pg_notify do not exist on CockroachDB (cockroach#41522); poll a table",
		re:  regexp.MustCompile(`(?i)(?:^|;)\s*(?:LISTEN|UNLISTEN|NOTIFY)\b|\bpg_notify\s*\(`),
	},
	{
		ID: "sequence",
		// CockroachDB docs, "CREATE SEQUENCE", considerations: every increment is a replicated
		// write and a hotspot; values are committed at once and not rolled back with their
		// transaction, so a counter has gaps; cached sequences lose values. Identity columns are
		// sequences too.
		Why: "sequences on CockroachDB are a hot, replicated write per value and leave gaps (docs: CREATE SEQUENCE); no gap-free counters from sequences",
		re:  regexp.MustCompile(`(?i)\bCREATE\s+(?:TEMP(?:ORARY)?\s+)?SEQUENCE\b|\b(?:nextval|currval|setval|lastval)\s*\(|\bAS\s+IDENTITY\b`),
	},
	{
		ID: "decimal-arithmetic",
		// CockroachDB evaluates decimal operations in an apd context of 20 significant digits
		// (tree.DecimalCtx; cockroachdb/cockroach#168373, "match precision of decimal
		// operations"), PostgreSQL exactly: NUMERIC(38,12) money loses digits in division and
		// in long sums. The project's rule (docs/design.md §3) is no decimal arithmetic in SQL
		// at all, SUM included: money is summed in Go with shopspring/decimal. Comparisons,
		// casts and unary minus are not arithmetic.
		Why:   "decimal arithmetic on a NUMERIC column (+ - * / %, SUM, AVG) is computed at 20 significant digits on CockroachDB (cockroach#168373); compute money in Go",
		match: func(c *Checker, s *sqlText) []int { return c.decimalArithmetic(s) },
	},
	{
		ID: "division",
		// CockroachDB docs, "PostgreSQL Compatibility", "Integer division": INT / INT is a
		// DECIMAL on CockroachDB (use // for floor division there), an INT on PostgreSQL.
		Why:   "'/' differs: INT / INT is DECIMAL on CockroachDB and INT on PostgreSQL (docs: PostgreSQL Compatibility, integer division); divide in Go",
		match: func(c *Checker, s *sqlText) []int { return c.division(s) },
	},
	{
		ID: "on-conflict-on-constraint",
		// cockroachdb/cockroach#28161: ON CONFLICT ON CONSTRAINT exists only from v22.1
		// (cockroach#73460), and the names of implicit constraints and indexes differ between
		// the engines (the primary key was "primary" on CockroachDB).
		Why: "ON CONFLICT ON CONSTRAINT names an engine-specific constraint and needs CockroachDB ≥ 22.1 (cockroach#28161); name the conflict columns",
		re:  regexp.MustCompile(`(?i)\bON\s+CONFLICT\s+ON\s+CONSTRAINT\b`),
	},
	{
		ID: "isolation-level",
		// CockroachDB docs, "Read Committed Transactions": SERIALIZABLE is the default; READ
		// COMMITTED runs as SERIALIZABLE when the cluster setting
		// sql.txn.read_committed_isolation.enabled is off, and where it is on it is stronger
		// than PostgreSQL's (no anomalies within a statement); REPEATABLE READ runs as
		// SERIALIZABLE unless a cluster setting enables it (cockroach#118479 and the RFC
		// 20230122_read_committed_isolation). Also pgx.RepeatableRead and friends in Go.
		Why:      "isolation levels below SERIALIZABLE mean something else on CockroachDB (upgraded to SERIALIZABLE or gated by cluster settings; docs: Read Committed Transactions); allow-list only what is right under SERIALIZABLE too",
		CodeOnly: true,
		re:       regexp.MustCompile(`(?i)\bISOLATION\s+LEVEL\s+(?:READ\s+COMMITTED|READ\s+UNCOMMITTED|REPEATABLE\s+READ|SNAPSHOT)\b`),
	},
	{
		ID: "cockroachdb-only",
		// The reverse direction: syntax PostgreSQL rejects. It belongs in a migrations/cockroachdb/
		// variant, or behind an explicit engine check in code (allow-listed).
		Why:            "CockroachDB-only syntax (AS OF SYSTEM TIME, USING HASH, UPSERT) fails on PostgreSQL; use a migrations/cockroachdb/ variant or an engine branch",
		VariantsExempt: true,
		re:             regexp.MustCompile(`(?i)\bAS\s+OF\s+SYSTEM\s+TIME\b|\bUSING\s+HASH\b|(?:^|;)\s*UPSERT\s+INTO\b`),
	},
	{
		ID: "one-statement-per-migration",
		// CockroachDB docs, "Online Schema Changes": "Support for schema changes within
		// transactions is limited … we recommend only doing one schema change operation per
		// transaction"; DDL and DML cannot be mixed in one transaction (Known Limitations,
		// "Schema changes within transactions"). golang-migrate runs a file as one unit.
		Why:            "a migration file must hold exactly one statement ending in ';': CockroachDB runs schema changes one per transaction (docs: Online Schema Changes)",
		MigrationsOnly: true,
		match:          func(c *Checker, s *sqlText) []int { return oneStatement(s) },
	},
}

// RuleByID returns the rule with that ID, or nil.
func RuleByID(id string) *Rule {
	for _, r := range Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// oneStatement reports a migration that does not hold exactly one statement ending in ';'.
func oneStatement(s *sqlText) []int {
	code := strings.TrimSpace(s.clean)
	var ends []int
	for i := 0; i < len(s.clean); i++ {
		if s.clean[i] == ';' {
			ends = append(ends, i)
		}
	}
	if len(ends) == 1 && strings.HasSuffix(code, ";") {
		return nil
	}
	if len(ends) > 1 {
		return []int{ends[1]} // where the second statement ends
	}
	return []int{len(s.clean) - len(strings.TrimLeft(s.clean, " \t\r\n"))}
}
