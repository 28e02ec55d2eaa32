package usage

import (
	"bytes"
	"strings"
	"testing"

	"github.com/openroyalty/royalty"
)

func validReport() Report {
	return Report{ProviderID: "p", RequestID: "r-1", ModelID: "acme-chat", InputTokens: 10, OutputTokens: 300,
		Revenue: "0.0006", Currency: "USD", ResponseText: "Lower the saddle a little."}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Report)
		field  string // "" means valid
	}{
		{"valid", func(r *Report) {}, ""},
		{"price per token", func(r *Report) { r.Revenue, r.PricePerOutputToken = "", "0.000002" }, ""},
		{"no request id", func(r *Report) { r.RequestID = "" }, "request_id"},
		{"long request id", func(r *Report) { r.RequestID = strings.Repeat("x", 201) }, "request_id"},
		{"control char in request id", func(r *Report) { r.RequestID = "a\nb" }, "request_id"},
		{"no model", func(r *Report) { r.ModelID = "" }, "model_id"},
		{"lower-case currency", func(r *Report) { r.Currency = "usd" }, "currency"},
		{"no pricing", func(r *Report) { r.Revenue = "" }, "revenue"},
		{"both pricings", func(r *Report) { r.PricePerOutputToken = "1" }, "revenue"},
		{"zero revenue", func(r *Report) { r.Revenue = "0.000" }, "revenue"},
		{"zero tokens at a price", func(r *Report) { r.Revenue, r.PricePerOutputToken, r.OutputTokens = "", "0.1", 0 }, "revenue"},
		{"negative revenue", func(r *Report) { r.Revenue = "-1" }, "revenue"},
		{"exponent", func(r *Report) { r.Revenue = "1e3" }, "revenue"},
		{"too many digits", func(r *Report) { r.Revenue = "0.0000000000001" }, "revenue"},
		{"huge", func(r *Report) { r.Revenue = "10000000000000000" }, "revenue"},
		{"bad price", func(r *Report) { r.Revenue, r.PricePerOutputToken = "", "x" }, "price_per_output_token"},
		{"empty text", func(r *Report) { r.ResponseText = " " }, "response_text"},
		{"text too long", func(r *Report) { r.ResponseText = strings.Repeat("a", 64<<10+1) }, "response_text"},
		{"invalid utf-8", func(r *Report) { r.ResponseText = "\xff" }, "response_text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validReport()
			tt.change(&r)
			_, err := r.Validate("reports[2].", Limits{})
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *royalty.Error
			if royalty.ErrorCode(err) != royalty.EINVALID || !strings.HasPrefix(royalty.ErrorMessage(err), "reports[2]."+tt.field+":") {
				t.Fatalf("err = %v (%T %v), want invalid %s", err, err, e, tt.field)
			}
		})
	}
}

func TestHashCoversEveryField(t *testing.T) {
	base, err := validReport().Validate("", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	same := validReport()
	same.Revenue = "0.00060"
	if v, _ := same.Validate("", Limits{}); !bytes.Equal(v.Hash, base.Hash) {
		t.Error("0.00060 and 0.0006 hash differently")
	}
	changes := []func(*Report){
		func(r *Report) { r.ProviderID = "q" },
		func(r *Report) { r.RequestID = "r-2" },
		func(r *Report) { r.ModelID = "other" },
		func(r *Report) { r.ModelVersionHash = "abc" },
		func(r *Report) { r.InputTokens++ },
		func(r *Report) { r.OutputTokens++ },
		func(r *Report) { r.Revenue = "0.0007" },
		func(r *Report) { r.Currency = "EUR" },
		func(r *Report) { r.ResponseText += " " },
		func(r *Report) { r.Revenue, r.PricePerOutputToken = "", "0.000002" }, // same amount, other pricing
	}
	for i, change := range changes {
		r := validReport()
		change(&r)
		v, err := r.Validate("", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(v.Hash, base.Hash) {
			t.Errorf("change %d leaves the hash unchanged", i)
		}
	}
}
