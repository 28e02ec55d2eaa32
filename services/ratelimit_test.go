package services_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/auth"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// TestRateLimitPerAddressAndKey: RegisterContributor, limited to bursts of 2, refuses the third
// call from one address with RESOURCE_EXHAUSTED and a RetryInfo, while another address (127.0.0.2)
// still has its own burst; a principal's limit follows its key across addresses.
func TestRateLimitPerAddressAndKey(t *testing.T) {
	slow := services.RateLimit{PerSecond: 0.01, Burst: 2}
	e := newEnvWith(t, func(o *services.Options) {
		o.RateLimits = map[string]services.RateLimit{v1.ContributorService_RegisterContributor_FullMethodName: slow}
	})
	ctx := context.Background()
	register := func(c v1.ContributorServiceClient, ctx context.Context) error {
		_, err := c.RegisterContributor(ctx, &v1.RegisterContributorRequest{DisplayName: "Bo"})
		return err
	}
	for range 2 {
		if err := register(e.contributor, ctx); err != nil {
			t.Fatal(err)
		}
	}
	err := register(e.contributor, ctx)
	wantCode(t, err, codes.ResourceExhausted)
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() < time.Second || !strings.Contains(err.Error(), "retry in") {
		t.Fatalf("no retry hint: %v (%v)", err, retry)
	}

	// Another address has its own limit.
	other := dialFrom(t, e, "127.0.0.2")
	if err := register(v1.NewContributorServiceClient(other), ctx); err != nil {
		t.Fatalf("from another address: %v", err)
	}
	// A principal's calls count against its key wherever they come from: the admin's third call
	// is refused although its address, 127.0.0.5, has made none.
	admin := e.principal("admin", auth.RoleAdmin)
	third := v1.NewContributorServiceClient(dialFrom(t, e, "127.0.0.3"))
	fourth := v1.NewContributorServiceClient(dialFrom(t, e, "127.0.0.4"))
	if err := register(third, admin.ctx()); err != nil {
		t.Fatal(err)
	}
	if err := register(fourth, admin.ctx()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, register(v1.NewContributorServiceClient(dialFrom(t, e, "127.0.0.5")), admin.ctx()), codes.ResourceExhausted)
}

// dialFrom connects to e's server from the local address ip (any 127/8 address works on Linux).
func dialFrom(t *testing.T, e *env, ip string) *grpc.ClientConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	conn, err := grpc.NewClient(e.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestRefusedBeforeReading: calls that cannot pass are refused from their headers, and small
// methods refuse large messages.
func TestRefusedBeforeReading(t *testing.T) {
	e := newEnv(t)
	ada := e.principal("ada", auth.RoleContributor)
	_, err := e.contributor.GetBalance(context.Background(), &v1.GetBalanceRequest{})
	wantCode(t, err, codes.Unauthenticated)
	bad := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer not-a-key")
	_, err = e.contributor.GetBalance(bad, &v1.GetBalanceRequest{})
	wantCode(t, err, codes.Unauthenticated)
	err = e.conn.Invoke(ada.ctx(), "/royalty.v1.ContributorService/NoSuchMethod", &v1.GetBalanceRequest{}, &v1.GetBalanceResponse{})
	wantCode(t, err, codes.Unimplemented)
	_, err = e.contributor.GetBalance(ada.ctx(), &v1.GetBalanceRequest{ContributorId: strings.Repeat("x", services.DefaultSmallMessageBytes)})
	wantCode(t, err, codes.ResourceExhausted)
	if _, err := e.contributor.GetBalance(ada.ctx(), &v1.GetBalanceRequest{}); err != nil {
		t.Fatalf("a small call: %v", err)
	}
}
