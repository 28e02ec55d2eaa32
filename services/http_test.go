package services_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// serveHTTP serves the env's gRPC server through services.NewHTTPHandler on loopback, as
// `royalty serve` does, and returns its base URL.
func (e *env) serveHTTP(opts services.HTTPOptions) string {
	e.t.Helper()
	h, err := services.NewHTTPHandler(e.srv, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	srv := services.NewHTTPServer(h, opts)
	go srv.Serve(lis)
	e.t.Cleanup(func() { srv.Close() })
	return "http://" + lis.Addr().String()
}

// httpResult is one HTTP exchange.
type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request over HTTP/1.1 (what curl does by default).
func do(t *testing.T, method, url, key, contentType string, body []byte) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: raw}
}

// wireError is a Connect error body, or a REST one (google.rpc.Status: numeric code).
type wireError struct {
	Code    any    `json:"code"`
	Message string `json:"message"`
}

func (w wireError) grpcCode(t *testing.T) codes.Code {
	t.Helper()
	var c codes.Code
	switch v := w.Code.(type) {
	case string: // Connect: "invalid_argument"
		if err := c.UnmarshalJSON([]byte(`"` + strings.ToUpper(v) + `"`)); err != nil {
			t.Fatalf("code %q: %v", v, err)
		}
	case float64: // REST: 3
		c = codes.Code(v)
	default:
		t.Fatalf("error without a code: %+v", w)
	}
	return c
}

func parseError(t *testing.T, r httpResult) wireError {
	t.Helper()
	var w wireError
	if err := json.Unmarshal(r.body, &w); err != nil {
		t.Fatalf("error body is not JSON (%d): %q", r.status, r.body)
	}
	return w
}

// envelope frames one message of Connect's streaming protocol.
func envelope(flags byte, msg string) []byte {
	b := make([]byte, 5, 5+len(msg))
	b[0] = flags
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// unenvelope splits a Connect streaming response into its messages and its end-of-stream
// message.
func unenvelope(t *testing.T, body []byte) (msgs []string, end string) {
	t.Helper()
	for len(body) > 0 {
		if len(body) < 5 {
			t.Fatalf("truncated envelope %q", body)
		}
		n := binary.BigEndian.Uint32(body[1:5])
		if uint32(len(body)-5) < n {
			t.Fatalf("truncated envelope %q", body)
		}
		msg := string(body[5 : 5+n])
		if body[0]&2 != 0 {
			end = msg
		} else {
			msgs = append(msgs, msg)
		}
		body = body[5+n:]
	}
	return msgs, end
}

// royaltyMethods are every method of every royalty.v1 service, from the registered descriptors.
func royaltyMethods(t *testing.T) []protoreflect.MethodDescriptor {
	t.Helper()
	var out []protoreflect.MethodDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("royalty.v1", func(f protoreflect.FileDescriptor) bool {
		for i := 0; i < f.Services().Len(); i++ {
			s := f.Services().Get(i)
			for j := 0; j < s.Methods().Len(); j++ {
				out = append(out, s.Methods().Get(j))
			}
		}
		return true
	})
	if len(out) < 29 {
		t.Fatalf("found only %d royalty.v1 methods", len(out))
	}
	return out
}

func fullMethod(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}

func newMessage(t *testing.T, d protoreflect.MessageDescriptor) proto.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		t.Fatal(err)
	}
	return mt.New().Interface()
}

// httpFixture is the data the HTTP tests call about.
type httpFixture struct {
	admin, auditor, provider, contributor principal
	usageTx, pendingClaim, rejectClaim    string
	ownClaim, spareKeyID, proofTx         string
	// raterChallenge is the challenge of the contributor's pending claim on the provider's
	// rater "rater-1" (AttestIdentity); the provider has declared lineage for "m".
	raterChallenge string
	// linkCode is a link code the provider made for its rater "link-1" (RedeemLinkCode).
	linkCode string
}

