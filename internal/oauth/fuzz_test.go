package oauth_test

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzMatchRedirectURI checks MatchRedirectURI against a rule written independently
// of it. For a client with the registered URIs reg1 and reg2 (reg2 only when not
// empty) and the given application type:
//   - with no redirect_uri requested, only a client with one registered URI
//     matches, and it gets that URI;
//   - otherwise a match returns exactly the requested string;
//   - a web client matches only a registered string, byte for byte;
//   - a native client may also match a loopback IP literal http URI that differs
//     from a registered one in the port and nothing else (RFC 8252 §7.3), so the
//     scheme, host, path, query and fragment are never different.
//
// Seeds are in testdata/fuzz/FuzzMatchRedirectURI; crashes found are also named
// cases of TestMatchRedirectURIFound.
func FuzzMatchRedirectURI(f *testing.F) {
	f.Fuzz(func(t *testing.T, reg1, reg2, requested string, native bool) {
		checkMatchRedirectURI(t, reg1, reg2, requested, native)
	})
}

// TestMatchRedirectURIFound replays, by name, what FuzzMatchRedirectURI found; each
// case is also in its seed corpus. A native client's loopback URI may differ from
// the registered one in its port only.
func TestMatchRedirectURIFound(t *testing.T) {
	for _, tc := range []struct {
		name, registered, requested string
	}{
		{"empty query", "http://127.0.0.1/callback", "http://127.0.0.1:5000/callback?"},
		{"empty fragment", "http://127.0.0.1/callback", "http://127.0.0.1:5000/callback#"},
		{"scheme in capitals", "http://127.0.0.1/callback", "HTTP://127.0.0.1:5000/callback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkMatchRedirectURI(t, tc.registered, "", tc.requested, true)
			c := storage.Client{ID: "native", RedirectURIs: []string{tc.registered}, ApplicationType: "native"}
			if got, ok := oauth.MatchRedirectURI(c, tc.requested); ok {
				t.Errorf("MatchRedirectURI(%q) = %q, true; want no match", tc.requested, got)
			}
		})
	}
}

func checkMatchRedirectURI(t *testing.T, reg1, reg2, requested string, native bool) {
	t.Helper()
	registered := []string{reg1}
	if reg2 != "" {
		registered = append(registered, reg2)
	}
	c := storage.Client{ID: "fuzz", RedirectURIs: registered, ApplicationType: "web"}
	if native {
		c.ApplicationType = "native"
	}
	got, ok := oauth.MatchRedirectURI(c, requested)
	if requested == "" {
		want := len(registered) == 1
		if ok != want || (ok && got != registered[0]) {
			t.Fatalf("MatchRedirectURI(%q, %q) = %q, %v; want the only registered URI: %v", registered, requested, got, ok, want)
		}
		return
	}
	exact := slices.Contains(registered, requested)
	if exact && !ok {
		t.Fatalf("MatchRedirectURI(%q, %q) = no match; want the registered URI", registered, requested)
	}
	if !ok {
		return
	}
	if got != requested {
		t.Fatalf("MatchRedirectURI(%q, %q) = %q; want the requested string exactly", registered, requested, got)
	}
	if exact {
		return
	}
	if !native {
		t.Fatalf("MatchRedirectURI(%q, %q) matched a web client's URI that is not registered", registered, requested)
	}
	for _, reg := range registered {
		if sameLoopbackButPort(reg, requested) {
			return
		}
	}
	t.Fatalf("MatchRedirectURI(%q, %q) matched, but the requested URI differs from every registered one in more than the port of a loopback IP literal http URI", registered, requested)
}

// sameLoopbackButPort reports whether a and b are http URIs on the same loopback IP
// literal that are equal, byte for byte, once the port is taken out of each.
func sameLoopbackButPort(a, b string) bool {
	ha, ra, okA := splitLoopbackHTTP(a)
	hb, rb, okB := splitLoopbackHTTP(b)
	return okA && okB && ha == hb && ra == rb
}

// splitLoopbackHTTP splits "http://HOST[:PORT]REST" into the scheme and host part
// and REST (path, query), when HOST is a loopback IP literal, there is no
// userinfo and REST has no fragment.
func splitLoopbackHTTP(s string) (schemeHost, rest string, ok bool) {
	const prefix = "http://"
	if !strings.HasPrefix(strings.ToLower(s), prefix) {
		return "", "", false
	}
	after := s[len(prefix):]
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	authority, rest := after[:end], after[end:]
	if strings.Contains(rest, "#") || strings.Contains(authority, "@") {
		return "", "", false
	}
	host := authority
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		host = authority[:i]
		for _, r := range authority[i+1:] {
			if r < '0' || r > '9' {
				return "", "", false
			}
		}
	}
	literal := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.HasPrefix(host, "[") != strings.HasSuffix(host, "]") || strings.Contains(literal, ":") != strings.HasPrefix(host, "[") {
		return "", "", false
	}
	ip := net.ParseIP(literal)
	if ip == nil || !ip.IsLoopback() {
		return "", "", false
	}
	return s[:len(prefix)] + host, rest, true
}
