// Package royalty holds what every part of royalty shares: the coded error type that domain
// packages return and that the gRPC layer translates into status codes in one table.
//
// The domain packages (ledger, attribution, indexer) and their adapters live in the folders of the
// same names; services translates between protobuf and domain types; cmd/royalty wires them.
// ARCHITECTURE.md has the code map and the invariants.
package royalty

import (
	"errors"
	"fmt"
)

// Error codes. They are deliberately few: each maps to one gRPC status code in services.
const (
	EINVALID         = "invalid"             // the request is malformed; Field names the culprit
	ENOTFOUND        = "not_found"           // the thing named does not exist (or must not be seen)
	ECONFLICT        = "conflict"            // a key is already taken by something different
	EPRECONDITION    = "failed_precondition" // the state does not allow it (already reversed, insufficient funds)
	EUNAUTHENTICATED = "unauthenticated"     // no valid credentials
	EPERMISSION      = "permission_denied"   // credentials valid, action not allowed
	EUNAVAILABLE     = "unavailable"         // a dependency is down; retrying may help
	ERESOURCE        = "resource_exhausted"  // a size or rate limit was hit
	EUNIMPLEMENTED   = "unimplemented"       // not built yet
	EINTERNAL        = "internal"            // a bug or an unexpected failure
)

// Error is an error with a machine-readable code, the field it concerns (if any) and a message
// meant for the caller. Errors without a code are internal errors, and their text is not shown
// to callers.
type Error struct {
	Code    string
	Field   string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("royalty error: code=%s field=%s message=%s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("royalty error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error about one field. The message is prefixed with the field name,
// so that it reads well on its own: "revenue: must not be negative".
func FieldErrorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other non-nil
// error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, and a generic text for any
// other error so that internal details do not leak to callers.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
