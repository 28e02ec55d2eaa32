package crdbcheck

import (
	"regexp"
	"slices"
	"sort"
	"strings"
)

// sqlText is SQL with its comments and the contents of its string literals blanked out (clean
// has the length of text, line breaks kept, so that an offset in one is the same in the other).
type sqlText struct {
	text, clean string
	toks        []tok // tokens of clean, for the arithmetic rules
}

func newSQLText(text string) *sqlText {
	s := &sqlText{text: text, clean: blank(text, true)}
	s.toks = tokenize(s.clean)
	return s
}

// blank returns sql with comments (-- and /* */) replaced by spaces and the contents of string
// literals ('…', E'…', $tag$…$tag$) replaced by spaces, delimiters kept, line breaks kept.
// The contents of quoted identifiers ("…") are blanked too when idents is set: a quoted name is
// never a keyword.
func blank(sql string, idents bool) string {
	b := []byte(sql)
	space := func(lo, hi int) {
		for i := lo; i < hi && i < len(b); i++ {
			if b[i] != '\n' {
				b[i] = ' '
			}
		}
	}
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '-' && i+1 < len(b) && b[i+1] == '-':
			j := i
			for j < len(b) && b[j] != '\n' {
				j++
			}
			space(i, j)
			i = j
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			j := strings.Index(sql[i+2:], "*/")
			end := len(b)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			space(i, end)
			i = end
		case c == '\'':
			escapes := i > 0 && (b[i-1] == 'E' || b[i-1] == 'e') && (i < 2 || !isWord(b[i-2]))
			j := i + 1
			for j < len(b) {
				if escapes && b[j] == '\\' {
					j += 2
					continue
				}
				if b[j] == '\'' {
					if j+1 < len(b) && b[j+1] == '\'' { // '' inside a literal
						j += 2
						continue
					}
					break
				}
				j++
			}
			space(i+1, j)
			i = j + 1
		case c == '"':
			j := strings.IndexByte(sql[i+1:], '"')
			end := len(b)
			if j >= 0 {
				end = i + 1 + j
			}
			if idents {
				space(i+1, end)
			}
			i = end + 1
		case c == '$' && (i == 0 || !isWord(b[i-1])):
			// $tag$ … $tag$ (tag empty or an identifier); $1 is a placeholder.
			m := dollarTag.FindString(sql[i:])
			if m == "" {
				i++
				continue
			}
			j := strings.Index(sql[i+len(m):], m)
			end := len(b)
			if j >= 0 {
				end = i + len(m) + j
			}
			space(i+len(m), end)
			i = end + len(m)
		default:
			i++
		}
	}
	return string(b)
}

var dollarTag = regexp.MustCompile(`^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$`)

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

type tokKind int

const (
	tIdent tokKind = iota // identifiers and keywords
	tNumber
	tParam   // $1
	tLiteral // a string literal (its contents blanked)
	tOp      // operators and punctuation
)

type tok struct {
	kind tokKind
	text string // lower case for identifiers
	off  int
}

// tokenize splits blanked SQL into tokens.
func tokenize(s string) []tok {
	var out []tok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			j := i + 1
			for j < len(s) && s[j] != '\'' {
				j++
			}
			out = append(out, tok{tLiteral, "''", i})
			i = j + 1
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				j = len(s) - i - 1
			}
			out = append(out, tok{tIdent, strings.ToLower(s[i+1 : i+1+j]), i})
			i += j + 2
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			out = append(out, tok{tParam, s[i:j], i})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (isWord(s[j]) || s[j] == '.') {
				j++
			}
			out = append(out, tok{tNumber, s[i:j], i})
			i = j
		case isWord(c):
			j := i
			for j < len(s) && (isWord(s[j]) || s[j] == '$') {
				j++
			}
			out = append(out, tok{tIdent, strings.ToLower(s[i:j]), i})
			i = j
		default:
			n := 1
			for _, op := range []string{"->>", "::", "->", "<=", ">=", "<>", "!=", "||", "//", "#>>", "#>", "@>", "<@"} {
				if strings.HasPrefix(s[i:], op) {
					n = len(op)
					break
				}
			}
			out = append(out, tok{tOp, s[i : i+n], i})
			i += n
		}
	}
	return out
}

// keywords that cannot be the left operand of a binary operator: after one of them, + and - are
// signs and * is "all columns".
var keywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`select where and or not on set by then else when case returning values as in is
		like ilike between having distinct all any some from join into limit offset return default check
		using with over partition order group filter exists array when do update insert delete
		interval escape similar to`) {
		keywords[k] = true
	}
}

// isOperand says whether t can end a left operand.
func isOperand(t tok) bool {
	switch t.kind {
	case tNumber, tParam, tLiteral:
		return true
	case tIdent:
		return !keywords[t.text]
	default:
		return t.text == ")" || t.text == "]"
	}
}

// Checker checks SQL against the rules. Money holds the names (lower case) of the NUMERIC
// columns, whose arithmetic the decimal-arithmetic rule forbids.
type Checker struct {
	Money map[string]bool
}

// NewChecker returns a checker for the NUMERIC columns named.
func NewChecker(numericColumns ...string) *Checker {
	c := &Checker{Money: map[string]bool{}}
	for _, n := range numericColumns {
		c.Money[strings.ToLower(n)] = true
	}
	return c
}

var numericColumn = regexp.MustCompile(`(?im)(?:^|,|\(|\bADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?)\s*"?([A-Za-z_][A-Za-z0-9_]*)"?\s+(?:NUMERIC|DECIMAL)\b`)

