package ledger

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
)

// Feedback royalties (docs/design.md, "Feedback royalties"). A provider reports its users'
// feedback (thumbs, preferences, corrections) as events; each event counts for its rater in the
// epoch it was reported in (the UTC month, "2026-11"). The provider declares which epochs a model
// version was trained on, with weights (lineage). Every usage of a version with lineage books
// feedback_rate × revenue, in the usage's own transaction, from the provider into the feedback
// pools of those epochs, one pool per epoch and UTC day of booking. After the pool's day and its
// epoch have ended and the reversal window has passed, the pool is settled once: split among the
// epoch's raters by their accepted events, each capped.

// Feedback kinds.
const (
	FeedbackThumbsUp   = "thumbs_up"
	FeedbackThumbsDown = "thumbs_down"
	FeedbackPreference = "preference"
	FeedbackCorrection = "correction"
)

// FeedbackKinds lists the feedback kinds.
var FeedbackKinds = []string{FeedbackThumbsUp, FeedbackThumbsDown, FeedbackPreference, FeedbackCorrection}

// KindFeedbackSettlement is a feedback pool split among its raters.
const KindFeedbackSettlement Kind = "feedback_settlement"

// AccountFeedbackPool holds a provider's feedback money for one epoch and day until settled.
const AccountFeedbackPool AccountType = "feedback_pool"

const (
	prefixFeedbackPool = "feedback_pool:"
	// RaterPlatform is the platform of rater identities: "provider:<provider id>/<rater id>".
	RaterPlatform = "provider"
	// MaxRaterIDChars bounds the provider's opaque id of a rater.
	MaxRaterIDChars = 100
	// MaxLineageEpochs bounds the epochs of one declaration; MaxRejected its rejected raters.
	MaxLineageEpochs = 120
	MaxRejected      = 10000
	// DefaultFeedbackCap is the default number of events counted per rater and epoch.
	DefaultFeedbackCap = 1000
)

// FeedbackPoolAccount is the address of a provider's pool for an epoch ("2026-11") and a day of
// booking ("2026-12-06").
func FeedbackPoolAccount(providerID, epoch, day string) string {
	return prefixFeedbackPool + providerID + "/" + epoch + "/" + day
}

// FeedbackPool is a parsed pool address.
type FeedbackPool struct {
	ProviderID, Epoch, Day string
}

// ParseFeedbackPool parses a pool address. Errors are EINVALID and name field.
func ParseFeedbackPool(field, address string) (FeedbackPool, error) {
	rest, ok := strings.CutPrefix(address, prefixFeedbackPool)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || !isUUID(parts[0]) || CheckEpoch(field, parts[1]) != nil || checkDay(parts[2]) != nil {
		return FeedbackPool{}, royalty.FieldErrorf(royalty.EINVALID, field, "want a feedback pool such as \"feedback_pool:<provider id>/2026-11/2026-12-06\", got %s", quote(address))
	}
	return FeedbackPool{ProviderID: parts[0], Epoch: parts[1], Day: parts[2]}, nil
}

// Ends returns when the pool may be settled: once both its epoch and its day have ended and
// window has passed since.
func (p FeedbackPool) Ends(window time.Duration) time.Time {
	e, _ := time.Parse("2006-01", p.Epoch)
	d, _ := time.Parse("2006-01-02", p.Day)
	end := e.AddDate(0, 1, 0)
	if de := d.AddDate(0, 0, 1); de.After(end) {
		end = de
	}
	return end.Add(window)
}

// EpochOf is the feedback epoch of a time: its UTC month, "2006-01".
func EpochOf(t time.Time) string { return t.UTC().Format("2006-01") }

// DayOf is the pool day of a time: its UTC date, "2006-01-02".
func DayOf(t time.Time) string { return t.UTC().Format("2006-01-02") }

