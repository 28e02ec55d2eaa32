package profile_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/claims/profile"
)

const token = "royalty-claim-abcdefghij0123456789"

// recorded serves the recorded pages with {{about}} and {{post_title}} filled in, and counts
// the requests.
type recorded struct {
	*httptest.Server
	hits      atomic.Int32
	about     string
	postTitle string
}

func serve(t *testing.T, about, postTitle string) *recorded {
	t.Helper()
	r := &recorded{about: about, postTitle: postTitle}
	page := func(name string) string {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.NewReplacer("{{about}}", r.about, "{{post_title}}", r.postTitle).Replace(string(b))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/se/{site}/users/{id}", func(w http.ResponseWriter, req *http.Request) {
		if req.PathValue("site") != "bicycles.stackexchange.com" || req.PathValue("id") != "42" {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write([]byte(page("stackexchange_user.html")))
	})
	mux.HandleFunc("/hn/user", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Query().Get("id") != "ana" {
			_, _ = w.Write([]byte("No such user."))
			return
		}
		_, _ = w.Write([]byte(page("hackernews_user.html")))
	})
	mux.HandleFunc("/reddit/user/{name}/about.json", func(w http.ResponseWriter, req *http.Request) {
		if req.PathValue("name") != "ana" {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(page("reddit_about.json")))
	})
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		mux.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

// only admits exactly the address of s, as a test's exception to the dialer's guard.
func only(s *httptest.Server) func(netip.AddrPort) bool {
	want := netip.MustParseAddrPort(s.Listener.Addr().String())
	return func(ap netip.AddrPort) bool { return ap == want }
}

func fetchers(t *testing.T, s *recorded, mod func(*profile.Config)) *profile.Fetchers {
	t.Helper()
	cfg := profile.Config{
		StackExchangeURL: s.URL + "/se/{host}/users/{id}",
		HackerNewsURL:    s.URL + "/hn/user?id={id}",
		RedditURL:        s.URL + "/reddit/user/{id}/about.json",
		AllowAddress:     only(s.Server),
		Timeout:          5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	f, err := profile.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFetchRecordedProfiles(t *testing.T) {
	s := serve(t, "Claiming: "+token, "Cleaning a chain")
	f := fetchers(t, s, nil)
	for _, tt := range []struct{ key, want string }{
		{"stackexchange:bicycles/42", "I fix wheels and ride to work all year. Claiming: " + token},
		{"hn:/ana", "Wheels, chains and Go. Claiming: " + token},
		{"reddit:/ana", "Bike commuter. Claiming: " + token},
	} {
		got, err := f.Fetch(context.Background(), tt.key)
		if err != nil || got != tt.want {
			t.Errorf("Fetch(%s) = %q, %v; want %q", tt.key, got, err, tt.want)
		}
		loc, err := f.Locate(tt.key)
		if err != nil || loc.URL == "" || loc.Where == "" {
			t.Errorf("Locate(%s) = %+v, %v", tt.key, loc, err)
		}
	}
	if _, err := f.Fetch(context.Background(), "hn:/nobody"); royalty.ErrorCode(err) != royalty.EUNAVAILABLE || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("unknown HN user: %v", err)
	}
	if _, err := f.Fetch(context.Background(), "reddit:/nobody"); royalty.ErrorCode(err) != royalty.ENOTFOUND {
		t.Errorf("unknown Reddit user: %v", err)
	}
}

// TestPostTitlesOnTheProfileDoNotCount: a profile page also shows the user's posts, whose titles
// others can edit; only the about me is the identity's own.
func TestPostTitlesOnTheProfileDoNotCount(t *testing.T) {
	s := serve(t, "", "Cleaning a chain "+token)
	got, err := fetchers(t, s, nil).Fetch(context.Background(), "stackexchange:bicycles/42")
	if err != nil || strings.Contains(got, token) {
		t.Fatalf("Fetch = %q, %v; the token in a post title must not count", got, err)
	}
}

func TestLocate(t *testing.T) {
	f, err := profile.New(profile.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"stackexchange:bicycles/42":          "https://bicycles.stackexchange.com/users/42",
		"stackexchange:stackoverflow/123":    "https://stackoverflow.com/users/123",
		"stackexchange:meta.stackoverflow/7": "https://meta.stackoverflow.com/users/7",
		"stackexchange:mathoverflow/7":       "https://mathoverflow.net/users/7",
		"stackexchange:bicycles.meta/7":      "https://bicycles.meta.stackexchange.com/users/7",
		"hn:/pg":                             "https://news.ycombinator.com/user?id=pg",
		"reddit:/spez":                       "https://www.reddit.com/user/spez",
	} {
		loc, err := f.Locate(key)
		if err != nil || loc.URL != want {
			t.Errorf("Locate(%s) = %+v, %v; want %s", key, loc, err, want)
		}
	}
	for key, code := range map[string]string{
		"forum:s/ana":                      royalty.EUNIMPLEMENTED,
		"stackexchange:bicycles/ana":       royalty.EINVALID,
		"stackexchange:169.254.169.254#/1": royalty.EINVALID,
		"stackexchange:evil.com@x/1":       royalty.EINVALID,
		"hn:/a?b":                          royalty.EINVALID,
		"reddit:/../../admin":              royalty.EINVALID,
	} {
		if _, err := f.Locate(key); royalty.ErrorCode(err) != code {
			t.Errorf("Locate(%s): %v, want %s", key, err, code)
		}
	}
}

// TestRefusesInternalAddresses: a configured URL on an internal address is refused at dial
// time, before connecting, unless the test's exception admits it.
func TestRefusesInternalAddresses(t *testing.T) {
	s := serve(t, token, "")
	// The recorded-page server itself, without the exception: loopback is refused.
	f := fetchers(t, s, func(c *profile.Config) { c.AllowAddress = nil })
	if _, err := f.Fetch(context.Background(), "hn:/ana"); royalty.ErrorCode(err) != royalty.EUNAVAILABLE || !strings.Contains(err.Error(), "not a public address") {
		t.Fatalf("fetch from loopback: %v", err)
	}
	if n := s.hits.Load(); n != 0 {
		t.Fatalf("the loopback server was reached %d times", n)
	}
	// A private address: refused by the dialer's Control hook, before any packet is sent.
	f = fetchers(t, s, func(c *profile.Config) { c.HackerNewsURL = "http://10.0.0.1:9/user?id={id}" })
	start := time.Now()
	if _, err := f.Fetch(context.Background(), "hn:/ana"); royalty.ErrorCode(err) != royalty.EUNAVAILABLE || !strings.Contains(err.Error(), "10.0.0.1 is not a public address") {
		t.Fatalf("fetch from 10.0.0.1: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("refusing took %v: it must not try to connect", d)
	}
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
		"::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "64:ff9b::a00:1", "224.0.0.1"} {
		if profile.Public(netip.MustParseAddr(a)) {
			t.Errorf("%s counts as public", a)
		}
	}
	for _, a := range []string{"151.101.1.69", "2606:4700::1"} {
		if !profile.Public(netip.MustParseAddr(a)) {
			t.Errorf("%s counts as internal", a)
		}
	}
}

// TestRedirectsAreGuarded: a redirect to another host of no source is refused before it is
// followed, and one to an internal address is refused at dial time.
func TestRedirectsAreGuarded(t *testing.T) {
	var internalHits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		_, _ = w.Write([]byte(`{"kind": "t2", "data": {"subreddit": {"public_description": "` + token + `"}}}`))
	}))
	defer internal.Close()
	for name, target := range map[string]string{
		"other host":       "http://metadata.internal/latest",
		"link-local":       "http://169.254.169.254/latest/meta-data/",
		"loopback service": internal.URL + "/",
	} {
		t.Run(name, func(t *testing.T) {
			redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target, http.StatusFound)
			}))
			defer redirector.Close()
			f, err := profile.New(profile.Config{RedditURL: redirector.URL + "/user/{id}/about.json", AllowAddress: only(redirector), Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Fetch(context.Background(), "reddit:/ana"); royalty.ErrorCode(err) != royalty.EUNAVAILABLE {
				t.Fatalf("redirect to %s: %v", target, err)
			}
		})
	}
	if n := internalHits.Load(); n != 0 {
		t.Fatalf("the internal service was reached %d times", n)
	}
}

