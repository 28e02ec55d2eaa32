package ledger

import (
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestSplitPaths checks that the machine-word split gives exactly what the big-integer split
// gives, on random inputs that fit it, including ties and zero weights.
func TestSplitPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for c := 0; c < 100_000; c++ {
		n := 1 + rng.IntN(16)
		weights := make([]*big.Int, n)
		keys := make([]string, n)
		sum := new(big.Int)
		limit := int64(1) << (1 + rng.IntN(58))
		for i := range weights {
			switch rng.IntN(4) {
			case 0:
				weights[i] = big.NewInt(0)
			case 1:
				weights[i] = big.NewInt(limit / 3)
			default:
				weights[i] = big.NewInt(rng.Int64N(limit/int64(n) + 1))
			}
			keys[i] = strconv.Itoa(rng.IntN(1000)) + "/" + strconv.Itoa(i)
			sum.Add(sum, weights[i])
		}
		if sum.Sign() == 0 {
			weights[0].SetInt64(1)
			sum.SetInt64(1)
		}
		quanta := big.NewInt(rng.Int64N(int64(1) << (1 + rng.IntN(62))))
		negative := rng.IntN(5) == 0
		scale := int32(rng.IntN(13))
		fast, ok := splitUint64(quanta, negative, scale, weights, sum, keys)
		if !ok {
			t.Fatalf("case %d: inputs that fit were refused", c)
		}
		slow := splitBig(new(big.Int).Set(quanta), negative, scale, weights, sum, keys)
		for i := range fast {
			if !fast[i].Equal(slow[i]) {
				t.Fatalf("case %d: part %d: %s in machine words, %s in big integers", c, i, fast[i], slow[i])
			}
		}
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 64)
	if _, ok := splitUint64(huge, false, 0, []*big.Int{big.NewInt(1)}, big.NewInt(1), []string{"a"}); ok {
		t.Fatal("a total beyond 63 bits took the machine-word path")
	}
	if _, ok := splitUint64(big.NewInt(5), false, 0, []*big.Int{huge}, huge, []string{"a"}); ok {
		t.Fatal("weights beyond 63 bits took the machine-word path")
	}
}
