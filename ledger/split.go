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
	if !total.Equal(total.Truncate(scale)) {
		return nil, fmt.Errorf("split: total %s has more than %d fractional digits", total, scale)
	}
	sum := new(big.Rat)
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		if p.Weight == nil || p.Weight.Sign() < 0 {
			return nil, fmt.Errorf("split: part %q has a nil or negative weight", p.Key)
		}
		if seen[p.Key] {
			return nil, fmt.Errorf("split: duplicate part key %q", p.Key)
		}
		seen[p.Key] = true
		sum.Add(sum, p.Weight)
	}
	if sum.Sign() == 0 {
		return nil, fmt.Errorf("split: all weights are zero")
	}
	// quanta is total in units of the quantum: an exact integer after the check above.
	quanta := total.Shift(scale).BigInt()
	negative := quanta.Sign() < 0
	quanta.Abs(quanta)

	// The exact quota of part i is quanta × w_i / Σw = num_i / den_i with
	// num_i = quanta × w_i.num × Σw.den and den_i = w_i.den × Σw.num. Integer division gives the
	// floor and a remainder rem_i, so the fractional part is rem_i / den_i; working on integers
	// avoids normalising a big.Rat (a GCD) at every step.
	type quota struct {
		floor, rem, den *big.Int
	}
	quotas := make([]quota, len(parts))
	given := new(big.Int)
	scaled := new(big.Int).Mul(quanta, sum.Denom())
	for i, p := range parts {
		num := new(big.Int).Mul(scaled, p.Weight.Num())
		den := new(big.Int).Mul(p.Weight.Denom(), sum.Num())
		fl, rem := new(big.Int).QuoRem(num, den, new(big.Int)) // non-negative: QuoRem is floor
		quotas[i] = quota{floor: fl, rem: rem, den: den}
		given.Add(given, fl)
	}
	left := new(big.Int).Sub(quanta, given).Int64() // 0 ≤ left < len(parts)
	if left > 0 {
		order := make([]int, len(parts))
		for i := range order {
			order[i] = i
		}
		var x, y big.Int
		sort.Slice(order, func(a, b int) bool {
			qa, qb := quotas[order[a]], quotas[order[b]]
			// rem_a/den_a vs rem_b/den_b, cross-multiplied (denominators are positive).
			if c := x.Mul(qa.rem, qb.den).Cmp(y.Mul(qb.rem, qa.den)); c != 0 {
				return c > 0
			}
			pa, pb := parts[order[a]], parts[order[b]]
			if c := pa.Weight.Cmp(pb.Weight); c != 0 {
				return c > 0
			}
			return pa.Key < pb.Key
		})
		for _, i := range order[:left] {
			quotas[i].floor.Add(quotas[i].floor, big.NewInt(1))
		}
	}
	out := make([]decimal.Decimal, len(parts))
	for i, q := range quotas {
		if negative {
			q.floor.Neg(q.floor)
		}
		out[i] = decimal.NewFromBigInt(q.floor, -scale)
	}
	return out, nil
}
