package services

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/access"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/journal"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// JournalStore is the verifiable journal as the audit calls read it; ledger/journal/postgres's
// Store implements it.
type JournalStore interface {
	// Export streams the journal with its chain fields (csv.JournalSource).
	Export(ctx context.Context, since, until time.Time, fn func(*journal.Row) error) error
	// Checkpoints pages through signed checkpoints, newest first.
	Checkpoints(ctx context.Context, before uint64, limit int) ([]journal.Checkpoint, uint64, error)
	// InclusionProof proves a transaction under the checkpoint of a size (0: the newest).
	InclusionProof(ctx context.Context, transactionID string, size uint64) (journal.InclusionProof, error)
	// Verify checks the stored journal as `royalty verify` checks an export.
	Verify(ctx context.Context, keys journal.Keys) (journal.Summary, error)
}

// Checkpoint page sizes.
const (
	defaultCheckpointPage = 50
	maxCheckpointPage     = 1000
)

// VerifyJournal verifies the server's own journal with the trusted keys. An inconsistency is a
// successful call with ok false: the call worked, the books did not.
func (s *auditServer) VerifyJournal(ctx context.Context, _ *v1.VerifyJournalRequest) (*v1.VerifyJournalResponse, error) {
	if len(s.trusted) == 0 {
		return nil, toStatus(royalty.Errorf(royalty.EPRECONDITION, "no checkpoint signing key is configured on this server (serve --signing-key-file)"))
	}
	sum, err := s.verifiable.Verify(ctx, s.trusted)
	out := &v1.VerifyJournalResponse{Ok: err == nil, Rows: sum.Rows}
	if sum.Newest != nil {
		out.Checkpoint = checkpointToProto(*sum.Newest)
	}
	if err != nil {
		re, ok := journal.IsRowError(err)
		if !ok {
			return nil, toStatus(err)
		}
		out.ErrorRow, out.Error = re.Row, re.Msg
	}
	return out, nil
}

// GetPublicKey returns the key that signs this server's checkpoints.
func (s *auditServer) GetPublicKey(context.Context, *v1.GetPublicKeyRequest) (*v1.GetPublicKeyResponse, error) {
	if s.publicKey == nil {
		return nil, toStatus(royalty.Errorf(royalty.EPRECONDITION, "no checkpoint signing key is configured on this server (serve --signing-key-file)"))
	}
	return &v1.GetPublicKeyResponse{PublicKey: journal.EncodePublicKey(s.publicKey), KeyId: journal.KeyID(s.publicKey)}, nil
}

// GetLatestCheckpoint returns the newest signed checkpoint.
func (s *auditServer) GetLatestCheckpoint(ctx context.Context, _ *v1.GetLatestCheckpointRequest) (*v1.GetLatestCheckpointResponse, error) {
	cps, _, err := s.verifiable.Checkpoints(ctx, 0, 1)
	if err != nil {
		return nil, toStatus(err)
	}
	if len(cps) == 0 {
		return nil, toStatus(royalty.Errorf(royalty.ENOTFOUND, "no checkpoint yet: the journal has not been sealed"))
	}
	return &v1.GetLatestCheckpointResponse{Checkpoint: checkpointToProto(cps[0])}, nil
}

// ListCheckpoints pages through the signed checkpoints, newest first. The page token is the
// size of the last checkpoint returned.
func (s *auditServer) ListCheckpoints(ctx context.Context, req *v1.ListCheckpointsRequest) (*v1.ListCheckpointsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultCheckpointPage
	case size < 0 || size > maxCheckpointPage:
		return nil, toStatus(royalty.FieldErrorf(royalty.EINVALID, "page_size", "must be between 1 and %d, got %d", maxCheckpointPage, size))
	}
	var before uint64
	if tok := req.GetPageToken(); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil {
			before, err = strconv.ParseUint(string(b), 10, 64)
		}
		if err != nil || before == 0 {
			return nil, toStatus(royalty.FieldErrorf(royalty.EINVALID, "page_token", "not a token returned by ListCheckpoints"))
		}
	}
	cps, next, err := s.verifiable.Checkpoints(ctx, before, size)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.ListCheckpointsResponse{}
	for _, c := range cps {
		out.Checkpoints = append(out.Checkpoints, checkpointToProto(c))
	}
	if next > 0 {
		out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(next, 10)))
	}
	return out, nil
}

