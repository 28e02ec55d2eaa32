// Package ledger is royalty's double-entry bookkeeping: the domain types, the money rules and
// the interface of the ledger (Ledger); ledger/postgres implements it on PostgreSQL and
// CockroachDB. docs/design.md describes the accounting model.
//
// Every money movement is one Transaction of two or more Postings whose signed amounts (debit
// positive, credit negative) sum to exactly zero per currency. Transactions are append-only: a
// correction is a new reversing transaction. A usage report books its whole revenue in one
// transaction: the provider is debited the revenue, and the provider's retained part, the
// platform fee, each credited identity's royalty (to its contributor when the identity is
// claimed, else to the identity's escrow) and the unattributed remainder are credited, split
// exactly to the ledger quantum by Split. Every write carries an idempotency key.
//
// The rules of every movement are pure functions of this package, without I/O: PlanUsage,
// PlanReversal (with ReversalPlan.CheckCovered), PlanPayout and PlanEscrowRelease take plain
// values (the request, and the balances, owners or original transaction the movement depends
// on) and return the postings to book, or a *royalty.Error refusing the movement (an error of
// any other type is a broken invariant). An implementation of Ledger validates the request,
// reads those inputs in the database transaction that books the movement, calls the planner and
// writes its plan unchanged: it adds ids, times and metadata, never postings. Every plan
// balances per currency; no plan takes a contributor's or an escrow's balance below zero.
//
// Amounts are shopspring/decimal values with at most the ledger scale of fractional digits
// (ParseAmount); rates and attribution shares are exact (decimal, *big.Rat). Currencies are the
// current ISO 4217 codes with a minor unit (ParseCurrency); payouts are whole minor units
// (MinorUnitScale, Available). The package imports nothing beyond the standard library, decimal,
// github.com/bojanz/currency (the ISO 4217 List One table) and the royalty error type.
package ledger

import (
	"context"
	"math/big"
	"time"

	"github.com/shopspring/decimal"
)

// Kind is the kind of a transaction.
type Kind string

// Transaction kinds.
const (
	KindUsage         Kind = "usage"          // a usage report: revenue split
	KindReversal      Kind = "reversal"       // the exact opposite of a usage, with a reason
	KindEscrowRelease Kind = "escrow_release" // an identity's escrow moved to its new owner
	KindPayout        Kind = "payout"         // money leaving a contributor's account
)

// Posting is one line of a transaction.
type Posting struct {
	Account  string
	Type     AccountType
	Currency string
	// Amount is signed: debit positive, credit negative.
	Amount decimal.Decimal
}

// Normal is the posting's amount in its account's normal direction: what it adds to the
// account's balance as the API shows it (a royalty credited to a contributor is positive).
func (p Posting) Normal() decimal.Decimal {
	if p.Type.DebitNormal() {
		return p.Amount
	}
	return p.Amount.Neg()
}

// Transaction is one balanced set of postings, as stored.
type Transaction struct {
	ID        string
	Kind      Kind
	CreatedAt time.Time
	// PrincipalID and RequestID are the idempotency key (unique per Kind): the provider and its
	// request id for usage and reversals (a reversal's request id is the reversed transaction's
	// id), the contributor and its request id for payouts, the contributor and the identity key
	// for escrow releases.
	PrincipalID string
	RequestID   string
	PayloadHash []byte
	// Reverses is the usage transaction a reversal reverses.
	Reverses string
	Postings []Posting
}

// Share is the fraction of a response credited to one identity, exactly as attribution computed
// it (credited words / response words, a word covered by k authors counting 1/k).
type Share struct {
	IdentityKey string
	// Share is in (0, 1]; the shares of a report sum to at most 1.
	Share *big.Rat
	// Words is the number of response words credited (fractional); optional, kept for display.
	Words *big.Rat
}

