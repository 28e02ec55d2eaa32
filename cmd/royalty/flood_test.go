package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/openroyalty/royalty/internal/pgtest"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// rawCodec sends pre-encoded request bytes as they are and ignores the reply, so that the flood
// below shares one 8 MiB buffer among all its calls instead of marshalling 100 copies.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal([]byte, any) error   { return nil }
func (rawCodec) Name() string                  { return "proto" }

// TestUnauthenticatedFloodStaysSmall is issue 17's reproduction: 100 concurrent calls that carry
// no valid key and an 8 MiB message each. A server that reads a message before it checks the key
// holds all of them at once (1.09 GB RSS was measured); the server must refuse them all with
// UNAUTHENTICATED before their bodies are read, and grow by less than 100 MB. The server runs
// as its own process, so that its RSS (/proc/PID/status) is measured apart from the test's.
func TestUnauthenticatedFloodStaysSmall(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to measure the server's RSS")
	}
	dsn := pgtest.NewDatabase(t)
	bin := filepath.Join(t.TempDir(), "royalty")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	grpcAddr, metricsAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "ROYALTY_DATABASE_URL="+dsn, "ROYALTY_GRPC_ADDR="+grpcAddr,
		"ROYALTY_METRICS_ADDR="+metricsAddr, "ROYALTY_DATA_DIR="+t.TempDir(), "ROYALTY_ALLOW_EMPTY_INDEX=true")
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const conns, perConn = 5, 20
	var cs []*grpc.ClientConn
	for range conns {
		c, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for {
			hr, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
			if err == nil && hr.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				break
			} else if ctx.Err() != nil {
				t.Fatalf("health = %v, %v\n%s", hr, err, logs.String())
			}
			time.Sleep(100 * time.Millisecond) // the health watcher's first round
		}
		cs = append(cs, c)
	}

	// The message the server is not to read: a usage report just under the 8 MiB message limit.
	payload, err := proto.Marshal(&v1.ReportUsageRequest{
		RequestId: "flood", ResponseText: strings.Repeat("a", services.DefaultMaxMessageBytes-4096)})
	if err != nil {
		t.Fatal(err)
	}
	// A quarter of the calls send no key, a quarter a well-formed key the server never issued:
	// both UNAUTHENTICATED. The other half call what needs no key, RegisterContributor and the
	// health check: RESOURCE_EXHAUSTED (too large, or too many in flight from one address).
	kinds := []struct {
		method string
		key    bool
		want   codes.Code
	}{
		{v1.ProviderService_ReportUsage_FullMethodName, false, codes.Unauthenticated},
		{v1.ProviderService_ReportUsage_FullMethodName, true, codes.Unauthenticated},
		{v1.ContributorService_RegisterContributor_FullMethodName, false, codes.ResourceExhausted},
		{healthpb.Health_Check_FullMethodName, false, codes.ResourceExhausted},
	}
	call := func(i int) error {
		k, cctx := kinds[i%len(kinds)], ctx
		if k.key {
			cctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer rty_"+strings.Repeat("A", 43))
		}
		return cs[i%conns].Invoke(cctx, k.method, payload, new(struct{}), grpc.ForceCodec(rawCodec{}))
	}
	// Warm up the server (connections, code paths, a GC cycle or two) before the baseline.
	for i := range 4 {
		_ = call(i)
	}
	time.Sleep(500 * time.Millisecond)
	pid := cmd.Process.Pid
	base := procStatusKB(t, pid, "VmRSS")

	peak := base
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // VmHWM is the peak too; sampling also catches a peak before the baseline was read
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				if rss := procStatusKB(t, pid, "VmRSS"); rss > peak {
					peak = rss
				}
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, conns*perConn)
	for i := range errs {
		wg.Go(func() { errs[i] = call(i) })
	}
	wg.Wait()
	close(stop)
	<-sampled
	wrong := 0
	for i, err := range errs {
		if k := kinds[i%len(kinds)]; status.Code(err) != k.want {
			wrong++
			if wrong <= 5 {
				t.Errorf("call %d to %s: %v, want %s", i, k.method, err, k.want)
			}
		}
	}
	growthMB := float64(peak-base) / 1024
	t.Logf("server RSS: %.1f MB before the flood, %.1f MB at its peak: %.1f MB growth for %d 8 MiB calls without a valid key",
		float64(base)/1024, float64(peak)/1024, growthMB, len(errs))
	if growthMB >= 100 {
		t.Errorf("the server grew by %.1f MB under an unauthenticated flood; want < 100 MB", growthMB)
	}
	// The server still serves.
	if hr, err := healthpb.NewHealthClient(cs[0]).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after the flood = %v, %v\n%s", hr, err, logs.String())
	}
}

// procStatusKB reads one "kB" field of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// syncBuffer is a bytes.Buffer that a process's output and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
