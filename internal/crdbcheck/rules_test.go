package crdbcheck_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/internal/crdbcheck"
)

// bad are statements each rule must find (kind Code unless the rule is for migrations).
var bad = map[string][]string{
	"trigger": {
		`CREATE TRIGGER t AFTER INSERT ON ledger_postings FOR EACH ROW EXECUTE FUNCTION f()`,
		`create or replace trigger t before update on x for each row execute procedure f()`,
		`CREATE CONSTRAINT TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION f()`,
	},
	"function": {
		`CREATE FUNCTION f() RETURNS INT8 AS $$ SELECT 1 $$ LANGUAGE sql`,
		`CREATE OR REPLACE PROCEDURE p() AS $body$ BEGIN END $body$ LANGUAGE plpgsql`,
		`DO $$ BEGIN PERFORM 1; END $$`,
		`CALL move_money($1, $2)`,
	},
	"advisory-lock": {
		`SELECT pg_advisory_xact_lock(42)`,
		`SELECT pg_try_advisory_lock($1)`,
		`SELECT pg_advisory_unlock_all()`,
	},
	"serial": {
		`CREATE TABLE t (id SERIAL PRIMARY KEY)`,
		`CREATE TABLE t (id bigserial PRIMARY KEY, n serial4)`,
	},
	"deferrable": {
		`ALTER TABLE p ADD CONSTRAINT fk FOREIGN KEY (t) REFERENCES t (id) DEFERRABLE INITIALLY DEFERRED`,
		`SET CONSTRAINTS ALL DEFERRED`,
		`BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE`,
	},
	"listen-notify": {
		`LISTEN postings`,
		`NOTIFY postings, 'sealed'`,
		`SELECT 1; UNLISTEN *`,
		`SELECT pg_notify('postings', $1)`,
	},
	"sequence": {
		`CREATE SEQUENCE journal_seq`,
		`INSERT INTO journal_leaves (idx, leaf_hash) VALUES (nextval('journal_seq'), $1)`,
		`SELECT setval('s', 10)`,
		`CREATE TABLE t (n INT8 GENERATED ALWAYS AS IDENTITY)`,
	},
	"decimal-arithmetic": {
		`SELECT SUM(amount) FROM ledger_postings WHERE account_id = $1`,
		`SELECT account_id, sum(p.amount) FROM ledger_postings AS p GROUP BY account_id`,
		`SELECT avg(amount) FROM ledger_postings`,
		`SELECT amount * 2 FROM ledger_postings`,
		`SELECT p.amount - $1 FROM ledger_postings AS p`,
		`SELECT $1 + p.amount FROM ledger_postings AS p`,
		`SELECT amount::NUMERIC(38,12) / 3 FROM ledger_postings`,
		`SELECT COALESCE(MAX(amount), 0) + 1 FROM ledger_postings`,
		`UPDATE agreements SET royalty_rate = royalty_rate * $1`,
		`SELECT amount % 2 FROM ledger_postings`,
	},
	"division": {
		`SELECT count(*) / 2 FROM ledger_postings`,
		`SELECT n / $1 FROM ledger_postings`,
	},
	"on-conflict-on-constraint": {
		`INSERT INTO t (a) VALUES ($1) ON CONFLICT ON CONSTRAINT t_pkey DO NOTHING`,
	},
	"isolation-level": {
		`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`,
		`SET TRANSACTION ISOLATION LEVEL READ COMMITTED`,
	},
	"cockroachdb-only": {
		`SELECT * FROM ledger_postings AS OF SYSTEM TIME follower_read_timestamp()`,
		`CREATE INDEX i ON t (created_at) USING HASH`,
		`UPSERT INTO t (a) VALUES (1)`,
	},
	"one-statement-per-migration": {
		"CREATE TABLE a (id UUID PRIMARY KEY);\nCREATE INDEX a_idx ON a (id);\n",
		"CREATE TABLE a (id UUID PRIMARY KEY)\n",
		"-- only a comment; nothing else\n",
		"ALTER TABLE a ADD COLUMN b TEXT; UPDATE a SET b = 'x';",
	},
}

