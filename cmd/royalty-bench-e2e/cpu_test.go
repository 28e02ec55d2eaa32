package main

import "testing"

// TestCPUSplits checks the per-report and per-transaction CPU lines against figures worked out
// by hand: 2 s of server, 1 s of PostgreSQL, 0.5 s of this process and 4 s busy out of 8 s.
func TestCPUSplits(t *testing.T) {
	before := cpuSample{server: 1, postgres: 1, self: 1, busy: 10, all: 20}
	after := cpuSample{server: 3, postgres: 2, self: 1.5, busy: 14, all: 28}
	if got, want := cpuSplit(before, after, 1000), "CPU per report: server 2.00 ms, PostgreSQL 1.00 ms, load generator 0.50 ms, rest of the machine 0.50 ms; machine 50% busy"; got != want {
		t.Errorf("cpuSplit:\n got %s\nwant %s", got, want)
	}
	if got, want := pgbenchCPU(before, after, 500), "CPU per pgbench transaction: PostgreSQL 2.00 ms, pgbench and the rest of the machine 1.00 ms; machine 50% busy"; got != want {
		t.Errorf("pgbenchCPU:\n got %s\nwant %s", got, want)
	}
	if got := cpuSplit(before, after, 0); got != "no reports" {
		t.Errorf("cpuSplit of no reports: %s", got)
	}
	if got := pgbenchCPU(before, after, 0); got != "no pgbench transactions" {
		t.Errorf("pgbenchCPU of no transactions: %s", got)
	}
}
