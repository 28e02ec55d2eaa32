package crdbcheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Finding is a rule broken at a place.
type Finding struct {
	File    string // slash-separated, relative to the module root
	Line    int
	Rule    *Rule
	Excerpt string // the line of SQL
	SQL     string // the whole statement or file, for the allow-list
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: [%s] %s\n\t%s", f.File, f.Line, f.Rule.ID, f.Rule.Why, f.Excerpt)
}

// Report is what a scan of the repository found.
type Report struct {
	Findings   []Finding
	Migrations int // migration files checked
	Strings    int // SQL strings checked in Go code
	Numeric    []string
}

// ScanRepository checks the migrations (migrations/*.sql and migrations/cockroachdb/*.sql) and
// the SQL strings of every non-test Go file under root, the module root. The NUMERIC columns
// of the decimal-arithmetic rule are those the migrations declare.
func ScanRepository(root string) (*Report, error) {
	rep := &Report{}
	migs, err := migrationFiles(root)
	if err != nil {
		return nil, err
	}
	texts := map[string]string{}
	for _, m := range migs {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(m)))
		if err != nil {
			return nil, err
		}
		texts[m] = string(b)
		for _, col := range NumericColumns(string(b)) {
			if !slices.Contains(rep.Numeric, col) {
				rep.Numeric = append(rep.Numeric, col)
			}
		}
	}
	slices.Sort(rep.Numeric)
	c := NewChecker(rep.Numeric...)
	for _, m := range migs {
		kind := Migration
		if path.Dir(m) == "migrations/cockroachdb" {
			kind = Variant
		}
		rep.Migrations++
		rep.Findings = append(rep.Findings, c.checkFile(m, texts[m], kind)...)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			switch rel, _ := filepath.Rel(root, p); filepath.ToSlash(rel) {
			case "proto/gen": // generated code holds no SQL
				return filepath.SkipDir
			case "internal/crdbcheck": // this package: its strings are rules and reasons, not SQL it runs
				return filepath.SkipDir
			}
			if p != root {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fs, n, err := c.CheckGo(filepath.ToSlash(rel), src)
		if err != nil {
			return err
		}
		rep.Strings += n
		rep.Findings = append(rep.Findings, fs...)
		return nil
	})
	return rep, err
}

