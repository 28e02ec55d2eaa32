package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
)

// Defaults of the health watcher.
const (
	defaultHealthInterval = time.Second
	pingTimeout           = time.Second
)

// healthWatcher keeps the server's readiness true: every interval it pings the database and
// asks the index's readiness, and sets the gRPC health status (SERVING only when both are
// fine) and the answer of /readyz accordingly, back and forth as they fail and recover.
type healthWatcher struct {
	pool     *pgxpool.Pool
	index    *indexer.Readiness
	health   *health.Server
	log      *slog.Logger
	interval time.Duration

	mu     sync.Mutex
	reason string // why the server is not ready; "" when it is
	known  bool   // a check has run

	stop context.CancelFunc
	done chan struct{}
}

func newHealthWatcher(pool *pgxpool.Pool, index *indexer.Readiness, hs *health.Server, log *slog.Logger, interval time.Duration) *healthWatcher {
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	return &healthWatcher{pool: pool, index: index, health: hs, log: log, interval: interval}
}

// start checks once, so that the first health check already tells the truth, then keeps
// checking in the background until close.
func (w *healthWatcher) start(ctx context.Context) {
	w.check(ctx)
	ctx, w.stop = context.WithCancel(context.WithoutCancel(ctx))
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.check(ctx)
			}
		}
	}()
}

// close stops the background checks and waits for them; /readyz says the server is shutting
// down from then on.
func (w *healthWatcher) close() {
	if w.stop != nil {
		w.stop()
		<-w.done
	}
	w.mu.Lock()
	w.reason, w.known = "shutting down", true
	w.mu.Unlock()
}

// check finds whether the server is ready now and publishes it.
func (w *healthWatcher) check(ctx context.Context) {
	reason := ""
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	err := w.pool.Ping(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		reason = fmt.Sprintf("database unreachable: %v", err)
	} else if _, err := w.index.Ready(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		reason = royalty.ErrorMessage(err)
		if royalty.ErrorCode(err) == royalty.EINTERNAL {
			reason = fmt.Sprintf("checking the index: %v", err)
		}
	}
	w.mu.Lock()
	changed := !w.known || reason != w.reason
	w.reason, w.known = reason, true
	w.mu.Unlock()
	if !changed {
		return
	}
	if reason == "" {
		w.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		w.log.Info("ready: health SERVING")
	} else {
		w.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		w.log.Warn("not ready: health NOT_SERVING", "reason", reason)
	}
}

// notReady returns why the server is not ready, "" when it is.
func (w *healthWatcher) notReady() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.known {
		return "starting"
	}
	return w.reason
}

// healthz answers liveness probes: 200 while the process serves HTTP at all.
func healthz(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(rw, "ok")
}

// readyz answers readiness probes: 200 when the database answers and the index is ready, 503
// with the reason on one line otherwise.
func (w *healthWatcher) readyz(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	if reason := w.notReady(); reason != "" {
		rw.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(rw, "not ready:", firstLine(reason))
		return
	}
	fmt.Fprintln(rw, "ready")
}

// oneLine keeps the first line of s.
func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' || r == '\r' {
			return s[:i]
		}
	}
	return s
}
