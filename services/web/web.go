// Package web serves royalty's web app: server-rendered pages (html/template, embedded with the
// one stylesheet) for the public, contributors, providers, auditors and admins. It is a second
// transport beside the gRPC handlers of package services: it calls the same domain services
// directly, translates form values to domain calls and back, and decides nothing itself; whose
// data a page shows is decided by package access.
//
// People log in with an API key; that starts a server-side session (Sessions, 32 random bytes
// in a cookie, stored as their SHA-256) with an absolute expiry and an idle timeout, revoked on
// logout. The cookie is HttpOnly and SameSite=Lax; under TLS it is Secure and named
// "__Host-royalty_session" (browsers accept the __Host- prefix only on Secure cookies), on
// plain HTTP — a loopback development server — it is named "royalty_session". State-changing
// requests from other origins are refused (http.CrossOriginProtection), every page carries a
// strict Content-Security-Policy without inline script (every page works without JavaScript;
// the one script, static/copy.js, adds a Copy button beside a new API key), and login attempts
// are rate limited per client address, counted in the database so that replicas share the
// count. An API key is never put in a URL or a log line, and is shown only on the page that
// creates it.
package web

import (
	"context"
	"crypto/ed25519"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/journal"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Session is a live web session.
type Session struct {
	PrincipalID string
	// AuthAt is when the API key was last proved in this session: at login, or entered again.
	AuthAt    time.Time
	ExpiresAt time.Time
}

// Destination is one payout destination a contributor entered.
type Destination struct {
	Destination string
	CreatedAt   time.Time
}

// Sessions stores web sessions (by the SHA-256 of their id) and payout destinations
// (services/web/sessionpg).
type Sessions interface {
	// Create stores a new session of principalID ending at expires.
	Create(ctx context.Context, hash []byte, principalID string, expires time.Time) error
	// Lookup returns the session if it is neither expired, revoked nor idle for longer than
	// idle, and records its use.
	Lookup(ctx context.Context, hash []byte, idle time.Duration) (Session, bool, error)
	// Reauthenticated records that the key was entered again in the session.
	Reauthenticated(ctx context.Context, hash []byte) error
	// Revoke ends a session.
	Revoke(ctx context.Context, hash []byte) error
	// SetDestination records a contributor's new payout destination, set in the session.
	SetDestination(ctx context.Context, contributorID, destination string, sessionHash []byte) error
	// Destinations lists a contributor's destinations, newest (the current one) first.
	Destinations(ctx context.Context, contributorID string) ([]Destination, error)
	// LoginAttempt records a login attempt from a client address at now and returns the
	// attempts of that address in now's minute (UTC), this one included, counted across every
	// process that shares the store.
	LoginAttempt(ctx context.Context, address string, now time.Time) (int, error)
}

// Responses reads the model responses stored with usage reports, by transaction id; reports
// without one are absent from the map.
type Responses interface {
	UsageResponses(ctx context.Context, transactionIDs []string) (map[string]string, error)
}

// Journal is the verifiable journal (ledger/journal/postgres.Store).
type Journal interface {
	Latest(ctx context.Context) (journal.Checkpoint, bool, error)
	Checkpoints(ctx context.Context, before uint64, limit int) ([]journal.Checkpoint, uint64, error)
	InclusionProof(ctx context.Context, transactionID string, size uint64) (journal.InclusionProof, error)
	Verify(ctx context.Context, keys journal.Keys) (journal.Summary, error)
	Export(ctx context.Context, since, until time.Time, fn func(*journal.Row) error) error
}

// Deps are the domain services the pages call.
type Deps struct {
	Auth     auth.Store
	Sessions Sessions
	Ledger   ledger.Ledger
	Claims   *claims.Service
	Index    *indexer.Service
	// PostCount returns the number of posts indexed; nil shows none.
	PostCount func() (uint64, error)
	Journal   Journal
	// Responses reads the stored model responses of usage reports (ledger/postgres.Store); nil
	// shows only the credited words the evidence holds, as for reports booked before responses
	// were stored.
	Responses Responses
	// JournalKey is the checkpoint signing key, nil when the server signs nothing;
	// JournalTrusted are earlier keys whose checkpoints still verify.
	JournalKey     ed25519.PublicKey
	JournalTrusted []ed25519.PublicKey
	Logger         *slog.Logger

	// SessionTTL is a session's absolute lifetime (default 12 hours); IdleTimeout ends a
	// session unused for that long (default 30 minutes).
	SessionTTL  time.Duration
	IdleTimeout time.Duration
	// LoginsPerMinute bounds login attempts per client address and minute, across every
	// process sharing Sessions (default 10).
	LoginsPerMinute int
	// ReauthWithin is how recently the key must have been proved in a session (at login, or
	// entered again) for sensitive changes, such as the payout destination (default 10 minutes);
	// older sessions are asked for the key again.
	ReauthWithin time.Duration
	// Now returns the time; time.Now when nil (tests).
	Now func() time.Time
}

// CSP is the Content-Security-Policy of every response.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"

// app is the web app.
type app struct {
	Deps
	pages map[string]*template.Template
}

// New returns the web app's handler.
func New(d Deps) http.Handler {
	if d.SessionTTL == 0 {
		d.SessionTTL = 12 * time.Hour
	}
	if d.IdleTimeout == 0 {
		d.IdleTimeout = 30 * time.Minute
	}
	if d.LoginsPerMinute == 0 {
		d.LoginsPerMinute = 10
	}
	if d.ReauthWithin == 0 {
		d.ReauthWithin = 10 * time.Minute
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	a := &app{Deps: d, pages: parsePages()}
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /search", a.search)
	mux.HandleFunc("GET /post/{id...}", a.post)
	mux.HandleFunc("GET /identity/{key...}", a.identity)
	mux.HandleFunc("GET /transparency", a.transparency)
	mux.HandleFunc("GET /register", a.registerForm)
	mux.HandleFunc("POST /register", a.register)
	mux.HandleFunc("GET /login", a.loginForm)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /me", a.role(a.dashboard, auth.RoleContributor))
	mux.HandleFunc("GET /statement", a.role(a.statement, auth.RoleContributor))
	mux.HandleFunc("GET /proof/{tx}", a.role(a.proof, auth.RoleContributor, auth.RoleAuditor, auth.RoleAdmin))
	mux.HandleFunc("GET /claims", a.role(a.claimsPage, auth.RoleContributor))
	mux.HandleFunc("POST /claims", a.role(a.startClaim, auth.RoleContributor))
	mux.HandleFunc("POST /claims/{id}/check", a.role(a.checkClaim, auth.RoleContributor))
	mux.HandleFunc("POST /claims/link", a.role(a.redeemLinkCode, auth.RoleContributor))
	mux.HandleFunc("GET /payouts", a.role(a.payouts, auth.RoleContributor))
	mux.HandleFunc("POST /payouts/destination", a.role(a.setDestination, auth.RoleContributor))
	mux.HandleFunc("POST /payouts", a.role(a.requestPayout, auth.RoleContributor))
	mux.HandleFunc("GET /keys", a.role(a.keys, auth.Roles...))
	mux.HandleFunc("POST /keys", a.role(a.createKey, auth.Roles...))
	mux.HandleFunc("POST /keys/{id}/revoke", a.role(a.revokeKey, auth.Roles...))
	mux.HandleFunc("GET /audit", a.role(a.audit, auth.RoleAuditor, auth.RoleAdmin))
	mux.HandleFunc("GET /audit/journal.csv", a.role(a.journalCSV, auth.RoleAuditor, auth.RoleAdmin))
	mux.HandleFunc("GET /usage", a.role(a.usage, auth.RoleProvider))
	mux.HandleFunc("POST /usage/{tx}/reverse", a.role(a.reverse, auth.RoleProvider))
	mux.HandleFunc("GET /admin/claims", a.role(a.adminClaims, auth.RoleAdmin))
	mux.HandleFunc("POST /admin/claims/{id}", a.role(a.decideClaim, auth.RoleAdmin))
	mux.HandleFunc("/", a.notFound)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(a.crossOrigin))
	return a.headers(cop.Handler(a.session(mux)))
}

// headers sets the security headers of every response.
func (a *app) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

func (a *app) crossOrigin(w http.ResponseWriter, r *http.Request) {
	a.Logger.Info("refused a cross-origin request", "method", r.Method, "path", r.URL.Path)
	a.fail(w, r, royalty.Errorf(royalty.EPERMISSION, "cross-origin requests that change state are refused"))
}

func (a *app) notFound(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, royalty.Errorf(royalty.ENOTFOUND, "no page at %s", r.URL.Path))
}

