package services

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/openroyalty/royalty/auth"
)

// RateLimit allows a method PerSecond calls per second on average, with bursts of Burst, to
// each principal (all of its keys together) and, separately, to each client address (IPv6: each
// /64). A call over either is refused with RESOURCE_EXHAUSTED and a RetryInfo saying when to
// retry.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// maxLimiters bounds the limiter table; beyond it, limiters that are full again (idle long
// enough to have refilled, so forgetting them changes nothing) are dropped, and if that is not
// enough, arbitrary ones (whose callers then get a fresh burst).
const maxLimiters = 100_000

type limiterKey struct {
	method string
	who    string // "principal:<id>" or "addr:<ip>"
}

type rateLimiter struct {
	limits map[string]RateLimit
	now    func() time.Time

	mu       sync.Mutex
	limiters map[limiterKey]*rate.Limiter
}

func newRateLimiter(limits map[string]RateLimit) *rateLimiter {
	return &rateLimiter{limits: limits, now: time.Now, limiters: map[limiterKey]*rate.Limiter{}}
}

// allow takes one call of method from the caller's principal and address, or refuses it.
func (r *rateLimiter) allow(ctx context.Context, method string) error {
	l, ok := r.limits[method]
	if !ok || l.PerSecond <= 0 {
		return nil
	}
	keys := []limiterKey{{method, "addr:" + clientAddr(ctx)}}
	if p, ok := auth.FromContext(ctx); ok {
		keys = append(keys, limiterKey{method, "principal:" + p.ID})
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var wait time.Duration
	var reserved []*rate.Reservation
	for _, k := range keys {
		res := r.limiter(k, l, now).ReserveN(now, 1)
		reserved = append(reserved, res)
		if d := res.DelayFrom(now); d > wait {
			wait = d
		}
	}
	if wait == 0 {
		return nil
	}
	for _, res := range reserved {
		res.CancelAt(now)
	}
	return retryError(wait, "rate limit: %s allows %g calls per second (bursts of %d) per key and per address", method, l.PerSecond, l.Burst)
}

func (r *rateLimiter) limiter(k limiterKey, l RateLimit, now time.Time) *rate.Limiter {
	if lim, ok := r.limiters[k]; ok {
		return lim
	}
	if len(r.limiters) >= maxLimiters {
		for k, lim := range r.limiters {
			if lim.TokensAt(now) >= float64(lim.Burst()) {
				delete(r.limiters, k)
			}
		}
		for k := range r.limiters {
			if len(r.limiters) < maxLimiters/2 {
				break
			}
			delete(r.limiters, k)
		}
	}
	lim := rate.NewLimiter(rate.Limit(l.PerSecond), max(l.Burst, 1))
	r.limiters[k] = lim
	return lim
}

// retryError is RESOURCE_EXHAUSTED with a RetryInfo of wait (rounded up to milliseconds) and the
// wait in its message too, for people reading it.
func retryError(wait time.Duration, format string, args ...any) error {
	wait = time.Duration(math.Ceil(float64(wait)/float64(time.Millisecond))) * time.Millisecond
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(format, args...)+fmt.Sprintf("; retry in %s", wait))
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); err == nil {
		st = d
	}
	return st.Err()
}
