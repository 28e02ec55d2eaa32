package services_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/openroyalty/royalty/auth"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// The tests of this file send hostile input over loopback gRPC to a real server on a real
// PostgreSQL: each request must fail with the exact code, a message naming the field at fault,
// and no change to any table. The case tables below are the list of what is tried.

// Hostile strings used across the cases.
const (
	sqlDrop = "'; DROP TABLE ledger_postings; --"
	formula = `=HYPERLINK("http://evil.example/x","click")`
)

// dbSnapshot is a digest of every row of every table but schema_migrations: equal snapshots
// mean nothing was inserted, updated or deleted.
type dbSnapshot map[string]string

func snapshot(t *testing.T, pool *pgxpool.Pool) dbSnapshot {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tables)
	s := dbSnapshot{}
	for _, name := range tables {
		var n int64
		var digest string
		q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '') FROM %s t`, pgx.Identifier{name}.Sanitize())
		if err := pool.QueryRow(ctx, q).Scan(&n, &digest); err != nil {
			t.Fatal(err)
		}
		s[name] = fmt.Sprintf("%d rows, md5 %s", n, digest)
	}
	return s
}

// unchanged fails the test if any table differs from before.
func (before dbSnapshot) unchanged(t *testing.T, after dbSnapshot) {
	t.Helper()
	if len(before) == 0 {
		t.Fatal("empty snapshot: no tables found")
	}
	for name, b := range before {
		if after[name] != b {
			t.Errorf("table %s changed: %s → %s", name, b, after[name])
		}
	}
}

// hostileCase is one request that must be refused.
type hostileCase struct {
	name string
	call func(context.Context) error
	code codes.Code
	// field is the request field the message must name ("field: …"); empty when the code
	// comes from gRPC itself and names no field.
	field string
}

func runHostile(t *testing.T, e *env, tests []hostileCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, e.pool)
			ctx, cancel := context.WithTimeout(context.Background(), 30e9)
			defer cancel()
			err := tt.call(ctx)
			st, _ := status.FromError(err)
			if st.Code() != tt.code {
				t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), tt.code)
			}
			if tt.field != "" && !strings.HasPrefix(st.Message(), tt.field+": ") {
				t.Errorf("message %q does not name the field %s", st.Message(), tt.field)
			}
			before.unchanged(t, snapshot(t, e.pool))
		})
	}
}

// withKey returns ctx sending p's key.
func withKey(ctx context.Context, p principal) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+p.key)
}

// TestHostileInput sends malformed, oversized and hostile values to every write of the
// contributor and admin services. A malformed id (a claim, key or principal id that is not a
// UUID) is NOT_FOUND naming the field, as an unknown one is: the server does not tell the two
// apart.
func TestHostileInput(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("admin", auth.RoleAdmin)
	ada := e.principal("ada", auth.RoleContributor)
	pending, err := e.contributor.StartClaim(ada.ctx(), &v1.StartClaimRequest{IdentityKey: "hn:/ada"})
	if err != nil {
		t.Fatal(err)
	}
	claimID := pending.GetClaim().GetId()

	register := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.contributor.RegisterContributor(ctx, &v1.RegisterContributorRequest{DisplayName: name})
			return err
		}
	}
	claim := func(key string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.contributor.StartClaim(withKey(ctx, ada), &v1.StartClaimRequest{IdentityKey: key})
			return err
		}
	}
	approve := func(id, note string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.admin.ApproveClaim(withKey(ctx, admin), &v1.ApproveClaimRequest{ClaimId: id, Note: note})
			return err
		}
	}
	reject := func(id, note string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.admin.RejectClaim(withKey(ctx, admin), &v1.RejectClaimRequest{ClaimId: id, Note: note})
			return err
		}
	}
	createPrincipal := func(name string, role v1.Role) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.admin.CreatePrincipal(withKey(ctx, admin), &v1.CreatePrincipalRequest{Name: name, Role: role})
			return err
		}
	}
	long := strings.Repeat("é", 201)

	runHostile(t, e, []hostileCase{
		{"register: empty name", register(""), codes.InvalidArgument, "display_name"},
		{"register: blank name", register(" \t "), codes.InvalidArgument, "display_name"},
		{"register: name of 201 characters", register(long), codes.InvalidArgument, "display_name"},
		{"register: NUL in name", register("a\x00b"), codes.InvalidArgument, "display_name"},
		{"register: newline in name", register("a\nb"), codes.InvalidArgument, "display_name"},

		{"claim: empty identity", claim(""), codes.InvalidArgument, "identity_key"},
		{"claim: upper-case platform", claim("HN:/pg"), codes.InvalidArgument, "identity_key"},
		{"claim: no author", claim("hn:/"), codes.InvalidArgument, "identity_key"},
		{"claim: SQL", claim(sqlDrop), codes.InvalidArgument, "identity_key"},
		{"claim: formula", claim(formula + ":a/b"), codes.InvalidArgument, "identity_key"},
		{"claim: 301 bytes", claim("hn:/" + strings.Repeat("x", 297)), codes.InvalidArgument, "identity_key"},
		{"claim: zero-width space", claim("hn:/\u200bada"), codes.InvalidArgument, "identity_key"},
		{"claim: NUL", claim("hn:/a\x00"), codes.InvalidArgument, "identity_key"},

		{"approve: claim id is SQL", approve(sqlDrop, ""), codes.NotFound, "claim_id"},
		{"approve: unknown claim", approve("00000000-0000-4000-8000-00000000dead", ""), codes.NotFound, "claim_id"},
		{"approve: note of 501 characters", approve(claimID, strings.Repeat("n", 501)), codes.InvalidArgument, "note"},
		{"approve: NUL in note", approve(claimID, "ok\x00"), codes.InvalidArgument, "note"},
		{"reject: claim id is a formula", reject(formula, ""), codes.NotFound, "claim_id"},
		{"reject: NUL in note", reject(claimID, "no\x00"), codes.InvalidArgument, "note"},

		{"create principal: no role", createPrincipal("p", v1.Role_ROLE_UNSPECIFIED), codes.InvalidArgument, "role"},
		{"create principal: unknown role", createPrincipal("p", v1.Role(42)), codes.InvalidArgument, "role"},
		{"create principal: empty name", createPrincipal("", v1.Role_ROLE_PROVIDER), codes.InvalidArgument, "name"},
		{"create principal: NUL in name", createPrincipal("p\x00", v1.Role_ROLE_PROVIDER), codes.InvalidArgument, "name"},
		{"create key: principal id is SQL", func(ctx context.Context) error {
			_, err := e.admin.CreateApiKey(withKey(ctx, admin), &v1.CreateApiKeyRequest{PrincipalId: sqlDrop})
			return err
		}, codes.NotFound, "principal_id"},
		{"create key: unknown principal", func(ctx context.Context) error {
			_, err := e.admin.CreateApiKey(withKey(ctx, admin), &v1.CreateApiKeyRequest{PrincipalId: "00000000-0000-4000-8000-00000000dead"})
			return err
		}, codes.NotFound, "principal_id"},
		{"revoke key: key id is a formula", func(ctx context.Context) error {
			_, err := e.admin.RevokeApiKey(withKey(ctx, admin), &v1.RevokeApiKeyRequest{KeyId: formula})
			return err
		}, codes.NotFound, "key_id"},

		{"list claims: page token is SQL", func(ctx context.Context) error {
			_, err := e.contributor.ListClaims(withKey(ctx, ada), &v1.ListClaimsRequest{PageToken: sqlDrop})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"list claims: contributor id is SQL", func(ctx context.Context) error {
			_, err := e.contributor.ListClaims(withKey(ctx, admin), &v1.ListClaimsRequest{ContributorId: sqlDrop})
			return err
		}, codes.OK, ""}, // a filter that matches nothing
		{"get claim: claim id is SQL", func(ctx context.Context) error {
			_, err := e.contributor.GetClaim(withKey(ctx, ada), &v1.GetClaimRequest{ClaimId: sqlDrop})
			return err
		}, codes.NotFound, "claim_id"},
		{"list principals: page token is a formula", func(ctx context.Context) error {
			_, err := e.admin.ListPrincipals(withKey(ctx, admin), &v1.ListPrincipalsRequest{PageToken: formula})
			return err
		}, codes.InvalidArgument, "page_token"},

		{"API key is SQL", func(ctx context.Context) error {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+sqlDrop)
			_, err := e.contributor.StartClaim(ctx, &v1.StartClaimRequest{IdentityKey: "hn:/x"})
			return err
		}, codes.Unauthenticated, ""},
		{"message over the 8 MiB limit", register(strings.Repeat("x", 9<<20)), codes.ResourceExhausted, ""},
	})
}

// rawCodec sends pre-encoded bytes as a request, so that a test can put bytes on the wire that
// the generated code refuses to marshal (invalid UTF-8 in a string field).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestInvalidUTF8InEveryStringField sends, to every method of every royalty service, a request
// whose string field (each in turn, including those of nested messages one level down) holds
// invalid UTF-8. The key and role are checked before a message is read, so each method is called
// with a role it allows; then grpc-go refuses the message when it unmarshals it with INTERNAL
// ("grpc: failed to unmarshal the received message: … invalid UTF-8"): that is the code a
// client gets, and nothing is written.
func TestInvalidUTF8InEveryStringField(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("admin", auth.RoleAdmin)
	callers := []principal{admin, e.principal("provider", auth.RoleProvider), e.principal("contributor", auth.RoleContributor)}
	services := []string{"royalty.v1.ProviderService", "royalty.v1.ContributorService", "royalty.v1.AdminService",
		"royalty.v1.AuditService", "royalty.v1.IndexService", "royalty.v1.AttributionService"}
	before := snapshot(t, e.pool)
	tried := 0
	for _, name := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatal(err)
		}
		sd := d.(protoreflect.ServiceDescriptor)
		for i := 0; i < sd.Methods().Len(); i++ {
			m := sd.Methods().Get(i)
			method := "/" + string(sd.FullName()) + "/" + string(m.Name())
			if isUnimplemented(e.conn, admin, m, method) {
				// A streaming method this server does not serve never reads the request.
				t.Logf("%s is not implemented on this server", method)
				continue
			}
			for _, payload := range invalidUTF8Payloads(m.Input()) {
				tried++
				var st *status.Status
				for _, p := range callers { // the first role the policy allows
					ctx, cancel := context.WithTimeout(withKey(context.Background(), p), 30e9)
					err := sendRaw(ctx, e.conn, m, method, payload.bytes)
					cancel()
					if st, _ = status.FromError(err); st.Code() != codes.PermissionDenied {
						break
					}
				}
				if st.Code() != codes.Internal || !strings.Contains(st.Message(), "invalid UTF-8") {
					t.Errorf("%s with invalid UTF-8 in %s: %v %q, want INTERNAL about invalid UTF-8", method, payload.field, st.Code(), st.Message())
				}
			}
		}
	}
	if tried < 40 {
		t.Fatalf("only %d string fields tried", tried)
	}
	t.Logf("%d string fields tried", tried)
	before.unchanged(t, snapshot(t, e.pool))
}

// isUnimplemented reports whether a streaming method answers an empty request with
// UNIMPLEMENTED. (Unary methods unmarshal their request before the handler runs, implemented
// or not.)
func isUnimplemented(conn *grpc.ClientConn, p principal, m protoreflect.MethodDescriptor, method string) bool {
	if !m.IsStreamingClient() && !m.IsStreamingServer() {
		return false
	}
	ctx, cancel := context.WithTimeout(withKey(context.Background(), p), 30e9)
	defer cancel()
	return status.Code(sendRaw(ctx, conn, m, method, []byte{})) == codes.Unimplemented
}

type rawPayload struct {
	field string
	bytes []byte
}

// invalidUTF8Payloads returns one encoded request per string field of md (and of the message
// fields of md, one level down), with that field set to invalid UTF-8.
func invalidUTF8Payloads(md protoreflect.MessageDescriptor) []rawPayload {
	bad := []byte("ok\xff\xfe")
	var out []rawPayload
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		switch {
		case f.Kind() == protoreflect.StringKind:
			b := protowire.AppendTag(nil, f.Number(), protowire.BytesType)
			out = append(out, rawPayload{string(f.Name()), protowire.AppendBytes(b, bad)})
		case f.Kind() == protoreflect.MessageKind && !f.IsMap() && f.Message().FullName().Parent() == "royalty.v1":
			inner := f.Message().Fields()
			for j := 0; j < inner.Len(); j++ {
				g := inner.Get(j)
				if g.Kind() != protoreflect.StringKind {
					continue
				}
				msg := protowire.AppendBytes(protowire.AppendTag(nil, g.Number(), protowire.BytesType), bad)
				b := protowire.AppendTag(nil, f.Number(), protowire.BytesType)
				out = append(out, rawPayload{string(f.Name()) + "." + string(g.Name()), protowire.AppendBytes(b, msg)})
			}
		}
	}
	return out
}

// sendRaw sends one pre-encoded request to method (unary or streaming) and returns the error
// of the call.
func sendRaw(ctx context.Context, conn *grpc.ClientConn, m protoreflect.MethodDescriptor, method string, payload []byte) error {
	var resp []byte
	if !m.IsStreamingClient() && !m.IsStreamingServer() {
		return conn.Invoke(ctx, method, payload, &resp, grpc.ForceCodec(rawCodec{}))
	}
	desc := &grpc.StreamDesc{ServerStreams: m.IsStreamingServer(), ClientStreams: m.IsStreamingClient()}
	s, err := conn.NewStream(ctx, desc, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	if err := s.SendMsg(payload); err != nil {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	for {
		if err := s.RecvMsg(&resp); err != nil {
			return err
		}
	}
}

// TestHostileTextIsData checks the free-text fields whose contract allows any printable text:
// a name that looks like SQL or a spreadsheet formula is a legitimate name (O'Brien, "=^.^="),
// so it is accepted, stored and returned verbatim, and nothing else changes: every query is
// parameterised, and the journal CSV neutralises formulas (package csv).
func TestHostileTextIsData(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("admin", auth.RoleAdmin)
	for _, name := range []string{sqlDrop, formula, "Robert'); DROP TABLE principals;--", "@SUM(1+1)*cmd|' /C calc'!A0", "O'Brien \u202eevil"} {
		before := snapshot(t, e.pool)
		reg, err := e.contributor.RegisterContributor(context.Background(), &v1.RegisterContributorRequest{DisplayName: name})
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if reg.GetContributor().GetDisplayName() != name {
			t.Fatalf("registered as %q, want %q", reg.GetContributor().GetDisplayName(), name)
		}
		created, err := e.admin.CreatePrincipal(admin.ctx(), &v1.CreatePrincipalRequest{Name: name, Role: v1.Role_ROLE_AUDITOR})
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		after := snapshot(t, e.pool)
		for table, b := range before {
			if after[table] != b && table != "principals" && table != "api_keys" {
				t.Errorf("%q changed table %s", name, table)
			}
		}
		var stored []string
		rows, err := e.pool.Query(context.Background(), `SELECT name FROM principals WHERE id = ANY($1::UUID[]) ORDER BY name`,
			[]string{reg.GetContributor().GetId(), created.GetPrincipal().GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if stored, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(stored, []string{name, name}) {
			t.Fatalf("stored %q, want %q twice", stored, name)
		}
	}
}
