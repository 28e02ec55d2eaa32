package services_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/openroyalty/royalty/auth"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// TestEveryMethodHasAPolicy walks the descriptors of every registered service: each method must
// be in the policy table or belong to an open service, and the table names no method that does
// not exist. A new RPC without a policy fails here (and is denied at run time).
func TestEveryMethodHasAPolicy(t *testing.T) {
	srv := services.NewServer(services.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	registered := map[string]bool{}
	for name, info := range srv.GRPC.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			registered[full] = true
			if !services.HasPolicy(full) && !services.IsOpen(full) {
				t.Errorf("%s has no entry in the policy table", full)
			}
			if strings.HasPrefix(name, "royalty.") && services.IsOpen(full) {
				t.Errorf("%s is open without a key", full)
			}
		}
	}
	for _, m := range services.PolicyMethods() {
		if !registered[m] {
			t.Errorf("policy names %s, which no registered service has", m)
		}
	}
	if len(registered) < 28 {
		t.Fatalf("only %d methods registered", len(registered))
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.principal("ops", auth.RoleAdmin)

	t.Run("health and reflection are open", func(t *testing.T) {
		hr, err := healthpb.NewHealthClient(e.conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health = %v, %v", hr, err)
		}
		stream, err := reflectpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatalf("reflection without a key: %v", err)
		}
		stream.CloseSend()
	})

	bad := []struct {
		name string
		md   []string
	}{
		{"no key", nil},
		{"wrong scheme", []string{"authorization", "Basic " + admin.key}},
		{"unknown key", []string{"authorization", "Bearer rty_" + strings.Repeat("A", 43)}},
		{"garbage", []string{"authorization", "Bearer hunter2"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := metadata.AppendToOutgoingContext(ctx, tt.md...)
			_, err := e.admin.ListPrincipals(c, &v1.ListPrincipalsRequest{})
			wantCode(t, err, codes.Unauthenticated)
			stream, err := e.audit.ExportJournal(c, &v1.ExportJournalRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			wantCode(t, err, codes.Unauthenticated)
		})
	}

	t.Run("revoked key", func(t *testing.T) {
		r, err := e.admin.CreateApiKey(admin.ctx(), &v1.CreateApiKeyRequest{PrincipalId: admin.ID})
		if err != nil {
			t.Fatal(err)
		}
		second := principal{Principal: admin.Principal, key: r.GetApiKey()}
		if _, err := e.admin.ListPrincipals(second.ctx(), &v1.ListPrincipalsRequest{}); err != nil {
			t.Fatalf("new key: %v", err)
		}
		if _, err := e.admin.RevokeApiKey(admin.ctx(), &v1.RevokeApiKeyRequest{KeyId: r.GetKey().GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err = e.admin.ListPrincipals(second.ctx(), &v1.ListPrincipalsRequest{})
		wantCode(t, err, codes.Unauthenticated)
	})

	t.Run("register without a key, then use the key", func(t *testing.T) {
		r, err := e.contributor.RegisterContributor(ctx, &v1.RegisterContributorRequest{DisplayName: "Ada"})
		if err != nil {
			t.Fatal(err)
		}
		ada := principal{Principal: auth.Principal{ID: r.GetContributor().GetId()}, key: r.GetApiKey()}
		lc, err := e.contributor.ListClaims(ada.ctx(), &v1.ListClaimsRequest{})
		if err != nil || len(lc.GetClaims()) != 0 {
			t.Fatalf("ListClaims = %v, %v", lc, err)
		}
		_, err = e.contributor.RegisterContributor(ada.ctx(), &v1.RegisterContributorRequest{DisplayName: "Ada again"})
		wantCode(t, err, codes.PermissionDenied)
		_, err = e.contributor.RegisterContributor(ctx, &v1.RegisterContributorRequest{DisplayName: ""})
		wantCode(t, err, codes.InvalidArgument)
	})
}
