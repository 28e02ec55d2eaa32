// Package profile reads the public profile text of identities on Stack Exchange, Hacker News
// and Reddit, for claims proved by profile (claims.ProfileFetcher): the "about me" of
// https://{site}/users/{id}, the "about" of https://news.ycombinator.com/user?id={name}, the
// public_description of https://www.reddit.com/user/{name}/about.json. The URLs are
// configuration (Config), so that a deployment can point them at a mirror and tests at a local
// server with recorded pages.
//
// A claimant chooses the identity key, hence the URL that is fetched, so every fetch is
// guarded as untrusted outbound traffic:
//   - the URL and every redirect must name one of the source's own hosts (its default domains
//     and the host of its configured URL), over http or https;
//   - the dialer refuses loopback, private, link-local, multicast and other non-public
//     addresses at connect time, after name resolution (so DNS cannot point a permitted host
//     at an internal address), before any packet is sent; no proxy is used;
//   - a fetch has a deadline, reads at most MaxBytes of the body, and each source is rate
//     limited (a fetch waits at most MaxWait for its turn, then fails with ERESOURCE).
package profile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/claims"
)

// Defaults of Config.
const (
	DefaultStackExchangeURL = "https://{host}/users/{id}"
	DefaultHackerNewsURL    = "https://news.ycombinator.com/user?id={id}"
	DefaultRedditURL        = "https://www.reddit.com/user/{id}/about.json"
	DefaultTimeout          = 10 * time.Second
	DefaultMaxBytes         = 2 << 20
	DefaultRate             = 1.0 // fetches per second per source
	DefaultBurst            = 5
	DefaultMaxWait          = 2 * time.Second
)

// Config configures the fetchers. Zero fields take the defaults.
type Config struct {
	// StackExchangeURL is the profile page of a Stack Exchange user: {host} is replaced by the
	// site's host (bicycles.stackexchange.com, stackoverflow.com), {site} by the site name,
	// {id} by the user id.
	StackExchangeURL string
	// HackerNewsURL is the profile page of a Hacker News user; {id} is the user name.
	HackerNewsURL string
	// RedditURL is the about.json of a Reddit user; {id} is the user name.
	RedditURL string
	// Timeout bounds one fetch, redirects and body included.
	Timeout time.Duration
	// MaxBytes bounds the body read; a larger page fails with EUNAVAILABLE.
	MaxBytes int64
	// Rate and Burst limit the fetches per source (a token bucket).
	Rate  float64
	Burst int
	// MaxWait is how long a fetch waits for the rate limiter before failing with ERESOURCE.
	MaxWait time.Duration
	// UserAgent is sent with every request.
	UserAgent string
	// AllowAddress admits addresses the dialer otherwise refuses (loopback, private, …). Tests
	// set it to admit their local server; leave it nil in production.
	AllowAddress func(netip.AddrPort) bool
}

// source is one platform's fetcher.
type source struct {
	platform string
	template string
	hosts    []string // allowed hosts and, with a leading ".", domain suffixes
	where    string
	locate   func(site, id string) (map[string]string, error)
	parse    func([]byte) (string, error)
	limiter  *rate.Limiter
}

// Fetchers reads profiles of the three platforms. It implements claims.ProfileFetcher and is
// safe for concurrent use.
type Fetchers struct {
	cfg     Config
	client  *http.Client
	sources map[string]*source
}

var _ claims.ProfileFetcher = (*Fetchers)(nil)

// errRefused marks a connection or redirect refused by the guards.
var errRefused = errors.New("refused")

