package outbound

import (
	"fmt"
	"net/netip"
)

// refusedRange is a block of addresses a fetch may never reach.
type refusedRange struct {
	prefix netip.Prefix
	name   string
}

// refusedRanges lists the IANA special-purpose blocks (RFC 6890 and its
// registries) that are not globally reachable, plus the cloud metadata
// addresses inside them. Loopback is listed here and let through only with
// Options.AllowLoopback. The more specific entries come first so the message
// names the best-known use.
var refusedRanges = []refusedRange{
	// IPv4.
	{netip.MustParsePrefix("169.254.169.254/32"), "cloud metadata"},
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" (0.0.0.0/8)`},
	{netip.MustParsePrefix("10.0.0.0/8"), "private (10.0.0.0/8)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space, CGNAT (100.64.0.0/10)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback (127.0.0.0/8)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (169.254.0.0/16)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private (172.16.0.0/12)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation (192.0.2.0/24)"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast (192.88.99.0/24)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private (192.168.0.0/16)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation (198.51.100.0/24)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation (203.0.113.0/24)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast (224.0.0.0/4)"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (240.0.0.0/4)"},
	// IPv6.
	{netip.MustParsePrefix("::/128"), "unspecified (::)"},
	{netip.MustParsePrefix("::1/128"), "loopback (::1)"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated, ::/96)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"},
	{netip.MustParsePrefix("100::/64"), "discard-only (100::/64)"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation (2001:db8::/32)"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments, Teredo (2001::/23)"},
	{netip.MustParsePrefix("2002::/16"), "6to4 (deprecated, 2002::/16)"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata"},
	{netip.MustParsePrefix("fc00::/7"), "unique local, private (fc00::/7)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local (fe80::/10)"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated, fec0::/10)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast (ff00::/8)"},
}

// Prefixes that embed an IPv4 address in their last 32 bits; the embedded
// address is held to the IPv4 rules.
var (
	nat64Prefix      = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052 well-known NAT64
	translatedPrefix = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765 SIIT IPv4-translated
)

// CheckAddr reports whether a fetch may connect to addr: nil when it may, or an
// error (errors.Is ErrRefused) naming the range that forbids it. Loopback
// addresses pass only when allowLoopback is set; every other range in the
// package documentation is always refused. IPv4-mapped (::ffff:a.b.c.d),
// IPv4-translated and NAT64 (64:ff9b::a.b.c.d) forms are judged by the IPv4
// address they carry.
func CheckAddr(addr netip.Addr, allowLoopback bool) error {
	if reason := refusal(addr.WithZone(""), allowLoopback); reason != "" {
		return &addrError{addr: addr, reason: reason}
	}
	return nil
}

func refusal(a netip.Addr, allowLoopback bool) string {
	if !a.IsValid() {
		return "not an IP address"
	}
	if a.Is4In6() {
		if r := refusal(a.Unmap(), allowLoopback); r != "" {
			return "IPv4-mapped " + r
		}
		return ""
	}
	if a.Is6() && (nat64Prefix.Contains(a) || translatedPrefix.Contains(a)) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		if r := refusal(v4, allowLoopback); r != "" {
			return "NAT64 or IPv4-translated form of " + r
		}
		return ""
	}
	if allowLoopback && a.IsLoopback() {
		return ""
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(a) {
			return r.name
		}
	}
	if !a.IsGlobalUnicast() {
		return "not a global unicast address"
	}
	return ""
}

// addrError is a refused address; it is wrapped into an *Error of kind
// ErrRefused by the client, and says ErrRefused on its own for CheckAddr's
// callers.
type addrError struct {
	addr   netip.Addr
	reason string
}

func (e *addrError) Error() string {
	if !e.addr.IsValid() {
		return e.reason
	}
	return fmt.Sprintf("%s is %s", e.addr, e.reason)
}

func (e *addrError) Unwrap() error { return ErrRefused }
