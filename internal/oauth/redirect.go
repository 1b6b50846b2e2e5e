package oauth

import (
	"net"
	"net/url"
	"strings"

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
		// Only the port may differ; the rest is compared byte for byte, so that an
		// empty "?" or "#" or a scheme in capitals is not waved through.
		if reg.Hostname() == req.Hostname() && withoutPort(registered) == withoutPort(requested) && !strings.Contains(requested, "#") && req.User == nil {
			return requested, true
		}
	}
	return "", false
}

// withoutPort returns raw, a URI with an authority, with the port taken out of the
// authority and nothing else changed.
func withoutPort(raw string) string {
	i := strings.Index(raw, "//")
	if i < 0 {
		return raw
	}
	rest := raw[i+2:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host := rest[:end]
	if j := strings.LastIndexByte(host, ':'); j >= 0 && !strings.Contains(host[j:], "]") {
		host = host[:j]
	}
	return raw[:i+2] + host + rest[end:]
}

// isLoopbackIP accepts only IP literals: RFC 8252 §8.3 advises against "localhost".
func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
