package ledger

import (
	"cmp"
	"fmt"
	"math/big"
	"math/bits"
	"slices"
	"sort"
	"strings"

	"github.com/shopspring/decimal"
)

// Part is one recipient of a split: a unique key (used to break ties) and a non-negative
// exact weight.
type Part struct {
	Key    string
	Weight *big.Rat
}

// Split divides total into len(parts) amounts proportional to the weights, in whole quanta of
// 10^-scale, by the largest remainder method:
//
//   - every part first gets the floor of its exact quota total × weight / Σweights;
//   - the quanta left over (fewer than the number of parts) go one each to the parts with the
//     largest fractional remainders, ties broken by larger weight, then by smaller key.
//
// The amounts sum exactly to total, each is within one quantum of its exact quota (strictly
// less than one quantum away), a part of weight zero gets zero, and the result depends only on
// the inputs, not on their order. A negative total is split as its absolute value and negated.
// Numscript gives leftovers in declaration order and Blnk to whichever map key comes first;
// both are biased or non-deterministic.
//
// Split returns an error when total has more than scale fractional digits, a weight is nil or
// negative, all weights are zero, or two parts share a key.
func Split(total decimal.Decimal, scale int32, parts []Part) ([]decimal.Decimal, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("split: no parts")
	}
	// Bring the weights to a common denominator (their least common multiple), so that the
	// split itself is integer arithmetic.
	lcm := big.NewInt(1)
	var g big.Int
	for _, p := range parts {
		if p.Weight == nil || p.Weight.Sign() < 0 {
			return nil, fmt.Errorf("split: part %q has a nil or negative weight", p.Key)
		}
		d := p.Weight.Denom()
		g.GCD(nil, nil, lcm, d)
		lcm.Mul(lcm, new(big.Int).Quo(d, &g))
	}
	weights := make([]*big.Int, len(parts))
	keys := make([]string, len(parts))
	for i, p := range parts {
		weights[i] = new(big.Int).Mul(p.Weight.Num(), new(big.Int).Quo(lcm, p.Weight.Denom()))
		keys[i] = p.Key
	}
	return splitInts(total, scale, weights, keys)
}

// splitInts is Split with integer weights (rational weights over a common denominator). Ties
// between equal remainders go to the larger weight, then to the smaller key.
func splitInts(total decimal.Decimal, scale int32, weights []*big.Int, keys []string) ([]decimal.Decimal, error) {
	if !total.Equal(total.Truncate(scale)) {
		return nil, fmt.Errorf("split: total %s has more than %d fractional digits", total, scale)
	}
	sum := new(big.Int)
	for i, w := range weights {
		if w.Sign() < 0 {
			return nil, fmt.Errorf("split: part %q has a negative weight", keys[i])
		}
		sum.Add(sum, w)
	}
	if k, dup := duplicate(keys); dup {
		return nil, fmt.Errorf("split: duplicate part key %q", k)
	}
	if sum.Sign() == 0 {
		return nil, fmt.Errorf("split: all weights are zero")
	}
	// quanta is total in units of the quantum: an exact integer after the check above.
	quanta := total.Shift(scale).BigInt()
	negative := quanta.Sign() < 0
	quanta.Abs(quanta)
	if out, ok := splitUint64(quanta, negative, scale, weights, sum, keys); ok {
		return out, nil
	}
	return splitBig(quanta, negative, scale, weights, sum, keys), nil
}

// splitBig is the rest of splitInts in big integers: any size.
func splitBig(quanta *big.Int, negative bool, scale int32, weights []*big.Int, sum *big.Int, keys []string) []decimal.Decimal {

	// The exact quota of part i is quanta × w_i / Σw. Integer division gives its floor and a
	// remainder; all remainders share the denominator Σw, so they compare as integers.
	floors := make([]*big.Int, len(weights))
	rems := make([]*big.Int, len(weights))
	given := new(big.Int)
	for i, w := range weights {
		num := new(big.Int).Mul(quanta, w)
		floors[i], rems[i] = num.QuoRem(num, sum, new(big.Int)) // non-negative: QuoRem is floor
		given.Add(given, floors[i])
	}
	left := given.Sub(quanta, given).Int64() // 0 ≤ left < len(weights)
	if left > 0 {
		order := make([]int, len(weights))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool {
			i, j := order[a], order[b]
			if c := rems[i].Cmp(rems[j]); c != 0 {
				return c > 0
			}
			if c := weights[i].Cmp(weights[j]); c != 0 {
				return c > 0
			}
			return keys[i] < keys[j]
		})
		one := big.NewInt(1)
		for _, i := range order[:left] {
			floors[i].Add(floors[i], one)
		}
	}
	out := make([]decimal.Decimal, len(weights))
	for i, q := range floors {
		if negative {
			q.Neg(q)
		}
		out[i] = decimal.NewFromBigInt(q, -scale)
	}
	return out
}

// splitUint64 is the rest of splitInts in machine words, for the common case where the total in
// quanta and the sum of the weights fit in 63 bits: every product quanta × w is then a 128-bit
// number whose quotient by the sum fits in 64 bits. It reports false, having done nothing, when
// they do not fit. The result is identical to the big.Int path's (TestSplitPaths).
func splitUint64(quanta *big.Int, negative bool, scale int32, weights []*big.Int, sum *big.Int, keys []string) ([]decimal.Decimal, bool) {
	if !quanta.IsInt64() || !sum.IsInt64() {
		return nil, false
	}
	q, total := uint64(quanta.Int64()), uint64(sum.Int64())
	type part struct{ floor, rem, w uint64 }
	parts := make([]part, len(weights))
	var given uint64
	for i, w := range weights {
		wi := uint64(w.Int64()) // w ≤ sum, so it fits too
		hi, lo := bits.Mul64(q, wi)
		floor, rem := bits.Div64(hi, lo, total) // hi < total because wi ≤ total: no overflow
		parts[i] = part{floor, rem, wi}
		given += floor
	}
	if left := q - given; left > 0 { // 0 < left < len(weights)
		order := make([]int, len(parts))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(i, j int) int {
			if c := cmp.Compare(parts[j].rem, parts[i].rem); c != 0 {
				return c
			}
			if c := cmp.Compare(parts[j].w, parts[i].w); c != 0 {
				return c
			}
			return strings.Compare(keys[i], keys[j])
		})
		for _, i := range order[:left] {
			parts[i].floor++
		}
	}
	out := make([]decimal.Decimal, len(parts))
	for i, p := range parts {
		v := int64(p.floor) // at most quanta: fits
		if negative {
			v = -v
		}
		out[i] = decimal.New(v, -scale)
	}
	return out, true
}

// duplicate returns a key that occurs twice in keys. Splits have a handful of parts, for which
// comparing every pair is cheaper than a map.
func duplicate(keys []string) (string, bool) {
	if len(keys) > 32 {
		seen := make(map[string]bool, len(keys))
		for _, k := range keys {
			if seen[k] {
				return k, true
			}
			seen[k] = true
		}
		return "", false
	}
	for i, k := range keys {
		for _, l := range keys[:i] {
			if k == l {
				return k, true
			}
		}
	}
	return "", false
}
