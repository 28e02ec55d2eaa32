package usage

import (
	"bytes"
	"strings"
	"testing"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

var reportFields = []string{"request_id", "model_id", "model_version_hash", "currency", "response_text", "revenue", "price_per_output_token"}

// FuzzValidate checks the validation of a provider's report against the layer below it: a
// report that Validate accepts is one the ledger accepts too (same wire format for amounts, a
// current ISO 4217 currency, identifiers the ledger can store), and a refused report gets
// EINVALID naming one of its fields. Run longer with `go test -fuzz FuzzValidate ./usage/`.
func FuzzValidate(f *testing.F) {
	f.Add("r-1", "acme-chat", "", uint64(10), uint64(300), "0.0006", "", "USD", "Lower the saddle a little.")
	f.Add("r-2", "acme-chat", "sha256:ab", uint64(0), uint64(300), "", "0.000002", "EUR", "text")
	for _, amount := range []string{".5", "5.", "007", "1e3", "-1", "0", "NaN", "0.0000000000001", "1000000000000000", "+1", " 1", "٣", "0x10"} {
		f.Add("r-3", "m", "", uint64(1), uint64(1), amount, "", "USD", "t")
		f.Add("r-4", "m", "", uint64(1), uint64(7), "", amount, "USD", "t")
	}
	for _, cur := range []string{"ZZZ", "XXX", "XAU", "DEM", "IDR", "IQD", "usd", "US", "ÜSD"} {
		f.Add("r-5", "m", "", uint64(1), uint64(1), "1", "", cur, "t")
	}
	f.Add("'; DROP TABLE ledger_postings; --", "=HYPERLINK(\"http://x\",\"y\")", "@SUM(A1)", uint64(1), uint64(1), "1", "", "USD", "\xff")
	f.Fuzz(func(t *testing.T, requestID, modelID, versionHash string, in, out uint64, revenue, price, currency, text string) {
		r := Report{ProviderID: "00000000-0000-4000-8000-000000000001", RequestID: requestID, ModelID: modelID,
			ModelVersionHash: versionHash, InputTokens: in, OutputTokens: out, Revenue: revenue,
			PricePerOutputToken: price, Currency: currency, ResponseText: text}
		v, err := r.Validate("reports[7].", Limits{})
		if err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID {
				t.Fatalf("error code %q (%v), want EINVALID", royalty.ErrorCode(err), err)
			}
			named := false
			for _, f := range reportFields {
				named = named || strings.HasPrefix(royalty.ErrorMessage(err), "reports[7]."+f+": ")
			}
			if !named {
				t.Fatalf("message %q names no field of the report", royalty.ErrorMessage(err))
			}
			return
		}
		if v.Amount.Sign() <= 0 {
			t.Fatalf("accepted a revenue of %s", v.Amount)
		}
		given, field := revenue, "revenue"
		if revenue == "" {
			given, field = price, "price_per_output_token"
		}
		if _, err := ledger.ParseNonNegativeAmount(field, given, ledger.DefaultScale); err != nil {
			t.Fatalf("Validate accepted %s %q, which the wire format refuses: %v", field, given, err)
		}
		if _, err := ledger.ParseCurrency("currency", currency); err != nil {
			t.Fatalf("Validate accepted currency %q, which the ledger refuses: %v", currency, err)
		}
		req := ledger.UsageRequest{ProviderID: r.ProviderID, RequestID: requestID, ModelID: modelID, ModelVersionHash: versionHash,
			InputTokens: in, OutputTokens: out, Revenue: v.Amount, Currency: currency, RequestHash: v.Hash}
		if err := ledger.ValidateUsage("", req, ledger.DefaultScale); err != nil {
			t.Fatalf("Validate accepted a report the ledger refuses: %v", err)
		}
		if len(v.Hash) != 32 {
			t.Fatalf("hash of %d bytes", len(v.Hash))
		}
		again, err := r.Validate("", Limits{})
		if err != nil || !bytes.Equal(again.Hash, v.Hash) {
			t.Fatalf("validating again: %v, hash %x then %x", err, v.Hash, again.Hash)
		}
		other := r
		other.RequestID = strings.TrimSuffix(requestID, "x") + "y"
		if o, err := other.Validate("", Limits{}); err == nil && bytes.Equal(o.Hash, v.Hash) {
			t.Fatalf("request ids %q and %q hash alike", requestID, other.RequestID)
		}
	})
}
