package attribution

import (
	"fmt"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution/text"
)

// AlgorithmName names the algorithm of this package; Result.Algorithm adds the parameters.
// Change it whenever a change to the code can change a result for the same index and response.
const AlgorithmName = "ngram-overlap/v1"

// Defaults of Config. They are measured choices; README.md says how each was measured.
const (
	DefaultMinSpanWords     = 8
	DefaultMaxAuthors       = 10
	DefaultCandidates       = 64
	DefaultChunkWords       = 400
	DefaultMaxGapWords      = 8
	DefaultMinContentWords  = 2
	DefaultMaxResponseBytes = 64 << 10
	DefaultMaxResponseWords = 20_000
)

// Config holds the parameters of the attribution algorithm. A zero field takes its default, so
// Config{} is the default configuration.
type Config struct {
	// K is the number of words per shingle and W the winnowing window. Both must equal the
	// parameters the index was built with (text.DefaultK and text.DefaultW for indexer/bleveindex), or
	// retrieval finds nothing; CheckIndex checks them against an index that knows its own.
	K, W int
	// MinSpanWords is the fewest words a span must share with a source, verbatim, to be credited.
	// Below W+K-1 words a shared span is not guaranteed to be retrieved.
	MinSpanWords int
	// MaxAuthors is the boilerplate threshold D: text whose fingerprints occur in posts of more
	// than D distinct authors credits nobody.
	MaxAuthors int
	// Candidates is how many posts are retrieved per chunk of the response.
	Candidates int
	// ChunkWords splits long responses into chunks that are retrieved separately, so that a long
	// response copying many posts does not lose some of them to the candidate limit.
	ChunkWords int
	// MaxGapWords is the longest gap (edited, inserted or deleted words) bridged between two
	// verbatim runs from the same post that are also close in the post. Negative disables
	// bridging.
	MaxGapWords int
	// MinContentWords is the fewest distinct content words (not numbers, not among the most
	// common English words) a span needs; spans with fewer are low-information and credit nobody.
	// Negative disables the check.
	MinContentWords int
	// MaxResponseBytes and MaxResponseWords bound the response; longer ones are rejected.
	MaxResponseBytes int
	MaxResponseWords int
}

// DefaultConfig returns the default configuration with every field set.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

// filled returns c with every zero field set to its default.
func (c Config) filled() Config {
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&c.K, text.DefaultK)
	set(&c.W, text.DefaultW)
	set(&c.MinSpanWords, DefaultMinSpanWords)
	set(&c.MaxAuthors, DefaultMaxAuthors)
	set(&c.Candidates, DefaultCandidates)
	set(&c.ChunkWords, DefaultChunkWords)
	set(&c.MaxGapWords, DefaultMaxGapWords)
	set(&c.MinContentWords, DefaultMinContentWords)
	set(&c.MaxResponseBytes, DefaultMaxResponseBytes)
	set(&c.MaxResponseWords, DefaultMaxResponseWords)
	return c
}

func (c Config) withDefaults() Config {
	c = c.filled()
	// Values that make no sense fall back to the smallest that does (Validate reports them).
	c.K = max(c.K, 1)
	c.W = max(c.W, 1)
	c.MinSpanWords = max(c.MinSpanWords, c.K)
	c.MaxAuthors = max(c.MaxAuthors, 1)
	c.Candidates = max(c.Candidates, 1)
	c.ChunkWords = max(c.ChunkWords, c.W+c.K-1)
	c.MaxResponseBytes = max(c.MaxResponseBytes, 1)
	c.MaxResponseWords = max(c.MaxResponseWords, 1)
	return c
}

// Validate reports the first field, with defaults filled in, that New would not take as given:
// a negative count (other than MaxGapWords and MinContentWords, where negative disables), a
// MinSpanWords shorter than K, or a ChunkWords shorter than the W+K−1 words that winnowing needs.
// The error is an EINVALID *royalty.Error whose Field is the Config field's name.
func (c Config) Validate() error {
	c = c.filled()
	for _, f := range []struct {
		name string
		v    int
	}{
		{"K", c.K}, {"W", c.W}, {"MinSpanWords", c.MinSpanWords}, {"MaxAuthors", c.MaxAuthors},
		{"Candidates", c.Candidates}, {"ChunkWords", c.ChunkWords},
		{"MaxResponseBytes", c.MaxResponseBytes}, {"MaxResponseWords", c.MaxResponseWords},
	} {
		if f.v < 1 {
			return royalty.FieldErrorf(royalty.EINVALID, f.name, "must be at least 1, got %d", f.v)
		}
	}
	if c.MinSpanWords < c.K {
		return royalty.FieldErrorf(royalty.EINVALID, "MinSpanWords",
			"must be at least K (%d), the words of one shingle, got %d", c.K, c.MinSpanWords)
	}
	if c.ChunkWords < c.W+c.K-1 {
		return royalty.FieldErrorf(royalty.EINVALID, "ChunkWords",
			"must be at least W+K-1 (%d), the words winnowing needs to fingerprint a run, got %d", c.W+c.K-1, c.ChunkWords)
	}
	return nil
}

// CheckIndex reports an EINVALID *royalty.Error about the field K or W when idx knows the
// parameters its fingerprints were computed with (it implements FingerprintParams) and c, with
// defaults filled in, has others: retrieval would then find nothing, and every response would
// credit nobody.
func (c Config) CheckIndex(idx Index) error {
	fp, ok := idx.(FingerprintParams)
	if !ok {
		return nil
	}
	c = c.filled()
	k, w := fp.FingerprintParams()
	if c.K != k {
		return royalty.FieldErrorf(royalty.EINVALID, "K",
			"is %d, but the index's fingerprints are of %d-word shingles (k=%d, w=%d); the attributor must use the index's k", c.K, k, k, w)
	}
	if c.W != w {
		return royalty.FieldErrorf(royalty.EINVALID, "W",
			"is %d, but the index's fingerprints are winnowed with window %d (k=%d, w=%d); the attributor must use the index's window", c.W, w, k, w)
	}
	return nil
}

// Algorithm identifies the algorithm and every parameter that can change a result.
func (c Config) Algorithm() string {
	c = c.withDefaults()
	return fmt.Sprintf("%s k=%d w=%d min_span=%d max_authors=%d candidates=%d chunk=%d max_gap=%d min_content=%d",
		AlgorithmName, c.K, c.W, c.MinSpanWords, c.MaxAuthors, c.Candidates, c.ChunkWords, c.MaxGapWords, c.MinContentWords)
}
