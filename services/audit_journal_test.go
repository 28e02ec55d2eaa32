package services_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/journal"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// exportCSV drains ExportJournal.
func (e *env) exportCSV(t *testing.T, p principal) []byte {
	t.Helper()
	stream, err := e.audit.ExportJournal(p.ctx(), &v1.ExportJournalRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes()
		} else if err != nil {
			t.Fatal(err)
		}
		buf.Write(m.GetChunk())
	}
}

// verifyCSV checks an export offline with a key fetched from the API.
func verifyCSV(export []byte, keys journal.Keys, opts journal.VerifyOptions) (journal.Summary, error) {
	dec := csv.NewJournalDecoder(bytes.NewReader(export))
	v := journal.NewVerifier(keys, opts)
	var r journal.Row
	for {
		err := dec.DecodeRow(&r)
		if errors.Is(err, io.EOF) {
			return v.Close()
		} else if err != nil {
			return journal.Summary{}, err
		}
		if err := v.Add(&r); err != nil {
			return journal.Summary{}, err
		}
	}
}

// TestVerifiableJournalOverGRPC walks the auditor's and the contributor's paths: export and
// verify offline with the published key, verify on the server, page through checkpoints, and
// prove a contributor's credit.
func TestVerifiableJournalOverGRPC(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	auditor := e.principal("audit", auth.RoleAuditor)
	acme := e.principal("acme", auth.RoleProvider)
	ana := e.principal("ana", auth.RoleContributor)
	e.ingest(admin, post("1", "ana", anaText))
	claim, err := e.contributor.StartClaim(ana.ctx(), &v1.StartClaimRequest{IdentityKey: "forum:s/ana"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.ApproveClaim(admin.ctx(), &v1.ApproveClaimRequest{ClaimId: claim.GetClaim().GetId()}); err != nil {
		t.Fatal(err)
	}
	var credited string
	for i, rid := range []string{"r1", "r2", "r3"} {
		u, err := e.provider.ReportUsage(acme.ctx(), usageReq(rid, "1.5", anaText))
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			credited = u.GetUsage().GetTransactionId()
		}
		e.seal() // one checkpoint per report
	}

	pk, err := e.audit.GetPublicKey(ana.ctx(), &v1.GetPublicKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := journal.ParsePublicKey([]byte(pk.GetPublicKey()))
	if err != nil || journal.KeyID(pub) != pk.GetKeyId() {
		t.Fatalf("public key %q (%s): %v", pk.GetPublicKey(), pk.GetKeyId(), err)
	}
	keys := journal.NewKeys(pub)

	export := e.exportCSV(t, auditor)
	sum, err := verifyCSV(export, keys, journal.VerifyOptions{})
	if err != nil {
		t.Fatalf("offline verification of ExportJournal: %v", err)
	}
	if sum.Sealed != 3 || sum.Checkpoints != 3 {
		t.Fatalf("summary = %+v", sum)
	}
	tampered := bytes.Replace(export, []byte(",-0."), []byte(",-1."), 1)
	if _, err := verifyCSV(tampered, keys, journal.VerifyOptions{}); err == nil {
		t.Fatal("a tampered export verified")
	}

	vr, err := e.audit.VerifyJournal(auditor.ctx(), &v1.VerifyJournalRequest{})
	if err != nil || !vr.GetOk() || vr.GetRows() != sum.Rows || vr.GetCheckpoint().GetSize() != 3 {
		t.Fatalf("VerifyJournal = %v, %v", vr, err)
	}

	// Checkpoints, newest first, one per page.
	var sizes []uint64
	req := &v1.ListCheckpointsRequest{PageSize: 1}
	for {
		page, err := e.audit.ListCheckpoints(ana.ctx(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.GetCheckpoints() {
			sizes = append(sizes, c.GetSize())
			cp, err := services.CheckpointFromProto(c)
			if err != nil {
				t.Fatal(err)
			}
			if err := cp.Verify(keys); err != nil {
				t.Fatal(err)
			}
		}
		if page.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	if len(sizes) != 3 || sizes[0] != 3 || sizes[2] != 1 {
		t.Fatalf("checkpoint sizes = %v", sizes)
	}
	_, err = e.audit.ListCheckpoints(ana.ctx(), &v1.ListCheckpointsRequest{PageToken: "%%"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.audit.ListCheckpoints(ana.ctx(), &v1.ListCheckpointsRequest{PageSize: 5000})
	wantCode(t, err, codes.InvalidArgument)

	// Ana proves her credit, under the newest checkpoint and under the one of its own block.
	for _, size := range []uint64{0, 2} {
		resp, err := e.audit.GetInclusionProof(ana.ctx(), &v1.GetInclusionProofRequest{TransactionId: credited, CheckpointSize: size})
		if err != nil {
			t.Fatal(err)
		}
		p, err := services.ProofFromProto(credited, resp)
		if err != nil {
			t.Fatal(err)
		}
		entry, err := p.Verify(keys)
		if err != nil {
			t.Fatalf("proof under checkpoint %d: %v", size, err)
		}
		found := false
		for _, posting := range resp.GetPostings() {
			found = found || posting.GetAccount() == "contributor:"+ana.ID
		}
		if !found || len(entry.Postings) != len(resp.GetPostings()) {
			t.Fatalf("the proof does not show ana's credit: %v", resp.GetPostings())
		}
	}
	_, err = e.audit.GetInclusionProof(ana.ctx(), &v1.GetInclusionProofRequest{TransactionId: credited, CheckpointSize: 1})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = e.audit.GetInclusionProof(ana.ctx(), &v1.GetInclusionProofRequest{TransactionId: "nope"})
	wantCode(t, err, codes.InvalidArgument)

	// The operator edits an amount behind the ledger's back: VerifyJournal names the row.
	if _, err := e.pool.Exec(t.Context(), `UPDATE ledger_postings SET amount = amount + 1 WHERE transaction_id = $1 AND n = 0`, credited); err != nil {
		t.Fatal(err)
	}
	vr, err = e.audit.VerifyJournal(auditor.ctx(), &v1.VerifyJournalRequest{})
	if err != nil || vr.GetOk() || vr.GetErrorRow() == 0 || !strings.Contains(vr.GetError(), credited) {
		t.Fatalf("VerifyJournal after tampering = %v, %v", vr, err)
	}
}

func TestJournalWithoutSigningKey(t *testing.T) {
	e := newEnvWith(t, func(o *services.Options) { o.JournalKey = nil })
	auditor := e.principal("audit", auth.RoleAuditor)
	_, err := e.audit.GetPublicKey(auditor.ctx(), &v1.GetPublicKeyRequest{})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = e.audit.VerifyJournal(auditor.ctx(), &v1.VerifyJournalRequest{})
	wantCode(t, err, codes.FailedPrecondition)
	// The export works without a key; it just has nothing sealed.
	if _, err := verifyCSV(e.exportCSV(t, auditor), nil, journal.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestInclusionProofLeaksNothing asks for proofs of transactions that are not the caller's,
// under checkpoints signed before them: the answer must be the one for a transaction that does
// not exist. (It used to be FAILED_PRECONDITION naming the transaction's journal index, which
// told any contributor that another principal's transaction existed and where it was.) A
// provider proves its own reports, and only those.
func TestInclusionProofLeaksNothing(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	acme := e.principal("acme", auth.RoleProvider)
	other := e.principal("other", auth.RoleProvider)
	ana := e.principal("ana", auth.RoleContributor)
	e.ingest(admin, post("1", "ana", anaText), post("2", "bo", boText))
	first, err := e.provider.ReportUsage(acme.ctx(), usageReq("r1", "1", boText))
	if err != nil {
		t.Fatal(err)
	}
	e.seal() // checkpoint of size 1
	later, err := e.provider.ReportUsage(acme.ctx(), usageReq("r2", "1", boText))
	if err != nil {
		t.Fatal(err)
	}
	e.seal() // checkpoint of size 2

	absent := "00000000-0000-0000-0000-000000000042"
	for _, tc := range []struct {
		who  principal
		name string
	}{{ana, "a contributor"}, {other, "another provider"}} {
		_, want := e.audit.GetInclusionProof(tc.who.ctx(), &v1.GetInclusionProofRequest{TransactionId: absent})
		if status.Code(want) != codes.NotFound {
			t.Fatalf("%s asking for a transaction that does not exist: %v", tc.name, want)
		}
		wantMsg := strings.ReplaceAll(status.Convert(want).Message(), absent, later.GetUsage().GetTransactionId())
		for _, size := range []uint64{0, 1, 2} {
			_, err := e.audit.GetInclusionProof(tc.who.ctx(), &v1.GetInclusionProofRequest{
				TransactionId: later.GetUsage().GetTransactionId(), CheckpointSize: size})
			if status.Code(err) != codes.NotFound || status.Convert(err).Message() != wantMsg {
				t.Errorf("%s asking for acme's transaction under checkpoint %d: %v; want NOT_FOUND %q", tc.name, size, err, wantMsg)
			}
		}
	}

	// acme proves its own reports, and an older checkpoint that predates one is still
	// explained to the provider whose transaction it is.
	for _, tx := range []string{first.GetUsage().GetTransactionId(), later.GetUsage().GetTransactionId()} {
		if _, err := e.audit.GetInclusionProof(acme.ctx(), &v1.GetInclusionProofRequest{TransactionId: tx}); err != nil {
			t.Fatalf("acme's own proof of %s: %v", tx, err)
		}
	}
	_, err = e.audit.GetInclusionProof(acme.ctx(), &v1.GetInclusionProofRequest{TransactionId: later.GetUsage().GetTransactionId(), CheckpointSize: 1})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("acme's proof under a checkpoint before its transaction: %v", err)
	}
}