// role wraps a handler that needs a logged-in principal of one of roles.
func (a *app) role(h http.HandlerFunc, roles ...auth.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		for _, role := range roles {
			if p.Role == role {
				h(w, r)
				return
			}
		}
		a.fail(w, r, royalty.Errorf(royalty.EPERMISSION, "this page is for %s principals; you are logged in as a %s", roleList(roles), p.Role))
	}
}

func roleList(roles []auth.Role) string {
	s := ""
	for i, r := range roles {
		if i > 0 {
			s += " or "
		}
		s += string(r)
	}
	return s
}

// statusOf maps a domain error to an HTTP status.
func statusOf(err error) int {
	switch royalty.ErrorCode(err) {
	case royalty.EINVALID:
		return http.StatusBadRequest
	case royalty.ENOTFOUND:
		return http.StatusNotFound
	case royalty.EPERMISSION:
		return http.StatusForbidden
	case royalty.EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case royalty.ECONFLICT, royalty.EPRECONDITION:
		return http.StatusConflict
	case royalty.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail renders an error page; internal errors are logged and not shown.
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code == http.StatusInternalServerError && !errors.Is(err, context.Canceled) {
		a.Logger.ErrorContext(r.Context(), "web page failed", "path", r.URL.Path, "err", err)
	}
	a.render(w, r, code, "error", map[string]any{"Status": code, "Message": royalty.ErrorMessage(err)})
}