func newHTTPFixture(t *testing.T, e *env) httpFixture {
	t.Helper()
	f := httpFixture{
		admin: e.principal("ops", auth.RoleAdmin), auditor: e.principal("audit", auth.RoleAuditor),
		provider: e.principal("acme", auth.RoleProvider), contributor: e.principal("ana", auth.RoleContributor),
	}
	e.ingest(f.admin, post("1", "ana", anaText), post("2", "bo", boText))
	own, err := e.contributor.StartClaim(f.contributor.ctx(), &v1.StartClaimRequest{IdentityKey: "forum:s/ana"})
	if err != nil {
		t.Fatal(err)
	}
	f.ownClaim = own.GetClaim().GetId()
	if _, err := e.admin.ApproveClaim(f.admin.ctx(), &v1.ApproveClaimRequest{ClaimId: f.ownClaim}); err != nil {
		t.Fatal(err)
	}
	u, err := e.provider.ReportUsage(f.provider.ctx(), usageReq("u-1", "10", anaText))
	if err != nil {
		t.Fatal(err)
	}
	f.usageTx = u.GetUsage().GetTransactionId()
	proofUsage, err := e.provider.ReportUsage(f.provider.ctx(), usageReq("u-proof", "1", anaText))
	if err != nil {
		t.Fatal(err)
	}
	f.proofTx = proofUsage.GetUsage().GetTransactionId()
	for i, target := range []*string{&f.pendingClaim, &f.rejectClaim} {
		c, err := e.contributor.StartClaim(f.contributor.ctx(), &v1.StartClaimRequest{IdentityKey: fmt.Sprintf("forum:s/other-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		*target = c.GetClaim().GetId()
	}
	spare, err := e.admin.CreateApiKey(f.admin.ctx(), &v1.CreateApiKeyRequest{PrincipalId: f.provider.ID})
	if err != nil {
		t.Fatal(err)
	}
	f.spareKeyID = spare.GetKey().GetId()
	rater, err := e.contributor.StartClaim(f.contributor.ctx(), &v1.StartClaimRequest{IdentityKey: ledger.RaterIdentityKey(f.provider.ID, "rater-1")})
	if err != nil {
		t.Fatal(err)
	}
	f.raterChallenge = rater.GetClaim().GetChallenge()
	lc, err := e.feedback.CreateLinkCode(f.provider.ctx(), &v1.CreateLinkCodeRequest{RaterId: "link-1"})
	if err != nil {
		t.Fatal(err)
	}
	f.linkCode = lc.GetCode()
	if _, err := e.feedback.DeclareTraining(f.provider.ctx(), &v1.DeclareTrainingRequest{ModelVersion: "m",
		Epochs: []*v1.EpochWeight{{Epoch: "2026-11", Weight: "1"}}}); err != nil {
		t.Fatal(err)
	}
	e.seal()
	return f
}

// httpCase is how one method is called over HTTP/JSON: by whom, with a valid request and with
// an invalid one. Invalid requests that are valid JSON for the request type are also sent over
// gRPC, and the HTTP error must carry the same code and message; the others (malformed for
// methods without a field to get wrong) must be INVALID_ARGUMENT.
type httpCase struct {
	caller         func(f httpFixture) principal
	valid, invalid func(f httpFixture) string
	// field is named in the error of the invalid request, when it is a field error.
	field string
	// code of the invalid request's error; InvalidArgument when zero.
	code codes.Code
	// stream: the method streams, and is called with Connect's streaming protocol.
	stream bool
}

func as(role string) func(f httpFixture) principal {
	return func(f httpFixture) principal {
		switch role {
		case "admin":
			return f.admin
		case "auditor":
			return f.auditor
		case "provider":
			return f.provider
		case "contributor":
			return f.contributor
		}
		return principal{}
	}
}

func lit(s string) func(httpFixture) string { return func(httpFixture) string { return s } }

// malformed is an invalid request for methods whose request has no field to get wrong.
const malformed = `{"no JSON`

var httpCases = map[string]httpCase{
	v1.IndexService_IngestPosts_FullMethodName: {caller: as("admin"), stream: true,
		valid: lit(`{"posts":[{"id":"forum:s/9","platform":"forum","site":"s","kind":"POST_KIND_ARTICLE",
			"author":{"platform":"forum","site":"s","authorId":"zed"},"createdAt":"2024-01-02T03:04:05Z",
			"text":"A short post by zed about tyre pressure and rims."}]}`),
		invalid: lit(malformed)},
	v1.IndexService_SearchPosts_FullMethodName: {caller: as("contributor"),
		valid: lit(`{"query":"chain"}`), invalid: lit(`{"query":"chain","pageSize":-1}`), field: "page_size"},
	v1.IndexService_GetPost_FullMethodName: {caller: as("contributor"),
		valid: lit(`{"postId":"forum:s/1"}`), invalid: lit(`{}`), field: "post_id"},

	v1.AttributionService_Attribute_FullMethodName: {caller: as("provider"),
		valid: lit(`{"responseText":` + jsonString(anaText) + `}`), invalid: lit(`{}`), field: "response_text"},

	v1.ProviderService_ReportUsage_FullMethodName: {caller: as("provider"),
		valid:   lit(`{"requestId":"h-1","modelId":"m","revenue":"1","currency":"USD","responseText":` + jsonString(anaText) + `}`),
		invalid: lit(`{"requestId":"h-2","modelId":"m","revenue":"-1","currency":"USD","responseText":"x"}`), field: "revenue"},
	v1.ProviderService_ReportUsageBatch_FullMethodName: {caller: as("provider"),
		valid:   lit(`{"reports":[{"requestId":"h-3","modelId":"m","revenue":"1","currency":"USD","responseText":` + jsonString(anaText) + `}]}`),
		invalid: lit(`{}`), field: "reports"},
	v1.ProviderService_ReverseUsage_FullMethodName: {caller: as("provider"),
		valid: lit(`{"requestId":"h-1","reason":"refund"}`), invalid: lit(`{"reason":"refund"}`), field: "transaction_id"},
	v1.ProviderService_GetUsage_FullMethodName: {caller: as("provider"),
		valid: func(f httpFixture) string { return `{"transactionId":"` + f.usageTx + `"}` }, invalid: lit(`{}`), field: "transaction_id"},

	v1.ContributorService_RegisterContributor_FullMethodName: {caller: as("anonymous"),
		valid: lit(`{"displayName":"Curl"}`), invalid: lit(`{"displayName":""}`), field: "display_name"},
	v1.ContributorService_StartClaim_FullMethodName: {caller: as("contributor"),
		valid: lit(`{"identityKey":"forum:s/new"}`), invalid: lit(`{"identityKey":""}`), field: "identity_key"},
	v1.ContributorService_RedeemLinkCode_FullMethodName: {caller: as("contributor"),
		valid: func(f httpFixture) string {
			return `{"identityKey":"` + ledger.RaterIdentityKey(f.provider.ID, "link-1") + `","code":"` + f.linkCode + `"}`
		},
		invalid: lit(`{"identityKey":"forum:s/ana","code":"royalty-link-x"}`), field: "identity_key"},
	v1.ContributorService_CheckClaim_FullMethodName: {caller: as("contributor"),
		valid: func(f httpFixture) string { return `{"claimId":"` + f.ownClaim + `"}` }, invalid: lit(`{"claimId":""}`), field: "claim_id", code: codes.NotFound},
	v1.ContributorService_GetClaim_FullMethodName: {caller: as("contributor"),
		valid: func(f httpFixture) string { return `{"claimId":"` + f.ownClaim + `"}` }, invalid: lit(`{"claimId":""}`), field: "claim_id", code: codes.NotFound},
	v1.ContributorService_ListClaims_FullMethodName: {caller: as("contributor"),
		valid: lit(`{}`), invalid: lit(`{"pageToken":"%%"}`), field: "page_token"},
	v1.ContributorService_GetBalance_FullMethodName: {caller: as("contributor"),
		valid: lit(`{}`), invalid: lit(`{"contributorId":"not-an-id"}`), field: "contributor_id", code: codes.PermissionDenied},
	v1.ContributorService_ListStatement_FullMethodName: {caller: as("contributor"),
		valid: lit(`{}`), invalid: lit(`{"pageToken":"%%"}`), field: "page_token"},
	v1.ContributorService_RequestPayout_FullMethodName: {caller: as("contributor"),
		valid: lit(`{"requestId":"p-1","currency":"USD","amount":"0.01"}`), invalid: lit(`{"requestId":"p-2","currency":"USD","amount":"-1"}`), field: "amount"},

	v1.AuditService_ExportJournal_FullMethodName: {caller: as("auditor"), stream: true,
		valid: lit(`{}`), invalid: lit(malformed)},
	v1.AuditService_GetTrialBalance_FullMethodName: {caller: as("auditor"),
		valid: lit(`{}`), invalid: lit(malformed)},
	v1.AuditService_VerifyJournal_FullMethodName: {caller: as("auditor"),
		valid: lit(`{}`), invalid: lit(malformed)},
	v1.AuditService_GetPublicKey_FullMethodName: {caller: as("contributor"),
		valid: lit(`{}`), invalid: lit(malformed)},
	v1.AuditService_ListCheckpoints_FullMethodName: {caller: as("contributor"),
		valid: lit(`{}`), invalid: lit(`{"pageToken":"%%"}`), field: "page_token"},
	v1.AuditService_GetLatestCheckpoint_FullMethodName: {caller: as("contributor"),
		valid: lit(`{}`), invalid: lit(malformed)},
	v1.AuditService_GetInclusionProof_FullMethodName: {caller: as("contributor"),
		valid: func(f httpFixture) string { return `{"transactionId":"` + f.proofTx + `"}` }, invalid: lit(`{}`), field: "transaction_id"},

	v1.AdminService_CreatePrincipal_FullMethodName: {caller: as("admin"),
		valid: lit(`{"name":"new","role":"ROLE_AUDITOR"}`), invalid: lit(`{"name":"","role":"ROLE_AUDITOR"}`), field: "name"},
	v1.AdminService_ListPrincipals_FullMethodName: {caller: as("admin"),
		valid: lit(`{}`), invalid: lit(`{"pageToken":"%%"}`), field: "page_token"},
	v1.AdminService_CreateApiKey_FullMethodName: {caller: as("admin"),
		valid: func(f httpFixture) string { return `{"principalId":"` + f.provider.ID + `"}` }, invalid: lit(`{}`), field: "principal_id", code: codes.NotFound},
	v1.AdminService_RevokeApiKey_FullMethodName: {caller: as("admin"),
		valid: func(f httpFixture) string { return `{"keyId":"` + f.spareKeyID + `"}` }, invalid: lit(`{}`), field: "key_id", code: codes.NotFound},
	v1.AdminService_SetProviderAgreement_FullMethodName: {caller: as("admin"),
		valid:   func(f httpFixture) string { return `{"providerId":"` + f.provider.ID + `","royaltyRate":"0.2"}` },
		invalid: func(f httpFixture) string { return `{"providerId":"` + f.provider.ID + `","royaltyRate":"2"}` }, field: "royalty_rate"},
	v1.FeedbackService_ReportFeedback_FullMethodName: {caller: as("provider"),
		valid:   lit(`{"requestId":"fb-1","raterId":"rater-1","kind":"FEEDBACK_KIND_THUMBS_UP","modelVersion":"m"}`),
		invalid: lit(`{"requestId":"fb-2","raterId":"a@b.example","kind":"FEEDBACK_KIND_THUMBS_UP","modelVersion":"m"}`), field: "rater_id"},
	v1.FeedbackService_ReportFeedbackBatch_FullMethodName: {caller: as("provider"),
		valid:   lit(`{"events":[{"requestId":"fb-3","raterId":"rater-2","kind":"FEEDBACK_KIND_CORRECTION","modelVersion":"m"}]}`),
		invalid: lit(`{"events":[{"requestId":"fb-4","raterId":"rater-2","modelVersion":"m"}]}`), field: "events[0].kind"},
	v1.FeedbackService_DeclareTraining_FullMethodName: {caller: as("provider"),
		valid:   lit(`{"modelVersion":"m2","epochs":[{"epoch":"2026-10","weight":"2"}],"rejectedRaterIds":["spam-1"]}`),
		invalid: lit(`{"modelVersion":"m2","epochs":[{"epoch":"October","weight":"2"}]}`), field: "epochs[0].epoch"},
	v1.FeedbackService_GetLineage_FullMethodName: {caller: as("provider"),
		valid: lit(`{"modelVersion":"m"}`), invalid: lit(`{"modelVersion":"none"}`), field: "model_version", code: codes.NotFound},
	v1.FeedbackService_SetFeedbackRate_FullMethodName: {caller: as("admin"),
		valid:   func(f httpFixture) string { return `{"providerId":"` + f.provider.ID + `","feedbackRate":"0.02"}` },
		invalid: func(f httpFixture) string { return `{"providerId":"` + f.provider.ID + `","feedbackRate":"2"}` }, field: "feedback_rate"},
	v1.FeedbackService_SettleFeedback_FullMethodName: {caller: as("admin"),
		valid: lit(`{}`), invalid: lit(`{"providerId":"nope"}`), field: "provider_id"},
	v1.FeedbackService_AttestIdentity_FullMethodName: {caller: as("provider"),
		valid:   func(f httpFixture) string { return `{"raterId":"rater-1","challenge":"` + f.raterChallenge + `"}` },
		invalid: lit(`{"raterId":"rater-9","challenge":"royalty-wrong"}`), field: "challenge", code: codes.NotFound},
	v1.FeedbackService_CreateLinkCode_FullMethodName: {caller: as("provider"),
		valid: lit(`{"raterId":"link-2"}`), invalid: lit(`{"raterId":"jane@example.com"}`), field: "rater_id"},

	v1.AdminService_ApproveClaim_FullMethodName: {caller: as("admin"),
		valid: func(f httpFixture) string { return `{"claimId":"` + f.pendingClaim + `"}` }, invalid: lit(`{}`), field: "claim_id", code: codes.NotFound},
	v1.AdminService_RejectClaim_FullMethodName: {caller: as("admin"),
		valid: func(f httpFixture) string { return `{"claimId":"` + f.rejectClaim + `","note":"no"}` }, invalid: lit(`{}`), field: "claim_id", code: codes.NotFound},
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestHTTPJSONEveryMethod calls every royalty.v1 method, enumerated from the descriptors, over
// HTTP/1.1 and JSON as curl would: unary ones with Connect's unary protocol (a plain POST),
// streaming ones with Connect's streaming protocol. Each gets a valid request, which must
// succeed, and an invalid one, which must fail with the code and message that gRPC gives it.
func TestHTTPJSONEveryMethod(t *testing.T) {
	e := newEnv(t)
	base := e.serveHTTP(services.HTTPOptions{})
	f := newHTTPFixture(t, e)
	for _, m := range royaltyMethods(t) {
		method := fullMethod(m)
		c, ok := httpCases[method]
		if !ok {
			t.Errorf("%s has no HTTP test case: add one to httpCases", method)
			continue
		}
		t.Run(strings.TrimPrefix(method, "/royalty.v1."), func(t *testing.T) {
			if c.stream != (m.IsStreamingClient() || m.IsStreamingServer()) {
				t.Fatalf("stream = %v, but the method streams: %v", c.stream, !c.stream)
			}
			key := c.caller(f).key
			call := func(body string) (proto.Message, *wireError) {
				t.Helper()
				if c.stream {
					return callStream(t, base+method, key, m, body)
				}
				r := do(t, "POST", base+method, key, "application/json", []byte(body))
				if r.status != http.StatusOK {
					w := parseError(t, r)
					return nil, &w
				}
				resp := newMessage(t, m.Output())
				if err := protojson.Unmarshal(r.body, resp); err != nil {
					t.Fatalf("response is not a %s: %v\n%s", m.Output().FullName(), err, r.body)
				}
				return resp, nil
			}

			if resp, werr := call(c.valid(f)); werr != nil {
				t.Fatalf("valid request %s: %v %q", c.valid(f), werr.Code, werr.Message)
			} else if resp == nil {
				t.Fatal("no response")
			}

			invalid := c.invalid(f)
			_, werr := call(invalid)
			if werr == nil {
				t.Fatalf("invalid request %s succeeded", invalid)
			}
			got := werr.grpcCode(t)
			req := newMessage(t, m.Input())
			if err := protojson.Unmarshal([]byte(invalid), req); err != nil {
				// Not a request at all: rejected before any handler.
				if got != codes.InvalidArgument {
					t.Fatalf("malformed request: %v %q, want InvalidArgument", got, werr.Message)
				}
				return
			}
			grpcErr := invokeGRPC(t, e, method, m, key, req)
			st := status.Convert(grpcErr)
			if got != st.Code() || werr.Message != st.Message() {
				t.Fatalf("HTTP error %v %q, gRPC %v %q", got, werr.Message, st.Code(), st.Message())
			}
			if st.Code() == codes.OK {
				t.Fatalf("invalid request %s succeeded over gRPC", invalid)
			}
			want := c.code
			if want == codes.OK {
				want = codes.InvalidArgument
			}
			if st.Code() != want || !strings.Contains(st.Message(), c.field) {
				t.Fatalf("invalid request: %v %q, want %v naming %s", st.Code(), st.Message(), want, c.field)
			}
		})
	}
}

// callStream calls a streaming method with Connect's streaming protocol over HTTP/1.1: one
// request message (the client-streaming IngestPosts sends just one), every response message.
func callStream(t *testing.T, url, key string, m protoreflect.MethodDescriptor, body string) (proto.Message, *wireError) {
	t.Helper()
	r := do(t, "POST", url, key, "application/connect+json", envelope(0, body))
	if r.status != http.StatusOK {
		w := parseError(t, r)
		return nil, &w
	}
	msgs, end := unenvelope(t, r.body)
	var trailer struct {
		Error *wireError `json:"error"`
	}
	if err := json.Unmarshal([]byte(end), &trailer); err != nil {
		t.Fatalf("end of stream %q: %v", end, err)
	}
	if trailer.Error != nil {
		return nil, trailer.Error
	}
	if len(msgs) == 0 {
		t.Fatal("no response message")
	}
	resp := newMessage(t, m.Output())
	for _, msg := range msgs {
		if err := protojson.Unmarshal([]byte(msg), resp); err != nil {
			t.Fatalf("response is not a %s: %v\n%s", m.Output().FullName(), err, msg)
		}
	}
	return resp, nil
}

// invokeGRPC makes the same call over gRPC.
func invokeGRPC(t *testing.T, e *env, method string, m protoreflect.MethodDescriptor, key string, req proto.Message) error {
	t.Helper()
	ctx := context.Background()
	if key != "" {
		ctx = principal{key: key}.ctx()
	}
	if !m.IsStreamingClient() && !m.IsStreamingServer() {
		return e.conn.Invoke(ctx, method, req, newMessage(t, m.Output()))
	}
	t.Fatalf("%s: streaming methods are compared only for malformed requests", method)
	return nil
}

// TestRESTMatchesRPC calls REST routes and the RPCs behind them and compares the results, errors
// included.
func TestRESTMatchesRPC(t *testing.T) {
	e := newEnv(t)
	base := e.serveHTTP(services.HTTPOptions{})
	f := newHTTPFixture(t, e)
	c := f.contributor
	rpc := func(t *testing.T, p principal, method, body string, out proto.Message) httpResult {
		t.Helper()
		r := do(t, "POST", base+method, p.key, "application/json", []byte(body))
		if r.status == http.StatusOK {
			if err := protojson.Unmarshal(r.body, out); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	claimed := &v1.StartClaimResponse{}
	if r := do(t, "POST", base+"/v1/claims", c.key, "application/json", []byte(`{"identityKey":"forum:s/rest"}`)); r.status != http.StatusOK {
		t.Fatalf("POST /v1/claims: %d %s", r.status, r.body)
	} else if err := protojson.Unmarshal(r.body, claimed); err != nil || claimed.GetClaim().GetId() == "" {
		t.Fatalf("POST /v1/claims: %v %s", err, r.body)
	}
	tests := []struct {
		name      string
		caller    principal
		restVerb  string
		restPath  string
		restBody  string
		rpcMethod string
		rpcBody   string
		out       func() proto.Message
	}{
		{"balance", c, "GET", "/v1/me/balance", "", v1.ContributorService_GetBalance_FullMethodName, `{}`,
			func() proto.Message { return &v1.GetBalanceResponse{} }},
		{"statement", c, "GET", "/v1/me/statement?pageSize=2", "", v1.ContributorService_ListStatement_FullMethodName, `{"pageSize":2}`,
			func() proto.Message { return &v1.ListStatementResponse{} }},
		{"balance of another", f.auditor, "GET", "/v1/contributors/" + c.ID + "/balance", "", v1.ContributorService_GetBalance_FullMethodName,
			`{"contributorId":"` + c.ID + `"}`, func() proto.Message { return &v1.GetBalanceResponse{} }},
		{"claim", c, "GET", "/v1/claims/" + claimed.GetClaim().GetId(), "", v1.ContributorService_GetClaim_FullMethodName,
			`{"claimId":"` + claimed.GetClaim().GetId() + `"}`, func() proto.Message { return &v1.GetClaimResponse{} }},
		{"claims", c, "GET", "/v1/claims", "", v1.ContributorService_ListClaims_FullMethodName, `{}`,
			func() proto.Message { return &v1.ListClaimsResponse{} }},
		{"latest checkpoint", c, "GET", "/v1/checkpoints/latest", "", v1.AuditService_GetLatestCheckpoint_FullMethodName, `{}`,
			func() proto.Message { return &v1.GetLatestCheckpointResponse{} }},
		{"checkpoints", c, "GET", "/v1/checkpoints?pageSize=1", "", v1.AuditService_ListCheckpoints_FullMethodName, `{"pageSize":1}`,
			func() proto.Message { return &v1.ListCheckpointsResponse{} }},
		{"search", c, "GET", "/v1/posts?q=chain", "", v1.IndexService_SearchPosts_FullMethodName, `{"q":"chain"}`,
			func() proto.Message { return &v1.SearchPostsResponse{} }},
		// The field's proto name, which callers used before `q`, still works on both.
		{"search by query", c, "GET", "/v1/posts?query=chain", "", v1.IndexService_SearchPosts_FullMethodName, `{"query":"chain"}`,
			func() proto.Message { return &v1.SearchPostsResponse{} }},
		{"post", c, "GET", "/v1/posts/forum:s/1", "", v1.IndexService_GetPost_FullMethodName, `{"postId":"forum:s/1"}`,
			func() proto.Message { return &v1.GetPostResponse{} }},
		{"usage", f.provider, "GET", "/v1/usage/" + f.usageTx, "", v1.ProviderService_GetUsage_FullMethodName,
			`{"transactionId":"` + f.usageTx + `"}`, func() proto.Message { return &v1.GetUsageResponse{} }},
		{"usage by request id", f.provider, "GET", "/v1/usage?requestId=u-1", "", v1.ProviderService_GetUsage_FullMethodName,
			`{"requestId":"u-1"}`, func() proto.Message { return &v1.GetUsageResponse{} }},
		{"attribute", f.provider, "POST", "/v1/attributions", `{"responseText":` + jsonString(anaText) + `}`,
			v1.AttributionService_Attribute_FullMethodName, `{"responseText":` + jsonString(anaText) + `}`,
			func() proto.Message { return &v1.AttributeResponse{} }},
		{"trial balance", f.auditor, "GET", "/v1/trial-balance", "", v1.AuditService_GetTrialBalance_FullMethodName, `{}`,
			func() proto.Message { return &v1.GetTrialBalanceResponse{} }},
		{"proof", c, "GET", "/v1/transactions/" + f.proofTx + "/proof", "", v1.AuditService_GetInclusionProof_FullMethodName,
			`{"transactionId":"` + f.proofTx + `"}`, func() proto.Message { return &v1.GetInclusionProofResponse{} }},
		// Errors: the REST body is a google.rpc.Status with the same code and message.
		{"unknown claim", c, "GET", "/v1/claims/00000000-0000-0000-0000-000000000000", "", v1.ContributorService_GetClaim_FullMethodName,
			`{"claimId":"00000000-0000-0000-0000-000000000000"}`, func() proto.Message { return &v1.GetClaimResponse{} }},
		{"no key", principal{}, "GET", "/v1/me/balance", "", v1.ContributorService_GetBalance_FullMethodName, `{}`,
			func() proto.Message { return &v1.GetBalanceResponse{} }},
		{"wrong role", c, "GET", "/v1/trial-balance", "", v1.AuditService_GetTrialBalance_FullMethodName, `{}`,
			func() proto.Message { return &v1.GetTrialBalanceResponse{} }},
		{"invalid search", c, "GET", "/v1/posts?query=chain&pageSize=-1", "", v1.IndexService_SearchPosts_FullMethodName,
			`{"query":"chain","pageSize":-1}`, func() proto.Message { return &v1.SearchPostsResponse{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			ct := ""
			if tc.restBody != "" {
				body, ct = []byte(tc.restBody), "application/json"
			}
			rest := do(t, tc.restVerb, base+tc.restPath, tc.caller.key, ct, body)
			want := tc.out()
			r := rpc(t, tc.caller, tc.rpcMethod, tc.rpcBody, want)
			if rest.status != r.status {
				t.Fatalf("REST %d %s, RPC %d %s", rest.status, rest.body, r.status, r.body)
			}
			if r.status != http.StatusOK {
				restErr, rpcErr := parseError(t, rest), parseError(t, r)
				if restErr.grpcCode(t) != rpcErr.grpcCode(t) || restErr.Message != rpcErr.Message {
					t.Fatalf("REST error %s, RPC error %s", rest.body, r.body)
				}
				return
			}
			got := tc.out()
			if err := protojson.Unmarshal(rest.body, got); err != nil {
				t.Fatalf("REST response: %v\n%s", err, rest.body)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("REST %v\nRPC  %v", got, want)
			}
		})
	}
	// ?q= is the query, not ignored: it finds the post that ?q= of other words does not.
	hits := func(path string) int {
		t.Helper()
		r := do(t, "GET", base+path, c.key, "", nil)
		var out v1.SearchPostsResponse
		if r.status != http.StatusOK || protojson.Unmarshal(r.body, &out) != nil {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		return len(out.GetHits())
	}
	if n, none := hits("/v1/posts?q=chain"), hits("/v1/posts?q=zebra+xylophone"); n == 0 || none != 0 {
		t.Fatalf("GET /v1/posts?q=chain: %d hits, ?q=zebra+xylophone: %d", n, none)
	}
}

// TestOpenAPIDocument checks /openapi.json against the protos: every REST route of every
// google.api.http annotation is in it, and the reference page names them all.
func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	base := e.serveHTTP(services.HTTPOptions{})
	r := do(t, "GET", base+"/openapi.json", "", "", nil)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("/openapi.json: %d %s", r.status, r.header.Get("Content-Type"))
	}
	var doc struct {
		Swagger string                                `json:"swagger"`
		Info    struct{ Title, Version string }       `json:"info"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("/openapi.json is not JSON: %v", err)
	}
	if doc.Swagger != "2.0" || doc.Info.Title == "" || doc.Info.Version == "" {
		t.Fatalf("swagger %q, info %+v", doc.Swagger, doc.Info)
	}
	page := do(t, "GET", base+"/docs/api", "", "", nil)
	if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs/api: %d %s", page.status, page.header.Get("Content-Type"))
	}
	if bytes.Contains(page.body, []byte("<script")) || bytes.Contains(page.body, []byte(`src="http`)) ||
		bytes.Contains(page.body, []byte(`<link`)) || bytes.Contains(page.body, []byte("@import")) {
		t.Error("/docs/api loads something from elsewhere")
	}
	routes := 0
	for _, m := range royaltyMethods(t) {
		rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil {
			if !m.IsStreamingClient() && !m.IsStreamingServer() {
				t.Errorf("%s has no REST route", fullMethod(m))
			}
			continue
		}
		for _, b := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
			verb, path := httpPattern(b)
			routes++
			ops, ok := doc.Paths[openAPIPath(path)]
			if !ok || ops[strings.ToLower(verb)] == nil {
				t.Errorf("/openapi.json lacks %s %s (%s)", verb, openAPIPath(path), fullMethod(m))
			}
			if !bytes.Contains(page.body, []byte(openAPIPath(path))) {
				t.Errorf("/docs/api lacks %s", openAPIPath(path))
			}
		}
	}
	if routes < 25 {
		t.Fatalf("only %d REST routes", routes)
	}
	if r := do(t, "GET", base+"/no/such/page", "", "", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", r.status)
	}
}

func httpPattern(r *annotations.HttpRule) (verb, path string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return "GET", p.Get
	case *annotations.HttpRule_Post:
		return "POST", p.Post
	case *annotations.HttpRule_Put:
		return "PUT", p.Put
	case *annotations.HttpRule_Delete:
		return "DELETE", p.Delete
	case *annotations.HttpRule_Patch:
		return "PATCH", p.Patch
	}
	return "", ""
}

var pathVar = regexp.MustCompile(`\{([a-z_]+)(=[^}]*)?\}`)

// openAPIPath is a path template as protoc-gen-openapiv2 writes it: {claim_id} is {claimId}.
func openAPIPath(template string) string {
	return pathVar.ReplaceAllStringFunc(template, func(v string) string {
		name := pathVar.FindStringSubmatch(v)[1]
		parts := strings.Split(name, "_")
		for i := 1; i < len(parts); i++ {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
		return "{" + strings.Join(parts, "") + "}"
	})
}

// TestHTTPLimits: a call without a key is refused before its body is read, and a unary JSON body
// larger than the message limit is refused.
func TestHTTPLimits(t *testing.T) {
	e := newEnv(t)
	base := e.serveHTTP(services.HTTPOptions{MaxMessageBytes: 4096})
	p := e.principal("acme", auth.RoleProvider)
	big := []byte(`{"responseText":"` + strings.Repeat("word ", 200_000) + `"}`)

	r := do(t, "POST", base+v1.AttributionService_Attribute_FullMethodName, "", "application/json", big)
	if w := parseError(t, r); r.status != http.StatusUnauthorized || w.grpcCode(t) != codes.Unauthenticated {
		t.Fatalf("no key: %d %s", r.status, r.body)
	}
	r = do(t, "POST", base+v1.AttributionService_Attribute_FullMethodName, p.key, "application/json", big)
	if w := parseError(t, r); r.status == http.StatusOK || w.grpcCode(t) != codes.ResourceExhausted {
		t.Fatalf("too large: %d %s", r.status, r.body)
	}
	r = do(t, "POST", base+"/v1/attributions", p.key, "application/json", big)
	if w := parseError(t, r); r.status == http.StatusOK || w.grpcCode(t) != codes.ResourceExhausted {
		t.Fatalf("too large over REST: %d %s", r.status, r.body)
	}
}
