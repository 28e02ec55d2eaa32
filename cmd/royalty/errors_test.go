package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/internal/pgdb"
)

// refusedConnection is the error of connecting to a port nothing listens on.
func refusedConnection(t *testing.T) (error, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	_, err = pgdb.Open(context.Background(), "postgres://u@"+addr+"/x?connect_timeout=5")
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	return err, addr
}

func TestUserMessage(t *testing.T) {
	refused, addr := refusedConnection(t)
	undefined := fmt.Errorf("creating principal: %w", &pgconn.PgError{Code: "42P01", Message: `relation "principals" does not exist`})
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refused", refused, "cannot reach the database at " + addr + ": is it running? (details: --verbose)"},
		{"not migrated", fmt.Errorf("%w (reading the schema version: %w)", wire.ErrNotMigrated, errors.New("x")), "schema not migrated; run royalty migrate"},
		{"undefined table", undefined, "schema not migrated; run royalty migrate"},
		{"no database", fmt.Errorf("%w (or use --server)", wire.ErrNoDatabase), "no database configured: set --database-url or ROYALTY_DATABASE_URL (or use --server)"},
		{"royalty error", fmt.Errorf("posting: %w", royalty.FieldErrorf(royalty.EINVALID, "revenue", "must not be negative")), "revenue: must not be negative"},
		{"other SQLSTATE", fmt.Errorf("a: b: %w", &pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint \"k\""}),
			"the database refused the operation: duplicate key value violates unique constraint \"k\" (details: --verbose)"},
		{"grpc", fmt.Errorf("export proof: %w", status.Error(codes.NotFound, "no such transaction")), "the server answered NotFound: no such transaction"},
		{"grpc unavailable", fmt.Errorf("IngestPosts: %w", status.Error(codes.Unavailable, "connection error: desc = \"transport: dial tcp\"")),
			"cannot reach the server: is it running, and is the address right? (details: --verbose)"},
		{"interrupted", fmt.Errorf("reading: %w", context.Canceled), "interrupted"},
		{"worded for people", errors.New("--batch-size: want 1 to 100000, got 0"), "--batch-size: want 1 to 100000, got 0"},
	}
	for _, tt := range tests {
		if got := userMessage(tt.err, false); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		if got := userMessage(tt.err, true); got != tt.err.Error() {
			t.Errorf("%s: verbose %q, want the whole chain %q", tt.name, got, tt.err.Error())
		}
		if got := userMessage(tt.err, false); strings.Contains(got, "SQLSTATE") || strings.Contains(got, "dial tcp") || strings.Contains(got, "rpc error") {
			t.Errorf("%s: %q shows internals", tt.name, got)
		}
	}
}

// TestErrorPrinting runs the command line as main does: without --verbose the refused
// connection is one sentence; with it (or ROYALTY_VERBOSE) the whole chain.
func TestErrorPrinting(t *testing.T) {
	_, addr := refusedConnection(t)
	dsn := "postgres://u@" + addr + "/x?connect_timeout=5"
	for _, tt := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"keys", "list", "--database-url", dsn}, "", "royalty: cannot reach the database at " + addr + ": is it running? (details: --verbose)\n"},
		{[]string{"keys", "list", "--database-url", dsn, "--verbose"}, "", "connection refused"},
		{[]string{"keys", "list", "--database-url", dsn}, "true", "connection refused"},
	} {
		if tt.env != "" {
			t.Setenv("ROYALTY_VERBOSE", tt.env)
		}
		var out, stderr bytes.Buffer
		verbose, err := execute(context.Background(), tt.args, &out, &stderr)
		if code := reportError(err, verbose, &stderr); code != 1 {
			t.Errorf("%v: exit code %d", tt.args, code)
		}
		if got := stderr.String(); !strings.Contains(got, tt.want) || !strings.HasPrefix(got, "royalty: ") {
			t.Errorf("%v (ROYALTY_VERBOSE=%s) printed %q, want %q", tt.args, tt.env, got, tt.want)
		}
	}
}
