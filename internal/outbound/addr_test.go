package outbound_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/outbound"
)

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		name          string
		addr          string
		allowLoopback bool
		refused       bool
	}{
		// Public addresses pass.
		{"public IPv4", "93.184.215.14", false, false},
		{"public IPv6", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", false, false},
		{"public IPv4 next to 172.16/12", "172.32.0.1", false, false},
		{"public IPv4 next to CGNAT", "100.128.0.1", false, false},
		{"NAT64 of a public IPv4", "64:ff9b::5db8:d70e", false, false},
		{"IPv4-mapped public", "::ffff:93.184.215.14", false, false},

		// IPv4 ranges.
		{"this network 0.0.0.0/8", "0.1.2.3", false, true},
		{"unspecified IPv4", "0.0.0.0", false, true},
		{"private 10/8", "10.0.0.1", false, true},
		{"private 172.16/12", "172.16.5.4", false, true},
		{"private 172.31", "172.31.255.255", false, true},
		{"private 192.168/16", "192.168.1.1", false, true},
		{"CGNAT 100.64/10", "100.64.0.1", false, true},
		{"CGNAT top", "100.127.255.254", false, true},
		{"loopback 127.0.0.1", "127.0.0.1", false, true},
		{"loopback 127.1.2.3", "127.1.2.3", false, true},
		{"link-local 169.254/16", "169.254.1.1", false, true},
		{"cloud metadata 169.254.169.254", "169.254.169.254", false, true},
		{"multicast", "224.0.0.251", false, true},
		{"broadcast", "255.255.255.255", false, true},
		{"reserved 240/4", "240.0.0.1", false, true},
		{"benchmarking", "198.18.0.1", false, true},
		{"documentation", "192.0.2.1", false, true},

		// IPv6 ranges.
		{"unspecified IPv6", "::", false, true},
		{"loopback ::1", "::1", false, true},
		{"unique local fc00::/7", "fc00::1", false, true},
		{"unique local fd12::", "fd12:3456::1", false, true},
		{"AWS metadata fd00:ec2::254", "fd00:ec2::254", false, true},
		{"link-local fe80::/10", "fe80::1", false, true},
		{"link-local with a zone", "fe80::1%eth0", false, true},
		{"multicast ff02::1", "ff02::1", false, true},
		{"site-local fec0::", "fec0::1", false, true},
		{"6to4", "2002:a00:1::1", false, true},
		{"Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2", false, true},
		{"documentation 2001:db8::", "2001:db8::1", false, true},
		{"IPv4-compatible", "::10.0.0.1", false, true},
		{"local-use NAT64", "64:ff9b:1::a00:1", false, true},

		// IPv4-mapped, translated and NAT64 forms of refused IPv4.
		{"mapped loopback", "::ffff:127.0.0.1", false, true},
		{"mapped private", "::ffff:10.0.0.1", false, true},
		{"mapped metadata", "::ffff:169.254.169.254", false, true},
		{"mapped CGNAT", "::ffff:100.64.0.1", false, true},
		{"NAT64 of private", "64:ff9b::a00:1", false, true},
		{"NAT64 of metadata", "64:ff9b::a9fe:a9fe", false, true},
		{"NAT64 of loopback", "64:ff9b::7f00:1", false, true},
		{"IPv4-translated private", "::ffff:0:a00:1", false, true},

		// AllowLoopback opens loopback, and nothing else.
		{"loopback allowed", "127.0.0.1", true, false},
		{"loopback ::1 allowed", "::1", true, false},
		{"mapped loopback allowed", "::ffff:127.0.0.1", true, false},
		{"private with loopback allowed", "10.0.0.1", true, true},
		{"metadata with loopback allowed", "169.254.169.254", true, true},
		{"unique local with loopback allowed", "fd00:ec2::254", true, true},
		{"unspecified with loopback allowed", "0.0.0.0", true, true},
		{"unspecified IPv6 with loopback allowed", "::", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			err := outbound.CheckAddr(a, tc.allowLoopback)
			if got := err != nil; got != tc.refused {
				t.Fatalf("CheckAddr(%s, allowLoopback=%v) = %v, want refused %v", tc.addr, tc.allowLoopback, err, tc.refused)
			}
			if err != nil && !errors.Is(err, outbound.ErrRefused) {
				t.Errorf("CheckAddr(%s) = %v, want an error that is ErrRefused", tc.addr, err)
			}
		})
	}
}