// Evidence is one credited span: which words of the response came from which post. The ledger
// stores it with the usage and returns it in statements; it does not interpret it.
type Evidence struct {
	IdentityKey string
	PostID      string
	PostURL     string
	// ResponseStart and ResponseEnd are the byte range [start, end) in the response as sent.
	ResponseStart, ResponseEnd int
	// ResponseWordStart and ResponseWordEnd are the word positions [start, end).
	ResponseWordStart, ResponseWordEnd int
	// SourceStart and SourceEnd are the byte range [start, end) in the source post's text.
	SourceStart, SourceEnd int
	// Text is the span as it appears in the response.
	Text string
}

// IndexVersion identifies the search index a usage was attributed against: how many posts it
// held and its high-water mark (the batches written to it since it was created). A statement
// shows it, so that a credit can be traced to what the index knew when it was booked.
type IndexVersion struct {
	Posts uint64
	Mark  uint64
}

// UsageRequest is one usage report to book.
type UsageRequest struct {
	// ProviderID is the reporting provider's principal id; with RequestID the idempotency key.
	ProviderID string
	// RequestID is the caller-chosen idempotency key: 1 to 200 printable characters.
	RequestID        string
	ModelID          string
	ModelVersionHash string
	InputTokens      uint64
	OutputTokens     uint64
	// Revenue is what the response earned: positive, at most the ledger scale of fractional
	// digits. A revenue of zero is refused: it would book a transaction without postings.
	Revenue  decimal.Decimal
	Currency string
	// Shares are the attribution shares, one per identity (at most MaxShares).
	Shares []Share
	// Evidence is the attribution's evidence; every span names an identity of Shares.
	Evidence []Evidence
	// Response is the model response as sent, when the caller gives it: stored with the
	// booking so that a statement can show each credit's evidence in the whole response.
	// Evidence's Response offsets index into it.
	Response string
	// AttributionRef and Algorithm identify the attribution that produced the shares.
	AttributionRef string
	Algorithm      string
	// Index is the version of the search index the shares were attributed against, when known;
	// it is recorded with the booking and is not part of the payload hash (a retry attributed
	// against a newer index is the same report).
	Index *IndexVersion
	// RequestHash is the hash of the caller's full request (including what the ledger does not
	// see, such as the response text). The same key with a different hash is a conflict. When
	// empty, the ledger hashes the canonical form of this UsageRequest instead.
	RequestHash []byte
}

// Credit is what one account received from a usage report.
type Credit struct {
	Account string
	Type    AccountType
	// Amount is positive: what the account's balance grew by.
	Amount decimal.Decimal
	// IdentityKey is the identity whose words earned it (contributor and escrow credits).
	IdentityKey string
	// ContributorID is the owner of the identity when the credit went to a contributor.
	ContributorID string
	// Share is the attribution share behind the credit (contributor and escrow credits).
	Share *big.Rat
	// Words is the number of credited response words, when the caller gave it.
	Words *big.Rat
	// PostingIndex is the index of the credit's posting in Usage.Postings.
	PostingIndex int
}

// Usage is a booked usage report.
type Usage struct {
	TransactionID    string
	RequestID        string
	ProviderID       string
	ModelID          string
	ModelVersionHash string
	InputTokens      uint64
	OutputTokens     uint64
	Currency         string
	Revenue          decimal.Decimal
	// RoyaltyRate is the provider's rate when the report was booked; PlatformFeeRate the fee
	// taken from the royalty.
	RoyaltyRate     decimal.Decimal
	PlatformFeeRate decimal.Decimal
	// Royalty is Revenue − Retained: the platform fee, the identities' credits and the
	// unattributed remainder together.
	Royalty      decimal.Decimal
	Retained     decimal.Decimal
	PlatformFee  decimal.Decimal
	Unattributed decimal.Decimal
	// Credits has one entry per credited identity (to its contributor or its escrow), in
	// identity key order. Zero amounts are left out.
	Credits        []Credit
	Evidence       []Evidence
	AttributionRef string
	Algorithm      string
	// Index is the version of the search index the report was attributed against; nil for
	// reports booked before versions were recorded, or without one.
	Index       *IndexVersion
	PayloadHash []byte
	CreatedAt   time.Time
	// Reversal is set once the report has been reversed.
	Reversal *Reversal
	// Postings are the complete postings of the transaction.
	Postings []Posting
	// FeedbackRate is the provider's feedback rate when the report was booked, and Feedback
	// what it put into the feedback pools of its model version's lineage (the provider's
	// debit of their sum comes after the post royalties' postings); both zero and empty for a
	// version without lineage.
	FeedbackRate decimal.Decimal
	Feedback     []PoolCredit
}

