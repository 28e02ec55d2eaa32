package ledger

import (
	"fmt"
	"math/big"
	"sort"

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
	seen := make(map[string]bool, len(keys))
	for i, w := range weights {
		if w.Sign() < 0 {
			return nil, fmt.Errorf("split: part %q has a negative weight", keys[i])
		}
		if seen[keys[i]] {
			return nil, fmt.Errorf("split: duplicate part key %q", keys[i])
		}
		seen[keys[i]] = true
		sum.Add(sum, w)
	}
	if sum.Sign() == 0 {
		return nil, fmt.Errorf("split: all weights are zero")
	}
	// quanta is total in units of the quantum: an exact integer after the check above.
	quanta := total.Shift(scale).BigInt()
	negative := quanta.Sign() < 0
	quanta.Abs(quanta)

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
	return out, nil
}
