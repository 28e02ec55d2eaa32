package claims

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/openroyalty/royalty"
)

// identityHint ends the messages of keys that no proof could ever verify.
const identityHint = "give the identity key as platform:site/author_id (for example stackexchange:bicycles/42, " +
	"stackexchange:stackoverflow/123, hn:/pg, reddit:/spez) or the URL of the profile page " +
	"(https://bicycles.stackexchange.com/users/42/name, https://news.ycombinator.com/user?id=pg, https://www.reddit.com/user/spez)"

// seDomains are the Stack Exchange sites with their own domain; every other site lives under
// stackexchange.com. Site names are the host without ".stackexchange.com", ".com" or ".net",
// as the indexer names them (indexer/stackexchange.SiteFromFolder): bicycles.stackexchange.com
// is "bicycles", meta.stackoverflow.com "meta.stackoverflow".
var seDomains = []string{"stackoverflow.com", "superuser.com", "serverfault.com", "askubuntu.com", "stackapps.com", "mathoverflow.net"}

// NormalizeIdentityKey returns the canonical identity key for what a claimant gave: an identity
// key, or the URL of a profile page on Stack Exchange, Hacker News or Reddit. A key that no
// proof could ever match (a Stack Exchange user given by name, a site given as a host, a Reddit
// name with "u/") is normalised or refused with a hint, so that no claim waits forever.
// Errors: EINVALID naming field.
func NormalizeIdentityKey(field, in string) (string, error) {
	s := strings.TrimSpace(in)
	lower := strings.ToLower(s)
	var key string
	var err error
	switch {
	case strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://"):
		key, err = keyFromURL(field, s)
	case !strings.Contains(s, ":") && strings.Contains(s, "/") && strings.Contains(s[:strings.IndexByte(s, '/')], "."):
		// A URL without its scheme: stackoverflow.com/users/123.
		key, err = keyFromURL(field, "https://"+s)
	default:
		key, err = canonicalKey(field, s)
	}
	if err != nil {
		return "", err
	}
	if err := ValidateIdentityKey(field, key); err != nil {
		return "", err
	}
	return key, nil
}

func refuse(field, format string, args ...any) error {
	return royalty.FieldErrorf(royalty.EINVALID, field, format+"; "+identityHint, args...)
}

// canonicalKey normalises a key on the platforms whose ids the indexer knows.
func canonicalKey(field, key string) (string, error) {
	if err := ValidateIdentityKey(field, key); err != nil {
		return "", err
	}
	platform, rest, _ := strings.Cut(key, ":")
	site, local, _ := strings.Cut(rest, "/")
	switch platform {
	case "stackexchange":
		if strings.Contains(site, ".") || site != strings.ToLower(site) {
			if s, ok := seSite(strings.ToLower(site)); ok {
				site = s
			} else if !ValidSite(strings.ToLower(site)) {
				return "", refuse(field, "%q is not a Stack Exchange site", site)
			} else {
				site = strings.ToLower(site)
			}
		}
		if site == "" || !ValidSite(site) {
			return "", refuse(field, "a Stack Exchange identity needs a site such as bicycles or stackoverflow")
		}
		if !ValidUserID(local) {
			return "", refuse(field, "Stack Exchange identities are numeric user ids per site, not %q", local)
		}
		return "stackexchange:" + site + "/" + local, nil
	case "hn":
		if site != "" && site != "news.ycombinator.com" {
			return "", refuse(field, "Hacker News identities have no site")
		}
		if !ValidUserName(local) {
			return "", refuse(field, "%q is not a Hacker News user name", local)
		}
		return "hn:/" + local, nil
	case "reddit":
		if site != "" && site != "reddit.com" && site != "www.reddit.com" {
			return "", refuse(field, "Reddit identities have no site (the subreddit is not part of it)")
		}
		for _, p := range []string{"u/", "user/", "/u/", "/user/"} {
			local = strings.TrimPrefix(local, p)
		}
		if !ValidUserName(local) {
			return "", refuse(field, "%q is not a Reddit user name", local)
		}
		return "reddit:/" + local, nil
	}
	return key, nil
}

// keyFromURL reads the identity key out of a profile URL.
func keyFromURL(field, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", refuse(field, "%q is not a URL", raw)
	}
	host := strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
	segs := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	switch {
	case host == "news.ycombinator.com":
		id := u.Query().Get("id")
		if (u.Path != "/user" && u.Path != "/submitted" && u.Path != "/threads") || !ValidUserName(id) {
			return "", refuse(field, "a Hacker News profile URL is https://news.ycombinator.com/user?id=NAME")
		}
		return "hn:/" + id, nil
	case host == "reddit.com" || strings.HasSuffix(host, ".reddit.com"):
		if len(segs) < 2 || (segs[0] != "user" && segs[0] != "u") || !ValidUserName(segs[1]) {
			return "", refuse(field, "a Reddit profile URL is https://www.reddit.com/user/NAME")
		}
		return "reddit:/" + segs[1], nil
	}
	site, ok := seSite(host)
	if !ok {
		if host == "stackexchange.com" {
			return "", refuse(field, "%s is a network-wide profile; give the profile URL on one site, such as https://bicycles.stackexchange.com/users/42", raw)
		}
		return "", refuse(field, "%s is not a profile on Stack Exchange, Hacker News or Reddit", host)
	}
	if len(segs) < 2 || (segs[0] != "users" && segs[0] != "u") || !ValidUserID(segs[1]) {
		return "", refuse(field, "a Stack Exchange profile URL is https://%s/users/NUMBER/name", host)
	}
	return "stackexchange:" + site + "/" + segs[1], nil
}

// seSite returns the site name of a Stack Exchange host.
func seSite(host string) (string, bool) {
	if s, ok := strings.CutSuffix(host, ".stackexchange.com"); ok && ValidSite(s) {
		return s, true
	}
	for _, d := range seDomains {
		if host == d || strings.HasSuffix(host, "."+d) {
			s := strings.TrimSuffix(strings.TrimSuffix(host, ".com"), ".net")
			return s, ValidSite(s)
		}
	}
	return "", false
}

// ValidSite reports whether s can name a Stack Exchange site: lower-case letters, digits, dots and
// dashes, as in "bicycles" or "meta.stackoverflow".
func ValidSite(s string) bool {
	if s == "" || len(s) > 100 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// ValidUserName accepts Hacker News and Reddit user names: letters, digits, '_' and '-'.
func ValidUserName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// ValidUserID accepts a numeric user id (Stack Exchange): a positive integer, written canonically.
func ValidUserID(s string) bool {
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n > 0 && strconv.FormatInt(n, 10) == s
}
