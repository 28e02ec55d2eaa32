package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// callTimeout bounds one ReportUsage call; a call that takes longer counts as an error.
const callTimeout = 30 * time.Second

// failure is one failed call: when it ended and what came back.
type failure struct {
	at        time.Time
	took      time.Duration
	code      string
	message   string
	requestID string
}

type phaseResult struct {
	transport string
	clients   int
	ok        int64
	replayed  int64
	credited  int64 // booked reports whose response was attributed to at least one post
	elapsed   time.Duration
	latencies []time.Duration // of successful calls
	errors    map[string]int
	failures  []failure // the first few of each code
}

// add merges o, a slice of the same phase, into r.
func (r *phaseResult) add(o phaseResult) {
	r.ok += o.ok
	r.replayed += o.replayed
	r.credited += o.credited
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
	if r.errors == nil {
		r.errors = map[string]int{}
	}
	for k, v := range o.errors {
		r.errors[k] += v
	}
	r.failures = append(r.failures, o.failures...)
}

func (r phaseResult) perS() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// p returns the q quantile of the successful calls' latency in milliseconds.
func (r phaseResult) p(q float64) float64 {
	if len(r.latencies) == 0 {
		return 0
	}
	l := slices.Clone(r.latencies)
	slices.Sort(l)
	return float64(l[int(q*float64(len(l)-1))].Microseconds()) / 1000
}

func (r phaseResult) errorSummary() string {
	if len(r.errors) == 0 {
		return "none"
	}
	codes := make([]string, 0, len(r.errors))
	for c := range r.errors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s=%d", c, r.errors[c]))
	}
	return strings.Join(parts, " ")
}

// outcome is what a successful call answered: whether it was a replay and whether any post
// was credited.
type outcome struct{ replayed, credited bool }

// reporter sends one call for req and returns the code of its outcome ("" for success).
type reporter func(ctx context.Context, req *v1.ReportUsageRequest) (out outcome, code, msg string)

// usageOutcome is the outcome of a ReportUsage answer.
func usageOutcome(resp *v1.ReportUsageResponse) outcome {
	return outcome{replayed: resp.GetReplayed(), credited: len(resp.GetUsage().GetCredits()) > 0}
}

// drive runs clients concurrent clients for d, each sending ReportUsage calls back to back.
// Over gRPC every client has its own connection, as separate provider processes would. The
// transport "dryrun" sends each report's response to AttributionService.Attribute over gRPC
// instead: the same authentication, attribution and transport, and nothing booked.
func (b *bench) drive(ctx context.Context, name, transport string, clients int, d time.Duration) (phaseResult, error) {
	return b.driveModel(ctx, name, transport, clients, d, benchModel)
}

// benchModel is the model version the reports name; lineage.go adds one with training lineage.
const benchModel = "bench-e2e"

// driveModel is drive with reports for the model version model.
func (b *bench) driveModel(ctx context.Context, name, transport string, clients int, d time.Duration, model string) (phaseResult, error) {
	res := phaseResult{transport: transport, clients: clients, errors: map[string]int{}}
	reporters := make([]reporter, clients)
	for c := range clients {
		switch transport {
		case "grpc", "dryrun":
			conn, err := grpc.NewClient(b.addr, b.grpcCreds())
			if err != nil {
				return res, err
			}
			defer conn.Close()
			client, dry := v1.NewProviderServiceClient(conn), v1.NewAttributionServiceClient(conn)
			reporters[c] = func(ctx context.Context, req *v1.ReportUsageRequest) (outcome, string, string) {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+b.providerKey)
				var out outcome
				var err error
				if transport == "dryrun" {
					var resp *v1.AttributeResponse
					resp, err = dry.Attribute(ctx, &v1.AttributeRequest{ResponseText: req.ResponseText})
					out.credited = len(resp.GetShares()) > 0
				} else {
					var resp *v1.ReportUsageResponse
					resp, err = client.ReportUsage(ctx, req)
					out = usageOutcome(resp)
				}
				if err != nil {
					s := status.Convert(err)
					return outcome{}, codeName(s.Code().String()), s.Message()
				}
				return out, "", ""
			}
		case "http":
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, TLSClientConfig: b.clientTLS}}
			defer hc.CloseIdleConnections()
			reporters[c] = b.httpReporter(hc)
		default:
			return res, fmt.Errorf("unknown transport %q", transport)
		}
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(b.o.seed, uint64(c)<<32|uint64(len(name))))
			var ok, replayed, credited int64
			var lat []time.Duration
			errs := map[string]int{}
			var fails []failure
			for seq := 0; time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
				req := &v1.ReportUsageRequest{
					RequestId: fmt.Sprintf("e2e-%s-%d-%d", name, c, seq), ModelId: model, ModelVersionHash: "sha256:" + model,
					InputTokens: uint64(100 + rng.IntN(400)), OutputTokens: 120,
					Pricing:      &v1.ReportUsageRequest_Revenue{Revenue: decimal.New(int64(300+rng.IntN(9000)), -6).String()},
					Currency:     "USD",
					ResponseText: b.response(rng),
				}
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				t0 := time.Now()
				out, code, msg := reporters[c](cctx, req)
				took := time.Since(t0)
				cancel()
				if code != "" {
					if ctx.Err() != nil {
						break // the benchmark is interrupted: not the server's error
					}
					errs[code]++
					if errs[code] <= 20 {
						fails = append(fails, failure{at: time.Now(), took: took, code: code, message: msg, requestID: req.RequestId})
					}
					continue
				}
				ok++
				lat = append(lat, took)
				if out.replayed {
					replayed++
				}
				if out.credited {
					credited++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.ok += ok
			res.replayed += replayed
			res.credited += credited
			res.latencies = append(res.latencies, lat...)
			for k, v := range errs {
				res.errors[k] += v
			}
			res.failures = append(res.failures, fails...)
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	sort.Slice(res.failures, func(i, j int) bool { return res.failures[i].at.Before(res.failures[j].at) })
	return res, ctx.Err()
}