// New returns the fetchers. It fails on a configured URL that is not http(s) or lacks {id}.
func New(cfg Config) (*Fetchers, error) {
	if cfg.StackExchangeURL == "" {
		cfg.StackExchangeURL = DefaultStackExchangeURL
	}
	if cfg.HackerNewsURL == "" {
		cfg.HackerNewsURL = DefaultHackerNewsURL
	}
	if cfg.RedditURL == "" {
		cfg.RedditURL = DefaultRedditURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "royalty-claims/1 (profile proof check)"
	}
	f := &Fetchers{cfg: cfg, sources: map[string]*source{}}
	for _, s := range []*source{
		{platform: "stackexchange", template: cfg.StackExchangeURL, where: `the "About me" of your profile (Edit profile & settings)`,
			hosts: []string{".stackexchange.com", "stackexchange.com", ".stackoverflow.com", "stackoverflow.com", "superuser.com", ".superuser.com",
				"serverfault.com", ".serverfault.com", "askubuntu.com", ".askubuntu.com", "stackapps.com", ".stackapps.com", "mathoverflow.net", ".mathoverflow.net"},
			locate: locateStackExchange, parse: ParseStackExchangeProfile},
		{platform: "hn", template: cfg.HackerNewsURL, where: `the "about" field of your Hacker News profile`,
			hosts: []string{"news.ycombinator.com"}, locate: locateName, parse: ParseHackerNewsProfile},
		{platform: "reddit", template: cfg.RedditURL, where: `the "About" description of your Reddit profile (Settings, Profile)`,
			hosts: []string{"www.reddit.com", "reddit.com", "old.reddit.com"}, locate: locateName, parse: ParseRedditProfile},
	} {
		u, err := url.Parse(strings.NewReplacer("{host}", "h.invalid", "{site}", "s", "{id}", "1").Replace(s.template))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.Contains(s.template, "{id}") {
			return nil, fmt.Errorf("profile URL of %s %q: want an http(s) URL with {id}", s.platform, s.template)
		}
		if h := strings.ToLower(u.Hostname()); !strings.Contains(h, "h.invalid") {
			// A configured host of its own (a mirror, a test server) is one of the source's hosts.
			s.hosts = append(s.hosts, h)
		}
		s.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)
		f.sources[s.platform] = s
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: f.control}
	transport := &http.Transport{
		Proxy:                  nil, // a proxy would connect on our behalf, past the dialer's guard
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           10,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	f.client = &http.Client{Transport: transport, Timeout: cfg.Timeout, CheckRedirect: f.checkRedirect}
	return f, nil
}

// control runs after name resolution and before connecting.
func (f *Fetchers) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address %q", errRefused, address)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if f.cfg.AllowAddress != nil && f.cfg.AllowAddress(ap) {
		return nil
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", errRefused, ap.Addr())
	}
	return nil
}

// blocked are address ranges that are not public besides what netip's predicates cover.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64: could reach any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"), // 6to4
	netip.MustParsePrefix("2001::/32"), // Teredo
}

// Public reports whether an address is a public unicast address that a profile fetch may
// connect to.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

func (f *Fetchers) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return fmt.Errorf("%w: more than 3 redirects", errRefused)
	}
	s, _ := req.Context().Value(sourceKey{}).(*source)
	if s == nil || !s.allowed(req.URL) {
		return fmt.Errorf("%w: redirect to %s, which is not a host of the source", errRefused, req.URL.Redacted())
	}
	return nil
}

type sourceKey struct{}

func (s *source) allowed(u *url.URL) bool {
	if u.Scheme != "http" && u.Scheme != "https" || u.User != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range s.hosts {
		if host == h || strings.HasPrefix(h, ".") && strings.HasSuffix(host, h) {
			return true
		}
	}
	return false
}

func (f *Fetchers) resolve(identityKey string) (*source, string, error) {
	platform, rest, ok := strings.Cut(identityKey, ":")
	site, id, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return nil, "", royalty.FieldErrorf(royalty.EINVALID, "identity_key", "%q: want platform:site/id", identityKey)
	}
	s := f.sources[platform]
	if s == nil {
		return nil, "", royalty.Errorf(royalty.EUNIMPLEMENTED, "no profile proof on platform %q: publish the challenge in a comment instead", platform)
	}
	vars, err := s.locate(site, id)
	if err != nil {
		return nil, "", err
	}
	pairs := []string{}
	for k, v := range vars {
		pairs = append(pairs, "{"+k+"}", v)
	}
	raw := strings.NewReplacer(pairs...).Replace(s.template)
	u, err := url.Parse(raw)
	if err != nil || !s.allowed(u) {
		return nil, "", royalty.FieldErrorf(royalty.EINVALID, "identity_key", "%q does not name a profile on %s", identityKey, platform)
	}
	return s, u.String(), nil
}

