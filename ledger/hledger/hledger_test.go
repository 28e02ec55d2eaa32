package hledger_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/ledger/hledger"
	"github.com/openroyalty/royalty/ledger/journal"
	"github.com/openroyalty/royalty/ledger/journal/journaltest"
)

func write(t *testing.T, rows []journal.Row) string {
	t.Helper()
	var buf bytes.Buffer
	w := hledger.NewWriter(&buf, 0)
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestWriterFormat(t *testing.T) {
	priv, _ := journal.GenerateKey(nil)
	rows, err := journaltest.Rows(journaltest.Entries(2), journal.NewSigner(priv), 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i < len(rows); i++ { // transaction 1 is not sealed yet: shown as pending
		rows[i].Sealed = false
	}
	got := write(t, rows)
	for _, want := range []string{
		"decimal-mark .\n",
		"2026-03-04 * (00000000-0000-4000-8000-000000000000) usage\n    ; journal_index: 0, created_at: 2026-03-04T05:06:07.890123Z\n    ; idempotency_key: 5b0c8a52-0000-4000-8000-000000000001:-r0\n",
		"    provider:5b0c8a52-0000-4000-8000-000000000001  0.000000000001 USD\n    escrow:hn:/user1  -0.000000000001 USD\n",
		"2026-03-04 ! (00000000-0000-4000-8000-000000000001) usage\n",
		"commodity 1000.000000000000 USD\n",
		"account escrow:hn:/user1  ; ledger_type: identity_escrow\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("journal lacks %q:\n%s", want, got)
		}
	}
}

func TestWriterRefuses(t *testing.T) {
	tests := map[string]journal.Row{
		"two spaces":      {TransactionID: "t", Account: "escrow:a  b", Currency: "USD", Amount: "1"},
		"virtual":         {TransactionID: "t", Account: "(x)", Currency: "USD", Amount: "1"},
		"empty":           {TransactionID: "t", Account: "", Currency: "USD", Amount: "1"},
		"commodity digit": {TransactionID: "t", Account: "a", Currency: "U5D", Amount: "1"},
	}
	for name, r := range tests {
		w := hledger.NewWriter(&bytes.Buffer{}, 0)
		if err := w.Write(&r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestHledgerChecks runs hledger itself on a journal of many transactions: it must pass
// `hledger check --strict` and balance to zero.
func TestHledgerChecks(t *testing.T) {
	bin, err := exec.LookPath("hledger")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("hledger is not installed (apt-get install -y hledger); CI=true, so this fails")
		}
		t.Skip("hledger is not installed (apt-get install -y hledger)")
	}
	priv, _ := journal.GenerateKey(nil)
	rows, err := journaltest.Rows(journaltest.Entries(50), journal.NewSigner(priv), 50)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "j.journal")
	if err := os.WriteFile(file, []byte(write(t, rows)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-f", file, "check", "--strict").CombinedOutput(); err != nil {
		t.Fatalf("hledger check --strict: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-f", file, "balance", "--flat", "provider:5b0c8a52-0000-4000-8000-000000000001").Output()
	if err != nil {
		t.Fatal(err)
	}
	// The provider is debited every revenue: the sum over i of (100i+1)+(100i+2)… quanta.
	var want int64
	for i := 0; i < 50; i++ {
		for j := 1; j < 2+i%3; j++ {
			want += int64(100*i + j)
		}
	}
	if got := fmt.Sprintf("0.%012d USD", want); !strings.Contains(string(out), got) {
		t.Fatalf("provider balance = %s, want %d quanta", out, want)
	}
}