// good are statements no rule may find: the near misses of the rules above.
var good = []string{
	`SELECT currency, amount FROM ledger_postings WHERE account_id = $1`,
	`SELECT count(*) FROM ledger_postings`,
	`SELECT * FROM ledger_postings WHERE amount > 0 AND amount <> $1`,
	`SELECT p.* FROM ledger_postings AS p`,
	`INSERT INTO ledger_postings (transaction_id, n, amount) SELECT transaction_id, n, -amount FROM x`,
	`SELECT amount::TEXT, -p.amount FROM ledger_postings AS p`,
	`SELECT sum(n) FROM ledger_postings`,
	`SELECT idx + 1, n - 1, size * 2 FROM journal_leaves`,
	`SELECT 'a / b; LISTEN x; CREATE TRIGGER; pg_advisory_lock(1); amount * 2' FROM t`,
	`SELECT x FROM t -- LISTEN here is a comment: SUM(amount) / 2
	 WHERE y = 1 /* CREATE SEQUENCE s; nextval('s') */`,
	`SELECT E'it\'s / not ; SERIAL' FROM t`,
	`SELECT "serial" FROM t`,
	`SELECT id FROM claims WHERE identity_key = $1 ORDER BY id FOR UPDATE`,
	`SELECT id FROM jobs FOR UPDATE SKIP LOCKED LIMIT 1`,
	`INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO NOTHING`,
	`INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET b = excluded.b`,
	`BEGIN ISOLATION LEVEL SERIALIZABLE`,
	`SELECT notified, listener, sequence_no, trigger_name, deferred_at FROM t`,
	`SELECT leaf_data -> 'a', leaf_data ->> 'b' FROM t`,
	`CREATE INDEX IF NOT EXISTS i ON ledger_transactions (created_at)`,
	`COPY (SELECT idx FROM journal_leaves ORDER BY idx) TO STDOUT WITH (FORMAT binary)`,
}

var checker = crdbcheck.NewChecker("amount", "royalty_rate")

func kindOf(rule string) crdbcheck.Kind {
	if crdbcheck.RuleByID(rule).MigrationsOnly {
		return crdbcheck.Migration
	}
	return crdbcheck.Code
}

// TestEveryRuleFires: each rule finds each of its bad examples, and every rule has some, so that
// no rule can pass silently.
func TestEveryRuleFires(t *testing.T) {
	for _, r := range crdbcheck.Rules {
		cases := bad[r.ID]
		if len(cases) == 0 {
			t.Errorf("rule %s has no bad examples", r.ID)
		}
		if !strings.Contains(r.Why, "(") || len(r.Why) < 40 {
			t.Errorf("rule %s: its reason %q does not cite where the behaviour is documented", r.ID, r.Why)
		}
		for _, sql := range cases {
			hits := checker.Check(sql, kindOf(r.ID))
			if !slices.ContainsFunc(hits, func(h crdbcheck.Hit) bool { return h.Rule.ID == r.ID }) {
				t.Errorf("rule %s did not fire on %q (hits: %v)", r.ID, sql, ids(hits))
			}
		}
	}
	for id := range bad {
		if crdbcheck.RuleByID(id) == nil {
			t.Errorf("bad examples for a rule that does not exist: %s", id)
		}
	}
}

func TestGoodStatementsPass(t *testing.T) {
	for _, sql := range good {
		for _, kind := range []crdbcheck.Kind{crdbcheck.Code, crdbcheck.Migration} {
			if kind == crdbcheck.Migration {
				sql += ";"
			}
			if hits := checker.Check(sql, kind); len(hits) > 0 {
				t.Errorf("kind %d: %q: unexpected findings %v", kind, sql, ids(hits))
			}
		}
	}
}

func ids(hits []crdbcheck.Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, fmt.Sprintf("%s@%d", h.Rule.ID, h.Offset))
	}
	return out
}

// TestMigrationScopes: variants may hold CockroachDB-only syntax, but every other rule applies to
// them; and findings name the file, line and rule.
func TestMigrationScopes(t *testing.T) {
	hash := "-- a comment\nCREATE INDEX IF NOT EXISTS i ON t (created_at) USING HASH;\n"
	if fs := checker.CheckMigration("migrations/cockroachdb/0403_x.up.sql", hash); len(fs) != 0 {
		t.Errorf("a variant with USING HASH: %v", fs)
	}
	fs := checker.CheckMigration("migrations/0403_x.up.sql", hash)
	if len(fs) != 1 || fs[0].Rule.ID != "cockroachdb-only" || fs[0].Line != 2 {
		t.Fatalf("USING HASH outside a variant: %v", fs)
	}
	msg := fs[0].String()
	for _, want := range []string{"migrations/0403_x.up.sql:2:", "[cockroachdb-only]", "USING HASH"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message %q does not say %q", msg, want)
		}
	}
	two := "CREATE TABLE a (\n  id SERIAL PRIMARY KEY\n);\nCREATE INDEX i ON a (id);\n"
	fs = checker.CheckMigration("migrations/cockroachdb/0999_x.up.sql", two)
	got := map[string]int{}
	for _, f := range fs {
		got[f.Rule.ID] = f.Line
	}
	if got["serial"] != 2 || got["one-statement-per-migration"] != 4 || len(fs) != 2 {
		t.Errorf("a variant with SERIAL and two statements: %v", fs)
	}
}

