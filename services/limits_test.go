package services_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/openroyalty/royalty/auth"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// TestPanicIsRecovered runs a server whose claims service is missing, so that StartClaim
// dereferences nil inside the handler: the call fails with INTERNAL and the server keeps serving.
func TestPanicIsRecovered(t *testing.T) {
	e := newEnv(t)
	srv := services.NewServer(services.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: e.auth})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.GRPC.Serve(lis)
	defer srv.GRPC.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ada := e.principal("ada", auth.RoleContributor)
	client := v1.NewContributorServiceClient(conn)
	for range 3 {
		_, err := client.StartClaim(ada.ctx(), &v1.StartClaimRequest{IdentityKey: "hn:/ada"})
		wantCode(t, err, codes.Internal)
	}
	if hr, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after panics = %v, %v", hr, err)
	}
	if _, err := client.RegisterContributor(context.Background(), &v1.RegisterContributorRequest{DisplayName: "Bo"}); err != nil {
		t.Fatalf("a call after the panics: %v", err)
	}
}
