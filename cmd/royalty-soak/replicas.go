package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// followInterval is how often each replica reads the posts table for posts another replica
// ingested (serve --follow-interval).
const followInterval = 250 * time.Millisecond

// servedCounts counts, per replica, the usage reports it booked (replays aside) and those of
// them that credited at least one author: proof that every replica attributes.
type servedCounts struct {
	byAddr map[string]string // replica address → name; set before the first call

	mu                  sync.Mutex
	reports, attributed map[string]int
	kills               map[string]int
}

// intercept is the clients' unary interceptor: it learns which replica answered a call and
// counts the usage reports it booked.
func (c *servedCounts) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var p peer.Peer
	err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Peer(&p))...)
	if err != nil || p.Addr == nil {
		return err
	}
	var usages []*v1.Usage
	switch r := reply.(type) {
	case *v1.ReportUsageResponse:
		if !r.GetReplayed() {
			usages = append(usages, r.GetUsage())
		}
	case *v1.ReportUsageBatchResponse:
		for _, x := range r.GetResults() {
			if !x.GetReplayed() {
				usages = append(usages, x.GetUsage())
			}
		}
	}
	if len(usages) == 0 {
		return nil
	}
	name := c.byAddr[p.Addr.String()]
	if name == "" {
		name = p.Addr.String()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reports == nil {
		c.reports, c.attributed = map[string]int{}, map[string]int{}
	}
	for _, u := range usages {
		c.reports[name]++
		if len(u.GetCredits()) > 0 {
			c.attributed[name]++
		}
	}
	return nil
}

func (c *servedCounts) killed(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kills == nil {
		c.kills = map[string]int{}
	}
	c.kills[name]++
}

// summary describes what each replica served and how often it was killed, and returns the
// replicas that booked no attributed report.
func (c *servedCounts) summary(servers []*serverProc) (string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts, idle []string
	for _, sp := range servers {
		parts = append(parts, fmt.Sprintf("%s booked %d reports, %d attributed (credits > 0), killed %d×",
			sp.name, c.reports[sp.name], c.attributed[sp.name], c.kills[sp.name]))
		if c.attributed[sp.name] == 0 {
			idle = append(idle, sp.name)
		}
	}
	return strings.Join(parts, "; "), idle
}

// victim picks the replica to kill at random and says whether it holds the journal sealer's
// lease (whose holder names its process id: host/pid/nonce), so that the log shows takeovers.
func (s *soakRun) victim(ctx context.Context, rng *rand.Rand) (*serverProc, string) {
	sp := s.servers[rng.IntN(len(s.servers))]
	if len(s.servers) == 1 {
		return sp, ""
	}
	var holder string
	if err := s.pool.QueryRow(context.WithoutCancel(ctx), `SELECT holder FROM journal_sealer_lease`).Scan(&holder); err != nil {
		return sp, ""
	}
	if f := strings.Split(holder, "/"); len(f) == 3 {
		if pid, err := strconv.Atoi(f[1]); err == nil && pid == sp.pid() {
			return sp, " (the sealer lease holder)"
		}
	}
	return sp, ""
}

// checkFingerprints checks that every post ingested during the load has its fingerprints in
// the database (attribution_fingerprints), where the replicas' attribution reads them.
func (s *soakRun) checkFingerprints(ctx context.Context) (int, error) {
	s.ingest.mu.Lock()
	ids := make([]string, 0, len(s.ingest.acked))
	for id := range s.ingest.acked {
		ids = append(ids, id)
	}
	s.ingest.mu.Unlock()
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT post_id FROM attribution_fingerprints WHERE post_id = ANY($1)`, ids)
	if err != nil {
		return 0, fmt.Errorf("reading the fingerprints of the posts ingested during the load: %w", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return 0, err
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var missing []string
	for _, id := range ids {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		s.problemf("%d posts ingested during the load have no fingerprints in attribution_fingerprints (%s)", len(missing), firstFew(missing))
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM attribution_fingerprints`).Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}