func migrationFiles(root string) ([]string, error) {
	var out []string
	for _, pat := range []string{"migrations/*.sql", "migrations/cockroachdb/*.sql"} {
		m, err := fs.Glob(os.DirFS(root), pat)
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	return out, nil
}

// checkFile checks a migration file.
func (c *Checker) checkFile(name, text string, kind Kind) []Finding {
	var out []Finding
	for _, h := range c.Check(text, kind) {
		out = append(out, Finding{File: name, Line: 1 + strings.Count(text[:h.Offset], "\n"), Rule: h.Rule,
			Excerpt: lineAt(text, h.Offset), SQL: text})
	}
	return out
}

// CheckMigration checks the text of a migration file named name (a path such as
// migrations/0504_x.up.sql; one under migrations/cockroachdb/ is a CockroachDB variant).
func (c *Checker) CheckMigration(name, text string) []Finding {
	kind := Migration
	if path.Dir(name) == "migrations/cockroachdb" {
		kind = Variant
	}
	return c.checkFile(name, text, kind)
}

func lineAt(text string, off int) string {
	lo := strings.LastIndexByte(text[:off], '\n') + 1
	hi := strings.IndexByte(text[off:], '\n')
	if hi < 0 {
		hi = len(text)
	} else {
		hi += off
	}
	l := strings.TrimSpace(text[lo:hi])
	if len(l) > 160 {
		l = l[:160] + "…"
	}
	return l
}

// sqlMethods are the methods (pgx's and database/sql's) whose string arguments are SQL.
var sqlMethods = map[string]bool{
	"Exec": true, "ExecContext": true, "Query": true, "QueryContext": true, "QueryRow": true,
	"QueryRowContext": true, "Queue": true, "Prepare": true, "PrepareContext": true, "CopyTo": true,
	"CopyFrom": true, "SendBatch": true, "ExecParams": true,
}

// weakIsolation are pgx's names of the isolation levels below SERIALIZABLE.
var weakIsolation = map[string]bool{"ReadCommitted": true, "RepeatableRead": true, "ReadUncommitted": true}

// looksLikeSQL: a string that starts with an upper-case SQL keyword is SQL, a statement or a
// fragment that a helper completes (WHERE …, FROM …, ORDER BY …).
var looksLikeSQL = regexp.MustCompile(`^\s*(?:--[^\n]*\n\s*)*(?:SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP|UPSERT|COPY|BEGIN|SET|SHOW|TRUNCATE|GRANT|REVOKE|LISTEN|NOTIFY|UNLISTEN|CALL|EXPLAIN|VALUES|LOCK|DECLARE|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|DO|WHERE|FROM|JOIN|LEFT\s+JOIN|ORDER\s+BY|GROUP\s+BY|RETURNING|ON\s+CONFLICT)(?:\s|\(|$)`)

// segment is a piece of an evaluated string expression: a literal's value (pos: the literal)
// or an unknown value (pos 0).
type segment struct {
	text string
	pos  token.Pos
	raw  bool // a raw string literal: its lines are the source's lines
}

// CheckGo checks the SQL strings of one Go file: the string arguments of SQL methods (Exec,
// Query, QueryRow, CopyFrom, SendBatch, …) and every string constant or literal that looks like
// SQL (starts with an upper-case SQL keyword), with string concatenations and the package's
// string constants of the file resolved. It returns the findings and the number of SQL strings.
func (c *Checker) CheckGo(name string, src []byte) ([]Finding, int, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, 0, err
	}
	consts := map[string][]segment{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					if segs, ok := evalString(vs.Values[i], consts); ok {
						consts[n.Name] = segs
					}
				}
			}
		}
	}
	var out []Finding
	count := 0
	seen := map[token.Pos]bool{} // literals already checked as part of a larger expression
	check := func(segs []segment) {
		for _, s := range segs {
			if s.pos.IsValid() {
				seen[s.pos] = true
			}
		}
		var b strings.Builder
		starts := make([]int, len(segs))
		for i, s := range segs {
			starts[i] = b.Len()
			b.WriteString(s.text)
		}
		sql := b.String()
		count++
		for _, h := range c.Check(sql, Code) {
			i := segIndex(starts, h.Offset)
			s := segs[i]
			line := 0
			for j := i; j >= 0 && line == 0; j-- { // an unknown piece: the literal before it
				if segs[j].pos.IsValid() {
					line = fset.Position(segs[j].pos).Line
					if j == i && s.raw {
						line += strings.Count(s.text[:h.Offset-starts[i]], "\n")
					}
				}
			}
			out = append(out, Finding{File: name, Line: line, Rule: h.Rule, Excerpt: lineAt(sql, h.Offset), SQL: sql})
		}
	}
	lines := strings.Split(string(src), "\n")
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			// pgx's isolation levels (pgx.TxOptions.IsoLevel, pgdb.TxOptions.Isolation) are SQL
			// too: BEGIN ISOLATION LEVEL ….
			if x, ok := n.X.(*ast.Ident); ok && x.Name == "pgx" && weakIsolation[n.Sel.Name] {
				line := fset.Position(n.Pos()).Line
				text := strings.TrimSpace(lines[line-1])
				out = append(out, Finding{File: name, Line: line, Rule: RuleByID("isolation-level"), Excerpt: text, SQL: text})
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || !sqlMethods[sel.Sel.Name] {
				return true
			}
			// The first string argument is the SQL (Exec(ctx, sql, args…), Queue(sql, args…),
			// CopyTo(ctx, w, sql)); later ones are parameters.
			for _, a := range n.Args {
				if segs, ok := evalString(a, consts); ok {
					if hasLiteral(segs) && !allSeen(segs, seen) {
						check(segs)
					}
					break
				}
			}
		case *ast.BinaryExpr:
			if n.Op != token.ADD {
				return true
			}
			if segs, ok := evalString(n, consts); ok && hasLiteral(segs) && !allSeen(segs, seen) && looksLikeSQL.MatchString(concat(segs)) {
				check(segs)
				return false
			}
		case *ast.BasicLit:
			if n.Kind == token.STRING && !seen[n.Pos()] {
				if segs, ok := evalString(n, consts); ok && looksLikeSQL.MatchString(segs[0].text) {
					check(segs)
				}
			}
		}
		return true
	})
	return out, count, nil
}

func segIndex(starts []int, off int) int {
	i := len(starts) - 1
	for i > 0 && starts[i] > off {
		i--
	}
	return i
}

func concat(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteString(s.text)
	}
	return b.String()
}

func hasLiteral(segs []segment) bool {
	return slices.ContainsFunc(segs, func(s segment) bool { return s.pos.IsValid() })
}

func allSeen(segs []segment, seen map[token.Pos]bool) bool {
	for _, s := range segs {
		if s.pos.IsValid() && !seen[s.pos] {
			return false
		}
	}
	return true
}

// evalString evaluates a string expression: literals, + and the file's string constants; any
// other operand of a + chain becomes an unknown segment " _ " (an identifier to the rules).
// ok is false when e is not a string expression at all.
func evalString(e ast.Expr, consts map[string][]segment) ([]segment, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return nil, false
		}
		v, err := strconv.Unquote(e.Value)
		if err != nil {
			return nil, false
		}
		return []segment{{text: v, pos: e.Pos(), raw: strings.HasPrefix(e.Value, "`")}}, true
	case *ast.ParenExpr:
		return evalString(e.X, consts)
	case *ast.Ident:
		segs, ok := consts[e.Name]
		return segs, ok
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return nil, false
		}
		l, lok := evalString(e.X, consts)
		r, rok := evalString(e.Y, consts)
		if !lok && !rok {
			return nil, false
		}
		if !lok {
			l = []segment{{text: " _ "}}
		}
		if !rok {
			r = []segment{{text: " _ "}}
		}
		return append(slices.Clip(l), r...), true
	}
	return nil, false
}
