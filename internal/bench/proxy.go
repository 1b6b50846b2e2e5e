package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// LatencyProxy forwards TCP connections to a target and delays every chunk of
// bytes by half the round-trip time in each direction, as a distant network
// would: a request and its answer take one RTT more than they would directly,
// and bytes keep their order. It delays without throttling: a chunk read while
// earlier ones are still in flight waits only its own half RTT, so pipelined
// traffic (a pgx batch, a multi-row result) is not slowed more than a real link
// would slow it. It is for benchmarks, as `gatehouse bench proxy`: run a server
// with DATABASE_URL pointing at it to see what a managed database's round trips
// cost.
type LatencyProxy struct {
	ln     net.Listener
	target string
	half   time.Duration
	log    *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// maxInFlight bounds the chunks a direction holds while they wait out their
// delay; a sender beyond it waits, as a full TCP window would make it.
const maxInFlight = 1024

// chunkSize is the largest read forwarded as one chunk.
const chunkSize = 32 << 10

// NewLatencyProxy listens on listen (host:port; port 0 picks one) and forwards
// each connection to target with rtt added to every round trip. A nil log
// discards the proxy's messages.
func NewLatencyProxy(listen, target string, rtt time.Duration, log *slog.Logger) (*LatencyProxy, error) {
	if rtt < 0 {
		return nil, fmt.Errorf("latency proxy: rtt %s is negative", rtt)
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("latency proxy: target %q: want host:port", target)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("latency proxy: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LatencyProxy{ln: ln, target: target, half: rtt / 2, log: log, conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the address the proxy listens on.
func (p *LatencyProxy) Addr() string { return p.ln.Addr().String() }

// Serve accepts connections until ctx ends or Close is called, then closes
// every open connection and returns once they are done.
func (p *LatencyProxy) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			p.Close()
			p.wg.Wait()
			if p.isClosed() {
				return nil
			}
			return fmt.Errorf("latency proxy: %w", err)
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.forward(ctx, c)
		}()
	}
}

// Close stops accepting and closes every open connection.
func (p *LatencyProxy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	return err
}

func (p *LatencyProxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// track registers c to be closed by Close; false if the proxy is closed.
func (p *LatencyProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *LatencyProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// forward connects client to the target and relays both directions, each
// delayed by half the RTT, until both have ended.
func (p *LatencyProxy) forward(ctx context.Context, client net.Conn) {
	defer p.untrack(client)
	defer client.Close()
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", p.target)
	if err != nil {
		p.log.Warn("latency proxy: target unreachable", "target", p.target, "error", err.Error())
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	defer server.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.relay(client, server) }()
	go func() { defer wg.Done(); p.relay(server, client) }()
	wg.Wait()
}

// chunk is bytes read at one moment, to be written at due.
type chunk struct {
	b   []byte
	due time.Time
}

// relay copies src to dst, each chunk written half an RTT after it was read.
// When src ends, dst is half-closed once every chunk is written; when dst
// fails, src is closed so that the other side learns of it.
func (p *LatencyProxy) relay(src, dst net.Conn) {
	queue := make(chan chunk, maxInFlight)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range queue {
			if wait := time.Until(c.due); wait > 0 {
				time.Sleep(wait)
			}
			if _, err := dst.Write(c.b); err != nil {
				src.Close()
				for range queue {
					// Drain so the reader never blocks.
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		} else {
			dst.Close()
		}
	}()
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(p.half)}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.log.Debug("latency proxy: read ended", "error", err.Error())
			}
			break
		}
	}
	close(queue)
	<-done
}
