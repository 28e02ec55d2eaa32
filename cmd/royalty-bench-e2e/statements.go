package main

import (
	"context"
	"fmt"
	"strings"
)

// resetStatements creates pg_stat_statements in royalty's database (with -pg-statements) and
// clears it, so that what printStatements shows is the measured phases'.
func (b *bench) resetStatements(ctx context.Context) error {
	if b.o.pgStatements <= 0 {
		return nil
	}
	if _, err := b.db.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return fmt.Errorf("pg_stat_statements: %w", err)
	}
	if _, err := b.db.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		return fmt.Errorf("pg_stat_statements: %w", err)
	}
	return nil
}

// printStatements prints the statements of royalty's database that took the most execution
// time since resetStatements, with their share of the total.
func (b *bench) printStatements(ctx context.Context) error {
	if b.o.pgStatements <= 0 {
		return nil
	}
	const mine = `FROM pg_stat_statements AS s JOIN pg_database AS d ON d.oid = s.dbid WHERE d.datname = current_database()`
	var all float64
	if err := b.db.QueryRow(ctx, `SELECT coalesce(sum(s.total_exec_time), 0) `+mine).Scan(&all); err != nil {
		return fmt.Errorf("pg_stat_statements: %w", err)
	}
	rows, err := b.db.Query(ctx, `SELECT s.calls, s.total_exec_time, s.rows, s.query `+mine+` ORDER BY s.total_exec_time DESC LIMIT $1`, b.o.pgStatements)
	if err != nil {
		return fmt.Errorf("pg_stat_statements: %w", err)
	}
	defer rows.Close()
	say("statements of royalty's database by execution time over the measured phases (pg_stat_statements):")
	for rows.Next() {
		var calls, n int64
		var total float64
		var query string
		if err := rows.Scan(&calls, &total, &n, &query); err != nil {
			return err
		}
		pct := 0.0
		if all > 0 {
			pct = 100 * total / all
		}
		query = strings.Join(strings.Fields(query), " ")
		if len(query) > 160 {
			query = query[:160] + "…"
		}
		say("  %5.1f%% %8.0f ms %7d calls %8d rows  %s", pct, total, calls, n, query)
	}
	return rows.Err()
}
