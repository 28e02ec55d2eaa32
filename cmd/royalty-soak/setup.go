package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checks: calls go to SERVING replicas
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/internal/soak"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// serverApp is the application_name of the server's database sessions, by which the
// pg_terminate_backend fault finds them (and spares the harness's own).
const serverApp = "royalty-serve"

// principal is a principal with its API key.
type principal struct {
	id, name, key string
}

// ctx returns ctx sending p's key.
func (p principal) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+p.key)
}

// soakRun is one run of the harness: the processes, the clients, the client-side log and what
// the checks need.
type soakRun struct {
	o         options
	log       *slog.Logger
	start     time.Time
	loadStart time.Time

	pg      *pgtmp.Server
	pool    *pgxpool.Pool // the harness's own sessions: setup, faults, final checks
	work    string        // everything the run writes, inside the PostgreSQL temp directory
	bin     string
	dsn     string
	dataDir string
	servers []*serverProc // the replicas, on the one database
	conn    *grpc.ClientConn
	served  servedCounts

	provider    v1.ProviderServiceClient
	contributor v1.ContributorServiceClient
	admin       v1.AdminServiceClient
	audit       v1.AuditServiceClient
	index       v1.IndexServiceClient
	feedbackC   v1.FeedbackServiceClient

	adminP       principal
	auditorP     principal
	canaryP      principal
	providers    []principal
	contributors []*contributor
	corpus       *corpus

	writes  *soak.Log
	exports *soak.Exports
	faults  faultCounts
	lat     latencies
	pending pendingRequests
	ingest  *ingestState
	fb      *feedbackLog // nil without -feedback
	epoch   string       // the feedback epoch of the run

	settled, settledBatches settleCount
	// inflight counts the ingest streams and journal exports under way, so that a fault can
	// strike in the middle of one.
	inflight struct{ ingest, export atomic.Int32 }

	mu       sync.Mutex
	problems []string
}

// problemf records a failed check; the run fails at the end.
func (s *soakRun) problemf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.problems = append(s.problems, msg)
	s.mu.Unlock()
	if s.o.verbose {
		s.say("PROBLEM %s", msg)
	}
}

func (s *soakRun) cleanup() {
	if s.conn != nil {
		s.conn.Close()
	}
	for _, sp := range s.servers {
		sp.kill()
	}
	if s.pool != nil {
		s.pool.Close()
	}
	if s.pg != nil {
		if err := s.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "soak: stopping postgres:", err)
		}
	}
}

