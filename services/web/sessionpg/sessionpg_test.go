package sessionpg_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty/auth"
	authpg "github.com/openroyalty/royalty/auth/postgres"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/services/web/sessionpg"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T) (*pgxpool.Pool, *sessionpg.Store, string) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	p, _, _, err := authpg.New(pool).CreatePrincipal(ctx, "ana", auth.RoleContributor)
	if err != nil {
		t.Fatal(err)
	}
	return pool, sessionpg.New(pool), p.ID
}

// newID returns a session id and its SHA-256, as the web app makes them.
func newID(t *testing.T) (id, hash []byte) {
	t.Helper()
	id = make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(id)
	return id, h[:]
}

// TestSessionLifecycle: a session is found after Create, not after its idle time, its absolute
// expiry or its revocation, and revoking one leaves the principal's other sessions alone.
func TestSessionLifecycle(t *testing.T) {
	ctx := context.Background()
	pool, s, pid := open(t)
	lookup := func(hash []byte, idle time.Duration) bool {
		t.Helper()
		got, ok, err := s.Lookup(ctx, hash, idle)
		if err != nil {
			t.Fatal(err)
		}
		if ok && got.PrincipalID != pid {
			t.Fatalf("session of %q, want %q", got.PrincipalID, pid)
		}
		return ok
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}

	_, a := newID(t)
	_, b := newID(t)
	for _, h := range [][]byte{a, b} {
		if err := s.Create(ctx, h, pid, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := s.Lookup(ctx, a, 30*time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lookup of a new session: %v, %v", ok, err)
	}
	if time.Since(got.AuthAt) > time.Minute || time.Until(got.ExpiresAt) < 59*time.Minute {
		t.Errorf("new session: %+v", got)
	}
	_, unknown := newID(t)
	if lookup(unknown, time.Hour) {
		t.Error("an unknown session was found")
	}

	// Idle: unused for 31 minutes, a 30-minute idle timeout ends it; a longer one does not.
	exec(`UPDATE web_sessions SET last_seen_at = now() - interval '31 minutes' WHERE id_hash = $1`, a)
	if lookup(a, 30*time.Minute) {
		t.Error("a session idle for 31 minutes survived a 30-minute idle timeout")
	}
	if !lookup(a, time.Hour) {
		t.Error("a session idle for 31 minutes ended under a 1-hour idle timeout")
	}
	// That Lookup was a use: it is recorded (at most once a minute), so the session is no
	// longer idle.
	if !lookup(a, 30*time.Minute) {
		t.Error("using a session did not record its use")
	}

	// Absolute expiry, however recently used.
	exec(`UPDATE web_sessions SET expires_at = now() - interval '1 second' WHERE id_hash = $1`, a)
	if lookup(a, time.Hour) {
		t.Error("an expired session was found")
	}
	_, c := newID(t)
	if err := s.Create(ctx, c, pid, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if lookup(c, time.Hour) {
		t.Error("a session created already expired was found")
	}

	// Revoke (logout) ends that session only.
	_, d := newID(t)
	if err := s.Create(ctx, d, pid, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, d); err != nil {
		t.Fatal(err)
	}
	if lookup(d, time.Hour) {
		t.Error("a revoked session was found")
	}
	if !lookup(b, time.Hour) {
		t.Error("revoking one session ended another")
	}
	// Reauthenticated on a revoked session does not bring it back.
	if err := s.Reauthenticated(ctx, d); err != nil {
		t.Fatal(err)
	}
	if lookup(d, time.Hour) {
		t.Error("a revoked session was found after Reauthenticated")
	}
}

// TestReauthenticated: entering the key again moves the session's AuthAt to now.
func TestSessionReauthenticated(t *testing.T) {
	ctx := context.Background()
	pool, s, pid := open(t)
	_, h := newID(t)
	if err := s.Create(ctx, h, pid, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE web_sessions SET auth_at = now() - interval '1 hour' WHERE id_hash = $1`, h); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Lookup(ctx, h, time.Hour)
	if err != nil || !ok || time.Since(got.AuthAt) < 59*time.Minute {
		t.Fatalf("before: %+v %v %v", got, ok, err)
	}
	if err := s.Reauthenticated(ctx, h); err != nil {
		t.Fatal(err)
	}
	got, ok, err = s.Lookup(ctx, h, time.Hour)
	if err != nil || !ok || time.Since(got.AuthAt) > time.Minute {
		t.Fatalf("after Reauthenticated: %+v %v %v", got, ok, err)
	}
}

// TestSessionStoresOnlyTheHash: the table holds the id's SHA-256, never the id itself.
func TestSessionStoresOnlyTheHash(t *testing.T) {
	ctx := context.Background()
	pool, s, pid := open(t)
	id, h := newID(t)
	if err := s.Create(ctx, h, pid, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	var row string
	if err := pool.QueryRow(ctx, `SELECT id_hash, (w.*)::TEXT FROM web_sessions w`).Scan(&stored, &row); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, h) {
		t.Errorf("stored id_hash %x, want the SHA-256 %x", stored, h)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM web_sessions WHERE id_hash = $1 OR position($1 in id_hash) > 0`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the raw session id is stored: %s", row)
	}
}

// TestDestinationsAppendOnly: every change is a new row, newest first, with its session.
func TestDestinationsAppendOnly(t *testing.T) {
	ctx := context.Background()
	pool, s, pid := open(t)
	_, h := newID(t)
	for _, d := range []string{"ana@example.org", "DE89370400440532013000"} {
		if err := s.SetDestination(ctx, pid, d, h); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := s.Destinations(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].Destination != "DE89370400440532013000" || ds[1].Destination != "ana@example.org" {
		t.Fatalf("destinations %+v", ds)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM payout_destinations WHERE session_hash = $1`, h).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d rows name the session (%v), want 2", n, err)
	}
}

// TestLoginAttempts: attempts are counted per address and minute in the database, so that two
// stores over the same database (two replicas) share one count; a new minute starts from one;
// minutes before the last are deleted, and no address is stored in clear.
func TestLoginAttempts(t *testing.T) {
	ctx := context.Background()
	pool, a, _ := open(t)
	b := sessionpg.New(pool) // another replica's store
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	count := func(s *sessionpg.Store, addr string, at time.Time, want int) {
		t.Helper()
		n, err := s.LoginAttempt(ctx, addr, at)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("attempt from %s at %s: count %d, want %d", addr, at.Format(time.TimeOnly), n, want)
		}
	}
	count(a, "192.0.2.1", t0, 1)
	count(b, "192.0.2.1", t0.Add(10*time.Second), 2)
	count(a, "192.0.2.1", t0.Add(20*time.Second), 3)
	count(b, "192.0.2.2", t0.Add(20*time.Second), 1)
	count(a, "192.0.2.1", t0.Add(time.Minute), 1) // the next minute
	count(b, "192.0.2.1", t0.Add(time.Minute+time.Second), 2)
	rows := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM web_login_attempts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := rows(); n != 3 {
		t.Fatalf("%d counter rows, want 3 (two minutes)", n)
	}
	count(a, "192.0.2.3", t0.Add(3*time.Minute), 1)
	if n := rows(); n != 1 {
		t.Fatalf("%d counter rows after minutes passed, want 1: old minutes are not deleted", n)
	}
	var clear int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM web_login_attempts WHERE position('192.0.2' IN encode(address_hash, 'escape')) > 0`).Scan(&clear); err != nil || clear != 0 {
		t.Fatalf("an address is stored in clear (%d rows, %v)", clear, err)
	}
}
