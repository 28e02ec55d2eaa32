package main

import (
	"github.com/prometheus/client_golang/prometheus"

	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
)

// registerLedgerMetrics exposes the ledger's group-commit totals (ledgerpg.GroupCommitStats) as
// Prometheus counters, read at each scrape. Their rates divided by one another give the mean
// batch (reports / batches), the database transactions per batch (attempts / batches) and
// where a report's time in the ledger goes: waiting for a flusher (queue seconds / reports),
// being collected with others (collect seconds / batches) and the booking transaction (book
// seconds / batches), of which its statements (statement seconds / batches) and the rest
// mostly BEGIN and COMMIT. Nothing is registered when group commit is disabled.
func registerLedgerMetrics(reg prometheus.Registerer, l *ledgerpg.Store) {
	if _, ok := l.GroupCommitStats(); !ok {
		return
	}
	counter := func(name, help string, value func(ledgerpg.GroupCommitStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "royalty_ledger_group_commit_" + name, Help: help}, func() float64 {
			st, _ := l.GroupCommitStats()
			return value(st)
		})
	}
	reg.MustRegister(
		counter("batches_total", "Batches of usage reports booked by group commit.",
			func(s ledgerpg.GroupCommitStats) float64 { return float64(s.Batches) }),
		counter("reports_total", "Usage reports in those batches.",
			func(s ledgerpg.GroupCommitStats) float64 { return float64(s.Reports) }),
		counter("attempts_total", "Database transactions the batches took: retries and one-by-one bookings of a failed batch count too.",
			func(s ledgerpg.GroupCommitStats) float64 { return float64(s.Attempts) }),
		counter("queue_seconds_total", "Time usage reports waited for a flusher to take them, summed over reports.",
			func(s ledgerpg.GroupCommitStats) float64 { return s.Queue.Seconds() }),
		counter("collect_seconds_total", "Time flushers spent collecting batches after their first report, summed over batches.",
			func(s ledgerpg.GroupCommitStats) float64 { return s.Collect.Seconds() }),
		counter("book_seconds_total", "Time from the end of collecting to every report of the batch having its outcome, summed over batches.",
			func(s ledgerpg.GroupCommitStats) float64 { return s.Booking.Seconds() }),
		counter("statement_seconds_total", "The part of book_seconds_total between BEGIN and COMMIT (reads, planning, writes); the rest is BEGIN, COMMIT and retry waits.",
			func(s ledgerpg.GroupCommitStats) float64 { return s.Statements.Seconds() }),
	)
}