// GetInclusionProof proves that a transaction is in the journal under a signed checkpoint.
// Whose transactions a caller may prove is access.Rules.CheckProof's rule; any other transaction reads
// as NOT_FOUND, as if it did not exist. The rule is applied before anything about the
// transaction's place in the journal can reach the caller: a proof under an older checkpoint is
// asked for only once the newest one has shown the transaction to be the caller's.
func (s *auditServer) GetInclusionProof(ctx context.Context, req *v1.GetInclusionProofRequest) (*v1.GetInclusionProofResponse, error) {
	me := caller(ctx)
	size := req.GetCheckpointSize()
	if !access.CanSeeAll(me) {
		size = 0
	}
	p, err := s.verifiable.InclusionProof(ctx, req.GetTransactionId(), size)
	if err != nil {
		return nil, toStatus(err)
	}
	entry, perr := journal.ParseLeafData(p.LeafData)
	accounts := make([]string, len(entry.Postings))
	for i, posting := range entry.Postings {
		accounts[i] = posting.Account
	}
	if err := (access.Rules{Owners: s.ledger}).CheckProof(ctx, me, req.GetTransactionId(), accounts); err != nil {
		return nil, toStatus(err)
	}
	if size != req.GetCheckpointSize() {
		if p, err = s.verifiable.InclusionProof(ctx, req.GetTransactionId(), req.GetCheckpointSize()); err != nil {
			return nil, toStatus(err)
		}
	}
	out := &v1.GetInclusionProofResponse{
		Index: p.Index, LeafHash: p.LeafHash.String(), LeafData: p.LeafData, Checkpoint: checkpointToProto(p.Checkpoint),
	}
	for _, h := range p.Path {
		out.Path = append(out.Path, h.String())
	}
	if perr == nil { // leaf data that does not parse is still returned: the proof will not verify
		for _, posting := range entry.Postings {
			out.Postings = append(out.Postings, &v1.Posting{
				Account: posting.Account, AccountType: accountTypeToProto[ledger.AccountType(posting.AccountType)],
				Amount: money(posting.Amount, posting.Currency),
			})
		}
	}
	return out, nil
}

func checkpointToProto(c journal.Checkpoint) *v1.Checkpoint {
	return &v1.Checkpoint{
		Size: c.Size, RootHash: c.Root.String(), CreatedAt: timestamppb.New(c.Time),
		Signature: c.SignatureString(), KeyId: c.KeyID,
	}
}

// CheckpointFromProto converts an API checkpoint back for verification.
func CheckpointFromProto(c *v1.Checkpoint) (journal.Checkpoint, error) {
	out := journal.Checkpoint{Size: c.GetSize(), Time: c.GetCreatedAt().AsTime(), KeyID: c.GetKeyId()}
	var err error
	if out.Root, err = journal.ParseHash(c.GetRootHash()); err != nil {
		return out, royalty.FieldErrorf(royalty.EINVALID, "root_hash", "%v", err)
	}
	if out.Signature, err = base64.StdEncoding.DecodeString(c.GetSignature()); err != nil {
		return out, royalty.FieldErrorf(royalty.EINVALID, "signature", "not base64: %v", err)
	}
	return out, nil
}

// ProofFromProto converts an inclusion proof from the API into the offline proof format that
// `royalty verify proof` checks.
func ProofFromProto(transactionID string, r *v1.GetInclusionProofResponse) (journal.InclusionProof, error) {
	p := journal.InclusionProof{TransactionID: transactionID, Index: r.GetIndex(), LeafData: r.GetLeafData()}
	var err error
	if p.LeafHash, err = journal.ParseHash(r.GetLeafHash()); err != nil {
		return p, royalty.FieldErrorf(royalty.EINVALID, "leaf_hash", "%v", err)
	}
	for i, s := range r.GetPath() {
		h, err := journal.ParseHash(s)
		if err != nil {
			return p, royalty.FieldErrorf(royalty.EINVALID, "path", "hash %d: %v", i, err)
		}
		p.Path = append(p.Path, h)
	}
	p.Checkpoint, err = CheckpointFromProto(r.GetCheckpoint())
	return p, err
}

// trustedKeys is the key set VerifyJournal accepts.
func trustedKeys(signing ed25519.PublicKey, more []ed25519.PublicKey) journal.Keys {
	var all []ed25519.PublicKey
	if signing != nil {
		all = append(all, signing)
	}
	return journal.NewKeys(append(all, more...)...)
}
