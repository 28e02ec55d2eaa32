package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net"
	"net/http"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
)

// Cookie names: the __Host- prefix binds the cookie to the origin (no Domain, Path=/, Secure),
// and browsers accept it only over HTTPS; plain-HTTP loopback development uses the bare name.
const (
	CookieTLS   = "__Host-royalty_session"
	CookiePlain = "royalty_session"
)

func cookieName(r *http.Request) string {
	if r.TLS != nil {
		return CookieTLS
	}
	return CookiePlain
}

type sessionKey struct{}

// sessionHash returns the stored form of the request's session id, or nil.
func sessionHash(r *http.Request) []byte {
	c, err := r.Cookie(cookieName(r))
	if err != nil || len(c.Value) != 43 {
		return nil
	}
	id, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(id) != 32 {
		return nil
	}
	h := sha256.Sum256(id)
	return h[:]
}

// session loads the session's principal into the request context.
func (a *app) session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hash := sessionHash(r)
		if hash == nil {
			next.ServeHTTP(w, r)
			return
		}
		s, ok, err := a.Sessions.Lookup(r.Context(), hash, a.IdleTimeout)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if !ok {
			a.clearCookie(w, r)
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.Auth.GetPrincipal(r.Context(), s.PrincipalID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		ctx := auth.WithPrincipal(r.Context(), p)
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, sessionKey{}, s)))
	})
}

func (a *app) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// startSession creates a session for p and sets its cookie.
func (a *app) startSession(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	h := sha256.Sum256(id)
	expires := a.Now().Add(a.SessionTTL)
	if err := a.Sessions.Create(r.Context(), h[:], p.ID, expires); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(r), Value: base64.RawURLEncoding.EncodeToString(id), Path: "/",
		Expires: expires, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// allowLogin records a login attempt from the request's client address and reports whether it
// is within LoginsPerMinute. The count is kept by Sessions, so every replica shares it.
func (a *app) allowLogin(r *http.Request) (bool, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	n, err := a.Sessions.LoginAttempt(r.Context(), host, a.Now())
	return n <= a.LoginsPerMinute, err
}

func (a *app) loginForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "login", nil)
}

// login exchanges an API key for a session. The key arrives in the POST body only.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	ok, err := a.allowLogin(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !ok {
		w.Header().Set("Retry-After", "60")
		a.render(w, r, http.StatusTooManyRequests, "login", map[string]any{"Error": "Too many login attempts from your address; wait a minute."})
		return
	}
	key := r.PostFormValue("key")
	p, err := a.Auth.Authenticate(r.Context(), key)
	if err != nil {
		msg := "That key is not valid."
		if royalty.ErrorCode(err) != royalty.EUNAUTHENTICATED {
			a.fail(w, r, err)
			return
		}
		a.render(w, r, http.StatusUnauthorized, "login", map[string]any{"Error": msg})
		return
	}
	if hash := sessionHash(r); hash != nil { // a fresh id on every login
		_ = a.Sessions.Revoke(r.Context(), hash)
	}
	if err := a.startSession(w, r, p); err != nil {
		a.fail(w, r, err)
		return
	}
	a.Logger.InfoContext(r.Context(), "web login", "principal", p.ID, "role", p.Role)
	http.Redirect(w, r, landing(p.Role), http.StatusSeeOther)
}

// landing is the first page of a role.
func landing(role auth.Role) string {
	switch role {
	case auth.RoleContributor:
		return "/me"
	case auth.RoleProvider:
		return "/usage"
	case auth.RoleAuditor:
		return "/audit"
	case auth.RoleAdmin:
		return "/admin/claims"
	}
	return "/"
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if hash := sessionHash(r); hash != nil {
		if err := a.Sessions.Revoke(r.Context(), hash); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	a.clearCookie(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// render executes a page into a buffer, so that a failing template sends a clean error.
func (a *app) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	t, ok := a.pages[page]
	if !ok {
		panic("web: no page " + page)
	}
	p, _ := auth.FromContext(r.Context())
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", view{Me: p, Data: data, Path: r.URL.Path}); err != nil {
		a.Logger.ErrorContext(r.Context(), "rendering a page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if p.ID != "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// view is what every template gets.
type view struct {
	Me   auth.Principal
	Data any
	Path string
}

func parsePages() map[string]*template.Template {
	names, err := templateFS.ReadDir("templates")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := n.Name()
		if name == "layout.html" {
			continue
		}
		t := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name))
		out[name[:len(name)-len(".html")]] = t
	}
	return out
}
