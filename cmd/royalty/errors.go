package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/internal/pgdb"
)

// moreDetails ends the messages that leave out the underlying error.
const moreDetails = " (details: --verbose)"

// userMessage is what the command line prints for err: with verbose, the whole chain of wrapped
// errors; otherwise, for the failures whose chain is Go and driver internals (a refused
// connection, a SQLSTATE, a gRPC status), one sentence with the fix. Errors the commands word
// for people themselves (flag checks and the like) are printed as they are.
func userMessage(err error, verbose bool) string {
	if err == nil {
		return ""
	}
	if verbose {
		return err.Error()
	}
	var (
		connErr *pgconn.ConnectError
		pgErr   *pgconn.PgError
		re      *royalty.Error
	)
	switch {
	case errors.Is(err, wire.ErrNoDatabase):
		return err.Error() // worded for people, with "(or use --server)" where it applies
	case errors.Is(err, wire.ErrNotMigrated), pgdb.IsUndefinedTable(err):
		return wire.ErrNotMigrated.Error()
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.As(err, &connErr):
		where := "the database"
		if c := connErr.Config; c != nil && c.Host != "" {
			where += " at " + net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
		}
		if errors.As(err, &pgErr) {
			// The server answered and refused: a wrong password, an unknown database.
			return fmt.Sprintf("cannot connect to %s: %s%s", where, pgErr.Message, moreDetails)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Sprintf("cannot reach %s: is it running?%s", where, moreDetails)
		}
		return fmt.Sprintf("cannot reach %s: check --database-url%s", where, moreDetails)
	case errors.As(err, &re):
		return re.Message
	case errors.As(err, &pgErr):
		return fmt.Sprintf("the database refused the operation: %s%s", pgErr.Message, moreDetails)
	}
	var grpcErr interface{ GRPCStatus() *status.Status }
	if errors.As(err, &grpcErr) {
		// status.FromError would put the whole wrapped chain in the message.
		switch st := grpcErr.GRPCStatus(); st.Code() {
		case codes.OK:
		case codes.Unavailable:
			return "cannot reach the server: is it running, and is the address right?" + moreDetails
		default:
			return fmt.Sprintf("the server answered %s: %s", st.Code(), st.Message())
		}
	}
	return err.Error()
}
