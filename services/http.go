package services

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/openroyalty/royalty/auth"
)

// HTTPOptions configure NewHTTPHandler and NewHTTPServer.
type HTTPOptions struct {
	// MaxMessageBytes bounds one request message however it arrives (gRPC, gRPC-Web, Connect,
	// JSON, REST), and the whole body of a unary JSON or REST request; DefaultMaxMessageBytes
	// when zero. Set it like Options.MaxMessageBytes.
	MaxMessageBytes int
	// Web serves every request that is neither an RPC, a REST route nor the API documents;
	// nil answers 404.
	Web http.Handler

	// MaxConcurrentStreams bounds the HTTP/2 streams (calls) of one connection; 100 when zero.
	MaxConcurrentStreams int
	// IdleTimeout closes connections idle that long; 5 minutes when zero.
	IdleTimeout time.Duration
}

func (o HTTPOptions) withDefaults() HTTPOptions {
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = 100
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 5 * time.Minute
	}
	return o
}

// NewHTTPHandler serves every royalty.v1 call of s in every protocol from one handler: gRPC,
// gRPC-Web, Connect (JSON or binary) and the REST routes of the protos' google.api.http
// annotations. A vanguard transcoder turns each request into a gRPC call on g, so the calls pass
// the same interceptors as native gRPC ones: authentication and the policy table, error mapping,
// logging and metrics. Requests that are no call go to the API documents (GET /openapi.json, and
// the reference page GET /docs/api) or to opts.Web.
func NewHTTPHandler(s *Server, opts HTTPOptions) (http.Handler, error) {
	opts = opts.withDefaults()
	g := s.GRPC
	target := preGate(s)
	var svcs []*vanguard.Service
	for name := range g.GetServiceInfo() {
		svcs = append(svcs, vanguard.NewService(name, target))
	}
	docs, err := newAPIDocs()
	if err != nil {
		return nil, err
	}
	other := http.NewServeMux()
	other.HandleFunc("GET /openapi.json", docs.serveOpenAPI)
	other.HandleFunc("GET /docs/api", docs.servePage)
	if opts.Web != nil {
		other.Handle("/", opts.Web)
	} else {
		other.Handle("/", http.NotFoundHandler())
	}
	unknown := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isGRPCContent(r.Header.Get("Content-Type")) {
			// gRPC answers an unknown method with UNIMPLEMENTED, as it does on its own listener.
			target.ServeHTTP(w, r)
			return
		}
		other.ServeHTTP(w, r)
	})
	tc, err := vanguard.NewTranscoder(svcs,
		vanguard.WithUnknownHandler(unknown),
		vanguard.WithCodec(func(res vanguard.TypeResolver) vanguard.Codec { return jsonCodec{vanguard.NewJSONCodec(res)} }),
		vanguard.WithDefaultServiceOptions(
			vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
			vanguard.WithTargetCodecs(vanguard.CodecProto),
			vanguard.WithMaxMessageBufferBytes(uint32(opts.MaxMessageBytes)), //nolint:gosec // positive and small
		))
	if err != nil {
		return nil, fmt.Errorf("transcoder: %w", err)
	}
	methods := map[string]bool{}
	for name, info := range g.GetServiceInfo() {
		for _, m := range info.Methods {
			methods["/"+name+"/"+m.Name] = true
		}
	}
	return limitBody(grpcDirect(target, connectDefault(tc, methods)), int64(opts.MaxMessageBytes)), nil
}

// grpcDirect sends gRPC calls (HTTP/2, content type application/grpc or application/grpc+proto)
// straight to target, past the transcoder, which would only pass them through: every other
// protocol (gRPC-Web, Connect, REST, JSON) goes to h. bench-e2e's profile showed the transcoder
// costing a gRPC call about 1.5 % of the server's CPU.
func grpcDirect(target, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			switch mediaType(r) {
			case "application/grpc", "application/grpc+proto":
				target.ServeHTTP(w, r)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// connectDefault makes a POST of JSON or binary protobuf to a method's path a Connect unary
// call even without the Connect-Protocol-Version header, which the transcoder would otherwise
// take for a REST request (and find no route): `curl -d '{}' -H 'content-type:
// application/json' .../royalty.v1.ContributorService/GetBalance` just works. Connect servers
// may accept such calls; the header only tells a Connect call from other traffic.
func connectDefault(h http.Handler, methods map[string]bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && methods[r.URL.Path] && r.Header.Get("Connect-Protocol-Version") == "" {
			switch mediaType(r) {
			case "application/json", "application/proto":
				r.Header.Set("Connect-Protocol-Version", "1")
			}
		}
		h.ServeHTTP(w, r)
	})
}

// NewHTTPServer is the http.Server for NewHTTPHandler: HTTP/1.1 and HTTP/2, the latter with prior
// knowledge on cleartext connections (as gRPC clients and `curl --http2-prior-knowledge` speak
// it) and through ALPN under TLS, with bounds on headers, idle connections and streams. gRPC's
// own transport options (keepalive, MaxConcurrentStreams) do not apply to calls served through
// grpc.Server.ServeHTTP: these are their counterparts.
func NewHTTPServer(h http.Handler, opts HTTPOptions) *http.Server {
	opts = opts.withDefaults()
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           restoreTLS(h),
		ConnContext:       withConnTLS,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		IdleTimeout:       opts.IdleTimeout,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: opts.MaxConcurrentStreams,
			// A peer that stops answering is dropped, as gRPC's keepalive would.
			SendPingTimeout: 2 * time.Minute,
			PingTimeout:     20 * time.Second,
		},
	}
}

