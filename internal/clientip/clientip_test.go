package clientip_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
)

func TestResolve(t *testing.T) {
	lb := []string{"10.0.0.0/8", "2001:db8:ffff::/48"}
	for _, tc := range []struct {
		name    string
		peer    string
		trusted []string
		xff     []string // X-Forwarded-For lines
		fwd     []string // Forwarded lines
		want    string
	}{
		{name: "no proxy", peer: "203.0.113.9:4711", want: "203.0.113.9"},
		{name: "ipv6 peer", peer: "[2001:db8::7]:4711", want: "2001:db8::7"},
		{name: "ipv4-mapped peer", peer: "[::ffff:203.0.113.9]:4711", want: "203.0.113.9"},
		{name: "zone dropped", peer: "[fe80::1%eth0]:4711", want: "fe80::1"},
		{name: "unreadable peer", peer: "@", want: ""},

		// A header from a peer that is not trusted is the client's own claim.
		{name: "spoofed xff, no proxies configured", peer: "203.0.113.9:1", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "spoofed forwarded, no proxies configured", peer: "203.0.113.9:1", fwd: []string{"for=198.51.100.1"}, want: "203.0.113.9"},
		{name: "spoofed xff from an untrusted peer", peer: "203.0.113.9:1", trusted: lb, xff: []string{"10.1.1.1"}, want: "203.0.113.9"},

		// Behind a trusted load balancer.
		{name: "trusted peer, one hop", peer: "10.0.0.2:1", trusted: lb, xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "client's own prefix ignored", peer: "10.0.0.2:1", trusted: lb, xff: []string{"1.2.3.4, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "chain of trusted proxies", peer: "10.0.0.2:1", trusted: lb, xff: []string{"1.2.3.4, 198.51.100.1, 10.9.9.9, 10.0.0.3"}, want: "198.51.100.1"},
		{name: "several header lines", peer: "10.0.0.2:1", trusted: lb, xff: []string{"1.2.3.4", "198.51.100.1, 10.0.0.3"}, want: "198.51.100.1"},
		{name: "spaces and empty entries", peer: "10.0.0.2:1", trusted: lb, xff: []string{" ,198.51.100.1 ,  "}, want: "198.51.100.1"},
		{name: "every hop trusted", peer: "10.0.0.2:1", trusted: lb, xff: []string{"10.5.5.5, 10.0.0.3"}, want: "10.5.5.5"},
		{name: "ipv6 in xff", peer: "10.0.0.2:1", trusted: lb, xff: []string{"2001:db8::42"}, want: "2001:db8::42"},
		{name: "bracketed ipv6 with port in xff", peer: "10.0.0.2:1", trusted: lb, xff: []string{"[2001:db8::42]:5555"}, want: "2001:db8::42"},
		{name: "ipv4 with port in xff", peer: "10.0.0.2:1", trusted: lb, xff: []string{"198.51.100.1:5555"}, want: "198.51.100.1"},
		{name: "ipv6 trusted peer", peer: "[2001:db8:ffff::1]:1", trusted: lb, xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "mapped entry", peer: "10.0.0.2:1", trusted: lb, xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1"},
		{name: "single trusted address", peer: "192.0.2.7:1", trusted: []string{"192.0.2.7"}, xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "neighbour of a single trusted address", peer: "192.0.2.8:1", trusted: []string{"192.0.2.7"}, xff: []string{"198.51.100.1"}, want: "192.0.2.8"},
		{name: "no header", peer: "10.0.0.2:1", trusted: lb, want: "10.0.0.2"},
		{name: "empty header", peer: "10.0.0.2:1", trusted: lb, xff: []string{""}, want: "10.0.0.2"},

		// Garbage where a trusted proxy should have written an address: that
		// proxy's own address is all we know.
		{name: "garbage from the nearest proxy", peer: "10.0.0.2:1", trusted: lb, xff: []string{"198.51.100.1, not-an-ip"}, want: "10.0.0.2"},
		{name: "garbage further along", peer: "10.0.0.2:1", trusted: lb, xff: []string{"198.51.100.1, <script>, 10.0.0.3"}, want: "10.0.0.3"},
		{name: "garbage left of the client is never read", peer: "10.0.0.2:1", trusted: lb, xff: []string{"%00\x01, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "hostname", peer: "10.0.0.2:1", trusted: lb, xff: []string{"client.example"}, want: "10.0.0.2"},

		// RFC 7239 Forwarded.
		{name: "forwarded token", peer: "10.0.0.2:1", trusted: lb, fwd: []string{"for=198.51.100.1;proto=https"}, want: "198.51.100.1"},
		{name: "forwarded name in any case", peer: "10.0.0.2:1", trusted: lb, fwd: []string{"proto=https;For=198.51.100.1"}, want: "198.51.100.1"},
		{name: "forwarded quoted ipv6 with port", peer: "10.0.0.2:1", trusted: lb, fwd: []string{`for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "forwarded quoted ipv4 with port", peer: "10.0.0.2:1", trusted: lb, fwd: []string{`for="198.51.100.1:4711"`}, want: "198.51.100.1"},
		{name: "forwarded chain", peer: "10.0.0.2:1", trusted: lb, fwd: []string{`for=1.2.3.4, for="198.51.100.1";by=10.0.0.3, for=10.0.0.3`}, want: "198.51.100.1"},
		{name: "forwarded comma inside quotes", peer: "10.0.0.2:1", trusted: lb, fwd: []string{`for="1.2.3.4,5.6.7.8", for=198.51.100.1`}, want: "198.51.100.1"},
		{name: "forwarded escaped quote", peer: "10.0.0.2:1", trusted: lb, fwd: []string{`for="a\"b", for=198.51.100.1`}, want: "198.51.100.1"},
		{name: "forwarded unknown", peer: "10.0.0.2:1", trusted: lb, fwd: []string{"for=198.51.100.1, for=unknown"}, want: "10.0.0.2"},
		{name: "forwarded obfuscated", peer: "10.0.0.2:1", trusted: lb, fwd: []string{"for=_hidden"}, want: "10.0.0.2"},
		{name: "forwarded element without for", peer: "10.0.0.2:1", trusted: lb, fwd: []string{"for=198.51.100.1, by=10.0.0.3"}, want: "10.0.0.2"},
		{name: "forwarded without any for", peer: "10.0.0.2:1", trusted: lb, fwd: []string{"proto=https;host=id.example.com"}, xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "forwarded unterminated quote", peer: "10.0.0.2:1", trusted: lb, fwd: []string{`for="198.51.100.1`}, want: "10.0.0.2"},

		// Both headers: the proxy wrote one and passed the other through.
		{name: "both agree", peer: "10.0.0.2:1", trusted: lb, xff: []string{"198.51.100.1"}, fwd: []string{"for=198.51.100.1"}, want: "198.51.100.1"},
		{name: "forwarded spoofed next to xff", peer: "10.0.0.2:1", trusted: lb, xff: []string{"198.51.100.1"}, fwd: []string{"for=203.0.113.77"}, want: "10.0.0.2"},
		{name: "xff spoofed next to forwarded", peer: "10.0.0.2:1", trusted: lb, xff: []string{"203.0.113.77"}, fwd: []string{"for=198.51.100.1"}, want: "10.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trusted, err := clientip.ParseTrusted(tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.fwd {
				r.Header.Add("Forwarded", v)
			}
			got := clientip.NewResolver(trusted).Resolve(r)
			if s := addrString(got); s != tc.want {
				t.Errorf("Resolve(peer %q, trusted %q, X-Forwarded-For %q, Forwarded %q) = %q, want %q", tc.peer, tc.trusted, tc.xff, tc.fwd, s, tc.want)
			}
		})
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func TestParseTrusted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []string
		want    []string
		wantErr bool
	}{
		{name: "cidrs and addresses", in: []string{"10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "2001:db8::1"},
			want: []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "2001:db8::1/128"}},
		{name: "host bits masked", in: []string{"10.1.2.3/8"}, want: []string{"10.0.0.0/8"}},
		{name: "mapped", in: []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.7"}, want: []string{"10.0.0.0/8", "192.0.2.7/32"}},
		{name: "empty", in: nil, want: []string{}},
		{name: "host name", in: []string{"lb.internal"}, wantErr: true},
		{name: "bad prefix", in: []string{"10.0.0.0/33"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := clientip.ParseTrusted(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ParseTrusted(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTrusted(%q): %v", tc.in, err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if len(s) != len(tc.want) {
				t.Fatalf("ParseTrusted(%q) = %q, want %q", tc.in, s, tc.want)
			}
			for i := range s {
				if s[i] != tc.want[i] {
					t.Errorf("ParseTrusted(%q) = %q, want %q", tc.in, s, tc.want)
				}
			}
		})
	}
}

func TestFromRequest(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "[::ffff:192.0.2.1]:80"
	if got := clientip.FromRequest(r); got != "192.0.2.1" {
		t.Errorf("FromRequest without a resolved address = %q, want the peer 192.0.2.1", got)
	}
	r = r.WithContext(clientip.NewContext(context.Background(), netip.MustParseAddr("2001:db8::9")))
	if got := clientip.FromRequest(r); got != "2001:db8::9" {
		t.Errorf("FromRequest with a resolved address = %q, want 2001:db8::9", got)
	}
	r.RemoteAddr = "garbage"
	r = r.WithContext(context.Background())
	if got := clientip.FromRequest(r); got != "" {
		t.Errorf("FromRequest with an unreadable peer = %q, want empty", got)
	}
}

// FuzzResolve feeds arbitrary forwarding headers from a trusted peer: Resolve
// never panics and always answers an address (the peer at worst).
func FuzzResolve(f *testing.F) {
	for _, seed := range [][2]string{
		{"198.51.100.1, 10.0.0.3", `for="[2001:db8::1]:80";proto=https`},
		{"", `for="\`},
		{",,,", `for=unknown, for="a,b";by=x`},
	} {
		f.Add(seed[0], seed[1])
	}
	trusted, _ := clientip.ParseTrusted([]string{"10.0.0.0/8"})
	res := clientip.NewResolver(trusted)
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.0.0.2:1"
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("Forwarded", fwd)
		if got := res.Resolve(r); !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Errorf("Resolve(X-Forwarded-For %q, Forwarded %q) = %v, want a plain address", xff, fwd, got)
		}
	})
}
