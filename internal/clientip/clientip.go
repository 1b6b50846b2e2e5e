package clientip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrusted reads trusted proxies as the configuration writes them: CIDRs
// ("10.0.0.0/8", "2001:db8::/32") or single addresses ("192.0.2.7"). IPv4
// addresses written as IPv4-mapped IPv6 are taken as IPv4. It names the first
// entry it cannot read.
func ParseTrusted(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			a := p.Addr()
			bits := p.Bits()
			if a.Is4In6() {
				a, bits = a.Unmap(), max(bits-96, 0)
			}
			out = append(out, netip.PrefixFrom(a.WithZone(""), bits).Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %d: %q is neither a CIDR nor an IP address", i, s)
		}
		a = canonical(a)
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Resolver finds the client address of requests. Build it with NewResolver;
// the zero value trusts no proxy. It is safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
}

// NewResolver returns a Resolver that reads forwarding headers only from peers
// in trusted.
func NewResolver(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: append([]netip.Prefix(nil), trusted...)}
}

// Resolve returns the address of the client that sent r: the TCP peer, or,
// when the peer is a trusted proxy, the right-most address in its forwarding
// header that is not itself a trusted proxy (see the package documentation for
// the rules). It returns the zero Addr when even the peer's address cannot be
// read (a request not from a TCP connection).
func (res *Resolver) Resolve(r *http.Request) netip.Addr {
	peer := parseNode(r.RemoteAddr)
	if !peer.IsValid() || !res.isTrusted(peer) {
		return peer
	}
	xff, hasXFF := forwardedFor(r.Header.Values("X-Forwarded-For"))
	fwd, hasFwd := forwarded(r.Header.Values("Forwarded"))
	switch {
	case hasXFF && hasFwd:
		a, b := res.walk(peer, xff), res.walk(peer, fwd)
		if a == b {
			return a
		}
		return peer
	case hasXFF:
		return res.walk(peer, xff)
	case hasFwd:
		return res.walk(peer, fwd)
	}
	return peer
}

// walk goes through chain (client first, nearest proxy last) from the right and
// returns the first address that is not a trusted proxy. An unreadable entry
// ends the walk at the proxy that reported it; a chain of trusted proxies only
// ends at its left-most address.
func (res *Resolver) walk(peer netip.Addr, chain []netip.Addr) netip.Addr {
	last := peer
	for i := len(chain) - 1; i >= 0; i-- {
		a := chain[i]
		if !a.IsValid() {
			return last
		}
		if !res.isTrusted(a) {
			return a
		}
		last = a
	}
	return last
}

func (res *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range res.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor splits X-Forwarded-For values ("client, proxy1, proxy2", over
// one or more header lines) into addresses; an entry that is not one is the
// zero Addr. ok is false when there is no entry at all.
func forwardedFor(values []string) (chain []netip.Addr, ok bool) {
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			chain = append(chain, parseNode(e))
		}
	}
	return chain, len(chain) > 0
}

// forwarded reads the for= parameter of each element of Forwarded values
// (RFC 7239 §4: elements separated by commas, pairs by semicolons, values a
// token or a quoted-string). An element without for=, or whose node is
// "unknown", obfuscated (§6.3) or unreadable, is the zero Addr. ok is false when
// no element has a for= parameter: the header then says nothing about clients
// (a proxy may send only proto= or host=).
func forwarded(values []string) (chain []netip.Addr, ok bool) {
	for _, v := range values {
		for _, elem := range splitQuoted(v, ',') {
			if strings.TrimSpace(elem) == "" {
				continue
			}
			var node netip.Addr
			for _, pair := range splitQuoted(elem, ';') {
				name, value, found := strings.Cut(pair, "=")
				if !found || !strings.EqualFold(strings.TrimSpace(name), "for") {
					continue
				}
				ok = true
				node = parseNode(unquote(strings.TrimSpace(value)))
				break
			}
			chain = append(chain, node)
		}
	}
	return chain, ok
}

// splitQuoted splits s at sep outside double-quoted strings (where a backslash
// escapes the next character).
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote returns the content of a quoted-string (RFC 7230 §3.2.6), or s as it
// is when it is a token. A quoted-string left open is returned as it is, which
// parses as no address.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseNode reads an address as proxies write it: "192.0.2.1", "192.0.2.1:443",
// "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:443". Anything else is the
// zero Addr.
func parseNode(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return canonical(a)
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return canonical(ap.Addr())
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return canonical(a)
		}
	}
	// RemoteAddr of some listeners: a host without a port, or a port we could
	// not parse above (net.SplitHostPort is more forgiving).
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return canonical(a)
		}
	}
	return netip.Addr{}
}

// canonical is a in the one form rules compare: IPv4-mapped IPv6 as IPv4, no
// zone.
func canonical(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

type addrKey struct{}

// NewContext returns ctx carrying a as the client address of the request.
func NewContext(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, addrKey{}, a)
}

// FromContext returns the client address NewContext put in ctx.
func FromContext(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(addrKey{}).(netip.Addr)
	return a, ok
}

// FromRequest returns the client address of r as text ("192.0.2.1",
// "2001:db8::1"): the one the server resolved for it, or, for a request that did
// not pass the server's middleware (a handler under test), its TCP peer. It
// returns "" when the address is unknown.
func FromRequest(r *http.Request) string {
	a, ok := FromContext(r.Context())
	if !ok {
		a = parseNode(r.RemoteAddr)
	}
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
