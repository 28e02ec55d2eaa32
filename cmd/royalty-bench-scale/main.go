// Command royalty-bench-scale measures ReportUsage through one `royalty serve` process and
// through two on the same PostgreSQL, clients spread over them (issue 20: stateless replicas
// over one database).
//
// It builds the royalty binary, starts a throwaway durable PostgreSQL (internal/pgtmp), runs
// `royalty migrate`, creates a provider key, and starts replica A (its own --data-dir, an empty
// index allowed: the index is per replica and not what this measures). Phases of -duration
// each, -clients gRPC clients with a connection each, every call a ~90-word response with a
// unique request id: one replica; then replica B started and the same clients split over A and
// B; then A alone again. The one-replica figure is the mean of the first and last phases, so
// that drift of the shared machine weighs on both sides. Both replicas run the journal sealer;
// the lease lets one of them seal, and `royalty verify balances` checks the books at the end. It
// ends with
//
//	RESULT scale clients=<n> one_rps=<n> one_p99_ms=<n> two_rps=<n> two_p99_ms=<n> ratio=<two_rps / one_rps>
//
// Run it with `make bench-scale`.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/internal/repo"
	"github.com/openroyalty/royalty/internal/version"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

type options struct {
	duration time.Duration
	clients  int
	keep     bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long each phase lasts")
	flag.IntVar(&o.clients, "clients", 16, "concurrent gRPC clients, each with its own connection")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (server logs)")
	version.Flag("royalty-bench-scale")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

type replica struct {
	name, addr, log string
	cmd             *exec.Cmd
	exited          chan struct{}
}

type bench struct {
	work, bin, dsn string
	providerKey    string
	replicas       []*replica
}

func run(ctx context.Context, o options) error {
	b := &bench{}
	var err error
	if b.work, err = os.MkdirTemp("", "royalty-bench-scale-"); err != nil {
		return err
	}
	defer func() {
		for _, r := range b.replicas {
			_ = r.cmd.Process.Signal(syscall.SIGKILL)
			<-r.exited
		}
		if !o.keep {
			os.RemoveAll(b.work)
		} else {
			say("work directory kept: %s", b.work)
		}
	}()
	root, err := repo.Root()
	if err != nil {
		return err
	}
	say("building royalty")
	b.bin = filepath.Join(b.work, "royalty")
	goTool := os.Getenv("GO")
	if goTool == "" {
		goTool = "go"
	}
	build := exec.CommandContext(ctx, goTool, "build", "-o", b.bin, "./cmd/royalty")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/royalty: %w\n%s", err, out)
	}
	say("starting a throwaway durable PostgreSQL (fsync on)")
	pg, err := pgtmp.Start(ctx, pgtmp.Options{Durable: true})
	if err != nil {
		return err
	}
	defer pg.Stop()
	if b.dsn, err = pg.CreateDatabase(ctx, "royalty", ""); err != nil {
		return err
	}
	if _, err := b.royalty(ctx, "migrate"); err != nil {
		return err
	}
	out, err := b.royalty(ctx, "keys", "create", "--role", "provider", "--name", "bench-provider", "-o", "json")
	if err != nil {
		return err
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &k); err != nil || k.Key == "" {
		return fmt.Errorf("royalty keys create printed %q (%v)", out, err)
	}
	b.providerKey = k.Key

	a, err := b.serve(ctx, "a")
	if err != nil {
		return err
	}
	if _, err := b.drive(ctx, "warmup", []*replica{a}, o.clients, 5*time.Second); err != nil {
		return err
	}
	one1, err := b.drive(ctx, "one1", []*replica{a}, o.clients, o.duration)
	if err != nil {
		return err
	}
	say("one replica: %s", one1)
	r2, err := b.serve(ctx, "b")
	if err != nil {
		return err
	}
	if _, err := b.drive(ctx, "warmup2", []*replica{a, r2}, o.clients, 5*time.Second); err != nil {
		return err
	}
	two, err := b.drive(ctx, "two", []*replica{a, r2}, o.clients, o.duration)
	if err != nil {
		return err
	}
	say("two replicas: %s", two)
	one2, err := b.drive(ctx, "one2", []*replica{a}, o.clients, o.duration)
	if err != nil {
		return err
	}
	say("one replica again: %s", one2)
	// The books after both replicas booked on one database: the lease holder's checkpoints and
	// fences hold (the sealer may be a second behind: what it has sealed is checked).
	vout, err := b.royalty(ctx, "verify", "balances")
	if err != nil {
		return err
	}
	say("royalty verify balances: %s", strings.TrimSpace(vout))
	oneRPS := (one1.perS() + one2.perS()) / 2
	oneP99 := (one1.p(0.99) + one2.p(0.99)) / 2
	fmt.Printf("RESULT scale clients=%d one_rps=%.0f one_p99_ms=%.1f two_rps=%.0f two_p99_ms=%.1f ratio=%.2f\n",
		o.clients, oneRPS, oneP99, two.perS(), two.p(0.99), two.perS()/oneRPS)
	return nil
}

