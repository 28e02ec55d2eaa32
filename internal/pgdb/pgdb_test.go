package pgdb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
)

// Open sizes the pool as asked, unless the URL sizes it itself.
func TestOpenMaxConns(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, c := range []struct {
		dsn  string
		max  []int32
		want int32
	}{
		{dsn, []int32{7}, 7},
		{dsn + sep + "pool_max_conns=3", []int32{7}, 3},
		{dsn, []int32{0}, -1}, // pgx's default
		{dsn, nil, -1},
	} {
		pool, err := pgdb.Open(ctx, c.dsn, c.max...)
		if err != nil {
			t.Fatalf("%s: %v", c.dsn, err)
		}
		got := pool.Config().MaxConns
		pool.Close()
		if c.want > 0 && got != c.want || c.want < 0 && got == 7 {
			t.Errorf("Open(%q, %v): MaxConns %d, want %d", c.dsn, c.max, got, c.want)
		}
	}
}
