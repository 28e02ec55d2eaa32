package services

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"

	"github.com/openroyalty/royalty/auth"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// What a caller may make the server hold before it is known.
//
// gRPC reads a unary call's whole message before any interceptor runs, so a check in an
// interceptor comes too late: 100 calls without a key, 8 MiB each, once held 1.09 GB. The server
// therefore checks callers before their bodies are read:
//
//   - the tap (grpc.InTapHandle) runs on a new stream's headers: a call to a method outside the
//     policy, or to a method that needs a key and carries none or something that is not a key,
//     is refused there, before the stream exists;
//   - every unary handler is wrapped (gatedRegistrar) so that the key is verified, the caller's
//     role checked against the policy and the rate limits applied before the handler decodes
//     its request; a refused call leaves its message unread (only its HTTP/2 stream window is
//     ever buffered). Streaming calls get the same from the stream interceptor, which runs
//     before the handler's first RecvMsg;
//   - calls without a key (health, reflection, RegisterContributor) are bounded per client
//     address (MaxAnonymousCallsPerAddress in flight), so that one address holds at most that
//     many messages for callers nobody knows. The bound is per address, not global: a global
//     one would let a few slow senders starve every health check.
//
// royalty serve answers every protocol on one port. SplitGRPC (split.go; under TLS after
// TLSListener) gives gRPC connections to gRPC's own transport (Server.GRPC.Serve), which keeps
// the tap; every other connection goes to an HTTP server (http.go), where calls (gRPC ones too,
// on a connection that began with another protocol) run through grpc.Server.ServeHTTP and
// neither the tap nor gRPC's transport options apply: there
// preGate does what the tap and the gate do (key verified, role checked, anonymous slot taken)
// before the body is read, and a refused call reaches the gate with an empty body and its
// verdict; NewHTTPServer sets the transport bounds.
//
// gRPC has one receive limit for the whole server (MaxMessageBytes, which IngestPosts,
// ReportUsage(Batch) and Attribute need), checked against a message's declared length before it
// is read. Every other method accepts SmallMessageBytes: a larger message is refused with
// RESOURCE_EXHAUSTED once it has been read and decoded, before it is handled (gRPC offers no
// hook between the length prefix and the read). What bounds memory is the checks above, which
// let only authenticated callers and a few anonymous calls per address get as far as a read.

// Defaults of the limits in Options.
const (
	DefaultMaxConcurrentStreams = 100
	DefaultSmallMessageBytes    = 64 << 10
	// DefaultMaxAnonymousCallsPerAddress bounds the calls without a key in flight per client
	// address.
	DefaultMaxAnonymousCallsPerAddress = 2
	// maxHeaderListBytes bounds a call's metadata; a key is 47 bytes.
	maxHeaderListBytes = 64 << 10
)

// serverOptions are the transport limits of a server with opts (defaults applied).
func serverOptions(opts Options) []grpc.ServerOption {
	return append([]grpc.ServerOption{},
		grpc.MaxRecvMsgSize(opts.MaxMessageBytes),
		grpc.MaxSendMsgSize(opts.MaxMessageBytes),
		grpc.MaxConcurrentStreams(opts.MaxConcurrentStreams),
		grpc.MaxHeaderListSize(maxHeaderListBytes),
		grpc.InTapHandle(tapHandle),
		// Calls run on a pool of goroutines that keep their grown stacks, rather than on a new
		// goroutine each, whose stack grows again through the handler: in bench-e2e's profile,
		// growing stacks was 2.3 % of the server's CPU. Calls beyond the pool get goroutines of
		// their own, as without it. (The option is marked experimental in grpc-go.)
		grpc.NumStreamWorkers(uint32(4*runtime.GOMAXPROCS(0))), //nolint:gosec // small and positive
		// Clients may ping every 10 s, also between calls (the gRPC default of 5 min closes the
		// connections of clients that keep theirs alive more often); the server pings an idle
		// connection after a minute, drops it when no answer comes in 20 s, and closes
		// connections without calls for 15 minutes.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute, Time: time.Minute, Timeout: 20 * time.Second}),
	)
}

