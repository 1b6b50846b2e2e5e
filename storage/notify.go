package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Topic names a kind of change the store announces, so that a background worker
// can sleep until something it cares about changed instead of polling the
// database (an idle Gatehouse sends no statements, and a Neon compute can scale
// to zero).
type Topic string

// The topics a Store announces.
const (
	// TopicMail is announced when mail is queued (EnqueueMail).
	TopicMail Topic = "gatehouse_mail"
	// TopicSigningKeys is announced when a signing key is rotated
	// (RotateSigningKey).
	TopicSigningKeys Topic = "gatehouse_signing_keys"
	// TopicBranding is announced when the branding is changed (PutBranding).
	TopicBranding Topic = "gatehouse_branding"
	// TopicProviders is announced when an upstream identity provider is
	// added, changed or removed (CreateUpstreamProvider and its kin).
	TopicProviders Topic = "gatehouse_providers"
)

// clientsChannel is the PostgreSQL notification channel every client write
// announces its client id on.
const clientsChannel = "gatehouse_clients"

// listenBackoff is the least time between two attempts to start the listener.
const listenBackoff = 5 * time.Second

// notifier tells the parts of a Store, and the workers that Watch it, about
// changes. Changes committed through this Store wake its watchers directly, after
// the commit. On PostgreSQL every change is also announced with pg_notify, and
// one dedicated connection LISTENs (on Options.ListenURL, or the URL when it is
// not pooled: LISTEN does not survive a transaction-mode pooler) for what other
// processes announce.
//
// The listener is started lazily, by a Watch, a client-cache lookup or any other
// use of a watched store (not by housekeeping), never by a reconnect loop: Neon suspends a compute after 5
// minutes without queries and closes its connections, and a loop would wake it
// again at once. Whatever wakes the listener reads the database anyway. Each time
// it (re)connects every watcher is woken once, because changes may have been
// missed while it was down.
type notifier struct {
	// id tags this Store's own announcements, so that its listener does not wake
	// its watchers a second time for a change they were told of at commit.
	id     string
	log    *slog.Logger
	listen *pgx.ConnConfig // nil: no listener, other processes' changes are not heard
	now    func() time.Time

	mu       sync.Mutex
	watchers map[Topic]map[chan struct{}]struct{}
	// onClient evicts an announced client id; onSync tells the client cache
	// whether the listener is connected. Both are set once, before any use.
	onClient func(id string)
	onSync   func(connected bool)

	connected atomic.Bool
	running   atomic.Bool // the listener goroutine runs (connecting or connected)
	// watched is set by the first Watch: from then on any use of the store
	// restarts a lost listener. The client cache restarts it by its lookups.
	watched atomic.Bool

	stopCtx context.Context // the listener runs under it; close cancels it
	stop    context.CancelFunc
	done    sync.WaitGroup

	start     sync.Mutex // guards closed and lastStart: one listener at a time
	closed    bool
	lastStart time.Time
}

// newNotifier builds the notifier o asks for. The listener connects to
// o.ListenURL; when that is empty, to o.URL if it is a direct PostgreSQL
// connection.
func newNotifier(o Options, dialect Dialect, pooled bool, log *slog.Logger) (*notifier, error) {
	var b [8]byte
	rand.Read(b[:])
	n := &notifier{id: hex.EncodeToString(b[:]), log: log, now: time.Now, watchers: map[Topic]map[chan struct{}]struct{}{}}
	n.stopCtx, n.stop = context.WithCancel(context.Background())
	if dialect != Postgres {
		return n, nil
	}
	listenURL := o.ListenURL
	if listenURL == "" && !pooled {
		listenURL = o.URL
	}
	if listenURL == "" {
		log.Info("no direct database URL to LISTEN on: changes other instances make (clients, signing keys, queued mail) reach this one only as caches expire and by periodic polling")
		return n, nil
	}
	cfg, err := PostgresConfig(listenURL, PoolerNone, o.ConnectTimeout, 0)
	if err != nil {
		return nil, fmt.Errorf("listen URL: %w", err)
	}
	if o.OnStatement != nil {
		cfg.Tracer = statementTracer{o.OnStatement}
	}
	n.listen = cfg
	return n, nil
}

// Watch returns a channel that receives a value after a change of topic is
// committed through this Store, or (on PostgreSQL with a listener) by any other
// process, and once each time the listener (re)connects, since changes may have
// been missed while it was down. Wake-ups never block the store: while one is
// pending, more are absorbed into it. stop ends the watch. Watch starts the
// listener if the store can have one.
func (s *Store) Watch(topic Topic) (wake <-chan struct{}, stop func()) {
	n := s.notes
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.watchers[topic] == nil {
		n.watchers[topic] = map[chan struct{}]struct{}{}
	}
	n.watchers[topic][ch] = struct{}{}
	n.mu.Unlock()
	n.watched.Store(true)
	n.ensure()
	return ch, func() {
		n.mu.Lock()
		delete(n.watchers[topic], ch)
		n.mu.Unlock()
	}
}

// Listening reports whether changes made by other processes reach Watch now:
// the store's listener is connected. It is always false on SQLite and through a
// pooler without Options.ListenURL.
func (s *Store) Listening() bool { return s.notes.connected.Load() }