// UsageResult is the outcome of booking one usage report.
type UsageResult struct {
	Usage Usage
	// Replayed is true when the key had been booked before with the same payload and this is
	// the original result: nothing was booked.
	Replayed bool
}

// ReversalRequest asks to reverse a usage report, named by TransactionID or by RequestID.
type ReversalRequest struct {
	// ProviderID is the provider that booked the report; only it may reverse it.
	ProviderID    string
	TransactionID string
	RequestID     string
	// Reason is why (1 to 500 characters); kept in the ledger.
	Reason string
}

// Reversal is a booked reversal.
type Reversal struct {
	TransactionID string
	Reason        string
	CreatedAt     time.Time
}

// ReversalResult is the reversed report.
type ReversalResult struct {
	// Usage is the original report with Reversal set.
	Usage Usage
	// Postings are the reversal's postings.
	Postings []Posting
	// Replayed is true when the report had already been reversed with the same reason.
	Replayed bool
}

// EscrowReleaseRequest records that a contributor verified an identity and moves the identity's
// escrow to the contributor.
type EscrowReleaseRequest struct {
	IdentityKey   string
	ContributorID string
}

// EscrowRelease is what a release did.
type EscrowRelease struct {
	IdentityKey   string
	ContributorID string
	// TransactionID is the release transaction; empty when no money was waiting.
	TransactionID string
	// Released lists what moved, per currency.
	Released   []Money
	VerifiedAt time.Time
	// Replayed is true when the identity already belonged to this contributor.
	Replayed bool
}

// Money is an amount in a currency.
type Money struct {
	Amount   decimal.Decimal
	Currency string
}

// PayoutRequest asks to pay out part or all of a contributor's available balance.
type PayoutRequest struct {
	ContributorID string
	// RequestID is the caller-chosen idempotency key (per contributor).
	RequestID string
	Currency  string
	// Amount, if not nil, is what to pay: positive and in whole minor units of the currency.
	// Nil means everything available.
	Amount *decimal.Decimal
}

// Payout is a booked payout.
type Payout struct {
	TransactionID string
	ContributorID string
	RequestID     string
	Currency      string
	Amount        decimal.Decimal
	// Remaining is what the contributor was still owed right after the payout.
	Remaining decimal.Decimal
	CreatedAt time.Time
}

// PayoutResult is the outcome of a payout request.
type PayoutResult struct {
	Payout   Payout
	Replayed bool
}

// Balance is an account's balance in one currency, in the account's normal direction.
type Balance struct {
	Account  string
	Currency string
	Balance  decimal.Decimal
	// Available is Balance rounded down to the currency's minor unit (never negative): what a
	// payout could take now.
	Available decimal.Decimal
}

// StatementQuery selects a page of an account's postings, newest first.
type StatementQuery struct {
	Account string
	// Currency, if set, keeps only postings in that currency.
	Currency string
	// PageSize is 1 to MaxPageSize; 0 means DefaultPageSize.
	PageSize int
	// PageToken is the NextPageToken of the previous page, or empty for the first.
	PageToken string
	// ExpandReleases, on a contributor's account, fills Released of each escrow_release entry
	// with the escrow entries that release moved (AssignReleases): the credits the identity
	// earned while unclaimed, with their evidence, and reversals of them. The caller who may
	// read the contributor's statement may read them: the identity is the contributor's.
	ExpandReleases bool
}

