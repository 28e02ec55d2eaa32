package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// demoSigningKey gives the demo server a fresh checkpoint signing key in its data directory.
func (d *demo) demoSigningKey(dataDir string) error {
	d.cfg.SigningKeyFile = filepath.Join(dataDir, "journal-signing-key.pem")
	s, err := writeSigningKey(d.cfg.SigningKeyFile)
	if err != nil {
		return err
	}
	d.say("    journal checkpoints are signed with a fresh Ed25519 key %s (--signing-key-file)", s.KeyID())
	return nil
}

// waitSealed waits until the server's sealer has given every committed transaction its journal
// position, as an auditor would before an export meant to verify completely.
func (d *demo) waitSealed(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var txs, sealed int64
		if err := d.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM ledger_transactions), (SELECT COALESCE(MAX(size), 0) FROM journal_checkpoints)`).Scan(&txs, &sealed); err != nil {
			return err
		}
		if txs == sealed {
			d.say("    the server's sealer has sealed all %d transactions (one signed checkpoint per block)", txs)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the sealer sealed %d of %d transactions in 30 s", sealed, txs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// verifyJournal is the auditor's and the contributor's check that nobody has to trust the
// operator: the export verified offline, an edited copy refused, the server's own check, a
// contributor's inclusion proof, and the books in hledger.
func (d *demo) verifyJournal(ctx context.Context, export string) error {
	d.head("the auditor verifies the export offline with the published key (royalty verify)")
	actx, cancel := d.as(ctx, d.auditor)
	defer cancel()
	audit := v1.NewAuditServiceClient(d.conn)
	pk, err := audit.GetPublicKey(actx, &v1.GetPublicKeyRequest{})
	if err != nil {
		return err
	}
	d.say("    GetPublicKey: %s (key id %s)", pk.GetPublicKey(), pk.GetKeyId())
	var out bytes.Buffer
	if err := run(ctx, []string{"verify", export, "--pubkey", pk.GetPublicKey()}, &out, d.stderr); err != nil {
		return fmt.Errorf("royalty verify: %w\n%s", err, out.String())
	}
	d.say("    %s", strings.ReplaceAll(strings.TrimSpace(out.String()), "\n", "\n    "))
	data, err := os.ReadFile(export)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\r\n")
	cells := strings.Split(lines[2], ",")
	cells[6] = strings.TrimPrefix(cells[6], "-") // row 2: an amount loses its sign
	lines[2] = strings.Join(cells, ",")
	edited := filepath.Join(filepath.Dir(export), "demo-journal-edited.csv")
	if err := os.WriteFile(edited, []byte(strings.Join(lines, "\r\n")), 0o644); err != nil {
		return err
	}
	out.Reset()
	var ec exitCode
	if err := run(ctx, []string{"verify", edited, "--pubkey", pk.GetPublicKey()}, &out, d.stderr); !errors.As(err, &ec) {
		return fmt.Errorf("royalty verify accepted an edited export: %v\n%s", err, out.String())
	}
	d.say("    an edited copy (one amount's sign removed on row 2) fails with exit status %d:\n    %s", int(ec), strings.SplitN(out.String(), "\n", 2)[0])
	vr, err := audit.VerifyJournal(actx, &v1.VerifyJournalRequest{})
	if err != nil {
		return err
	}
	d.say("    VerifyJournal on the server's own data: ok=%v, %d rows, newest checkpoint size %d root %s…", vr.GetOk(), vr.GetRows(), vr.GetCheckpoint().GetSize(), vr.GetCheckpoint().GetRootHash()[:16])

	d.head("the contributor proves a credit is in the signed journal (royalty export proof, royalty verify proof)")
	cctx, ccancel := d.as(ctx, d.contributor)
	defer ccancel()
	st, err := v1.NewContributorServiceClient(d.conn).ListStatement(cctx, &v1.ListStatementRequest{PageSize: 50})
	if err != nil {
		return err
	}
	var credit string
	for _, e := range st.GetEntries() {
		if e.GetKind() == "usage" && !strings.HasPrefix(e.GetAmount().GetAmount(), "-") {
			credit = e.GetTransactionId()
			break
		}
	}
	if credit == "" {
		return errors.New("the contributor has no credit to prove")
	}
	proof := filepath.Join(filepath.Dir(export), "demo-proof.json")
	out.Reset()
	if err := run(ctx, []string{"export", "proof", "--transaction", credit, "--out", proof, "--grpc-addr", d.srv.GRPCAddr(), "--api-key", d.contributor}, &out, d.stderr); err != nil {
		return fmt.Errorf("royalty export proof: %w", err)
	}
	out.Reset()
	if err := run(ctx, []string{"verify", "proof", proof, "--pubkey", pk.GetPublicKey()}, &out, d.stderr); err != nil {
		return fmt.Errorf("royalty verify proof: %w\n%s", err, out.String())
	}
	d.say("    %s", strings.ReplaceAll(strings.TrimSpace(out.String()), "\n", "\n    "))

	d.head("the books in hledger (royalty export hledger)")
	books := filepath.Join(filepath.Dir(export), "demo-books.journal")
	out.Reset()
	if err := run(ctx, []string{"export", "hledger", "--out", books, "--database-url", d.cfg.DatabaseURL, "--log-level", "error"}, &out, d.stderr); err != nil {
		return err
	}
	bin, err := exec.LookPath("hledger")
	if err != nil {
		d.say("    wrote %s; hledger is not installed here (apt-get install hledger) to show it", books)
		return nil
	}
	if b, err := exec.CommandContext(ctx, bin, "-f", books, "check", "--strict").CombinedOutput(); err != nil {
		return fmt.Errorf("hledger check: %v\n%s", err, b)
	}
	b, err := exec.CommandContext(ctx, bin, "-f", books, "balance", "--depth", "1").CombinedOutput()
	if err != nil {
		return fmt.Errorf("hledger balance: %v\n%s", err, b)
	}
	d.say("    wrote %s; `hledger check --strict` passes; `hledger balance --depth 1`:", books)
	d.say("    %s", strings.ReplaceAll(strings.TrimRight(string(b), "\n"), "\n", "\n    "))
	return nil
}
