package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openroyalty/royalty/internal/soak"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// Fault kinds.
const (
	faultTerminate = "pg_terminate_backend"
	faultPGRestart = "pg_restart"
	faultKill      = "server_sigkill"
	faultDeadline  = "client_deadline"
)

var faultKinds = []string{faultTerminate, faultPGRestart, faultKill, faultDeadline}

// faultCounts counts the faults injected, per kind, and what they took.
type faultCounts struct {
	mu             sync.Mutex
	n              map[string]int
	backends       int             // backends terminated
	recoveries     []time.Duration // from injection to the first acknowledged report after it
	exportFailures atomic.Int64
}

func (f *faultCounts) add(kind string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[kind] += n
}

func (f *faultCounts) get(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[kind]
}

func (f *faultCounts) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := 0
	for _, n := range f.n {
		t += n
	}
	return t
}

func (f *faultCounts) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := make([]string, len(faultKinds))
	for i, k := range faultKinds {
		parts[i] = fmt.Sprintf("%s=%d", k, f.n[k])
	}
	return strings.Join(parts, " ")
}

// injectFaults runs the schedule of process faults: rounds × (terminate backends, restart
// PostgreSQL, kill the server), each round in a random order, spread evenly over the middle of
// the load, each followed by a wait until a report is acknowledged again. Client deadlines are
// injected by the workers themselves all along.
func (s *soakRun) injectFaults(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(s.o.seed, 5))
	var plan []string
	for range s.o.rounds {
		round := []string{faultTerminate, faultPGRestart, faultKill}
		rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		plan = append(plan, round...)
	}
	immediate, kills := false, 0
	for i, kind := range plan {
		at := time.Duration(float64(s.o.duration) * (0.08 + 0.8*float64(i)/float64(len(plan))))
		select {
		case <-ctx.Done():
			return fmt.Errorf("the load ended before fault %d of %d (%s) was injected: is -duration long enough for %d rounds?", i+1, len(plan), kind, s.o.rounds)
		case <-time.After(time.Until(s.loadStart.Add(at))):
		}
		injected := time.Now()
		var err error
		switch kind {
		case faultTerminate:
			err = s.terminateBackends(ctx)
		case faultPGRestart:
			err = s.pg.Restart(context.WithoutCancel(ctx), immediate)
			if err == nil {
				s.faults.add(faultPGRestart, 1)
				s.sayFault("PostgreSQL restarted (immediate=%v, as after a crash when true)", immediate)
			}
			immediate = !immediate
		case faultKill:
			during := s.awaitInflight(ctx, kills, rng)
			kills++
			sp, role := s.victim(ctx, rng)
			injected = time.Now()
			sp.kill()
			s.faults.add(faultKill, 1)
			s.served.killed(sp.name)
			s.sayFault("royalty serve %s%s killed with SIGKILL%s", sp.name, role, during)
			restart := time.Now()
			err = sp.start(context.WithoutCancel(ctx), 90*time.Second)
			sp.mu.Lock()
			failed := sp.failedStarts
			sp.failedStarts = nil
			sp.mu.Unlock()
			if len(failed) > 0 {
				s.sayFault("royalty serve %s restarted in %.2f s after %d failed starts: %q", sp.name, time.Since(restart).Seconds(), len(failed), failed)
			}
		}
		if err != nil {
			return fmt.Errorf("injecting %s: %w", kind, err)
		}
		took, err := s.waitRecovered(context.WithoutCancel(ctx), 90*time.Second)
		if err != nil {
			return fmt.Errorf("no recovery after %s: %w", kind, err)
		}
		s.faults.mu.Lock()
		s.faults.recoveries = append(s.faults.recoveries, time.Since(injected))
		s.faults.mu.Unlock()
		s.sayFault("recovered from %s: a report acknowledged %.2f s after the fault (%.2f s after the first try)", kind, time.Since(injected).Seconds(), took.Seconds())
	}
	return nil
}

// awaitInflight waits, for up to 15 seconds, until an ingest stream (the kill's n is even) or
// a journal export (n odd) is under way, and a few milliseconds more, so that the fault
// strikes in its middle: a killed ingest must leave the index and the posts table
// recoverable, a killed export nothing at all. It says what was under way.
func (s *soakRun) awaitInflight(ctx context.Context, n int, rng *rand.Rand) string {
	what, counter := "an ingest stream", &s.inflight.ingest
	if n%2 == 1 {
		what, counter = "a journal export", &s.inflight.export
	}
	deadline := time.Now().Add(15 * time.Second)
	for counter.Load() == 0 {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return ""
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
	if counter.Load() == 0 {
		return " just after " + what
	}
	return " during " + what
}

func (s *soakRun) sayFault(format string, args ...any) {
	if s.o.verbose {
		s.say("fault: "+format, args...)
	}
}

// terminateBackends kills every PostgreSQL session of the server (pg_terminate_backend), as an
// operator or a failover would. It counts a fault only when a session was there to kill.
func (s *soakRun) terminateBackends(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		var n int
		err := s.pool.QueryRow(context.WithoutCancel(ctx), `
			SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
			FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, serverApp).Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			s.faults.add(faultTerminate, 1)
			s.faults.mu.Lock()
			s.faults.backends += n
			s.faults.mu.Unlock()
			s.sayFault("pg_terminate_backend killed %d sessions of the server", n)
			return nil
		}
		if attempt == 50 {
			return fmt.Errorf("the server had no PostgreSQL session to terminate")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitRecovered reports under the canary provider until a report is acknowledged, and returns
// how long that took. The canary's reports are writes like any other.
func (s *soakRun) waitRecovered(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var last error
	for n := 0; time.Since(start) < timeout; n++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		r := &v1.ReportUsageRequest{
			RequestId: fmt.Sprintf("canary-%d-%d", time.Now().UnixNano(), n), ModelId: "soak-canary",
			OutputTokens: 10, Pricing: &v1.ReportUsageRequest_Revenue{Revenue: "0.01"}, Currency: "USD",
			ResponseText: filler[n%len(filler)],
		}
		k := soak.Key{Kind: ledger.KindUsage, Principal: s.canaryP.id, RequestID: r.RequestId}
		s.pending.mu.Lock()
		s.pending.usage[k] = r
		s.pending.mu.Unlock()
		s.writes.Sent(soak.Write{Key: k, Amount: amountOf(r), Currency: "USD"})
		var resp *v1.ReportUsageResponse
		err := call(ctx, 5*time.Second, func(c context.Context) (err error) {
			resp, err = s.provider.ReportUsage(s.canaryP.ctx(c), r)
			return err
		})
		s.recordUsage(k, resp, err)
		if err == nil {
			return time.Since(start), nil
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return 0, fmt.Errorf("no report acknowledged within %s; last error: %v", timeout, last)
}

// forceDeadlineFault makes sure the run injects at least one client deadline that expires
// mid-call, should the workers' random deadlines all have been met.
func (s *soakRun) forceDeadlineFault(ctx context.Context) {
	w := &worker{s: s, p: s.providers[0], name: "deadline", rng: rand.New(rand.NewPCG(s.o.seed, 6))}
	for i := 0; i < 200 && s.faults.get(faultDeadline) == 0 && ctx.Err() == nil; i++ {
		w.single(ctx, true)
	}
}

// recoverySummary describes the recovery times.
func (f *faultCounts) recoverySummary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.recoveries) == 0 {
		return "none"
	}
	d := append([]time.Duration(nil), f.recoveries...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return fmt.Sprintf("%d faults, recovery median %.2f s, max %.2f s", len(d), d[len(d)/2].Seconds(), d[len(d)-1].Seconds())
}
