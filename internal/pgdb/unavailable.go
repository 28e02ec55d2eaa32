package pgdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openroyalty/royalty"
)

// Unavailable reports whether err says that the database could not be reached or went away —
// the server is down or restarting, the connection was refused, reset or closed, a connection
// could not be had in time, the server is shutting down or has no connection slot left — rather
// than that a statement failed: errors after which retrying later may succeed, which callers
// see as UNAVAILABLE, never as an internal error. A context's own cancellation or deadline is
// not one: the caller's deadline keeps its meaning.
func Unavailable(err error) bool {
	if err == nil || isContextErr(err) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		case pgErr.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	// pgconn's "conn closed", "conn busy" and the like: nothing was sent to the server.
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) && !isContextErr(err)
}

// isContextErr reports whether err is a context's cancellation or deadline.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Classify returns err with the code royalty.EUNAVAILABLE in its chain when Unavailable(err),
// keeping err itself in the chain for logs and errors.As, and err unchanged otherwise (nil
// for nil). Errors that already carry a royalty code keep it.
func Classify(err error) error {
	var e *royalty.Error
	if err == nil || errors.As(err, &e) || !Unavailable(err) {
		return err
	}
	return &UnavailableError{Err: err}
}

// UnavailableError is a database error after which retrying later may help (see Unavailable).
// Its chain holds a *royalty.Error with code EUNAVAILABLE and the database error.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return fmt.Sprintf("database unavailable: %v", e.Err) }

// Unwrap returns the *royalty.Error that classifies e and the database error.
func (e *UnavailableError) Unwrap() []error {
	return []error{royalty.Errorf(royalty.EUNAVAILABLE, "the database is unavailable; retry later"), e.Err}
}
