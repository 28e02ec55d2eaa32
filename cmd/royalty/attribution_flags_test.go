package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/memindex"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/usage"
)

// parseServeFlags parses serve's flags and environment as `royalty serve` does, without serving.
func parseServeFlags(t *testing.T, args ...string) (attribution.Config, error) {
	t.Helper()
	cfg := &config{}
	cmd := serveCommand(cfg, io.Discard)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(cmd); err != nil {
		return cfg.Attribution, err
	}
	return cfg.Attribution, checkAttributionFlags(cfg.Attribution)
}

func TestServeAttributionFlags(t *testing.T) {
	// Without flags: the library's defaults.
	c, err := parseServeFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := attribution.New(memindex.New(), c).Config(), attribution.DefaultConfig(); got != want {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}

	c, err = parseServeFlags(t, "--attribution-k", "5", "--attribution-window", "4", "--attribution-min-span", "12",
		"--attribution-max-authors", "3", "--attribution-candidates", "100", "--max-response-bytes", "131072", "--max-response-words", "30000")
	if err != nil {
		t.Fatal(err)
	}
	want := attribution.Config{K: 5, W: 4, MinSpanWords: 12, MaxAuthors: 3, Candidates: 100, MaxResponseBytes: 131072, MaxResponseWords: 30000}
	if c != want {
		t.Errorf("from flags: %+v, want %+v", c, want)
	}

	// The environment sets what the command line does not.
	t.Setenv("ROYALTY_ATTRIBUTION_MIN_SPAN", "10")
	t.Setenv("ROYALTY_ATTRIBUTION_CANDIDATES", "32")
	c, err = parseServeFlags(t, "--attribution-candidates", "16")
	if err != nil {
		t.Fatal(err)
	}
	if c.MinSpanWords != 10 || c.Candidates != 16 {
		t.Errorf("min span %d (want 10, from the environment), candidates %d (want 16, the flag over the environment)", c.MinSpanWords, c.Candidates)
	}
}

// TestServeRefusesBadAttributionConfig checks that serve stops at startup, before it needs a
// database, with an error naming the flag.
func TestServeRefusesBadAttributionConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  [2]string
		want []string
	}{
		{"zero", []string{"--attribution-candidates", "0"}, [2]string{}, []string{"--attribution-candidates", "at least 1"}},
		{"negative", []string{"--attribution-max-authors", "-3"}, [2]string{}, []string{"--attribution-max-authors", "at least 1, got -3"}},
		{"span shorter than k", []string{"--attribution-min-span", "4"}, [2]string{}, []string{"--attribution-min-span", "at least K (5)"}},
		{"response limit", []string{"--max-response-bytes", "8000000"}, [2]string{}, []string{"--max-response-bytes", "at most 4194304"}},
		{"not a number", nil, [2]string{"ROYALTY_ATTRIBUTION_WINDOW", "wide"}, []string{"ROYALTY_ATTRIBUTION_WINDOW", "--attribution-window", "integer"}},
		{"from the environment", nil, [2]string{"ROYALTY_ATTRIBUTION_MIN_SPAN", "2"}, []string{"--attribution-min-span (env ROYALTY_ATTRIBUTION_MIN_SPAN)", "got 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env[0] != "" {
				t.Setenv(tt.env[0], tt.env[1])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"serve", "--database-url", "", "--grpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, tt.args...)
			out, err := runCmd(t, ctx, args...)
			if err == nil {
				t.Fatalf("serve %q started\n%s", tt.args, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("serve %q: %v; want it to say %q", tt.args, err, w)
				}
			}
		})
	}
}

// TestServeRefusesOtherFingerprintParams checks that serve refuses a k or window other than
// those of the index's fingerprints: attribution would retrieve nothing and credit nobody.
func TestServeRefusesOtherFingerprintParams(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	for _, tt := range []struct{ flag, value string }{{"--attribution-k", "6"}, {"--attribution-window", "5"}} {
		t.Run(tt.flag, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := runCmd(t, ctx, "serve", "--database-url", dsn, "--grpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
				"--data-dir", t.TempDir(), tt.flag, tt.value)
			if err == nil || !strings.Contains(err.Error(), tt.flag) || !strings.Contains(err.Error(), "the index's") {
				t.Fatalf("serve %s %s: %v\n%s", tt.flag, tt.value, err, out)
			}
			t.Log(err)
		})
	}
}

// TestResponseLimitWired checks that --max-response-bytes is the limit of both the attributor
// and usage reports.
func TestResponseLimitWired(t *testing.T) {
	ctx := context.Background()
	pool := openPool(t, pgtest.NewDatabase(t))
	cfg := &config{DataDir: t.TempDir(), Attribution: attribution.Config{MaxResponseBytes: 100}}
	ps, err := openParts(ctx, pool, cfg, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	long := strings.Repeat("spoke ", 20) // 120 bytes
	_, aerr := ps.Attributor.Attribute(ctx, long)
	_, uerr := ps.Usage.Report(ctx, usage.Report{ProviderID: "00000000-0000-0000-0000-000000000001", RequestID: "r1", ModelID: "m",
		Revenue: "1", Currency: "USD", ResponseText: long})
	for name, err := range map[string]error{"attribution": aerr, "usage report": uerr} {
		var e *royalty.Error
		if !errors.As(err, &e) || e.Code != royalty.EINVALID || e.Field != "response_text" || !strings.Contains(e.Message, "100") {
			t.Errorf("%s of 120 bytes with a limit of 100: %v", name, err)
		}
	}
	if _, err := ps.Attributor.Attribute(ctx, long[:96]); err != nil {
		t.Errorf("attribution of 96 bytes with a limit of 100: %v", err)
	}
}