// wake wakes every watcher of topic, without blocking.
func (n *notifier) wake(topic Topic) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.watchers[topic] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wakeAll wakes every watcher of every topic.
func (n *notifier) wakeAll() {
	n.mu.Lock()
	topics := make([]Topic, 0, len(n.watchers))
	for t := range n.watchers {
		topics = append(topics, t)
	}
	n.mu.Unlock()
	for _, t := range topics {
		n.wake(t)
	}
}

// announced records that topic changed: this store's watchers are woken once
// the change is committed (at once outside a transaction, at the commit of the
// one ctx carries, never after a rollback). The announcement to other processes
// is the caller's pg_notify, made in the same statement or transaction.
func (s *Store) announced(ctx context.Context, topic Topic) {
	if st, ok := txOf(ctx); ok {
		st.afterCommit(func() { s.notes.wake(topic) })
		return
	}
	s.notes.wake(topic)
}

// notifySQL returns the statement that announces topic to other processes on
// PostgreSQL, and its arguments.
func (s *Store) notifySQL(topic Topic) (string, []any) {
	return "SELECT pg_notify(?, ?)", []any{string(topic), s.notes.id}
}

// ensure starts the listener unless there is none to start, it runs, the store
// is closed, or the last attempt was less than listenBackoff ago.
func (n *notifier) ensure() {
	if n.listen == nil || n.running.Load() {
		return
	}
	n.start.Lock()
	defer n.start.Unlock()
	now := n.now()
	if n.running.Load() || n.closed || now.Sub(n.lastStart) < listenBackoff {
		return
	}
	n.running.Store(true)
	n.lastStart = now
	n.done.Add(1)
	go n.run()
}

// channels are what the listener LISTENs on.
func channels() []string {
	return []string{clientsChannel, string(TopicMail), string(TopicSigningKeys), string(TopicBranding), string(TopicProviders)}
}

// run holds the listener connection until it fails or the store is closed.
func (n *notifier) run() {
	defer n.done.Done()
	defer n.running.Store(false)
	ctx := n.stopCtx
	conn, err := pgx.ConnectConfig(ctx, n.listen)
	if err != nil {
		n.lost(ctx, "connect", err)
		return
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	var listen strings.Builder
	for _, c := range channels() {
		fmt.Fprintf(&listen, "LISTEN %s;", c)
	}
	// One round trip for every channel: the simple protocol runs them together.
	if t, ok := n.listen.Tracer.(statementTracer); ok {
		t.hook(ctx, Statement{SQL: listen.String()})
	}
	if _, err := conn.PgConn().Exec(ctx, listen.String()).ReadAll(); err != nil {
		n.lost(ctx, "listen", err)
		return
	}
	// Changes may have been missed while nobody listened. Watchers are woken
	// before Listening turns true, so that a caller who saw it true has had
	// that wake-up.
	n.wakeAll()
	n.setConnected(true)
	defer n.setConnected(false)
	for {
		msg, err := conn.WaitForNotification(ctx)
		if err != nil {
			n.lost(ctx, "wait", err)
			return
		}
		switch msg.Channel {
		case clientsChannel:
			if n.onClient != nil {
				n.onClient(msg.Payload)
			}
		default:
			// This store's own announcements woke its watchers at commit.
			if msg.Payload != n.id {
				n.wake(Topic(msg.Channel))
			}
		}
	}
}

func (n *notifier) setConnected(c bool) {
	n.connected.Store(c)
	if n.onSync != nil {
		n.onSync(c)
	}
}

// lost logs why the listener stopped, unless it was told to.
func (n *notifier) lost(ctx context.Context, step string, err error) {
	if ctx.Err() != nil {
		return
	}
	// A Neon compute that scales to zero closes every connection: expected, and
	// the next use of the store starts the listener again.
	level := slog.LevelWarn
	if IsConnectionLoss(err) {
		level = slog.LevelInfo
	}
	n.log.Log(ctx, level, "change listener stopped; the next use of the database starts it again", "step", step, "error", err.Error())
}

// close stops the listener and waits for it to end.
func (n *notifier) close() {
	n.start.Lock()
	n.closed = true
	n.start.Unlock()
	n.stop()
	n.done.Wait()
}

// housekeepingKey marks a context as housekeeping.
type housekeepingKey struct{}

// Housekeeping marks ctx as the context of background housekeeping (the mail
// outbox's polling, the signing-key refresh, the janitor): what it does is not
// activity (see Activity) and does not start the change listener, so that
// housekeeping alone never keeps the database busy.
func Housekeeping(ctx context.Context) context.Context {
	return context.WithValue(ctx, housekeepingKey{}, true)
}

func isHousekeeping(ctx context.Context) bool {
	v, _ := ctx.Value(housekeepingKey{}).(bool)
	return v
}

// Activity counts the statements run through the store for callers other than
// housekeeping (see Housekeeping). A caller compares two readings to learn
// whether the database was used in between.
func (s *Store) Activity() uint64 { return s.activity.Load() }

// used notes a statement about to run for ctx.
func (s *Store) used(ctx context.Context) {
	if isHousekeeping(ctx) {
		return
	}
	s.activity.Add(1)
	// The database is in use anyway: a listener that a compute suspending (or
	// anything else) ended starts again now, if anything watches. Housekeeping
	// alone must not keep it, and so the compute, awake.
	if s.notes.watched.Load() {
		s.notes.ensure()
	}
}
