package ledger_test

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
)

func TestSplitExamples(t *testing.T) {
	r := func(a, b int64) *big.Rat { return big.NewRat(a, b) }
	tests := []struct {
		name  string
		total string
		scale int32
		parts []ledger.Part
		want  []string
	}{
		{"thirds", "1", 0, []ledger.Part{{"a", r(1, 3)}, {"b", r(1, 3)}, {"c", r(1, 3)}}, []string{"1", "0", "0"}},
		{"thirds of 2 at scale 0: ties to smaller key", "2", 0, []ledger.Part{{"c", r(1, 3)}, {"b", r(1, 3)}, {"a", r(1, 3)}}, []string{"0", "1", "1"}},
		{"largest remainder wins", "1", 1, []ledger.Part{{"a", r(26, 100)}, {"b", r(74, 100)}}, []string{"0.3", "0.7"}},
		{"tie broken by larger weight", "0.000000000001", 12, []ledger.Part{{"a", r(1, 2)}, {"b", r(1, 4)}, {"c", r(1, 4)}}, []string{"0.000000000001", "0", "0"}},
		{"zero weight gets nothing", "5", 0, []ledger.Part{{"a", r(0, 1)}, {"b", r(1, 1)}}, []string{"0", "5"}},
		{"weights need not sum to one", "10", 0, []ledger.Part{{"a", r(3, 1)}, {"b", r(7, 1)}}, []string{"3", "7"}},
		{"negative total", "-1", 0, []ledger.Part{{"a", r(1, 2)}, {"b", r(1, 2)}}, []string{"-1", "0"}},
		{"one part takes all", "0.0006", 12, []ledger.Part{{"a", r(1, 7)}}, []string{"0.0006"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ledger.Split(decimal.RequireFromString(tt.total), tt.scale, tt.parts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if !got[i].Equal(decimal.RequireFromString(tt.want[i])) {
					t.Fatalf("Split = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestSplitErrors(t *testing.T) {
	one := big.NewRat(1, 1)
	tests := []struct {
		name  string
		total string
		parts []ledger.Part
	}{
		{"no parts", "1", nil},
		{"too many digits", "0.001", []ledger.Part{{"a", one}}},
		{"negative weight", "1", []ledger.Part{{"a", big.NewRat(-1, 2)}, {"b", one}}},
		{"nil weight", "1", []ledger.Part{{"a", nil}}},
		{"all zero", "1", []ledger.Part{{"a", new(big.Rat)}}},
		{"duplicate key", "1", []ledger.Part{{"a", one}, {"a", one}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ledger.Split(decimal.RequireFromString(tt.total), 2, tt.parts); err == nil {
				t.Fatal("Split succeeded, want an error")
			}
		})
	}
}

// TestSplitProperties checks 100,000 random splits: the parts sum exactly to the total, each
// part is strictly within one quantum of its exact share, the leftover quanta went to the largest
// remainders, and the result does not depend on the order of the parts.
func TestSplitProperties(t *testing.T) {
	const cases = 100_000
	rng := rand.New(rand.NewPCG(20261101, 3))
	for c := 0; c < cases; c++ {
		scale := int32(rng.IntN(13))
		var quanta int64
		switch rng.IntN(4) {
		case 0:
			quanta = rng.Int64N(10) // tiny totals: most parts round to zero
		case 1:
			quanta = rng.Int64N(1_000_000)
		default:
			quanta = rng.Int64()
		}
		if rng.IntN(10) == 0 {
			quanta = -quanta
		}
		total := decimal.New(quanta, -scale)
		n := 1 + rng.IntN(14)
		parts := make([]ledger.Part, n)
		sumW := new(big.Rat)
		for i := range parts {
			var w *big.Rat
			switch rng.IntN(5) {
			case 0:
				w = new(big.Rat) // zero
			case 1:
				w = big.NewRat(1, 3) // many equal weights: ties
			default:
				w = big.NewRat(rng.Int64N(1_000_000), 1+rng.Int64N(1_000_000))
			}
			parts[i] = ledger.Part{Key: string(rune('a'+rng.IntN(26))) + string(rune('a'+i)), Weight: w}
			sumW.Add(sumW, w)
		}
		if sumW.Sign() == 0 {
			parts[0].Weight = big.NewRat(1, 1)
			sumW.SetInt64(1)
		}
		got, err := ledger.Split(total, scale, parts)
		if err != nil {
			t.Fatalf("case %d: %v", c, err)
		}
		sum := decimal.Zero
		quantum := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
		fracs := make([]*big.Rat, n)
		exacts := make([]*big.Rat, n)
		for i, p := range parts {
			sum = sum.Add(got[i])
			exact := new(big.Rat).Mul(total.Rat(), p.Weight)
			exact.Quo(exact, sumW)
			exacts[i] = exact
			diff := new(big.Rat).Sub(got[i].Rat(), exact)
			if new(big.Rat).Abs(diff).Cmp(quantum) >= 0 {
				t.Fatalf("case %d: part %d = %s, exact %s: a quantum or more away", c, i, got[i], exact.FloatString(int(scale)+3))
			}
			if p.Weight.Sign() == 0 && !got[i].IsZero() {
				t.Fatalf("case %d: zero weight got %s", c, got[i])
			}
			if got[i].Exponent() < -scale && !got[i].Equal(got[i].Truncate(scale)) {
				t.Fatalf("case %d: part %s is not a multiple of the quantum", c, got[i])
			}
			// remainder of the exact quota in quanta, and whether the part was rounded up
			q := new(big.Rat).Quo(new(big.Rat).Abs(exact), quantum)
			fl := new(big.Int).Quo(q.Num(), q.Denom())
			fracs[i] = new(big.Rat).Sub(q, new(big.Rat).SetInt(fl))
		}
		if !sum.Equal(total) {
			t.Fatalf("case %d: parts sum to %s, want %s", c, sum, total)
		}
		// Largest remainder: no part rounded down has a larger remainder than a part rounded up.
		minUp, maxDown := (*big.Rat)(nil), (*big.Rat)(nil)
		for i := range parts {
			up := new(big.Rat).Abs(got[i].Rat()).Cmp(new(big.Rat).Abs(exacts[i])) > 0
			if up && (minUp == nil || fracs[i].Cmp(minUp) < 0) {
				minUp = fracs[i]
			}
			if !up && fracs[i].Sign() > 0 && (maxDown == nil || fracs[i].Cmp(maxDown) > 0) {
				maxDown = fracs[i]
			}
		}
		if minUp != nil && maxDown != nil && maxDown.Cmp(minUp) > 0 {
			t.Fatalf("case %d: a remainder of %s was rounded down while %s was rounded up", c, maxDown, minUp)
		}
		// Determinism: the same parts in reverse order give each key the same amount.
		rev := make([]ledger.Part, n)
		for i := range parts {
			rev[n-1-i] = parts[i]
		}
		again, err := ledger.Split(total, scale, rev)
		if err != nil {
			t.Fatal(err)
		}
		for i := range parts {
			if !again[n-1-i].Equal(got[i]) {
				t.Fatalf("case %d: part %q is %s in one order and %s in another", c, parts[i].Key, got[i], again[n-1-i])
			}
		}
	}
}
