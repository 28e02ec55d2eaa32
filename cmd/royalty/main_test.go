package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/ledger/csv"
)

func TestMain(m *testing.M) {
	clearEnvironment()
	pgtest.Main(m)
}

// clearEnvironment unsets the ROYALTY_* variables the flags default to: the tests run the
// commands in-process, and a developer's exported ROYALTY_DATA_DIR or ROYALTY_DATABASE_URL (a
// real database) must not reach them. The tests' own variables (ROYALTY_TEST_*, pgtest's) and
// ROYALTY_PG_BINDIR (where pgtmp finds PostgreSQL) stay.
func clearEnvironment() {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "ROYALTY_") && !strings.HasPrefix(name, "ROYALTY_TEST_") && name != "ROYALTY_PG_BINDIR" {
			os.Unsetenv(name)
		}
	}
}

// TestDeveloperEnvironmentIgnored runs this test binary again with a developer's variables
// exported: the commands the tests run must not see them.
func TestDeveloperEnvironmentIgnored(t *testing.T) {
	if os.Getenv("ROYALTY_TEST_ENV_CHILD") != "" {
		for _, kv := range os.Environ() {
			if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "ROYALTY_") && !strings.HasPrefix(name, "ROYALTY_TEST_") {
				t.Errorf("the tests see %s", kv)
			}
		}
		cfg := &config{}
		root := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
		root.Flags().StringVar(&cfg.DataDir, "data-dir", "royalty-data", "")
		root.Flags().StringVar(&cfg.DatabaseURL, "database-url", "", "")
		root.SetArgs(nil)
		root.PreRunE = func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd) }
		if err := root.Execute(); err != nil || cfg.DataDir != "royalty-data" || cfg.DatabaseURL != "" {
			t.Errorf("flags took the developer's environment: %+v, %v", cfg, err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeveloperEnvironmentIgnored$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ROYALTY_TEST_ENV_CHILD=1",
		"ROYALTY_DATA_DIR=/home/developer/royalty-data", "ROYALTY_DATABASE_URL=postgres://developer@real-database.invalid/royalty")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func runCmd(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(ctx, args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestMigrateTwice(t *testing.T) {
	srv := pgtest.Server(t)
	dsn, err := srv.CreateDatabase(context.Background(), "migrate_twice", "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, context.Background(), "migrate", "--database-url", dsn)
	if err != nil || !strings.Contains(out, "applied") {
		t.Fatalf("first migrate: %v\n%s", err, out)
	}
	out, err = runCmd(t, context.Background(), "migrate", "--database-url", dsn)
	if err != nil || !strings.Contains(out, "schema is current") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
}

func TestServeRefusesUnmigratedDatabase(t *testing.T) {
	srv := pgtest.Server(t)
	dsn, err := srv.CreateDatabase(context.Background(), "unmigrated", "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, context.Background(), "serve", "--database-url", dsn, "--grpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "royalty migrate") {
		t.Fatalf("serve on an unmigrated database: err=%v\n%s", err, out)
	}
}

// TestServeEndToEnd builds the real binary, runs `serve` as a process, checks health,
// reflection and /metrics over loopback, and stops it with SIGTERM.
func TestServeEndToEnd(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	bin := filepath.Join(t.TempDir(), "royalty")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	grpcAddr, metricsAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "ROYALTY_DATABASE_URL="+dsn, "ROYALTY_GRPC_ADDR="+grpcAddr,
		"ROYALTY_METRICS_ADDR="+metricsAddr, "ROYALTY_DATA_DIR="+t.TempDir(), "ROYALTY_ALLOW_EMPTY_INDEX=true")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v\n%s", hr, err, logs.String())
	}

	stream, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range rr.GetListServicesResponse().GetService() {
		got[s.GetName()] = true
	}
	for _, want := range []string{"royalty.v1.IndexService", "royalty.v1.AttributionService", "royalty.v1.ProviderService",
		"royalty.v1.ContributorService", "royalty.v1.AuditService", "royalty.v1.AdminService", "grpc.health.v1.Health"} {
		if !got[want] {
			t.Errorf("reflection does not list %s (got %v)", want, got)
		}
	}
	stream.CloseSend()

	checkHTTPJSON(t, grpcAddr)

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "grpc_server_handled_total") {
		t.Fatalf("/metrics: %s\n%.500s", resp.Status, body)
	}
	// Calls over HTTP/JSON pass the gRPC interceptors, metrics included.
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="GetBalance",grpc_service="royalty.v1.ContributorService",grpc_type="unary"} 2`,
		`grpc_server_handled_total{grpc_code="Unauthenticated",grpc_method="GetBalance",grpc_service="royalty.v1.ContributorService",grpc_type="unary"} 1`,
		// The ledger's group commit (counted in ledger/postgres's tests); no report was sent.
		"royalty_ledger_group_commit_reports_total 0", "royalty_ledger_group_commit_statement_seconds_total 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM\n%s", logs.String())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestDemo(t *testing.T) {
	pgtest.Server(t) // skips or fails like every database test when PostgreSQL is missing
	out, err := runCmd(t, context.Background(), "demo", "--out", t.TempDir())
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"schema migrated", "health check: SERVING", "/metrics answers: 200",
		"a call without a key is refused: rpc error: code = Unauthenticated", "claim verified by post:",
		"replayed=true", "code = AlreadyExists", "reversal transaction", "paid out", "come from post",
		"every transaction and every currency sums to 0", "writes the identical file", "server stopped",
		"SettleFeedback: pool feedback_pool:", "u-1001   3 events, 3 counted: 0.375 USD", "40 events, 0 counted (rejected as spam)", "settling again settles 0 pools",
		"(proof: provider_attestation); the rater's escrow moved to the contributor", "verified (proof: link_code), 0.125 USD released"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// TestDemoSampleCorpus runs the demo on the in-repo sample corpus, as on a fresh clone without
// ../shared/data.
func TestDemoSampleCorpus(t *testing.T) {
	pgtest.Server(t)
	dir := t.TempDir()
	out, err := runCmd(t, context.Background(), "demo", "--data", "sample", "--out", dir)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"in-repo sample corpus", "claim verified by post:", "every transaction and every currency sums to 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "demo-journal.csv")); err != nil {
		t.Fatalf("the audit CSV is not kept: %v", err)
	}
}

func TestKeysAndExportCommands(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	out, err := runCmd(t, ctx, "keys", "create", "--role", "admin", "--name", "ops", "--database-url", dsn)
	if err != nil || !strings.Contains(out, "api key   rty_") || !strings.Contains(out, "(ops, admin)") {
		t.Fatalf("keys create: %v\n%s", err, out)
	}
	var principal, keyID string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "principal" {
			principal = f[1]
		} else if len(f) == 3 && f[0] == "key" && f[1] == "id" {
			keyID = f[2]
		}
	}
	if out, err := runCmd(t, ctx, "keys", "create", "--principal", principal, "--database-url", dsn); err != nil || !strings.Contains(out, "api key   rty_") {
		t.Fatalf("keys create --principal: %v\n%s", err, out)
	}
	if out, err := runCmd(t, ctx, "keys", "revoke", keyID, "--database-url", dsn); err != nil || !strings.Contains(out, "revoked key "+keyID) {
		t.Fatalf("keys revoke: %v\n%s", err, out)
	}
	out, err = runCmd(t, ctx, "keys", "list", "--database-url", dsn)
	if err != nil || strings.Count(out, principal) != 2 || strings.Count(out, "ops") != 2 || !strings.Contains(out, keyID) {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"keys", "create", "--role", "root", "--name", "x"},
		{"keys", "create", "--role", "admin"},
		{"keys", "revoke", "6f1c1f5e-1111-4111-8111-111111111111"},
	} {
		if _, err := runCmd(t, ctx, append(args, "--database-url", dsn)...); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}

	path := filepath.Join(t.TempDir(), "journal.csv")
	if out, err := runCmd(t, ctx, "export", "journal", "--out", path, "--database-url", dsn); err != nil {
		t.Fatalf("export journal: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != strings.Join(csv.JournalColumns, ",")+"\r\n" {
		t.Fatalf("empty journal export = %q, %v", b, err)
	}
	if _, err := runCmd(t, ctx, "export", "journal", "--database-url", dsn); err == nil {
		t.Error("export journal without --out succeeded")
	}
}

// TestKeysCreateUnmigrated runs `keys create` on a database without the schema: the error must
// name the fix, not a missing relation.
func TestKeysCreateUnmigrated(t *testing.T) {
	srv := pgtest.Server(t)
	dsn, err := srv.CreateDatabase(context.Background(), "keys_unmigrated", "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, context.Background(), "keys", "create", "--role", "admin", "--name", "ops", "--database-url", dsn)
	if !errors.Is(err, wire.ErrNotMigrated) || !strings.HasPrefix(err.Error(), "schema not migrated; run royalty migrate") {
		t.Fatalf("keys create before migrate: %v\n%s", err, out)
	}
}

// TestKeysCreateJSON checks that `keys create -o json` prints the key for scripts.
func TestKeysCreateJSON(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	var first struct{ PrincipalID, Name, Role, KeyID, Key string }
	for _, args := range [][]string{
		{"keys", "create", "--role", "provider", "--name", "acme", "-o", "json"},
		{"keys", "create", "--principal", "", "--output", "json"},
	} {
		if args[2] == "--principal" {
			args[3] = first.PrincipalID
		}
		out, err := runCmd(t, ctx, append(args, "--database-url", dsn)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		var got struct {
			PrincipalID string `json:"principal_id"`
			Name, Role  string
			KeyID       string `json:"key_id"`
			Key         string
		}
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil || strings.Count(out, "\n") != 1 {
			t.Fatalf("%v: not one JSON line: %v\n%s", args, err, out)
		}
		if got.PrincipalID == "" || got.Name != "acme" || got.Role != "provider" || got.KeyID == "" || !strings.HasPrefix(got.Key, "rty_") {
			t.Errorf("%v: %+v", args, got)
		}
		if first.PrincipalID == "" {
			first.PrincipalID = got.PrincipalID
		} else if got.PrincipalID != first.PrincipalID {
			t.Errorf("--principal %s made a key for %s", first.PrincipalID, got.PrincipalID)
		}
	}
	if _, err := runCmd(t, ctx, "keys", "create", "--role", "admin", "--name", "x", "-o", "yaml", "--database-url", dsn); err == nil {
		t.Error("-o yaml succeeded")
	}
}

// TestVersion checks --version: the build's description, on stdout, and nothing else runs.
func TestVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "royalty ") || strings.Count(got, "\n") != 1 || errOut.Len() != 0 {
		t.Errorf("--version printed %q and %q", got, errOut.String())
	}
}

// checkHTTPJSON calls the API port as curl would: HTTP/1.1 and JSON, Connect's unary protocol
// and a REST route, with and without a key.
func checkHTTPJSON(t *testing.T, addr string) {
	t.Helper()
	call := func(method, path, key, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %s, not JSON: %q", method, path, resp.Status, raw)
		}
		return resp.StatusCode, out
	}
	code, reg := call("POST", "/royalty.v1.ContributorService/RegisterContributor", "", `{"displayName":"Curl"}`)
	key, _ := reg["apiKey"].(string)
	if code != 200 || key == "" {
		t.Fatalf("RegisterContributor over HTTP/JSON: %d %v", code, reg)
	}
	code, bal := call("POST", "/royalty.v1.ContributorService/GetBalance", key, `{}`)
	if code != 200 {
		t.Fatalf("GetBalance over HTTP/JSON: %d %v", code, bal)
	}
	code, rest := call("GET", "/v1/me/balance", key, "")
	if code != 200 || fmt.Sprint(rest) != fmt.Sprint(bal) {
		t.Fatalf("GET /v1/me/balance: %d %v, want %v", code, rest, bal)
	}
	code, denied := call("POST", "/royalty.v1.ContributorService/GetBalance", "", `{}`)
	if code != http.StatusUnauthorized || denied["code"] != "unauthenticated" ||
		!strings.HasPrefix(fmt.Sprint(denied["message"]), "missing API key") {
		t.Fatalf("GetBalance without a key: %d %v", code, denied)
	}
}
