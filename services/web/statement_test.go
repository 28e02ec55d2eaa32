package web

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger"
)

// TestStatementShowsReleasedCredits renders the statement page with an escrow release that
// moved a credit: the credit is shown under the release like a usage entry, with its evidence
// highlighted and a proof link of its own (its transaction is on the escrow of the caller's
// identity), as the release has.
func TestStatementShowsReleasedCredits(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	usage := credit{
		StatementEntry: ledger.StatementEntry{TransactionID: "usage-tx", CreatedAt: at, Kind: ledger.KindUsage, Currency: "USD",
			Amount: decimal.RequireFromString("0.1"), ModelID: "acme-chat", IdentityKey: "forum:s/ana"},
		Provider: "Acme",
		Sources:  []sourceView{{PostID: "forum:s/1", Response: marked("wipe the chain", []span{{0, 14}}), Source: marked("always wipe the chain", []span{{7, 21}})}},
	}
	release := credit{
		StatementEntry: ledger.StatementEntry{TransactionID: "release-tx", CreatedAt: at, Kind: ledger.KindEscrowRelease, Currency: "USD",
			Amount: decimal.RequireFromString("0.1"), IdentityKey: "forum:s/ana"},
		Released: []credit{usage},
	}
	whole := credit{
		StatementEntry: ledger.StatementEntry{TransactionID: "whole-tx", CreatedAt: at, Kind: ledger.KindUsage, Currency: "USD",
			Amount: decimal.RequireFromString("0.2"), IdentityKey: "forum:s/ana"},
		Sources: []sourceView{{PostID: "forum:s/1", Whole: true, Response: marked("Sure: wipe the chain daily.", []span{{6, 20}}), Source: marked("always wipe the chain", []span{{7, 21}})}},
	}
	var buf bytes.Buffer
	err := parsePages()["statement"].ExecuteTemplate(&buf, "layout", view{
		Me: auth.Principal{ID: "ana", Role: auth.RoleContributor}, Data: map[string]any{"Entries": []credit{release, whole}}, Path: "/statement",
	})
	if err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if !strings.Contains(html, "Sure: <mark>wipe the chain</mark> daily.") || strings.Count(html, "(the credited words)") != 1 {
		t.Errorf("a whole response is shown with its credited words marked, and only the old credit says it shows the words alone:\n%s", html)
	}
	moved := strings.Index(html, `class="released"`)
	if moved < 0 {
		t.Fatalf("no released section in\n%s", html)
	}
	inner := html[moved:]
	for _, want := range []string{"usage-tx", "acme-chat", "Acme", `class="evidence"`, "<mark>", "forum:s/1"} {
		if !strings.Contains(inner, want) {
			t.Errorf("released credit lacks %q in\n%s", want, inner)
		}
	}
	if !strings.Contains(inner, "/proof/usage-tx") || !strings.Contains(html, "/proof/release-tx") {
		t.Errorf("proof links: want the release's and the moved credit's, in\n%s", html)
	}
}