// tapHandle refuses, from a new stream's headers alone, calls that could not pass the
// authenticator: to a method outside the policy, or to a method that needs a key without one.
// It runs in the connection's reader goroutine and must not block, so it does not look the key
// up; the gate does, still before the message is read.
func tapHandle(ctx context.Context, info *tap.Info) (context.Context, error) {
	if isOpen(info.FullMethodName) {
		return ctx, nil
	}
	r, known := policy[info.FullMethodName]
	if !known {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", info.FullMethodName)
	}
	values := info.Header.Get("authorization")
	if len(values) == 0 {
		if r.anonymous {
			return ctx, nil
		}
		return nil, errMissingKey
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if len(values) > 1 || !ok || !strings.EqualFold(scheme, "bearer") || !auth.WellFormedKey(token) {
		return nil, status.Error(codes.Unauthenticated, "invalid API key: send the metadata `authorization: Bearer <key>`")
	}
	return ctx, nil
}

var errMissingKey = status.Error(codes.Unauthenticated, "missing API key: send the metadata `authorization: Bearer <key>`")

// gate admits calls: authentication, policy and rate limits before a message is read, and the
// bound on calls without a key in flight per client address.
type gate struct {
	authn   authenticator
	limiter *rateLimiter // nil: no rate limits
	anon    *inflight
	small   int // SmallMessageBytes
}

// admit authenticates the call and applies the rate limits; the returned context carries the
// principal (none for anonymous and open calls). A call without a principal takes one of its
// address's anonymous slots, which done gives back when the call ends.
func (g *gate) admit(ctx context.Context, method string) (_ context.Context, done func(), err error) {
	pre, _ := ctx.Value(preGated{}).(*preVerdict) // judged by the HTTP front (http.go)
	if pre != nil && pre.err != nil {
		return nil, nil, pre.err
	}
	if !isOpen(method) {
		if ctx, err = g.authn.authenticate(ctx); err != nil {
			return nil, nil, err
		}
	}
	done = func() {}
	if _, ok := auth.FromContext(ctx); !ok && (pre == nil || !pre.slot) {
		addr := clientAddr(ctx)
		if !g.anon.acquire(addr) {
			return nil, nil, retryError(time.Second, "more than %d calls without an API key in flight from %s", g.anon.max, addr)
		}
		done = func() { g.anon.release(addr) }
	}
	if g.limiter != nil {
		if err := g.limiter.allow(ctx, method); err != nil {
			done()
			return nil, nil, err
		}
	}
	return ctx, done, nil
}

// gatedRegistrar registers services whose unary handlers pass the gate before they decode their
// request. A refused call still passes the interceptors (metrics, logging), with a nil request.
type gatedRegistrar struct {
	server *grpc.Server
	gate   *gate
}

func (r gatedRegistrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	d := *desc
	d.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		full := "/" + desc.ServiceName + "/" + m.MethodName
		h := m.Handler
		d.Methods[i] = grpc.MethodDesc{MethodName: m.MethodName, Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			actx, done, err := r.gate.admit(ctx, full)
			if err != nil {
				if ic == nil {
					return nil, err
				}
				return ic(ctx, nil, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, func(context.Context, any) (any, error) { return nil, err })
			}
			defer done()
			return h(srv, actx, func(v any) error {
				if err := dec(v); err != nil {
					return err
				}
				return checkSize(full, r.gate.small, v)
			}, ic)
		}}
	}
	r.server.RegisterService(&d, impl)
}

// stream is the stream interceptor's gate: it runs before the handler's first RecvMsg.
func (g *gate) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, done, err := g.admit(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		defer done()
		return handler(srv, &gatedStream{ServerStream: ss, ctx: ctx, method: info.FullMethod, small: g.small})
	}
}

// gatedStream carries the authenticated context and refuses oversized messages.
type gatedStream struct {
	grpc.ServerStream
	ctx    context.Context
	method string
	small  int
}

func (s *gatedStream) Context() context.Context { return s.ctx }

func (s *gatedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return checkSize(s.method, s.small, m)
}

// inflight counts calls in flight per client address, up to max each. Its map holds only
// addresses with calls in flight.
type inflight struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newInflight(max int) *inflight { return &inflight{max: max, n: map[string]int{}} }

func (f *inflight) acquire(addr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[addr] >= f.max {
		return false
	}
	f.n[addr]++
	return true
}

func (f *inflight) release(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[addr]--; f.n[addr] <= 0 {
		delete(f.n, addr)
	}
}

// clientAddr is the caller's address for limits: its IP, or for IPv6 its /64, which one host
// usually has whole.
func clientAddr(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	ap, err := netip.ParseAddrPort(p.Addr.String())
	if err != nil {
		return p.Addr.String() // e.g. a unix socket
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		pfx, _ := ip.Prefix(64)
		return pfx.String()
	}
	return ip.String()
}

// largeMethods may receive messages up to MaxMessageBytes; all others SmallMessageBytes.
var largeMethods = map[string]bool{
	v1.IndexService_IngestPosts_FullMethodName:         true,
	v1.AttributionService_Attribute_FullMethodName:     true,
	v1.ProviderService_ReportUsage_FullMethodName:      true,
	v1.ProviderService_ReportUsageBatch_FullMethodName: true,
}

// checkSize refuses a received message larger than its method accepts.
func checkSize(method string, small int, v any) error {
	if m, ok := v.(proto.Message); ok && !largeMethods[method] {
		if n := proto.Size(m); n > small {
			return status.Errorf(codes.ResourceExhausted, "%s accepts messages of at most %d bytes, got %d", method, small, n)
		}
	}
	return nil
}
