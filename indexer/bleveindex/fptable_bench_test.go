package bleveindex

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openroyalty/royalty/indexer"
)

// BenchmarkBuildFPTable measures how long building the fingerprint tables of an index takes,
// per fingerprint: the pause of the first retrieval that reads a new segment. The index holds
// 20,000 posts of 27 random fingerprints and 67 words each, the real dumps' averages (the words
// count because the table is read from the stored fields, which are decompressed whole).
func BenchmarkBuildFPTable(b *testing.B) {
	x := openTemp(b)
	rng := rand.New(rand.NewSource(1))
	const posts, perPost = 20_000, 27
	for i := 0; i < posts; i += 500 {
		batch := make([]*indexer.Prepared, 0, 500)
		for j := i; j < i+500; j++ {
			fps := make([]uint64, perPost)
			for k := range fps {
				fps[k] = rng.Uint64()
			}
			words := make([]string, 67)
			for k := range words {
				words[k] = strconv.FormatUint(rng.Uint64()>>40, 36)
			}
			p := post(strconv.Itoa(j), "ana", "s", strings.Join(words, " "), t0)
			p.Fingerprints = fps
			batch = append(batch, p)
		}
		write(b, x, batch...)
	}
	time.Sleep(time.Second) // let the merger fold the batches together
	r, err := x.raw.Reader()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	snap := snapshotOf(b, r)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, ss := range snap.Segments() {
			if _, err := buildFPTable(ss.Segment()); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(posts*perPost), "ns/fingerprint")
}
