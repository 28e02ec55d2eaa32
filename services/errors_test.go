package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pgdb"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		wantMsg  string
	}{
		{"nil", nil, codes.OK, ""},
		{"invalid field", royalty.FieldErrorf(royalty.EINVALID, "revenue", "must not be negative"), codes.InvalidArgument, "revenue: must not be negative"},
		{"wrapped conflict", fmt.Errorf("booking: %w", royalty.Errorf(royalty.ECONFLICT, "request_id reused")), codes.AlreadyExists, "request_id reused"},
		{"not found", royalty.Errorf(royalty.ENOTFOUND, "no such post"), codes.NotFound, "no such post"},
		{"precondition", royalty.Errorf(royalty.EPRECONDITION, "already reversed"), codes.FailedPrecondition, "already reversed"},
		{"plain error hides its text", errors.New("pq: password authentication failed for root"), codes.Internal, "internal error"},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded"},
		{"transaction retries exhausted", fmt.Errorf("booking: %w", &pgdb.RetriesExhaustedError{Op: "posting usage", Attempts: 10, Err: errors.New("40001")}), codes.Unavailable, "posting usage: too much contention, gave up after 10 attempts; retry later"},
		{"connection refused", fmt.Errorf("reading principal: %w", &pgconn.ConnectError{Config: &pgconn.Config{}}), codes.Unavailable, "the database is unavailable; retry later"},
		{"dial error", fmt.Errorf("query: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), codes.Unavailable, "the database is unavailable; retry later"},
		{"server shutting down", fmt.Errorf("query: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), codes.Unavailable, "the database is unavailable; retry later"},
		{"too many connections", &pgconn.PgError{Code: "53300"}, codes.Unavailable, "the database is unavailable; retry later"},
		{"other database error stays internal", &pgconn.PgError{Code: "23505"}, codes.Internal, "internal error"},
		{"a deadline while connecting stays a deadline", fmt.Errorf("connecting: %w: %w", &pgconn.ConnectError{Config: &pgconn.Config{}}, context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded"},
		{"status passes through", status.Error(codes.Unauthenticated, "no key"), codes.Unauthenticated, "no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(toStatus(tt.err))
			if st.Code() != tt.wantCode || st.Message() != tt.wantMsg {
				t.Fatalf("toStatus(%v) = %v %q, want %v %q", tt.err, st.Code(), st.Message(), tt.wantCode, tt.wantMsg)
			}
		})
	}
}
