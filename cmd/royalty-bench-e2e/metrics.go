package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// groupCommitPrefix starts the names of the ledger's group-commit counters on serve's /metrics.
const groupCommitPrefix = "royalty_ledger_group_commit_"

// groupCommitSample reads the ledger's group-commit counters from the server's /metrics, by
// name without the prefix ("batches_total"). An error leaves it empty: the figures are a
// diagnosis printed beside the results.
func (b *bench) groupCommitSample(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body, err := get(ctx, "http://"+b.metrics+"/metrics")
	if err != nil {
		return out
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, groupCommitPrefix) {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[strings.TrimPrefix(name, groupCommitPrefix)] = v
		}
	}
	return out
}

// groupCommitSplit says, from two samples, where the reports of a phase spent their time in the
// ledger's group commit.
func groupCommitSplit(before, after map[string]float64) string {
	d := func(k string) float64 { return after[k] - before[k] }
	batches, reports := d("batches_total"), d("reports_total")
	if batches <= 0 || reports <= 0 {
		return "group commit: no batches (or no metrics)"
	}
	book, stmts := 1000*d("book_seconds_total")/batches, 1000*d("statement_seconds_total")/batches
	return fmt.Sprintf("group commit: %.1f reports and %.2f database transactions per batch; a report waited %.1f ms for a flusher, then a batch took %.1f ms collecting and %.1f ms booking (%.1f ms in statements, %.1f ms in BEGIN, COMMIT and retries)",
		reports/batches, d("attempts_total")/batches, 1000*d("queue_seconds_total")/reports,
		1000*d("collect_seconds_total")/batches, book, stmts, book-stmts)
}
