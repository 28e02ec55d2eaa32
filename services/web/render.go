package web

import (
	"fmt"
	"html"
	"html/template"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/attribution/text"
)

var funcs = template.FuncMap{
	"money": func(d decimal.Decimal, currency string) string { return d.String() + " " + currency },
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"day":   func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"short": short,
	"neg":   func(d decimal.Decimal) bool { return d.IsNegative() },
	"list":  func() []string { return []string{"stackexchange", "reddit", "hn", "blog"} },
}

// short cuts s to at most n bytes at a rune boundary, with an ellipsis.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// span is a byte range [Start, End) of a text to highlight.
type span struct{ Start, End int }

// marked returns text as HTML with the spans wrapped in <mark>; overlapping spans merge, and
// spans outside the text or not on rune boundaries are clipped or dropped.
func marked(text string, spans []span) template.HTML {
	var ok []span
	for _, s := range spans {
		s.Start, s.End = max(s.Start, 0), min(s.End, len(text))
		if s.Start >= s.End || !boundary(text, s.Start) || !boundary(text, s.End) {
			continue
		}
		ok = append(ok, s)
	}
	slices.SortFunc(ok, func(a, b span) int { return a.Start - b.Start })
	var b strings.Builder
	at := 0
	for _, s := range ok {
		if s.End <= at {
			continue
		}
		s.Start = max(s.Start, at)
		b.WriteString(html.EscapeString(text[at:s.Start]))
		b.WriteString("<mark>")
		b.WriteString(html.EscapeString(text[s.Start:s.End]))
		b.WriteString("</mark>")
		at = s.End
	}
	b.WriteString(html.EscapeString(text[at:]))
	return template.HTML(b.String()) //nolint:gosec // every piece of text is escaped above
}

func boundary(s string, i int) bool { return i == len(s) || utf8.RuneStart(s[i]) }

// bar is one bar of the earnings chart.
type bar struct {
	X, Y, W, H float64
	Label      string
}

// chart is the earnings-over-time chart: one bar per day with earnings, drawn as inline SVG
// by the template (no script, no inline style).
type chart struct {
	Currency      string
	Bars          []bar
	Width, Height float64
	Max           string
	From, To      string
}

// earningsChart draws daily amounts (day → amount) of one currency.
func earningsChart(currency string, daily map[string]decimal.Decimal) *chart {
	if len(daily) == 0 {
		return nil
	}
	days := make([]string, 0, len(daily))
	top := decimal.Zero
	for d, v := range daily {
		days = append(days, d)
		if v.GreaterThan(top) {
			top = v
		}
	}
	slices.Sort(days)
	c := &chart{Currency: currency, Width: 600, Height: 160, Max: top.String(), From: days[0], To: days[len(days)-1]}
	if !top.IsPositive() {
		return nil
	}
	w := c.Width / float64(len(days))
	for i, d := range days {
		f, _ := daily[d].Div(top).Float64()
		h := max(f*(c.Height-20), 1)
		c.Bars = append(c.Bars, bar{X: float64(i)*w + w*0.1, Y: c.Height - h, W: w * 0.8, H: h,
			Label: fmt.Sprintf("%s: %s %s", d, daily[d].String(), currency)})
	}
	return c
}

// matches returns the spans of text whose words occur in query, for highlighting snippets.
func matches(s, query string) []span {
	want := map[string]bool{}
	for _, w := range text.Words(query) {
		want[w.Text] = true
	}
	var out []span
	for _, w := range text.Words(s) {
		if want[w.Text] {
			out = append(out, span{w.Start, w.End})
		}
	}
	return out
}