func TestNumericColumns(t *testing.T) {
	sql := `-- ledger
CREATE TABLE IF NOT EXISTS x (
    id      UUID NOT NULL PRIMARY KEY,
    amount  NUMERIC(38,12) NOT NULL CHECK (amount <> 0),
    "Rate"  DECIMAL NOT NULL, note TEXT, fee NUMERIC
);`
	got := crdbcheck.NumericColumns(sql)
	if !slices.Equal(got, []string{"amount", "rate", "fee"}) {
		t.Errorf("NumericColumns = %v", got)
	}
	if got := crdbcheck.NumericColumns(`ALTER TABLE x ADD COLUMN IF NOT EXISTS balance NUMERIC(38,12)`); !slices.Equal(got, []string{"balance"}) {
		t.Errorf("ADD COLUMN: %v", got)
	}
}

const goSource = `package p

import "github.com/jackc/pgx/v5"

const cols = "currency, amount"

const sumQuery = ` + "`" + `
	SELECT account_id,
	       SUM(amount)
	FROM ledger_postings` + "`" + `

func f(ctx context.Context, tx pgx.Tx, table string) {
	tx.Exec(ctx, "LISTEN x", "a/b")
	tx.QueryRow(ctx, "SELECT " + cols + ", amount * 2 FROM " + table)
	tx.Query(ctx, sumQuery)
	b.Queue(` + "`" + `SELECT pg_advisory_xact_lock(1)` + "`" + `)
	msg := "select a file / a folder"
	_ = pgx.TxOptions{IsoLevel: pgx.ReadCommitted}
	_ = pgx.TxOptions{IsoLevel: pgx.Serializable}
	queryTxs(ctx, tx, "WHERE amount / 2 > $1", 1)
}
`

// TestCheckGo: SQL method arguments (the first string only), concatenations, constants, SQL-like
// literals (fragments that a helper completes too) and pgx isolation levels are checked, and each finding has the right line.
func TestCheckGo(t *testing.T) {
	fs, n, err := checker.CheckGo("x/p.go", []byte(goSource))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, fmt.Sprintf("%02d:%s", f.Line, f.Rule.ID))
	}
	want := []string{"09:decimal-arithmetic", "13:listen-notify", "14:decimal-arithmetic", "16:advisory-lock", "18:isolation-level", "20:decimal-arithmetic"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	if n < 4 {
		t.Errorf("%d SQL strings checked, want at least 4", n)
	}
}

// TestAllowList: an entry allows the findings of its file, rule and statement only, and an entry
// that allows nothing is reported.
func TestAllowList(t *testing.T) {
	fs, _, err := checker.CheckGo("x/p.go", []byte(goSource))
	if err != nil {
		t.Fatal(err)
	}
	list := []crdbcheck.Allow{
		{File: "x/p.go", Rule: "advisory-lock", Contains: "pg_advisory_xact_lock(1)", Why: "test"},
		{File: "x/p.go", Rule: "decimal-arithmetic", Contains: "nothing like this", Why: "test"},
		{File: "y/p.go", Rule: "listen-notify", Contains: "LISTEN", Why: "test"},
	}
	rest, unused := crdbcheck.Filter(list, fs)
	if len(rest) != len(fs)-1 || slices.ContainsFunc(rest, func(f crdbcheck.Finding) bool { return f.Rule.ID == "advisory-lock" }) {
		t.Errorf("rest %v", rest)
	}
	if len(unused) != 2 || unused[0].Rule != "decimal-arithmetic" || unused[1].File != "y/p.go" {
		t.Errorf("unused %v", unused)
	}
	for _, a := range crdbcheck.Allowed {
		if crdbcheck.RuleByID(a.Rule) == nil || a.Why == "" || a.Contains == "" || a.File == "" {
			t.Errorf("allow-list entry %+v: every entry names a file, a rule, a statement and why", a)
		}
	}
}