// CheckEpoch checks an epoch name: a UTC month "YYYY-MM". Errors are EINVALID and name field.
func CheckEpoch(field, epoch string) error {
	if t, err := time.Parse("2006-01", epoch); err != nil || t.Format("2006-01") != epoch {
		return royalty.FieldErrorf(royalty.EINVALID, field, "want an epoch as a UTC month such as \"2026-11\", got %s", quote(epoch))
	}
	return nil
}

func checkDay(day string) error {
	if t, err := time.Parse("2006-01-02", day); err != nil || t.Format("2006-01-02") != day {
		return fmt.Errorf("bad day %q", day)
	}
	return nil
}

// RaterIdentityKey is the identity key of a provider's rater: "provider:<provider id>/<rater
// id>". Its credits wait in the identity's escrow until a contributor claims it.
func RaterIdentityKey(providerID, raterID string) string {
	return RaterPlatform + ":" + providerID + "/" + raterID
}

// ParseRaterIdentity splits a rater identity key into its provider and rater id; ok is false for
// other identities.
func ParseRaterIdentity(key string) (providerID, raterID string, ok bool) {
	rest, found := strings.CutPrefix(key, RaterPlatform+":")
	if !found {
		return "", "", false
	}
	providerID, raterID, found = strings.Cut(rest, "/")
	if !found || !isUUID(providerID) || raterID == "" {
		return "", "", false
	}
	return providerID, raterID, true
}

// CheckRaterID checks a provider's opaque rater id: 1 to MaxRaterIDChars printable characters
// without spaces or slashes, and not an e-mail address. Errors are EINVALID and name field.
func CheckRaterID(field, id string) error {
	switch {
	case id == "":
		return royalty.FieldErrorf(royalty.EINVALID, field, "required")
	case len(id) > MaxRaterIDChars:
		return royalty.FieldErrorf(royalty.EINVALID, field, "longer than %d bytes", MaxRaterIDChars)
	case !printable(id, false) || strings.ContainsAny(id, "/"):
		return royalty.FieldErrorf(royalty.EINVALID, field, "must be printable characters without spaces or slashes")
	case strings.Contains(id, "@"):
		return royalty.FieldErrorf(royalty.EINVALID, field, "must be an opaque pseudonymous id, not an e-mail address")
	}
	return nil
}

// FeedbackRequest is one feedback event to record.
type FeedbackRequest struct {
	// ProviderID is the reporting provider; with RequestID the idempotency key.
	ProviderID string
	RequestID  string
	// RaterID is the provider's opaque pseudonymous id of its user (never an e-mail).
	RaterID string
	// Kind is one of FeedbackKinds.
	Kind string
	// ModelVersion is the model version rated (the usage reports' model id).
	ModelVersion string
	// UsageRequestID optionally names the provider's usage report the feedback is about.
	UsageRequestID string
}

// Feedback is a recorded feedback event.
type Feedback struct {
	FeedbackRequest
	// IdentityKey is RaterIdentityKey(ProviderID, RaterID).
	IdentityKey string
	// Epoch is the UTC month the event was recorded in: the epoch it counts for.
	Epoch       string
	PayloadHash []byte
	CreatedAt   time.Time
}

// FeedbackResult is the outcome of recording one event.
type FeedbackResult struct {
	Feedback Feedback
	// Replayed is true when the key had been recorded before with the same payload.
	Replayed bool
}

// ValidateFeedback checks a feedback event; field names are prefixed with prefix. Errors are
// EINVALID.
func ValidateFeedback(prefix string, req FeedbackRequest) error {
	return withPrefix(prefix, validateFeedback(req))
}

func validateFeedback(req FeedbackRequest) error {
	if err := CheckID("provider_id", req.ProviderID); err != nil {
		return err
	}
	if err := CheckRequestID("request_id", req.RequestID); err != nil {
		return err
	}
	if err := CheckRaterID("rater_id", req.RaterID); err != nil {
		return err
	}
	if !slices.Contains(FeedbackKinds, req.Kind) {
		return royalty.FieldErrorf(royalty.EINVALID, "kind", "want one of %s, got %s", strings.Join(FeedbackKinds, ", "), quote(req.Kind))
	}
	if err := checkText("model_version", req.ModelVersion, maxTextFieldChars, true); err != nil {
		return err
	}
	return checkText("usage_request_id", req.UsageRequestID, MaxRequestIDChars, false)
}

