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
// highlighted, and without a proof link (its transaction is on the escrow, not the caller's
// account; the release keeps its own).
func TestStatementShowsReleasedCredits(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	usage := credit{
		StatementEntry: ledger.StatementEntry{TransactionID: "usage-tx", CreatedAt: at, Kind: ledger.KindUsage, Currency: "USD",
			Amount: decimal.RequireFromString("0.1"), ModelID: "acme-chat", IdentityKey: "forum:s/ana"},
		Provider: "Acme", Moved: true,
		Sources: []sourceView{{PostID: "forum:s/1", Response: marked("wipe the chain", []span{{0, 14}}), Source: marked("always wipe the chain", []span{{7, 21}})}},
	}
	release := credit{
		StatementEntry: ledger.StatementEntry{TransactionID: "release-tx", CreatedAt: at, Kind: ledger.KindEscrowRelease, Currency: "USD",
			Amount: decimal.RequireFromString("0.1"), IdentityKey: "forum:s/ana"},
		Released: []credit{usage},
	}
	var buf bytes.Buffer
	err := parsePages()["statement"].ExecuteTemplate(&buf, "layout", view{
		Me: auth.Principal{ID: "ana", Role: auth.RoleContributor}, Data: map[string]any{"Entries": []credit{release}}, Path: "/statement",
	})
	if err != nil {
		t.Fatal(err)
	}
	html := buf.String()
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
	if strings.Contains(html, "/proof/usage-tx") || !strings.Contains(html, "/proof/release-tx") {
		t.Errorf("proof links: want the release's only, in\n%s", html)
	}
}