func (s *soakRun) setup(ctx context.Context, root string) error {
	s.say("starting a throwaway durable PostgreSQL (fsync on)")
	var err error
	if s.pg, err = pgtmp.Start(ctx, pgtmp.Options{Durable: true, Logger: s.log}); err != nil {
		return err
	}
	s.work = filepath.Join(s.pg.Dir(), "soak")
	s.dataDir = filepath.Join(s.work, "data")
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return err
	}
	s.say("building royalty")
	if s.bin, err = buildRoyalty(ctx, root, s.work); err != nil {
		return err
	}
	if s.dsn, err = s.pg.CreateDatabase(ctx, "royalty", ""); err != nil {
		return err
	}
	if _, err := royaltyCmd(ctx, s.bin, s.dsn, "migrate"); err != nil {
		return err
	}
	if s.pool, err = pgdb.Open(ctx, s.dsn); err != nil {
		return err
	}

	// Replicas attribute from the fingerprints in the database (--index=sql), which ingest
	// writes with the posts; each one's search index follows the posts table (--follow).
	var indexFlags, replicaFlags []string
	if s.o.replicas > 1 {
		indexFlags = []string{"--index", "sql"}
		replicaFlags = []string{"--index", "sql", "--follow", "--follow-interval", followInterval.String()}
	}
	sample := filepath.Join(root, "indexer", "testdata", "sample", "posts.jsonl")
	s.say("ingesting the sample corpus")
	if _, err := royaltyCmd(ctx, s.bin, s.dsn, append([]string{"ingest", "--format", "jsonl", "--data-dir", s.dataDir, "--progress", "none", sample}, indexFlags...)...); err != nil {
		return err
	}
	for _, name := range strings.Split(s.o.corpus, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		dump := filepath.Join(root, "..", "shared", "data", "stackexchange", name)
		if _, err := os.Stat(dump); err != nil {
			s.say("no %s (%v): not ingested", dump, err)
			continue
		}
		s.say("ingesting %s", dump)
		if _, err := royaltyCmd(ctx, s.bin, s.dsn, append([]string{"ingest", "--format", "stackexchange", "--data-dir", s.dataDir, "--progress", "none", dump}, indexFlags...)...); err != nil {
			return err
		}
	}
	out, err := royaltyCmd(ctx, s.bin, s.dsn, "keys", "create", "--role", "admin", "--name", "soak-admin")
	if err != nil {
		return err
	}
	s.adminP.name = "soak-admin"
	if s.adminP.id, s.adminP.key, err = parseAPIKey(out); err != nil {
		return err
	}

	// The journal sealer signs checkpoints with this key; the checks verify the chain with it.
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(seed)
	keyFile := filepath.Join(s.work, "signing.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(seed)), 0o600); err != nil {
		return err
	}
	// Replica a serves the index the ingest built; every further replica starts from an empty
	// data directory and builds its index from the posts table (--follow).
	var addrs []resolver.Address
	s.served.byAddr = map[string]string{}
	for i := range s.o.replicas {
		name := string(rune('a' + i))
		dataDir, logName := s.dataDir, "server.log"
		if s.o.replicas > 1 {
			logName = "server-" + name + ".log"
		}
		if i > 0 {
			dataDir = filepath.Join(s.work, "data-"+name)
			if err := os.MkdirAll(dataDir, 0o755); err != nil {
				return err
			}
		}
		sp, err := newServerProc(name, s.bin, s.dsn+"&application_name="+serverApp, dataDir, filepath.Join(s.work, logName), keyFile, replicaFlags)
		if err != nil {
			return err
		}
		s.servers = append(s.servers, sp)
		if err := sp.start(ctx, 60*time.Second); err != nil {
			return fmt.Errorf("replica %s: %w", name, err)
		}
		s.say("royalty serve %s is up on %s %s", name, sp.grpcAddr, strings.Join(replicaFlags, " "))
		addrs = append(addrs, resolver.Address{Addr: sp.grpcAddr})
		s.served.byAddr[sp.grpcAddr] = name
	}
	// The clients spread their calls over the replicas that are up and SERVING (round robin
	// with health checks) and fail over to the others while one is down; a call cut off by a
	// fault is retried with the same key, on whichever replica takes it. They reconnect
	// quickly after a replica is killed: the harness measures the server's recovery, not the
	// client's back-off.
	res := manual.NewBuilderWithScheme("soak")
	res.InitialState(resolver.State{Addresses: addrs})
	s.conn, err = grpc.NewClient(res.Scheme()+":///royalty", grpc.WithResolvers(res),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}`),
		grpc.WithUnaryInterceptor(s.served.intercept),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, MaxDelay: 500 * time.Millisecond}, MinConnectTimeout: 2 * time.Second}))
	if err != nil {
		return err
	}
	s.provider = v1.NewProviderServiceClient(s.conn)
	s.contributor = v1.NewContributorServiceClient(s.conn)
	s.admin = v1.NewAdminServiceClient(s.conn)
	s.audit = v1.NewAuditServiceClient(s.conn)
	s.index = v1.NewIndexServiceClient(s.conn)
	s.feedbackC = v1.NewFeedbackServiceClient(s.conn)

	rng := mrand.New(mrand.NewPCG(s.o.seed, 1))
	for i := range s.o.providers + 2 {
		role, name := v1.Role_ROLE_PROVIDER, fmt.Sprintf("soak-provider-%d", i)
		switch i {
		case s.o.providers:
			name = "soak-canary"
		case s.o.providers + 1:
			role, name = v1.Role_ROLE_AUDITOR, "soak-auditor"
		}
		r, err := s.admin.CreatePrincipal(s.adminP.ctx(ctx), &v1.CreatePrincipalRequest{Name: name, Role: role})
		if err != nil {
			return fmt.Errorf("creating %s: %w", name, err)
		}
		p := principal{id: r.GetPrincipal().GetId(), name: name, key: r.GetApiKey()}
		switch i {
		case s.o.providers:
			s.canaryP = p
		case s.o.providers + 1:
			s.auditorP = p
		default:
			s.providers = append(s.providers, p)
		}
		if role == v1.Role_ROLE_PROVIDER {
			rate := fmt.Sprintf("0.%d", 2+rng.IntN(6)) // 0.2 to 0.7
			if _, err := s.admin.SetProviderAgreement(s.adminP.ctx(ctx), &v1.SetProviderAgreementRequest{ProviderId: p.id, RoyaltyRate: rate}); err != nil {
				return err
			}
		}
	}
	if s.o.feedback {
		if err := s.setupFeedback(ctx); err != nil {
			return err
		}
	}
	if s.corpus, err = loadCorpus(ctx, s.pool, s.o.contributors); err != nil {
		return err
	}
	for i, identity := range s.corpus.claimable {
		r, err := s.contributor.RegisterContributor(ctx, &v1.RegisterContributorRequest{DisplayName: fmt.Sprintf("soak contributor %d", i)})
		if err != nil {
			return err
		}
		s.contributors = append(s.contributors, &contributor{
			p:      principal{id: r.GetContributor().GetId(), name: r.GetContributor().GetDisplayName(), key: r.GetApiKey()},
			claims: planClaims(i, len(s.corpus.claimable), identity, s.o.duration),
		})
	}
	s.writes = soak.NewLog()
	s.exports = soak.NewExports()
	s.pending = pendingRequests{usage: map[soak.Key]*v1.ReportUsageRequest{}, batches: map[int64]pendingBatch{},
		payouts: map[soak.Key]*v1.RequestPayoutRequest{}, reversals: map[soak.Key]*v1.ReverseUsageRequest{}}
	s.ingest = &ingestState{acked: map[string]bool{}}
	s.say("%d posts to quote from, %d providers × %d workers, %d contributors claiming %s",
		len(s.corpus.posts), len(s.providers), s.o.workers, len(s.contributors), strings.Join(s.corpus.claimable, ", "))
	return nil
}

// corpus is what responses are made of: posts with authors, and the identities contributors
// will claim.
type corpus struct {
	mu        sync.RWMutex
	posts     []corpusPost
	byAuthor  map[string][]int
	claimable []string
}

type corpusPost struct {
	id, author string
	words      []string
}

// loadCorpus reads the ingested posts with at least 30 words and picks the n authors with the
// most posts as the identities to claim.
func loadCorpus(ctx context.Context, pool *pgxpool.Pool, n int) (*corpus, error) {
	rows, err := pool.Query(ctx, `SELECT id, author_key, text FROM posts WHERE author_key IS NOT NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	c := &corpus{byAuthor: map[string][]int{}}
	for rows.Next() {
		var p corpusPost
		var text string
		if err := rows.Scan(&p.id, &p.author, &text); err != nil {
			return nil, err
		}
		if p.words = strings.Fields(text); len(p.words) < 30 {
			continue
		}
		c.add(p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(c.posts) == 0 {
		return nil, fmt.Errorf("no ingested post has 30 words")
	}
	authors := make([]string, 0, len(c.byAuthor))
	for a := range c.byAuthor {
		authors = append(authors, a)
	}
	sort.Slice(authors, func(i, j int) bool {
		if len(c.byAuthor[authors[i]]) != len(c.byAuthor[authors[j]]) {
			return len(c.byAuthor[authors[i]]) > len(c.byAuthor[authors[j]])
		}
		return authors[i] < authors[j]
	})
	c.claimable = authors[:min(n, len(authors))]
	return c, nil
}

func (c *corpus) add(p corpusPost) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byAuthor[p.author] = append(c.byAuthor[p.author], len(c.posts))
	c.posts = append(c.posts, p)
}

