package services

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pgdb"
)

// codeOf is the one table that maps domain error codes to gRPC status codes. Anything not in it
// (and any error without a code) is reported as INTERNAL with a generic message.
var codeOf = map[string]codes.Code{
	royalty.EINVALID:         codes.InvalidArgument,
	royalty.ENOTFOUND:        codes.NotFound,
	royalty.ECONFLICT:        codes.AlreadyExists,
	royalty.EPRECONDITION:    codes.FailedPrecondition,
	royalty.EUNAUTHENTICATED: codes.Unauthenticated,
	royalty.EPERMISSION:      codes.PermissionDenied,
	royalty.EUNAVAILABLE:     codes.Unavailable,
	royalty.ERESOURCE:        codes.ResourceExhausted,
	royalty.EUNIMPLEMENTED:   codes.Unimplemented,
}

// toStatus translates a domain error into a gRPC status error. Context errors keep their meaning
// (the caller's deadline or cancellation), errors that already are statuses pass through, and a
// database that cannot be reached (pgdb.Unavailable) is UNAVAILABLE, never INTERNAL.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	}
	// A database that cannot be reached is UNAVAILABLE wherever the error comes from: pgdb.Tx
	// classifies its own, and this catches the single statements run outside a transaction.
	err = pgdb.Classify(err)
	code, ok := codeOf[royalty.ErrorCode(err)]
	if !ok {
		return internalError{cause: err}
	}
	return status.Error(code, royalty.ErrorMessage(err))
}

// internalError reaches the caller as INTERNAL "internal error" while its Error text, which the
// call log records, keeps the cause for the operator.
type internalError struct{ cause error }

func (e internalError) Error() string { return "internal error: " + e.cause.Error() }
func (e internalError) Unwrap() error { return e.cause }
func (e internalError) GRPCStatus() *status.Status {
	return status.New(codes.Internal, "internal error")
}