// HashFeedback is the payload hash of a feedback event: every field.
func HashFeedback(req FeedbackRequest) []byte {
	h := newFieldHash("royalty.ledger.feedback.v1")
	h.str(req.ProviderID)
	h.str(req.RequestID)
	h.str(req.RaterID)
	h.str(req.Kind)
	h.str(req.ModelVersion)
	h.str(req.UsageRequestID)
	return h.sum()
}

// HashFeedbackSettlement is the payload hash of a pool's settlement: the pool.
func HashFeedbackSettlement(pool string) []byte {
	h := newFieldHash("royalty.ledger.feedback_settlement.v1")
	h.str(pool)
	return h.sum()
}

// EpochWeight is one epoch of a model version's lineage with its relative weight.
type EpochWeight struct {
	Epoch  string
	Weight decimal.Decimal
}

// TrainingDeclaration says which feedback epochs a model version was trained on.
type TrainingDeclaration struct {
	ProviderID   string
	ModelVersion string
	// Epochs with positive weights; the version's pool money is split across them by weight.
	Epochs []EpochWeight
	// Rejected are rater ids whose feedback in these epochs the provider rejected (spam): it
	// counts nothing at settlement.
	Rejected []string
}

// Lineage is a model version's declared epochs and the rejections in them, as stored.
type Lineage struct {
	ProviderID   string
	ModelVersion string
	Epochs       []DeclaredEpoch
	Rejected     []Rejection
}

// DeclaredEpoch is one stored epoch of a lineage.
type DeclaredEpoch struct {
	EpochWeight
	DeclaredAt time.Time
}

// Rejection is a rater whose feedback in an epoch counts nothing.
type Rejection struct {
	Epoch, RaterID string
	DeclaredAt     time.Time
}

// ValidateDeclaration checks a training declaration. Errors are EINVALID.
func ValidateDeclaration(d TrainingDeclaration, scale int32) error {
	if err := CheckID("provider_id", d.ProviderID); err != nil {
		return err
	}
	if err := checkText("model_version", d.ModelVersion, maxTextFieldChars, true); err != nil {
		return err
	}
	if len(d.Epochs) == 0 || len(d.Epochs) > MaxLineageEpochs {
		return royalty.FieldErrorf(royalty.EINVALID, "epochs", "want 1 to %d epochs, got %d", MaxLineageEpochs, len(d.Epochs))
	}
	seen := map[string]bool{}
	for i, e := range d.Epochs {
		f := "epochs[" + strconv.Itoa(i) + "]."
		if err := CheckEpoch(f+"epoch", e.Epoch); err != nil {
			return err
		}
		if seen[e.Epoch] {
			return royalty.FieldErrorf(royalty.EINVALID, f+"epoch", "epoch %s appears twice", e.Epoch)
		}
		seen[e.Epoch] = true
		if e.Weight.Sign() <= 0 {
			return royalty.FieldErrorf(royalty.EINVALID, f+"weight", "must be positive, got %s", e.Weight)
		}
		if err := CheckAmount(f+"weight", e.Weight, scale); err != nil {
			return err
		}
	}
	if len(d.Rejected) > MaxRejected {
		return royalty.FieldErrorf(royalty.EINVALID, "rejected", "%d raters, at most %d", len(d.Rejected), MaxRejected)
	}
	for i, r := range d.Rejected {
		if err := CheckRaterID("rejected["+strconv.Itoa(i)+"]", r); err != nil {
			return err
		}
	}
	return nil
}

// PoolCredit is what one usage put into one feedback pool.
type PoolCredit struct {
	Account string
	Epoch   string
	Amount  decimal.Decimal
}

// FeedbackPoolPlan is the feedback part of a usage transaction.
type FeedbackPoolPlan struct {
	// Total is the whole feedback amount: feedback_rate × revenue at the quantum.
	Total decimal.Decimal
	// Postings are the provider's debit of Total and one credit per pool, in epoch order; none
	// when the version has no lineage or the rate or the amount is zero.
	Postings []Posting
	Pools    []PoolCredit
}