// Page sizes for statements.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// StatementEntry is one posting to the account.
type StatementEntry struct {
	TransactionID string
	CreatedAt     time.Time
	Kind          Kind
	Currency      string
	// Amount is the change to the account's balance in its normal direction (a royalty is
	// positive on a contributor's statement, a payout negative).
	Amount decimal.Decimal
	// ModelID and IdentityKey are set for usage credits and their reversals.
	ModelID     string
	IdentityKey string
	// Evidence holds the usage's evidence spans for IdentityKey (usage credits only).
	Evidence []Evidence
	// Reverses and Reason are set for reversals.
	Reverses string
	Reason   string
	// Index is the version of the search index a usage credit was attributed against, when
	// it was recorded.
	Index *IndexVersion
	// Released is set for an escrow_release entry of a contributor's statement read with
	// StatementQuery.ExpandReleases: the entries of the identity's escrow account, in the
	// entry's currency, that the release moved, newest first, in the escrow's normal direction.
	// They sum exactly to Amount.
	Released []StatementEntry
	// Feedback is set for a rater's credit from a feedback settlement: its evidence.
	Feedback *FeedbackCredit
}

// StatementPage is one page of a statement.
type StatementPage struct {
	Entries []StatementEntry
	// NextPageToken continues the statement; empty on the last page.
	NextPageToken string
}

// TrialBalanceLine sums one account type in one currency.
type TrialBalanceLine struct {
	Type     AccountType
	Currency string
	// Debits is the sum of positive postings, Credits of negative ones, Balance their sum.
	Debits, Credits, Balance decimal.Decimal
	// Accounts counts the accounts of this type with postings in this currency.
	Accounts int
	// Postings counts the postings summed in this line.
	Postings int64
}

// TrialBalance sums every posting per account type and currency.
type TrialBalance struct {
	Lines []TrialBalanceLine
	// Totals is the sum of all balances per currency: zero in a balanced ledger.
	Totals []Money
	// Postings counts every posting summed, in all currencies; each line has its own count.
	Postings int64
}

// Agreement is a provider's royalty rate.
type Agreement struct {
	ProviderID  string
	RoyaltyRate decimal.Decimal
	// FeedbackRate is the fraction of revenue booked into feedback pools for model versions
	// with lineage; zero without one.
	FeedbackRate decimal.Decimal
	// Default is true when the provider has no agreement of its own and the configured default
	// rate applies.
	Default   bool
	UpdatedAt time.Time
}