// response makes a model response: a run of 12 to 30 words from each of one to three posts
// (half the time by an identity to be claimed), joined by words of its own; or, now and
// then, text of its own only.
func (c *corpus) response(rng *mrand.Rand) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var b strings.Builder
	b.WriteString(filler[rng.IntN(len(filler))])
	if rng.IntN(8) == 0 {
		for range 3 {
			b.WriteString(" " + filler[rng.IntN(len(filler))])
		}
		return b.String()
	}
	for range 1 + rng.IntN(3) {
		var p corpusPost
		if rng.IntN(2) == 0 && len(c.claimable) > 0 {
			ids := c.byAuthor[c.claimable[rng.IntN(len(c.claimable))]]
			p = c.posts[ids[rng.IntN(len(ids))]]
		} else {
			p = c.posts[rng.IntN(len(c.posts))]
		}
		n := 12 + rng.IntN(19)
		start := rng.IntN(max(1, len(p.words)-n))
		end := min(len(p.words), start+n)
		b.WriteString(" " + strings.Join(p.words[start:end], " "))
		b.WriteString(" " + filler[rng.IntN(len(filler))])
	}
	return b.String()
}

var filler = []string{
	"Here is what I would suggest.",
	"In short, it depends on the details of your setup.",
	"Photosynthesis converts light into chemical energy stored in sugar.",
	"The committee postponed the vote until the spring session.",
	"Let me know whether that answers the question.",
	"A quick summary follows, with the caveats that matter most.",
	"Granite cools slowly deep underground, which is why its crystals are large.",
	"Most of the delay came from the ferry schedule, not the roads.",
}