// NumericColumns returns the columns that a migration declares NUMERIC or DECIMAL.
func NumericColumns(sql string) []string {
	var out []string
	for _, m := range numericColumn.FindAllStringSubmatch(blank(sql, false), -1) {
		if !keywords[strings.ToLower(m[1])] {
			out = append(out, strings.ToLower(m[1]))
		}
	}
	return out
}

// Hit is a rule's finding at an offset of the SQL text.
type Hit struct {
	Rule   *Rule
	Offset int
}

// Kind of SQL source, for the rules' scopes.
type Kind int

const (
	Code      Kind = iota // a SQL string in Go code
	Migration             // a file of migrations/
	Variant               // a CockroachDB-only variant in migrations/cockroachdb/
)

// Check returns the rules sql breaks, in rule order and by offset.
func (c *Checker) Check(sql string, kind Kind) []Hit {
	s := newSQLText(sql)
	var hits []Hit
	for _, r := range Rules {
		if r.MigrationsOnly && kind == Code || r.CodeOnly && kind != Code || r.VariantsExempt && kind == Variant {
			continue
		}
		var offs []int
		if r.re != nil {
			for _, loc := range r.re.FindAllStringIndex(s.clean, -1) {
				o := loc[0]
				for o < loc[1] && (s.clean[o] == ';' || s.clean[o] == ' ' || s.clean[o] == '\n' || s.clean[o] == '\t' || s.clean[o] == '\r') {
					o++
				}
				offs = append(offs, o)
			}
		} else {
			offs = r.match(c, s)
		}
		for _, o := range offs {
			hits = append(hits, Hit{r, o})
		}
	}
	// The division rule defers to decimal-arithmetic at the same operator.
	money := map[int]bool{}
	for _, h := range hits {
		if h.Rule.ID == "decimal-arithmetic" {
			money[h.Offset] = true
		}
	}
	hits = slices.DeleteFunc(hits, func(h Hit) bool { return h.Rule.ID == "division" && money[h.Offset] })
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].Offset < hits[j].Offset })
	return hits
}

// decimalArithmetic finds binary arithmetic operators with a NUMERIC column in an operand, and
// SUM or AVG over an expression with a NUMERIC column.
func (c *Checker) decimalArithmetic(s *sqlText) []int {
	var out []int
	t := s.toks
	for i, tk := range t {
		switch {
		case tk.kind == tOp && strings.Contains("+-*/%", tk.text) && len(tk.text) == 1:
			if i == 0 || i+1 >= len(t) || !isOperand(t[i-1]) {
				continue // a sign, or * for all columns
			}
			if c.leftMoney(t, i-1) || c.rightMoney(t, i+1) {
				out = append(out, tk.off)
			}
		case tk.kind == tIdent && (tk.text == "sum" || tk.text == "avg") && i+1 < len(t) && t[i+1].text == "(":
			if end := closing(t, i+1); c.anyMoney(t[i+1 : end+1]) {
				out = append(out, tk.off)
			}
		}
	}
	return out
}

// division finds binary '/' operators.
func (c *Checker) division(s *sqlText) []int {
	var out []int
	for i, tk := range s.toks {
		if tk.kind == tOp && tk.text == "/" && i > 0 && isOperand(s.toks[i-1]) {
			out = append(out, tk.off)
		}
	}
	return out
}

// leftMoney says whether the operand ending at token j holds a NUMERIC column.
func (c *Checker) leftMoney(t []tok, j int) bool {
	// Step back over casts: amount::NUMERIC(38,12) * 2.
	for {
		k := j
		if t[k].text == ")" {
			k = opening(t, k) - 1
		}
		if k >= 2 && t[k].kind == tIdent && t[k-1].text == "::" {
			j = k - 2
			continue
		}
		break
	}
	if t[j].text == ")" || t[j].text == "]" {
		o := opening(t, j)
		lo := o
		if o > 0 && t[o-1].kind == tIdent { // a function call: f(…)
			lo = o - 1
		}
		return c.anyMoney(t[lo : j+1])
	}
	return t[j].kind == tIdent && c.Money[t[j].text]
}

// rightMoney says whether the operand starting at token j holds a NUMERIC column.
func (c *Checker) rightMoney(t []tok, j int) bool {
	if t[j].text == "(" {
		return c.anyMoney(t[j : closing(t, j)+1])
	}
	if t[j].kind != tIdent {
		return false
	}
	if j+1 < len(t) && t[j+1].text == "(" {
		return c.anyMoney(t[j : closing(t, j+1)+1])
	}
	for j+2 < len(t) && t[j+1].text == "." && t[j+2].kind == tIdent { // p.amount
		j += 2
	}
	return c.Money[t[j].text]
}

func (c *Checker) anyMoney(t []tok) bool {
	for _, tk := range t {
		if tk.kind == tIdent && c.Money[tk.text] {
			return true
		}
	}
	return false
}

// closing returns the index of the token closing the bracket at i (or the last token).
func closing(t []tok, i int) int {
	depth := 0
	for j := i; j < len(t); j++ {
		switch t[j].text {
		case "(", "[":
			depth++
		case ")", "]":
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(t) - 1
}

// opening returns the index of the token opening the bracket closed at i (or 0).
func opening(t []tok, i int) int {
	depth := 0
	for j := i; j >= 0; j-- {
		switch t[j].text {
		case ")", "]":
			depth++
		case "(", "[":
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return 0
}