// AddFeedback books plan, the feedback pools of a usage planned by PlanUsage for the same
// provider and currency, into that usage's transaction: the provider's debit (the usage's first
// posting) grows by the plan's Total and the pools' credits follow the usage's postings. One
// debit of revenue plus the feedback, rather than a second debit, keeps every usage with
// lineage a posting shorter.
func (u *Usage) AddFeedback(plan FeedbackPoolPlan) error {
	if len(plan.Postings) == 0 {
		return nil
	}
	debit := plan.Postings[0]
	if len(u.Postings) == 0 || u.Postings[0].Account != debit.Account || u.Postings[0].Currency != debit.Currency || debit.Type != AccountProvider {
		return fmt.Errorf("usage %s: the feedback plan's debit of %s in %s does not match the usage's first posting", u.RequestID, debit.Account, debit.Currency)
	}
	u.Postings[0].Amount = u.Postings[0].Amount.Add(debit.Amount)
	u.Postings = append(u.Postings, plan.Postings[1:]...)
	u.Feedback = plan.Pools
	return nil
}

// PlanFeedbackPool plans what a usage of revenue in currency books to the feedback pools of the
// model version's lineage (epochs with weights), dated day: Total = revenue × rate split by the
// largest remainder against revenue × (1 − rate), so it is within one quantum of the exact
// product; then Total is split across the epochs by weight, exactly at the quantum. rate is in
// [0, 1]. Without lineage, or with a zero rate or total, the plan is empty.
func PlanFeedbackPool(providerID, currency string, revenue, rate decimal.Decimal, lineage []EpochWeight, day string, scale int32) (FeedbackPoolPlan, error) {
	if len(lineage) == 0 || rate.Sign() == 0 {
		return FeedbackPoolPlan{Total: decimal.Zero}, nil
	}
	rn, rd := decimalFraction(rate)
	two, err := splitInts(revenue, scale, []*big.Int{new(big.Int).Sub(rd, rn), rn}, []string{"rest", "feedback"})
	if err != nil {
		return FeedbackPoolPlan{}, err
	}
	plan := FeedbackPoolPlan{Total: two[1]}
	if plan.Total.Sign() == 0 {
		return plan, nil
	}
	epochs := slices.Clone(lineage)
	slices.SortFunc(epochs, func(a, b EpochWeight) int { return strings.Compare(a.Epoch, b.Epoch) })
	parts := make([]Part, len(epochs))
	for i, e := range epochs {
		parts[i] = Part{Key: e.Epoch, Weight: e.Weight.Rat()}
	}
	amounts, err := Split(plan.Total, scale, parts)
	if err != nil {
		return FeedbackPoolPlan{}, err
	}
	plan.Postings = append(plan.Postings, Posting{Account: ProviderAccount(providerID), Type: AccountProvider, Currency: currency, Amount: plan.Total})
	for i, e := range epochs {
		if amounts[i].Sign() == 0 {
			continue
		}
		acct := FeedbackPoolAccount(providerID, e.Epoch, day)
		plan.Postings = append(plan.Postings, Posting{Account: acct, Type: AccountFeedbackPool, Currency: currency, Amount: amounts[i].Neg()})
		plan.Pools = append(plan.Pools, PoolCredit{Account: acct, Epoch: e.Epoch, Amount: amounts[i]})
	}
	return plan, nil
}

// RaterCount is one rater's events in an epoch.
type RaterCount struct {
	RaterID string
	// Events are the rater's recorded events in the epoch; Rejected is true when the provider
	// rejected the rater's feedback of the epoch.
	Events   int64
	Rejected bool
}

