package ledger

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/openroyalty/royalty"
)

// AccountType classifies accounts; the trial balance is grouped by it.
type AccountType string

// Account types. Provider accounts are debit-normal (what the provider owes: it is debited the
// whole revenue of each report); every other type is credit-normal, so a royalty earned is a
// negative posting and a payout a positive one on the contributor's account.
const (
	AccountProvider         AccountType = "provider"
	AccountProviderRetained AccountType = "provider_retained"
	AccountContributor      AccountType = "contributor"
	AccountIdentityEscrow   AccountType = "identity_escrow"
	AccountUnattributed     AccountType = "unattributed"
	AccountPlatform         AccountType = "platform"
	AccountPayoutClearing   AccountType = "payout_clearing"
)

// AccountTypes lists every account type in a stable order.
var AccountTypes = []AccountType{
	AccountProvider, AccountProviderRetained, AccountContributor, AccountIdentityEscrow,
	AccountUnattributed, AccountPlatform, AccountPayoutClearing, AccountFeedbackPool,
}

// DebitNormal reports whether the balance of an account of this type grows with debits
// (positive postings). Only provider accounts are.
func (t AccountType) DebitNormal() bool { return t == AccountProvider }

// Address prefixes. An address is a prefix, a colon and (for per-principal and per-identity
// accounts) the principal id or identity key; the singleton accounts have no suffix.
const (
	prefixProvider         = "provider:"
	prefixProviderRetained = "provider_retained:"
	prefixContributor      = "contributor:"
	prefixEscrow           = "escrow:"
)

// Singleton account addresses.
const (
	UnattributedAccount   = "unattributed"
	PlatformAccount       = "platform"
	PayoutClearingAccount = "payout_clearing"
)

// ProviderAccount is the address of a provider's account (debit-normal: what it owes).
func ProviderAccount(providerID string) string { return prefixProvider + providerID }

// ProviderRetainedAccount is the address of the part of a provider's revenue it keeps.
func ProviderRetainedAccount(providerID string) string { return prefixProviderRetained + providerID }

// ContributorAccount is the address of a contributor's account: what the contributor is owed.
func ContributorAccount(contributorID string) string { return prefixContributor + contributorID }

// EscrowAccount is the address of the escrow of an identity nobody has claimed yet.
func EscrowAccount(identityKey string) string { return prefixEscrow + identityKey }

// Account is a parsed account address.
type Account struct {
	Address string
	Type    AccountType
	// PrincipalID is the provider or contributor the account belongs to, if any.
	PrincipalID string
	// IdentityKey is the identity of an escrow account.
	IdentityKey string
}

// ParseAccount parses an account address. Errors are EINVALID and name field.
func ParseAccount(field, address string) (Account, error) {
	a := Account{Address: address}
	switch {
	case address == UnattributedAccount:
		a.Type = AccountUnattributed
	case address == PlatformAccount:
		a.Type = AccountPlatform
	case address == PayoutClearingAccount:
		a.Type = AccountPayoutClearing
	case strings.HasPrefix(address, prefixProvider):
		a.Type, a.PrincipalID = AccountProvider, address[len(prefixProvider):]
	case strings.HasPrefix(address, prefixProviderRetained):
		a.Type, a.PrincipalID = AccountProviderRetained, address[len(prefixProviderRetained):]
	case strings.HasPrefix(address, prefixContributor):
		a.Type, a.PrincipalID = AccountContributor, address[len(prefixContributor):]
	case strings.HasPrefix(address, prefixFeedbackPool):
		pool, err := ParseFeedbackPool(field, address)
		if err != nil {
			return Account{}, err
		}
		a.Type, a.PrincipalID = AccountFeedbackPool, pool.ProviderID
		return a, nil
	case strings.HasPrefix(address, prefixEscrow):
		a.Type, a.IdentityKey = AccountIdentityEscrow, address[len(prefixEscrow):]
		if err := CheckIdentityKey(field, a.IdentityKey); err != nil {
			return Account{}, err
		}
		return a, nil
	default:
		return Account{}, royalty.FieldErrorf(royalty.EINVALID, field, "unknown account address %s", quote(address))
	}
	if a.PrincipalID != "" || a.Type == AccountProvider || a.Type == AccountProviderRetained || a.Type == AccountContributor {
		if err := CheckID(field, a.PrincipalID); err != nil {
			return Account{}, err
		}
	}
	return a, nil
}

