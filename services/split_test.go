package services_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"

	"github.com/openroyalty/royalty/services"
)

// connCounter counts the connections gRPC's transport serves.
type connCounter struct{ n atomic.Int64 }

func (c *connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *connCounter) HandleRPC(context.Context, stats.RPCStats)                       {}
func (c *connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (c *connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnBegin); ok {
		c.n.Add(1)
	}
}

// splitServers serves one port through a SplitGRPC: gRPC's health service on its transport, and
// an HTTP handler that answers with the protocol it was reached by on net/http.
type splitServers struct {
	addr      string
	grpcConns *connCounter
	httpConns atomic.Int64
	httpReqs  atomic.Int64
	split     *services.SplitGRPC
}

func startSplit(t *testing.T, timeout time.Duration) *splitServers {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &splitServers{addr: lis.Addr().String(), grpcConns: &connCounter{}}
	s.split = services.NewSplitGRPC(lis, timeout)
	gs := grpc.NewServer(grpc.StatsHandler(s.grpcConns))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	hs := services.NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.httpReqs.Add(1)
		_, _ = io.WriteString(w, r.Proto+" "+r.Header.Get("Content-Type"))
	}), services.HTTPOptions{})
	hs.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.httpConns.Add(1)
		}
	}
	go func() { _ = gs.Serve(s.split.GRPC()) }()
	go func() { _ = hs.Serve(s.split.Other()) }()
	t.Cleanup(func() {
		hs.Close()
		gs.Stop()
	})
	return s
}

func TestSplitGRPCSortsConnections(t *testing.T) {
	s := startSplit(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// gRPC: served by gRPC's transport, never by net/http.
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 3 {
		if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("gRPC health check: %v", err)
		}
	}
	if got := s.grpcConns.n.Load(); got != 1 {
		t.Errorf("gRPC's transport served %d connections, want 1", got)
	}
	if got := s.httpReqs.Load(); got != 0 {
		t.Errorf("net/http served %d requests of the gRPC client, want 0", got)
	}

	// HTTP/1.1.
	if got := get(t, &http.Client{}, "http://"+s.addr+"/", ""); got != "HTTP/1.1 " {
		t.Errorf("HTTP/1.1 request answered %q", got)
	}

	// HTTP/2 with prior knowledge that is not gRPC: net/http, on one connection, which must
	// survive the client's acknowledgement of the sorter's SETTINGS.
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &p}}
	before := s.httpConns.Load()
	for _, ct := range []string{"application/json", "application/grpc-web+proto", "application/connect+proto"} {
		if got := get(t, h2c, "http://"+s.addr+"/", ct); got != "HTTP/2.0 "+ct {
			t.Errorf("HTTP/2 request with content type %q answered %q", ct, got)
		}
		time.Sleep(50 * time.Millisecond) // let the acknowledgements arrive
	}
	if got := s.httpConns.Load() - before; got != 1 {
		t.Errorf("three HTTP/2 requests took %d connections, want 1 (a SETTINGS acknowledgement broke one?)", got)
	}
	if got := s.grpcConns.n.Load(); got != 1 {
		t.Errorf("gRPC's transport served %d connections, want still 1", got)
	}

	// A request shorter than the HTTP/2 preface is answered without waiting for more.
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // under the sorting timeout of 10 s
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.0 200") {
		t.Errorf("short HTTP/1.0 request: %q, %v", line, err)
	}
}

// get sends a GET (with content type ct, if any) and returns the body.
func get(t *testing.T, c *http.Client, url, ct string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (%s): %v", url, ct, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A connection that sends the HTTP/2 preface and then no request within the timeout is gRPC's:
// gRPC clients may connect ahead of their first call.
func TestSplitGRPCIdleHTTP2GoesToGRPC(t *testing.T) {
	s := startSplit(t, 200*time.Millisecond)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b bytes.Buffer
	b.WriteString(http2.ClientPreface)
	if err := http2.NewFramer(&b, nil).WriteSettings(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.grpcConns.n.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle HTTP/2 connection never reached gRPC's transport")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.httpConns.Load(); got != 0 {
		t.Errorf("net/http got %d connections, want 0", got)
	}
}

// Closing both listeners closes the port.
func TestSplitGRPCClose(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := services.NewSplitGRPC(lis, 0)
	if err := s.GRPC().Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GRPC().Accept(); err == nil {
		t.Error("Accept on a closed listener succeeded")
	}
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatalf("the port closed with one listener still open: %v", err)
	}
	c.Close()
	if err := s.Other().Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Other().Accept(); err == nil {
		t.Error("Accept on a closed listener succeeded")
	}
	if c, err := net.Dial("tcp", lis.Addr().String()); err == nil {
		c.Close()
		t.Error("the port still accepts with both listeners closed")
	}
}