// connTLSKey keys the TLS state of a connection whose TLS ended before net/http.
type connTLSKey struct{}

// withConnTLS keeps, for restoreTLS, the TLS state of a connection whose TLS was terminated
// before net/http saw it (SplitGRPC on a TLSListener): net/http sets Request.TLS only for the
// *tls.Conn it accepts itself.
func withConnTLS(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(interface {
		TLSConnectionState() (tls.ConnectionState, bool)
	}); ok {
		if st, ok := tc.TLSConnectionState(); ok {
			return context.WithValue(ctx, connTLSKey{}, &st)
		}
	}
	return ctx
}

// restoreTLS gives a request the TLS state withConnTLS kept for its connection, so that
// handlers (the web app's Secure cookies, gRPC's TLS peer information) see TLS as they would
// behind net/http's own TLS.
func restoreTLS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if st, ok := r.Context().Value(connTLSKey{}).(*tls.ConnectionState); ok {
				r.TLS = st
			}
		}
		h.ServeHTTP(w, r)
	})
}

// limitBody bounds the body of requests that carry one message without envelopes (Connect unary,
// REST, JSON) to max plus some room for the encoding. Enveloped protocols (gRPC, gRPC-Web, Connect
// streaming) carry many messages in one body; each is bounded by the transcoder and by gRPC.
func limitBody(h http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if !isGRPCContent(ct) && !strings.HasPrefix(ct, "application/connect+") && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, max+max/4+4096)
		}
		h.ServeHTTP(w, r)
	})
}

// mediaType is the request's content type without its parameters.
func mediaType(r *http.Request) string {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.TrimSpace(ct)
}

func isGRPCContent(ct string) bool { return strings.HasPrefix(ct, "application/grpc") }

// preGate admits a call before its body is read, as the tap and the gate do on gRPC's own
// listener (limits.go): over HTTP there is no grpc.InTapHandle, and gRPC reads a unary request
// before any interceptor or handler runs. The key is verified and the role checked
// (authenticator.check), and a call without a principal takes one of its address's anonymous
// slots until it ends. A refused call goes on to gRPC with one empty message in place of its
// body and its verdict in the context, where the gate answers it with the refusal, so it is
// answered, logged and counted exactly as on gRPC's own listener; its body is never read.
func preGate(s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.URL.Path
		if _, known := policy[method]; !known && !isOpen(method) {
			s.GRPC.ServeHTTP(w, r) // not a method: gRPC answers UNIMPLEMENTED
			return
		}
		ctx, v := r.Context(), &preVerdict{}
		if !isOpen(method) {
			token, err := bearer(r.Header.Values("Authorization"))
			if err == nil {
				var actx context.Context
				if actx, err = s.gate.authn.check(ctx, method, token); err == nil {
					ctx = actx
				}
			}
			v.err = err
		}
		if _, ok := auth.FromContext(ctx); !ok && v.err == nil {
			addr := httpClientAddr(r)
			if !s.gate.anon.acquire(addr) {
				v.err = retryError(time.Second, "more than %d calls without an API key in flight from %s", s.gate.anon.max, addr)
			} else {
				defer s.gate.anon.release(addr)
				v.slot = true
			}
		}
		if v.err != nil {
			r.Body = io.NopCloser(bytes.NewReader(emptyGRPCMessage[:]))
		}
		s.GRPC.ServeHTTP(w, r.WithContext(context.WithValue(ctx, preGated{}, v)))
	})
}

// emptyGRPCMessage is a gRPC length-prefixed message: uncompressed, zero bytes long.
var emptyGRPCMessage = [5]byte{}

// preGated marks the context of a call that preGate judged; its value is a *preVerdict.
type preGated struct{}

// preVerdict is preGate's judgement: the refusal, if any, and whether the call holds an
// anonymous slot already.
type preVerdict struct {
	err  error
	slot bool
}

// bearer returns the key of the first authorization value, "" when there is none, and the
// error for a value that is not a bearer key.
func bearer(values []string) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if len(values) > 1 || !ok || !strings.EqualFold(scheme, "bearer") || !auth.WellFormedKey(strings.TrimSpace(token)) {
		return "", status.Error(codes.Unauthenticated, "invalid API key: send the metadata `authorization: Bearer <key>`")
	}
	return strings.TrimSpace(token), nil
}

// httpClientAddr is clientAddr for a request of the HTTP front.
func httpClientAddr(r *http.Request) string {
	a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	if err != nil {
		return clientAddr(context.Background())
	}
	return clientAddr(peer.NewContext(context.Background(), &peer.Peer{Addr: a}))
}

// jsonCodec is vanguard's JSON codec with the answer Connect gives a request that does not decode:
// INVALID_ARGUMENT, not UNKNOWN.
type jsonCodec struct{ *vanguard.JSONCodec }

func (c jsonCodec) Unmarshal(data []byte, msg proto.Message) error {
	return invalidRequest(c.JSONCodec.Unmarshal(data, msg))
}

func (c jsonCodec) UnmarshalField(data []byte, msg proto.Message, field protoreflect.FieldDescriptor) error {
	return invalidRequest(c.JSONCodec.UnmarshalField(data, msg, field))
}

func invalidRequest(err error) error {
	if err == nil {
		return nil
	}
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("request is not valid JSON for its type: %w", err))
}