// CheckID checks that id is a UUID in its canonical text form (lower-case hex, 8-4-4-4-12).
// Errors are EINVALID and name field.
func CheckID(field, id string) error {
	if !isUUID(id) {
		return royalty.FieldErrorf(royalty.EINVALID, field, "want a UUID such as \"7a3c5e0e-1b2d-4c5f-9a8b-0123456789ab\", got %s", quote(id))
	}
	return nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// MaxIdentityKeyBytes bounds identity keys.
const MaxIdentityKeyBytes = 300

// CheckIdentityKey checks the canonical form of an identity key, `platform:site/author_id`
// (site may be empty), for example `stackexchange:bicycles.meta/123` or `hn:/pg`: a lower-case
// platform name, a colon, a site without slashes, a slash and a non-empty author id, all
// printable and without spaces. Errors are EINVALID and name field.
func CheckIdentityKey(field, key string) error {
	bad := func(why string) error {
		return royalty.FieldErrorf(royalty.EINVALID, field, "want an identity key such as \"stackexchange:bicycles.meta/123\" (%s), got %s", why, quote(key))
	}
	if key == "" {
		return bad("required")
	}
	if len(key) > MaxIdentityKeyBytes {
		return bad("too long")
	}
	if !printable(key, false) {
		return bad("printable characters without spaces")
	}
	platform, rest, ok := strings.Cut(key, ":")
	if !ok || platform == "" || strings.IndexFunc(platform, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
	}) >= 0 {
		return bad("a lower-case platform name before the colon")
	}
	_, author, ok := strings.Cut(rest, "/")
	if !ok || author == "" {
		return bad("a slash and an author id after the site")
	}
	return nil
}

// printable reports whether s is valid UTF-8 of printable characters (and, unless spaces is
// set, without white space). ASCII, nearly every identifier, is checked byte by byte without
// decoding.
func printable(s string, spaces bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
				return !unicode.IsPrint(r) || !spaces && unicode.IsSpace(r)
			}) < 0
		}
		if c < 0x20 || c == 0x7f || c == ' ' && !spaces {
			return false
		}
	}
	return true
}

// checkText checks a caller-chosen identifier: 1 to max printable characters.
func checkText(field, s string, max int, required bool) error {
	switch {
	case s == "" && required:
		return royalty.FieldErrorf(royalty.EINVALID, field, "required")
	case utf8.RuneCountInString(s) > max:
		return royalty.FieldErrorf(royalty.EINVALID, field, "longer than %d characters", max)
	case !printable(s, true):
		return royalty.FieldErrorf(royalty.EINVALID, field, "must be printable characters")
	}
	return nil
}

// CheckRequestID checks a caller-chosen idempotency key: 1 to MaxRequestIDChars printable
// characters. Errors are EINVALID and name field.
func CheckRequestID(field, s string) error { return checkText(field, s, MaxRequestIDChars, true) }

// CheckReason checks the reason of a reversal: 1 to MaxReasonChars printable characters.
// Errors are EINVALID and name field.
func CheckReason(field, s string) error { return checkText(field, s, MaxReasonChars, true) }

// CheckPostRef checks a post id or URL that evidence may cite: at most MaxPostRefChars
// printable characters (empty is allowed). The indexer applies it to every post it accepts, so
// that any post can be cited. Errors are EINVALID and name field.
func CheckPostRef(field, s string) error { return checkText(field, s, MaxPostRefChars, false) }