// SettlementInput is what PlanFeedbackSettlement needs, read in the transaction that books it.
type SettlementInput struct {
	Pool FeedbackPool
	// Balance is the pool's balance per currency, in its normal direction.
	Balance map[string]decimal.Decimal
	// Raters are the epoch's raters with their events.
	Raters []RaterCount
	// Cap bounds the events counted per rater (at least 1).
	Cap int64
	// Owners maps claimed rater identity keys to their contributor.
	Owners map[string]string
}

// RaterShare is one rater's part of a settlement.
type RaterShare struct {
	RaterID, IdentityKey string
	// Counted is min(events, cap), or 0 when rejected.
	Events, Counted int64
	Rejected        bool
	// ContributorID is the owner when the credit went to a contributor, else the credit went
	// to the identity's escrow.
	ContributorID string
	// Amounts are the rater's credits per currency (positive), in the plan's currency order;
	// PostingIndexes the index of each one's posting in SettlementPlan.Postings.
	Amounts        []Money
	PostingIndexes []int
}

// SettlementPlan is what a settlement books.
type SettlementPlan struct {
	// Postings: per currency in code order, the pool debited its balance, then the raters'
	// credits in rater id order (zero credits left out), then the unattributed account when no
	// rater counts anything. Empty when the pool is empty: then nothing is booked.
	Postings []Posting
	// Settled is the pool's balance per currency that moved.
	Settled []Money
	// Raters are every rater of the input in id order with their counts and amounts.
	Raters []RaterShare
	// CountedTotal is the sum of Counted.
	CountedTotal int64
}

// PlanFeedbackSettlement splits a pool among the epoch's raters in proportion to their counted
// events (each min(events, Cap), zero if rejected), by the largest remainder at the quantum, per
// currency; each credit goes to the rater's contributor (Owners) or else to the rater identity's
// escrow. When no rater counts anything, the pool goes to the unattributed account, so nothing
// is left behind. The pool is left at zero in every currency. A negative balance is a broken
// invariant (an internal error): nothing but settlement and the reversal of a usage before it
// takes from a pool, both at most what it holds.
func PlanFeedbackSettlement(in SettlementInput, scale int32) (SettlementPlan, error) {
	if in.Cap < 1 {
		return SettlementPlan{}, fmt.Errorf("feedback cap %d: must be at least 1", in.Cap)
	}
	raters := slices.Clone(in.Raters)
	slices.SortFunc(raters, func(a, b RaterCount) int { return strings.Compare(a.RaterID, b.RaterID) })
	var plan SettlementPlan
	weights := make([]*big.Int, 0, len(raters))
	keys := make([]string, 0, len(raters))
	for i, r := range raters {
		if i > 0 && raters[i-1].RaterID == r.RaterID {
			return SettlementPlan{}, fmt.Errorf("rater %q appears twice", r.RaterID)
		}
		counted := min(max(r.Events, 0), in.Cap)
		if r.Rejected {
			counted = 0
		}
		key := RaterIdentityKey(in.Pool.ProviderID, r.RaterID)
		rs := RaterShare{RaterID: r.RaterID, IdentityKey: key, Events: r.Events, Counted: counted, Rejected: r.Rejected}
		if owner, ok := in.Owners[key]; ok {
			rs.ContributorID = owner
		}
		plan.Raters = append(plan.Raters, rs)
		plan.CountedTotal += counted
		weights = append(weights, big.NewInt(counted))
		keys = append(keys, r.RaterID)
	}
	currencies := make([]string, 0, len(in.Balance))
	for c := range in.Balance {
		currencies = append(currencies, c)
	}
	slices.Sort(currencies)
	pool := FeedbackPoolAccount(in.Pool.ProviderID, in.Pool.Epoch, in.Pool.Day)
	for _, cur := range currencies {
		bal := in.Balance[cur]
		switch bal.Sign() {
		case -1:
			return SettlementPlan{}, fmt.Errorf("feedback pool %s has a debit balance of %s %s", pool, bal.Neg(), cur)
		case 0:
			continue
		}
		plan.Postings = append(plan.Postings, Posting{Account: pool, Type: AccountFeedbackPool, Currency: cur, Amount: bal})
		plan.Settled = append(plan.Settled, Money{Amount: bal, Currency: cur})
		if plan.CountedTotal == 0 {
			plan.Postings = append(plan.Postings, Posting{Account: UnattributedAccount, Type: AccountUnattributed, Currency: cur, Amount: bal.Neg()})
			continue
		}
		amounts, err := splitInts(bal, scale, weights, keys)
		if err != nil {
			return SettlementPlan{}, err
		}
		for i, a := range amounts {
			if a.Sign() == 0 {
				continue
			}
			rs := &plan.Raters[i]
			p := Posting{Currency: cur, Amount: a.Neg()}
			if rs.ContributorID != "" {
				p.Account, p.Type = ContributorAccount(rs.ContributorID), AccountContributor
			} else {
				p.Account, p.Type = EscrowAccount(rs.IdentityKey), AccountIdentityEscrow
			}
			rs.PostingIndexes = append(rs.PostingIndexes, len(plan.Postings))
			plan.Postings = append(plan.Postings, p)
			rs.Amounts = append(rs.Amounts, Money{Amount: a, Currency: cur})
		}
	}
	return plan, nil
}