// httpReporter posts ReportUsage as HTTP/JSON to the API port.
func (b *bench) httpReporter(hc *http.Client) reporter {
	url := b.apiURL() + "/royalty.v1.ProviderService/ReportUsage"
	return func(ctx context.Context, req *v1.ReportUsageRequest) (outcome, string, string) {
		body, err := protojson.Marshal(req)
		if err != nil {
			return outcome{}, "CLIENT", err.Error()
		}
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return outcome{}, "CLIENT", err.Error()
		}
		hreq.Header.Set("content-type", "application/json")
		hreq.Header.Set("authorization", "Bearer "+b.providerKey)
		hresp, err := hc.Do(hreq)
		if err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return outcome{}, "DEADLINE_EXCEEDED", err.Error()
			}
			return outcome{}, "TRANSPORT", err.Error()
		}
		defer hresp.Body.Close()
		out, err := io.ReadAll(hresp.Body)
		if err != nil {
			return outcome{}, "TRANSPORT", err.Error()
		}
		if hresp.StatusCode != http.StatusOK {
			var e struct{ Code, Message string }
			_ = json.Unmarshal(out, &e)
			code := strings.ToUpper(e.Code)
			if code == "" {
				code = "HTTP_" + strconv.Itoa(hresp.StatusCode)
			}
			return outcome{}, code, e.Message
		}
		var resp v1.ReportUsageResponse
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(out, &resp); err != nil {
			return outcome{}, "CLIENT", fmt.Sprintf("decoding the response: %v", err)
		}
		return usageOutcome(&resp), "", ""
	}
}

// explainUnavailable prints, for the UNAVAILABLE calls of r, the first few with their messages,
// and the server log of the second before the first to the second after the last: the lines of
// the server's components (health, database, index, ledger, sealer) in full, and the access log
// lines of failed calls counted by code and error.
func (b *bench) explainUnavailable(r phaseResult) {
	var fails []failure
	for _, f := range r.failures {
		if f.code == "UNAVAILABLE" {
			fails = append(fails, f)
		}
	}
	if len(fails) == 0 {
		return
	}
	say("  %d UNAVAILABLE calls; the first few:", r.errors["UNAVAILABLE"])
	for _, f := range fails[:min(10, len(fails))] {
		say("    %s %s after %s: %s", f.at.Format("15:04:05.000"), f.requestID, f.took.Round(time.Millisecond), f.message)
	}
	from, to := fails[0].at.Add(-fails[0].took-time.Second), fails[len(fails)-1].at.Add(time.Second)
	lines, calls := serverLogAround(b.logPath, from, to)
	say("  server log from %s to %s: %d lines of its components (at most 40 shown)", from.Format("15:04:05.000"), to.Format("15:04:05.000"), len(lines))
	for i, l := range lines {
		if i == 40 {
			break
		}
		fmt.Println("    " + l)
	}
	keys := make([]string, 0, len(calls))
	for k := range calls {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return calls[keys[i]] > calls[keys[j]] })
	say("  failed calls in the server's access log of that time:")
	for _, k := range keys[:min(10, len(keys))] {
		fmt.Printf("    %6d  %s\n", calls[k], k)
	}
}

// serverLogAround reads the server's JSON log from from to to. It returns its lines but for
// DEBUG ones and the access log ("finished call"), shortened to time, level, message and the
// error, and counts the access log lines of failed calls by method, code and error.
func serverLogAround(path string, from, to time.Time) (lines []string, calls map[string]int) {
	calls = map[string]int{}
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}, calls
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			lines = append(lines, sc.Text()) // not JSON: a panic or a library's output, always shown
			continue
		}
		at, _ := time.Parse(time.RFC3339Nano, str(rec["time"]))
		level, msg := str(rec["level"]), str(rec["msg"])
		if at.Before(from) || at.After(to) || level == "DEBUG" {
			continue
		}
		if msg == "finished call" {
			if code := str(rec["grpc.code"]); code != "OK" {
				calls[fmt.Sprintf("%s %s: %s", str(rec["grpc.method"]), code, str(rec["grpc.error"]))]++
			}
			continue
		}
		delete(rec, "time")
		delete(rec, "level")
		delete(rec, "msg")
		rest, _ := json.Marshal(rec)
		lines = append(lines, fmt.Sprintf("%s %s %s %s", at.Format("15:04:05.000"), level, msg, rest))
	}
	return lines, calls
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// codeName spells a gRPC code as the protocol does (DeadlineExceeded: DEADLINE_EXCEEDED), as the
// HTTP/JSON answers name it too.
func codeName(c string) string {
	var sb strings.Builder
	for i, r := range c {
		if i > 0 && r >= 'A' && r <= 'Z' {
			sb.WriteByte('_')
		}
		sb.WriteRune(r)
	}
	return strings.ToUpper(sb.String())
}
