package services

import (
	"context"
	"errors"
	"fmt"
	"testing"

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