// Locate implements claims.ProfileFetcher.
func (f *Fetchers) Locate(identityKey string) (claims.ProfileLocation, error) {
	s, u, err := f.resolve(identityKey)
	if err != nil {
		return claims.ProfileLocation{}, err
	}
	if s.platform == "reddit" {
		// The page people see, not the JSON read.
		_, name, _ := strings.Cut(identityKey, "/")
		return claims.ProfileLocation{URL: "https://www.reddit.com/user/" + name, Where: s.where}, nil
	}
	return claims.ProfileLocation{URL: u, Where: s.where}, nil
}

// Fetch implements claims.ProfileFetcher.
func (f *Fetchers) Fetch(ctx context.Context, identityKey string) (string, error) {
	s, u, err := f.resolve(identityKey)
	if err != nil {
		return "", err
	}
	r := s.limiter.Reserve()
	if d := r.Delay(); d > f.cfg.MaxWait {
		r.Cancel()
		return "", royalty.Errorf(royalty.ERESOURCE, "profile checks on %s are rate limited: try again in a few seconds", s.platform)
	} else if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			r.Cancel()
			return "", ctx.Err()
		case <-t.C:
		}
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, sourceKey{}, s), f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", royalty.Errorf(royalty.EINVALID, "profile URL %s: %v", u, err)
	}
	req.Header.Set("User-Agent", f.cfg.UserAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, errRefused) {
			return "", royalty.Errorf(royalty.EUNAVAILABLE, "reading %s: %v", u, errors.Unwrap(err))
		}
		return "", royalty.Errorf(royalty.EUNAVAILABLE, "reading %s failed: %v", u, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", royalty.FieldErrorf(royalty.ENOTFOUND, "identity_key", "no profile at %s", u)
	case resp.StatusCode != http.StatusOK:
		return "", royalty.Errorf(royalty.EUNAVAILABLE, "reading %s: HTTP status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.cfg.MaxBytes+1))
	if err != nil {
		return "", royalty.Errorf(royalty.EUNAVAILABLE, "reading %s failed: %v", u, err)
	}
	if int64(len(body)) > f.cfg.MaxBytes {
		return "", royalty.Errorf(royalty.EUNAVAILABLE, "the page at %s is larger than %d bytes", u, f.cfg.MaxBytes)
	}
	text, err := s.parse(body)
	if err != nil {
		return "", royalty.Errorf(royalty.EUNAVAILABLE, "the page at %s: %v", u, err)
	}
	return text, nil
}

// seDomains are the Stack Exchange sites with their own domain (indexer/stackexchange.Host).
var seDomains = map[string]string{"stackoverflow": ".com", "superuser": ".com", "serverfault": ".com", "askubuntu": ".com",
	"stackapps": ".com", "mathoverflow": ".net"}

func locateStackExchange(site, id string) (map[string]string, error) {
	if !claims.ValidSite(site) || !claims.ValidUserID(id) {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "identity_key", "stackexchange:%s/%s is not a Stack Exchange user", site, id)
	}
	host := site + ".stackexchange.com"
	main := site
	if i := strings.LastIndexByte(site, '.'); i >= 0 {
		main = site[i+1:] // meta.stackoverflow, ru.stackoverflow
	}
	if tld, ok := seDomains[main]; ok {
		host = site + tld
	}
	return map[string]string{"host": host, "site": site, "id": id}, nil
}

func locateName(site, id string) (map[string]string, error) {
	if site != "" || !claims.ValidUserName(id) {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "identity_key", "%q is not a user name", id)
	}
	return map[string]string{"id": id}, nil
}