// FeedbackCredit is the evidence of a rater's settlement credit on a statement: the pool, its
// epoch, the model versions whose usage filled it, what it held, and the rater's events
// against everybody's counted ones.
type FeedbackCredit struct {
	Pool          string   `json:"pool"`
	Epoch         string   `json:"epoch"`
	RaterID       string   `json:"rater_id"`
	ModelVersions []string `json:"model_versions"`
	Settled       []Money  `json:"settled"`
	Events        int64    `json:"events"`
	Counted       int64    `json:"counted"`
	CountedTotal  int64    `json:"counted_total"`
	Cap           int64    `json:"cap"`
}

// FeedbackSettlement is a booked (or replayed) settlement of one pool.
type FeedbackSettlement struct {
	TransactionID string
	Pool          FeedbackPool
	Account       string
	// ModelVersions are the model versions whose usage credited the pool.
	ModelVersions []string
	Cap           int64
	Settled       []Money
	Raters        []RaterShare
	CountedTotal  int64
	CreatedAt     time.Time
	// Replayed is true when the pool had been settled before: nothing was booked.
	Replayed bool
}

// FeedbackLedger is implemented by ledgers that book feedback royalties.
type FeedbackLedger interface {
	// ReportFeedback records one event idempotently by (provider, request id): a replay with
	// the same payload returns the original, another payload is ECONFLICT. EINVALID names the
	// field; ENOTFOUND when the provider is not a provider.
	ReportFeedback(ctx context.Context, req FeedbackRequest) (FeedbackResult, error)
	// ReportFeedbackBatch records up to MaxBatch events, all or nothing; fields are prefixed
	// "events[i].".
	ReportFeedbackBatch(ctx context.Context, reqs []FeedbackRequest) ([]FeedbackResult, error)
	// DeclareTraining appends a declaration. Re-declaring an epoch of a version with the same
	// weight changes nothing; with another weight it is ECONFLICT (declarations are
	// append-only). Returns the version's lineage after it.
	DeclareTraining(ctx context.Context, d TrainingDeclaration) (Lineage, error)
	// GetLineage returns a version's lineage; ENOTFOUND when nothing is declared.
	GetLineage(ctx context.Context, providerID, modelVersion string) (Lineage, error)
	// SetFeedbackRate sets the provider's feedback rate, in [0, 1], for usage booked from now.
	SetFeedbackRate(ctx context.Context, providerID string, rate decimal.Decimal) (Agreement, error)
	// SettleFeedback settles every pool of the provider (every provider when providerID is
	// empty) that is due (FeedbackPool.Ends with the configured window), each exactly once.
	SettleFeedback(ctx context.Context, providerID string) ([]FeedbackSettlement, error)
	// SettlePool settles one pool; EPRECONDITION when it is not due yet. Settling a settled
	// pool returns the original settlement, Replayed.
	SettlePool(ctx context.Context, pool string) (FeedbackSettlement, error)
}
