package storage

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// clientsChannel is the PostgreSQL notification channel every client write
// announces its client id on.
const clientsChannel = "gatehouse_clients"

const (
	// maxCachedClients bounds the cache: a flood of lookups for distinct ids (each
	// one a real client, since misses are not cached) cannot grow it further.
	maxCachedClients = 10000
	// listenBackoff is the least time between two attempts to start the listener.
	listenBackoff = 5 * time.Second
)

// clientCache keeps the clients fosite looks up (GetClient) in memory, so the token
// endpoint does not read the client row on every request. Entries live for the
// TTL at most. Every client write through a Store evicts the id locally and, on
// PostgreSQL, announces it with pg_notify; a listener on one dedicated connection
// evicts what other instances announce.
//
// With a listener, the cache is trusted only while the listener is connected: until
// it is, and from the moment it fails, the cache is empty and lookups read the
// database. Without one (SQLite, or PostgreSQL through a pooler and no direct URL)
// another process's change shows within the TTL.
//
// A nil *clientCache is the cache turned off: it holds nothing.
type clientCache struct {
	ttl    time.Duration
	now    func() time.Time
	log    *slog.Logger
	listen *pgx.ConnConfig // nil: no listener, the TTL alone bounds staleness

	mu      sync.RWMutex
	entries map[string]cachedClient
	// gen counts evictions and flushes. A lookup stores what it read only if gen
	// did not move meanwhile, so a read that raced a write cannot cache the old row.
	gen uint64
	// synced says entries may be stored: always without a listener, else only
	// while the listener is connected.
	synced bool

	stopCtx context.Context // the listener runs under it; close cancels it
	stop    context.CancelFunc
	done    sync.WaitGroup // the listener goroutine

	start     sync.Mutex // guards running, closed and lastStart: one listener at a time
	running   bool
	closed    bool
	lastStart time.Time
}

// cachedClient is one entry. The *FositeClient is shared by every request that
// finds it, and is never changed after it is made.
type cachedClient struct {
	client  *FositeClient
	expires time.Time
}

// newClientCache builds the cache o asks for, or nil when o.ClientCacheTTL is zero.
// The listener connects to o.ListenURL; when that is empty, to o.URL if it is a
// direct PostgreSQL connection (LISTEN does not survive a transaction-mode pooler).
func newClientCache(o Options, dialect Dialect, pooled bool, log *slog.Logger) (*clientCache, error) {
	if o.ClientCacheTTL <= 0 {
		return nil, nil
	}
	c := &clientCache{ttl: o.ClientCacheTTL, now: time.Now, log: log, entries: map[string]cachedClient{}}
	c.stopCtx, c.stop = context.WithCancel(context.Background())
	listenURL := o.ListenURL
	if listenURL == "" && dialect == Postgres && !pooled {
		listenURL = o.URL
	}
	switch {
	case dialect != Postgres:
		c.synced = true
	case listenURL == "":
		c.synced = true
		// Other instances' client changes show within the TTL.
		log.Info("client cache has no direct URL to listen on; relying on its ttl", "ttl", o.ClientCacheTTL.String())
	default:
		cfg, err := PostgresConfig(listenURL, PoolerNone, o.ConnectTimeout, 0)
		if err != nil {
			return nil, fmt.Errorf("client cache listen URL: %w", err)
		}
		c.listen = cfg
	}
	return c, nil
}

// get returns the cached client with id, if it has not expired.
func (c *clientCache) get(id string) (*FositeClient, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	return e.client, true
}

// begin is called before a lookup reads the database. It returns the generation
// to hand to put, and whether the result may be cached at all. An unsynced cache
// starts its listener.
func (c *clientCache) begin() (gen uint64, cacheable bool) {
	if c == nil {
		return 0, false
	}
	c.mu.RLock()
	gen, synced := c.gen, c.synced
	c.mu.RUnlock()
	if !synced {
		c.startListener()
	}
	return gen, synced
}

// put caches fc under id unless the cache was flushed or had an eviction since
// begin returned gen.
func (c *clientCache) put(id string, fc *FositeClient, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced || c.gen != gen {
		return
	}
	if len(c.entries) >= maxCachedClients {
		clear(c.entries)
	}
	c.entries[id] = cachedClient{client: fc, expires: c.now().Add(c.ttl)}
}

// evict forgets id.
func (c *clientCache) evict(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.entries, id)
	c.gen++
	c.mu.Unlock()
}

// setSynced flushes the cache and says whether it may hold entries from now on.
func (c *clientCache) setSynced(synced bool) {
	c.mu.Lock()
	clear(c.entries)
	c.gen++
	c.synced = synced
	c.mu.Unlock()
}

// startListener starts the listener unless it runs, the cache is closed, or the
// last attempt was less than listenBackoff ago.
//
// The listener is started lazily, by a lookup, rather than by a reconnect loop:
// Neon suspends a compute after 5 minutes without queries and closes its
// connections. A loop would wake it again at once; a lookup reads the database
// anyway, so reconnecting then wakes nothing that was asleep.
func (c *clientCache) startListener() {
	if c.listen == nil {
		return
	}
	c.start.Lock()
	defer c.start.Unlock()
	now := c.now()
	if c.running || c.closed || now.Sub(c.lastStart) < listenBackoff {
		return
	}
	c.running, c.lastStart = true, now
	c.done.Add(1)
	go c.run()
}

// run holds the listener connection until it fails or the cache is closed.
func (c *clientCache) run() {
	defer c.done.Done()
	defer func() {
		c.setSynced(false)
		c.start.Lock()
		c.running = false
		c.start.Unlock()
	}()
	ctx := c.stopCtx
	conn, err := pgx.ConnectConfig(ctx, c.listen)
	if err != nil {
		c.lost(ctx, "connect", err)
		return
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+clientsChannel); err != nil {
		c.lost(ctx, "listen", err)
		return
	}
	c.setSynced(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			c.lost(ctx, "wait", err)
			return
		}
		if n != nil {
			c.evict(n.Payload)
		}
	}
}

// lost logs why the listener stopped, unless it was told to.
func (c *clientCache) lost(ctx context.Context, step string, err error) {
	if ctx.Err() != nil {
		return
	}
	// Until a lookup restarts it, clients are read from the database.
	c.log.Warn("client cache listener stopped", "step", step, "error", err.Error())
}

// close stops the listener and waits for it to end.
func (c *clientCache) close() {
	if c == nil {
		return
	}
	c.start.Lock()
	c.closed = true
	c.start.Unlock()
	c.stop()
	c.done.Wait()
}
