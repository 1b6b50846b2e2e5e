package storage

import (
	"sync"
	"time"
)

// maxCachedClients bounds the cache: a flood of lookups for distinct ids (each
// one a real client, since misses are not cached) cannot grow it further.
const maxCachedClients = 10000

// clientCache keeps the clients fosite looks up (GetClient) in memory, so the token
// endpoint does not read the client row on every request. Entries live for the
// TTL at most. Every client write through a Store evicts the id locally and, on
// PostgreSQL, announces it with pg_notify; the store's listener (see notifier)
// evicts what other instances announce.
//
// With a listener, the cache is trusted only while the listener is connected: until
// it is, and from the moment it fails, the cache is empty and lookups read the
// database. Without one (SQLite, or PostgreSQL through a pooler and no direct URL)
// another process's change shows within the TTL.
//
// A nil *clientCache is the cache turned off: it holds nothing.
type clientCache struct {
	ttl   time.Duration
	now   func() time.Time
	notes *notifier // its listener, when notes.listen is set, keeps the cache in step

	mu      sync.RWMutex
	entries map[string]cachedClient
	// gen counts evictions and flushes. A lookup stores what it read only if gen
	// did not move meanwhile, so a read that raced a write cannot cache the old row.
	gen uint64
	// synced says entries may be stored: always without a listener, else only
	// while the listener is connected.
	synced bool
}

// cachedClient is one entry. The *FositeClient is shared by every request that
// finds it, and is never changed after it is made.
type cachedClient struct {
	client  *FositeClient
	expires time.Time
}

// newClientCache builds the cache o asks for, or nil when o.ClientCacheTTL is
// zero. It follows the listener of notes, if notes has one.
func newClientCache(o Options, notes *notifier) *clientCache {
	if o.ClientCacheTTL <= 0 {
		return nil
	}
	c := &clientCache{ttl: o.ClientCacheTTL, now: time.Now, notes: notes, entries: map[string]cachedClient{}}
	if notes.listen == nil {
		// Other instances' client changes show within the TTL.
		c.synced = true
		return c
	}
	notes.onClient = c.evict
	notes.onSync = c.setSynced
	return c
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
		c.notes.ensure()
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