// Ledger is the double-entry ledger. Implementations are safe for concurrent use by multiple
// goroutines. Errors are *royalty.Error values with the codes listed per method (EINVALID always
// names the field); any other error is internal. A method that returns one of those errors has
// booked nothing. The one exception is the caller's context ending first (its error is
// returned, context.Canceled or context.DeadlineExceeded): the outcome is then unknown, as
// with any request whose answer is lost — a grouped report may still commit — and retrying
// with the same idempotency key tells which.
type Ledger interface {
	// PostUsage books one usage report in one transaction (see the package comment).
	// It can return:
	//  * EINVALID: a field is malformed (revenue zero or negative, unknown currency, shares out
	//    of range or summing above 1, evidence for an identity without a share, …)
	//  * ENOTFOUND: ProviderID is not a provider
	//  * ECONFLICT: the key was booked before with a different payload
	PostUsage(ctx context.Context, req UsageRequest) (UsageResult, error)
	// PostUsageBatch books many reports in one database transaction, each with its own key, and
	// returns one result per report in order (a report repeated within the batch, or booked
	// before, is Replayed). All or nothing: any error books nothing. It can return the errors of
	// PostUsage with the field prefixed by "reports[i].", naming the report, and
	//  * EINVALID: more than MaxBatch reports
	//  * ECONFLICT: two reports of the batch share a key with different payloads
	PostUsageBatch(ctx context.Context, reqs []UsageRequest) ([]UsageResult, error)
	// ReplayUsage returns the report booked under (providerID, requestID) if its payload hash
	// equals requestHash, so that a retry can be answered without attributing again.
	// It can return:
	//  * ENOTFOUND: nothing booked under the key
	//  * ECONFLICT: booked with a different payload
	ReplayUsage(ctx context.Context, providerID, requestID string, requestHash []byte) (Usage, error)
	// GetUsage returns a report by its transaction id.
	// It can return:
	//  * EINVALID: the id is not a UUID
	//  * ENOTFOUND: no usage transaction with that id
	GetUsage(ctx context.Context, transactionID string) (Usage, error)
	// UsageByRequest returns a provider's report by its request id.
	// It can return:
	//  * ENOTFOUND: nothing booked under the key
	UsageByRequest(ctx context.Context, providerID, requestID string) (Usage, error)
	// ReverseUsage books the opposite of a usage report with a reason. Credits that went to an
	// identity's escrow are taken back from the identity's owner when the escrow has since been
	// released. A report is reversed at most once.
	// It can return:
	//  * EINVALID: no target, or a reason missing or too long
	//  * ENOTFOUND: no usage of this provider under the id or request id
	//  * EPRECONDITION: the transaction is not a usage (a reversal cannot be reversed), the
	//    report was already reversed with a different reason, or a contributor or escrow would
	//    be left with a negative balance because the money was already paid out (the message
	//    names the account and the shortfall)
	ReverseUsage(ctx context.Context, req ReversalRequest) (ReversalResult, error)
	// ReleaseEscrow records that the contributor owns the identity (an identity has at most one
	// owner) and moves the identity's escrow, in every currency, to the contributor in one
	// transaction. Idempotent: releasing again to the same contributor returns the original.
	// It can return:
	//  * EINVALID: malformed identity key or contributor id
	//  * ENOTFOUND: the contributor does not exist or is not a contributor
	//  * ECONFLICT: the identity belongs to another contributor
	ReleaseEscrow(ctx context.Context, req EscrowReleaseRequest) (EscrowRelease, error)
	// IdentityOwners returns the contributor owning each claimed identity among keys; unclaimed
	// identities are absent from the map.
	IdentityOwners(ctx context.Context, keys []string) (map[string]string, error)
	// Payout moves at most the available balance (rounded down to the currency's minor unit)
	// from the contributor's account to payout clearing. Idempotent by (contributor, request id).
	// It can return:
	//  * EINVALID: malformed field, or an amount not in whole minor units
	//  * ENOTFOUND: the contributor does not exist
	//  * ECONFLICT: the request id was used before with a different currency or amount
	//  * EPRECONDITION: insufficient funds, or nothing available (the message says how much is)
	Payout(ctx context.Context, req PayoutRequest) (PayoutResult, error)
	// Balances returns an account's balance per currency as of a time (inclusive; the zero time
	// means now), in the account's normal direction. Currencies without postings are absent.
	// It can return:
	//  * EINVALID: malformed address
	Balances(ctx context.Context, account string, asOf time.Time) ([]Balance, error)
	// Statement returns a page of an account's postings, newest first.
	// It can return:
	//  * EINVALID: malformed address, currency, page size or page token
	Statement(ctx context.Context, q StatementQuery) (StatementPage, error)
	// TrialBalance sums all postings as of a time (the zero time means now) per account type
	// and currency.
	TrialBalance(ctx context.Context, asOf time.Time) (TrialBalance, error)
	// SetAgreement sets a provider's royalty rate for reports booked from now on.
	// It can return:
	//  * EINVALID: rate outside [0, 1] or malformed id
	//  * ENOTFOUND: not a provider
	SetAgreement(ctx context.Context, providerID string, rate decimal.Decimal) (Agreement, error)
	// GetAgreement returns a provider's agreement, or the default rate when it has none.
	// It can return:
	//  * EINVALID: malformed id
	GetAgreement(ctx context.Context, providerID string) (Agreement, error)
}

// Journal is implemented by ledgers that can stream their transactions, for audits and for
// ledgertest.
type Journal interface {
	// Journal calls fn for every transaction created in [since, until) (zero times are open
	// ends), from one consistent snapshot, in created_at order. It stops at fn's first error
	// and returns it.
	Journal(ctx context.Context, since, until time.Time, fn func(Transaction) error) error
}