// royalty runs one royalty subcommand and returns its standard output.
func (b *bench) royalty(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Env = append(os.Environ(), "ROYALTY_DATABASE_URL="+b.dsn, "ROYALTY_LOG_LEVEL=warn")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("royalty %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// serve starts a replica with its own data directory and waits for health SERVING.
func (b *bench) serve(ctx context.Context, name string) (*replica, error) {
	r := &replica{name: name, log: filepath.Join(b.work, "serve-"+name+".log")}
	var err error
	if r.addr, err = freeAddr(); err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(b.bin, "serve", "--grpc-addr", r.addr, "--metrics-addr", metrics, "--allow-empty-index",
		"--data-dir", filepath.Join(b.work, "data-"+name), "--log-level", "warn", "--log-format", "json")
	cmd.Env = append(os.Environ(), "ROYALTY_DATABASE_URL="+b.dsn)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting royalty serve: %w", err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(r.exited) }()
	b.replicas = append(b.replicas, r)
	conn, err := grpc.NewClient(r.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-r.exited:
			out, _ := os.ReadFile(r.log)
			return nil, fmt.Errorf("royalty serve %s exited during start-up: %s", name, out)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := health.Check(hctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			say("replica %s (pid %d) is SERVING on %s", name, cmd.Process.Pid, r.addr)
			return r, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("replica %s not SERVING after 2 minutes", name)
		}
	}
}

type result struct {
	ok        int
	elapsed   time.Duration
	latencies []time.Duration
	errors    map[string]int
}

func (r result) perS() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r result) p(q float64) float64 {
	if len(r.latencies) == 0 {
		return 0
	}
	l := slices.Clone(r.latencies)
	slices.Sort(l)
	return float64(l[int(q*float64(len(l)-1))].Microseconds()) / 1000
}

func (r result) String() string {
	return fmt.Sprintf("%d reports in %.1fs: %.0f reports/s, p50 %.1f ms, p99 %.1f ms, errors %v", r.ok, r.elapsed.Seconds(), r.perS(), r.p(0.5), r.p(0.99), r.errors)
}

var vocabulary = strings.Fields(`the a of to and in is it that for on with as was be by this are or at from
have not but they you which one all were can there when what more their use if will about so would make
time just up out like some into them see other than then now only its over also back after two how our
work first well way even new want because any these give day most us chain wheel brake tyre spoke rim
hub gear cable frame fork saddle pedal crank bearing valve tube pressure road trail climb descent`)

func response(rng *rand.Rand) string {
	words := make([]string, 90)
	for i := range words {
		words[i] = vocabulary[rng.IntN(len(vocabulary))]
	}
	return strings.Join(words, " ")
}

// drive runs clients for d, client i calling replica i mod len(rs).
func (b *bench) drive(ctx context.Context, name string, rs []*replica, clients int, d time.Duration) (result, error) {
	res := result{errors: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for c := range clients {
		conn, err := grpc.NewClient(rs[c%len(rs)].addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return res, err
		}
		defer conn.Close()
		client := v1.NewProviderServiceClient(conn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(len(name))))
			var lat []time.Duration
			errs := map[string]int{}
			for seq := 0; time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
				req := &v1.ReportUsageRequest{
					RequestId: fmt.Sprintf("scale-%s-%d-%d", name, c, seq), ModelId: "bench-scale", ModelVersionHash: "sha256:bench-scale",
					InputTokens: uint64(100 + rng.IntN(400)), OutputTokens: 120,
					Pricing:      &v1.ReportUsageRequest_Revenue{Revenue: decimal.New(int64(300+rng.IntN(9000)), -6).String()},
					Currency:     "USD",
					ResponseText: response(rng),
				}
				cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+b.providerKey), 30*time.Second)
				t0 := time.Now()
				_, err := client.ReportUsage(cctx, req)
				took := time.Since(t0)
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						errs[status.Code(err).String()]++
					}
					continue
				}
				lat = append(lat, took)
			}
			mu.Lock()
			defer mu.Unlock()
			res.ok += len(lat)
			res.latencies = append(res.latencies, lat...)
			for k, v := range errs {
				res.errors[k] += v
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, ctx.Err()
}
