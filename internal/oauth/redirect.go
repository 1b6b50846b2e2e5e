package oauth

import (
	"net"
	"net/url"

	"github.com/gatehouse-id/gatehouse/storage"
)

// MatchRedirectURI returns the registered redirect URI that requested names, and
// whether there is one. Matching is by exact string (RFC 6749 §3.1.2.3; RFC 9700
// §4.1.3), with one exception: for native applications a loopback IP literal URI
// matches a registered one on any port (RFC 8252 §7.3). With no redirect_uri
// requested, a client with exactly one registered URI gets that one.
func MatchRedirectURI(c storage.Client, requested string) (string, bool) {
	if requested == "" {
		if len(c.RedirectURIs) == 1 {
			return c.RedirectURIs[0], true
		}
		return "", false
	}
	for _, registered := range c.RedirectURIs {
		if registered == requested {
			return requested, true
		}
	}
	if c.ApplicationType != "native" {
		return "", false
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || !isLoopbackIP(req.Hostname()) {
		return "", false
	}
	for _, registered := range c.RedirectURIs {
		reg, err := url.Parse(registered)
		if err != nil || reg.Scheme != "http" || !isLoopbackIP(reg.Hostname()) {
			continue
		}
		if reg.Hostname() == req.Hostname() && reg.EscapedPath() == req.EscapedPath() && reg.RawQuery == req.RawQuery && req.Fragment == "" && req.User == nil {
			return requested, true
		}
	}
	return "", false
}

// isLoopbackIP accepts only IP literals: RFC 8252 §8.3 advises against "localhost".
func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