func TestSizeLimit(t *testing.T) {
	s := serve(t, strings.Repeat("long ", 2000)+token, "")
	f := fetchers(t, s, func(c *profile.Config) { c.MaxBytes = 4096 })
	if _, err := f.Fetch(context.Background(), "hn:/ana"); royalty.ErrorCode(err) != royalty.EUNAVAILABLE || !strings.Contains(err.Error(), "larger than 4096 bytes") {
		t.Fatalf("oversized page: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer slow.Close()
	f, err := profile.New(profile.Config{HackerNewsURL: slow.URL + "/user?id={id}", AllowAddress: only(slow), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := f.Fetch(context.Background(), "hn:/ana"); royalty.ErrorCode(err) != royalty.EUNAVAILABLE {
		t.Fatalf("slow server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the fetch took %v despite a 200ms timeout", d)
	}
}

func TestRateLimit(t *testing.T) {
	s := serve(t, token, "")
	f := fetchers(t, s, func(c *profile.Config) { c.Rate, c.Burst, c.MaxWait = 0.001, 2, 10*time.Millisecond })
	for i := range 2 {
		if _, err := f.Fetch(context.Background(), "hn:/ana"); err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
	}
	if _, err := f.Fetch(context.Background(), "hn:/ana"); royalty.ErrorCode(err) != royalty.ERESOURCE {
		t.Fatalf("third fetch: %v, want ERESOURCE", err)
	}
	// Each source has its own bucket.
	if _, err := f.Fetch(context.Background(), "reddit:/ana"); err != nil {
		t.Fatalf("another source: %v", err)
	}
	if n := s.hits.Load(); n != 3 {
		t.Fatalf("server saw %d requests, want 3", n)
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"ftp://x/{id}", "https://x/nouser", "://bad"} {
		if _, err := profile.New(profile.Config{HackerNewsURL: u}); err == nil {
			t.Errorf("New accepted %q", u)
		}
	}
}

var _ = net.IPv4len
