package storagetest

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP proxy in front of a PostgreSQL server, for tests of what the
// network does to the store: it counts the liveness pings clients send, can cut
// every connection at once (a network failure, with no goodbye from the server)
// and can refuse new ones (a database that went away).
type Proxy struct {
	t        testing.TB
	ln       net.Listener
	upstream string // host:port of the server
	url      string // the upstream URL, through the proxy

	pings   atomic.Int64
	refuse  atomic.Bool
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	stopped atomic.Bool
}

// StartProxy starts a proxy on a free loopback port in front of the server
// upstreamURL names and stops it when t ends. URL returns upstreamURL through it.
func StartProxy(t testing.TB, upstreamURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(upstreamURL)
	if err != nil || u.Host == "" {
		t.Fatalf("StartProxy: want a postgres://host:port/db URL")
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, ln: ln, upstream: net.JoinHostPort(u.Hostname(), port), conns: map[net.Conn]struct{}{}}
	through := *u
	through.Host = ln.Addr().String()
	p.url = through.String()
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.stop)
	return p
}

// URL is the upstream URL with the proxy's address.
func (p *Proxy) URL() string { return p.url }

// Pings counts the liveness pings ("-- ping", what pgx sends before reusing a
// connection it thinks may be stale) clients sent through the proxy.
func (p *Proxy) Pings() int64 { return p.pings.Load() }

// Cut closes every connection through the proxy at once, in both directions,
// as a network failure does: the server says no goodbye.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Refuse makes the proxy close new connections at once (refuse true) or
// forward them again (false).
func (p *Proxy) Refuse(refuse bool) { p.refuse.Store(refuse) }

// Open reports how many connections the proxy holds (two per client: its own
// and the server's).
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func (p *Proxy) stop() {
	p.stopped.Store(true)
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.refuse.Load() {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", p.upstream)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			p.clientToServer(client, server)
			p.untrack(client, server)
		}()
		go func() {
			defer p.wg.Done()
			io.Copy(client, server)
			p.untrack(client, server)
		}()
	}
}

func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped.Load() {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
}

// PostgreSQL's request codes that a client may send before its startup message.
const (
	sslRequest    = 80877103
	gssEncRequest = 80877104
)

// clientToServer forwards the client's messages, reading them as the frontend
// protocol frames them (a length-prefixed startup, then a type byte and a
// length per message) to count the pings.
func (p *Proxy) clientToServer(client, server net.Conn) {
	var head [5]byte
	// The startup phase: an SSL or GSS request may come before the startup
	// message; neither is sent with sslmode=disable, but stay in step anyway.
	for {
		if _, err := io.ReadFull(client, head[:4]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(head[:4]))
		if n < 8 || n > 1<<20 {
			return
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(client, body); err != nil {
			return
		}
		if _, err := server.Write(append(head[:4:4], body...)); err != nil {
			return
		}
		code := binary.BigEndian.Uint32(body[:4])
		if code != sslRequest && code != gssEncRequest {
			break
		}
	}
	for {
		if _, err := io.ReadFull(client, head[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(head[1:]))
		if n < 4 {
			return
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(client, body); err != nil {
			return
		}
		if head[0] == 'Q' && bytes.HasPrefix(body, []byte("-- ping")) {
			p.pings.Add(1)
		}
		if _, err := server.Write(append(head[:5:5], body...)); err != nil {
			return
		}
	}
}
