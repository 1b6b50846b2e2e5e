package keys

import (
	"cmp"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/go-jose/go-jose/v4"
)

// The signing algorithms Gatehouse keeps a key for.
const (
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), the algorithm OpenID
	// Connect requires every provider to support; the default for ID tokens.
	RS256 = "RS256"
	// ES256 is ECDSA with P-256 and SHA-256 (RFC 7518 §3.4); the default for JWT
	// access tokens.
	ES256 = "ES256"
	// EdDSA is Ed25519 (RFC 8037 §3.1), the cheapest of the three to sign with.
	// A Manager keeps an EdDSA key only when asked to (Options.Extra), because
	// some relying parties' JWKS parsers still know no OKP keys.
	EdDSA = "EdDSA"
)

// use is the JWK "use" member of every key: signatures only.
const use = "sig"

// Algorithms returns the algorithms every Manager keeps an active key for, the
// default of ID tokens first.
func Algorithms() []string { return []string{RS256, ES256} }

// Supported returns every algorithm a Manager can keep a key for: Algorithms,
// then EdDSA.
func Supported() []string { return []string{RS256, ES256, EdDSA} }

var (
	// ErrUnsupportedAlg means an algorithm other than RS256, ES256 or EdDSA was
	// asked for.
	ErrUnsupportedAlg = errors.New("unsupported signing algorithm: want RS256, ES256 or EdDSA")
	// ErrNoKey means no active key of the algorithm, or no published key with the
	// kid, is loaded.
	ErrNoKey = errors.New("no such signing key")
)

// keyStore is what the Manager needs from storage.Store.
type keyStore interface {
	CreateSigningKey(ctx context.Context, k storage.SigningKey, private []byte) error
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	GetSigningKeyPrivate(ctx context.Context, kid string) ([]byte, error)
	RotateSigningKey(ctx context.Context, k storage.SigningKey, private []byte, publishUntil time.Time) error
	DeleteUnpublishedSigningKeys(ctx context.Context, now time.Time) (int64, error)
	// Watch wakes Run when any instance rotates a key.
	Watch(topic storage.Topic) (<-chan struct{}, func())
}

var _ keyStore = (*storage.Store)(nil)

// Options configure a Manager. Zero values mean the defaults.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RefreshInterval is how often Run reloads the keys from the database when
	// nothing told it of a rotation (a rotation on PostgreSQL wakes every
	// instance that listens at once), and so the longest a rotation on another
	// instance takes to reach this one. A rotated key starts signing one
	// RefreshInterval after the rotation, when every instance serves it in its
	// JWKS; every instance must use the same value. Zero means 10 minutes.
	RefreshInterval time.Duration
	// MaxTokenLifetime is the longest lifetime of any token a key signs (ID tokens,
	// JWT access tokens). A retired key stays published this long, plus one
	// RefreshInterval, after it stops signing. Zero means 24 h.
	MaxTokenLifetime time.Duration
	// Log receives key events; nil discards them.
	Log *slog.Logger
	// Extra names algorithms beyond Algorithms() to keep an active key for:
	// EdDSA, when JWT access tokens are signed with it. EnsureKeys creates their
	// keys and "all" rotates them too.
	Extra []string
}

// Manager holds the signing keys in memory and keeps them in step with the
// database. It is safe for concurrent use. Build it with New, then call EnsureKeys
// (or Refresh) before signing; the zero value is unusable.
type Manager struct {
	store            keyStore
	now              func() time.Time
	refreshInterval  time.Duration
	maxTokenLifetime time.Duration
	log              *slog.Logger
	kept             []string // Algorithms() and Options.Extra

	mu   sync.Mutex // one Refresh at a time, so each key is unsealed once
	snap atomic.Pointer[snapshot]
}

// New returns a Manager on store. It loads nothing; call EnsureKeys or Refresh.
func New(store keyStore, o Options) *Manager {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.MaxTokenLifetime <= 0 {
		o.MaxTokenLifetime = 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	kept := Algorithms()
	for _, a := range o.Extra {
		if slices.Contains(Supported(), a) && !slices.Contains(kept, a) {
			kept = append(kept, a)
		}
	}
	return &Manager{
		kept:             kept,
		store:            store,
		now:              o.Now,
		refreshInterval:  o.RefreshInterval,
		maxTokenLifetime: o.MaxTokenLifetime,
		log:              o.Log,
	}
}

// DefaultRefreshInterval is Options.RefreshInterval's default: long, because a
// rotation wakes every listening instance at once and an idle instance must not
// keep its database awake.
const DefaultRefreshInterval = 10 * time.Minute

// refreshTimeout bounds one Refresh that Run makes.
const refreshTimeout = time.Minute

// ActiveKey is the key that signs new tokens of one algorithm.
type ActiveKey struct {
	KID string
	Alg string
	// Signer is a *rsa.PrivateKey (RS256), an *ecdsa.PrivateKey (ES256) or an
	// ed25519.PrivateKey (EdDSA).
	Signer crypto.Signer
}

// PublicKey is a published key, for verifying what it signed.
type PublicKey struct {
	KID string
	Alg string
	// Key is a *rsa.PublicKey (RS256), an *ecdsa.PublicKey (ES256) or an
	// ed25519.PublicKey (EdDSA).
	Key crypto.PublicKey
}

// Info describes a stored key, without its private half.
type Info struct {
	KID   string `json:"kid"`
	Alg   string `json:"alg"`
	Use   string `json:"use"`
	State string `json:"state"`
	// Published says whether the key is in the JWKS now: active, or retired and
	// before PublishUntil.
	Published bool `json:"published"`
	// Signing says whether the key signs new tokens now: from its ActivatedAt
	// (a rotated key starts one refresh interval after the rotation, once every
	// instance publishes it) until its RetiredAt.
	Signing      bool       `json:"signing"`
	CreatedAt    time.Time  `json:"created_at"`
	ActivatedAt  time.Time  `json:"activated_at"`
	RetiredAt    *time.Time `json:"retired_at,omitempty"`
	PublishUntil *time.Time `json:"publish_until,omitempty"`
}

func infoOf(k storage.SigningKey, now time.Time) Info {
	return Info{
		KID: k.KID, Alg: k.Alg, Use: k.Use, State: k.State,
		Published:    published(k, now),
		Signing:      signing(k, now),
		CreatedAt:    k.CreatedAt,
		ActivatedAt:  k.ActivatedAt,
		RetiredAt:    k.RetiredAt,
		PublishUntil: k.PublishUntil,
	}
}

// published reports whether k belongs in the JWKS at now.
func published(k storage.SigningKey, now time.Time) bool {
	switch k.State {
	case storage.SigningKeyActive:
		return true
	case storage.SigningKeyRetired:
		return k.PublishUntil != nil && now.Before(*k.PublishUntil)
	}
	return false
}

// signing reports whether k signs new tokens at now: it has been activated
// and, if retired, not yet reached its RetiredAt. A rotation stores the new key
// active with an ActivatedAt one refresh interval ahead and the old one retired
// at that same instant, so the old key signs until the new one starts.
func signing(k storage.SigningKey, now time.Time) bool {
	if now.Before(k.ActivatedAt) {
		return false
	}
	switch k.State {
	case storage.SigningKeyActive:
		return true
	case storage.SigningKeyRetired:
		return k.RetiredAt != nil && now.Before(*k.RetiredAt)
	}
	return false
}

// mayStillSign reports whether k signs at now or will later, so its private
// key must be loaded.
func mayStillSign(k storage.SigningKey, now time.Time) bool {
	return k.State == storage.SigningKeyActive || k.State == storage.SigningKeyRetired && k.RetiredAt != nil && now.Before(*k.RetiredAt)
}

// loadedKey is one key of a snapshot.
type loadedKey struct {
	rec    storage.SigningKey // PrivateKey cleared
	public jose.JSONWebKey
	signer crypto.Signer // nil unless it may still sign
}

// snapshot is an immutable view of the keys, with the JWKS rendered from it.
type snapshot struct {
	keys   []*loadedKey // JWKS order: active first, then newest first
	active map[string]*loadedKey
	byKID  map[string]*loadedKey
	jwks   []byte
	etag   string
	// staleAt is when the snapshot next changes by itself: a retired key leaves
	// the JWKS, a rotated key starts signing or a retired one stops. Zero means
	// never.
	staleAt time.Time
}

// newSnapshot keeps the keys of ks published at now, picks the signing key of
// each algorithm and renders the JWKS.
func newSnapshot(ks []*loadedKey, now time.Time) (*snapshot, error) {
	s := &snapshot{active: map[string]*loadedKey{}, byKID: map[string]*loadedKey{}}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	changeAt := func(t *time.Time) {
		if t != nil && now.Before(*t) && (s.staleAt.IsZero() || t.Before(s.staleAt)) {
			s.staleAt = *t
		}
	}
	for _, k := range ks {
		if !published(k.rec, now) {
			continue
		}
		s.keys = append(s.keys, k)
		s.byKID[k.rec.KID] = k
		// After two quick rotations several keys of one alg may have started;
		// the one that started last signs.
		if signing(k.rec, now) && k.signer != nil {
			if cur, ok := s.active[k.rec.Alg]; !ok || cur.rec.ActivatedAt.Before(k.rec.ActivatedAt) {
				s.active[k.rec.Alg] = k
			}
		}
		changeAt(&k.rec.ActivatedAt)
		changeAt(k.rec.RetiredAt)
		changeAt(k.rec.PublishUntil)
		set.Keys = append(set.Keys, k.public.Public())
	}
	body, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("render JWKS: %w", err)
	}
	sum := sha256.Sum256(body)
	s.jwks = body
	// Every instance renders the same keys in the same order, so the ETag is the
	// same behind any load balancer.
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	return s, nil
}

// jwksOrder puts active keys first (by algorithm, the default first), then retired
// keys newest first.
func jwksOrder(a, b *loadedKey) int {
	ra, rb := a.rec, b.rec
	if (ra.State == storage.SigningKeyActive) != (rb.State == storage.SigningKeyActive) {
		if ra.State == storage.SigningKeyActive {
			return -1
		}
		return 1
	}
	if ra.State == storage.SigningKeyActive {
		return cmp.Compare(slices.Index(Supported(), ra.Alg), slices.Index(Supported(), rb.Alg))
	}
	if c := rb.ActivatedAt.Compare(ra.ActivatedAt); c != 0 {
		return c
	}
	return cmp.Compare(ra.KID, rb.KID)
}

// current returns the snapshot, re-rendered if it changed by itself since it
// was built (see snapshot.staleAt). Re-rendering needs no database.
func (m *Manager) current() (*snapshot, error) {
	s := m.snap.Load()
	if s == nil {
		return nil, errors.New("signing keys not loaded: call EnsureKeys or Refresh first")
	}
	now := m.now()
	if s.staleAt.IsZero() || now.Before(s.staleAt) {
		return s, nil
	}
	ns, err := newSnapshot(s.keys, now)
	if err != nil {
		return nil, err
	}
	// A lost race means another call or a Refresh installed a newer snapshot; ns
	// is still right for now.
	m.snap.CompareAndSwap(s, ns)
	return ns, nil
}

// Signer returns the active key of alg, from memory.
func (m *Manager) Signer(alg string) (ActiveKey, error) {
	if !slices.Contains(Supported(), alg) {
		return ActiveKey{}, fmt.Errorf("signer %q: %w", alg, ErrUnsupportedAlg)
	}
	s, err := m.current()
	if err != nil {
		return ActiveKey{}, err
	}
	k, ok := s.active[alg]
	if !ok {
		return ActiveKey{}, fmt.Errorf("signer %s: %w", alg, ErrNoKey)
	}
	return ActiveKey{KID: k.rec.KID, Alg: k.rec.Alg, Signer: k.signer}, nil
}

// PublicKey returns the published key kid (active, or retired and still before its
// PublishUntil), from memory.
func (m *Manager) PublicKey(kid string) (PublicKey, error) {
	s, err := m.current()
	if err != nil {
		return PublicKey{}, err
	}
	k, ok := s.byKID[kid]
	if !ok {
		return PublicKey{}, fmt.Errorf("public key %q: %w", kid, ErrNoKey)
	}
	return PublicKey{KID: k.rec.KID, Alg: k.rec.Alg, Key: k.public.Key}, nil
}

// JWKS returns the JSON Web Key Set of the published keys (public members only,
// each with kid, alg and use) and a strong ETag for it. The bytes are shared:
// callers must not modify them.
func (m *Manager) JWKS() (body []byte, etag string, err error) {
	s, err := m.current()
	if err != nil {
		return nil, "", err
	}
	return s.jwks, s.etag, nil
}

// Refresh reloads the keys from the database. A key already loaded is not
// unsealed again. On error the previous snapshot stays in use.
func (m *Manager) Refresh(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("refresh signing keys: %w", err)
	}
	now := m.now()
	prev := map[string]*loadedKey{}
	if s := m.snap.Load(); s != nil {
		prev = s.byKID
	}
	var loaded []*loadedKey
	for _, rec := range recs {
		if !published(rec, now) {
			continue
		}
		rec.PrivateKey = nil
		k, err := m.load(ctx, rec, prev[rec.KID])
		if err != nil {
			return fmt.Errorf("refresh signing keys: %w", err)
		}
		loaded = append(loaded, k)
	}
	slices.SortFunc(loaded, jwksOrder)
	s, err := newSnapshot(loaded, now)
	if err != nil {
		return err
	}
	if old := m.snap.Load(); old != nil {
		for alg, k := range s.active {
			if o, ok := old.active[alg]; !ok || o.rec.KID != k.rec.KID {
				m.log.InfoContext(ctx, "signing key in use", "kid", k.rec.KID, "alg", alg)
			}
		}
	} else {
		for alg, k := range s.active {
			m.log.InfoContext(ctx, "signing key in use", "kid", k.rec.KID, "alg", alg)
		}
	}
	m.snap.Store(s)
	return nil
}

// load parses rec, reusing what prev (the same kid in the last snapshot) already
// holds, and unseals the private key of a key that signs now or may later.
func (m *Manager) load(ctx context.Context, rec storage.SigningKey, prev *loadedKey) (*loadedKey, error) {
	active := mayStillSign(rec, m.now())
	if prev != nil && prev.rec.PublicJWK == rec.PublicJWK && (!active || prev.signer != nil) {
		k := *prev
		k.rec = rec
		if !active {
			k.signer = nil
		}
		return &k, nil
	}
	pub, err := parsePublic(rec)
	if err != nil {
		return nil, err
	}
	k := &loadedKey{rec: rec, public: pub}
	if active {
		der, err := m.store.GetSigningKeyPrivate(ctx, rec.KID)
		if err != nil {
			return nil, err
		}
		if k.signer, err = parsePrivate(rec.KID, rec.Alg, der, pub.Key); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Run keeps the keys in step with the database until ctx ends: it refreshes
// when the store announces a rotation (at once, on every instance that listens;
// see storage.Store.Watch) and otherwise every RefreshInterval, so that a key
// rotated on another instance is served here within that interval at worst.
// Each refresh is bounded by a deadline and runs as storage housekeeping, so
// an idle instance sends one statement per RefreshInterval. A failed refresh
// is logged and the keys already loaded stay in use.
func (m *Manager) Run(ctx context.Context) {
	wake, stop := m.store.Watch(storage.TopicSigningKeys)
	defer stop()
	t := time.NewTicker(m.refreshInterval)
	defer t.Stop()
	ctx = storage.Housekeeping(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		rctx, cancel := context.WithTimeout(ctx, refreshTimeout)
		err := m.Refresh(rctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			m.log.WarnContext(ctx, "signing keys not refreshed", "error", err.Error())
		}
	}
}

// EnsureKeys creates an active key of each kept algorithm (RS256, ES256 and any
// Options.Extra) that has none, then loads the keys. Instances that start together may each try: the database allows
// one active key per algorithm, so one creation wins and the others load its key.
func (m *Manager) EnsureKeys(ctx context.Context) error {
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("ensure signing keys: %w", err)
	}
	for _, alg := range m.kept {
		if slices.ContainsFunc(recs, func(k storage.SigningKey) bool {
			return k.Alg == alg && k.State == storage.SigningKeyActive
		}) {
			continue
		}
		rec, der, err := generate(alg, m.now())
		if err != nil {
			return fmt.Errorf("ensure signing keys: %w", err)
		}
		err = m.store.CreateSigningKey(ctx, rec, der)
		switch {
		case errors.Is(err, storage.ErrConflict):
			m.log.InfoContext(ctx, "signing key created by another instance", "alg", alg)
		case err != nil:
			return fmt.Errorf("ensure signing keys: %w", err)
		default:
			m.log.InfoContext(ctx, "signing key created", "kid", rec.KID, "alg", alg)
		}
	}
	return m.Refresh(ctx)
}

// Rotate makes a new key of alg and retires the previous one. The new key is
// published at once and starts signing one RefreshInterval later (at once when
// no key of alg signs yet): by then every
// instance has reloaded its keys (at once if it listens, else at its next
// periodic refresh), so no instance signs a token with a key that another
// instance's JWKS lacks. The previous key signs until then, and stays published
// for MaxTokenLifetime plus one more RefreshInterval (for an instance whose
// refresh failed), so that every token it signed can be verified for its whole
// lifetime. Rotate then reloads this Manager's keys and returns the new key.
func (m *Manager) Rotate(ctx context.Context, alg string) (Info, error) {
	if !slices.Contains(Supported(), alg) {
		return Info{}, fmt.Errorf("rotate %q: %w", alg, ErrUnsupportedAlg)
	}
	now := m.now()
	rec, der, err := generate(alg, now)
	if err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", alg, err)
	}
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", alg, err)
	}
	// With no key of alg signing now (a database without keys), nothing could
	// sign in the meantime: the new key starts at once.
	if slices.ContainsFunc(recs, func(k storage.SigningKey) bool { return k.Alg == alg && signing(k, now) }) {
		rec.ActivatedAt = now.Add(m.refreshInterval)
	}
	publishUntil := rec.ActivatedAt.Add(m.maxTokenLifetime + m.refreshInterval)
	if err := m.store.RotateSigningKey(ctx, rec, der, publishUntil); err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", alg, err)
	}
	m.log.InfoContext(ctx, "signing key rotated", "kid", rec.KID, "alg", alg, "signs_from", rec.ActivatedAt, "previous_published_until", publishUntil)
	if err := m.Refresh(ctx); err != nil {
		return Info{}, err
	}
	return infoOf(rec, now), nil
}

// Prune deletes retired keys that have left the JWKS and returns how many.
func (m *Manager) Prune(ctx context.Context) (int64, error) {
	n, err := m.store.DeleteUnpublishedSigningKeys(ctx, m.now())
	if err != nil {
		return 0, fmt.Errorf("prune signing keys: %w", err)
	}
	if n > 0 {
		m.log.InfoContext(ctx, "unpublished signing keys deleted", "count", n)
	}
	return n, nil
}

// List returns every stored key, newest first, read from the database.
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	now := m.now()
	out := make([]Info, 0, len(recs))
	for _, rec := range recs {
		out = append(out, infoOf(rec, now))
	}
	return out, nil
}

// Kept returns the algorithms m keeps an active key for: Algorithms() and
// Options.Extra.
func (m *Manager) Kept() []string { return slices.Clone(m.kept) }

// ParseAlgs turns an algorithm name (RS256, ES256, EdDSA, in any case) or "all"
// (every kept algorithm, see Kept) into the algorithms to rotate. Anything else
// gets an error wrapping ErrUnsupportedAlg.
func (m *Manager) ParseAlgs(name string) ([]string, error) {
	if strings.EqualFold(name, "all") {
		return m.Kept(), nil
	}
	for _, a := range Supported() {
		if strings.EqualFold(name, a) {
			return []string{a}, nil
		}
	}
	return nil, fmt.Errorf("algorithm %q: %w", name, ErrUnsupportedAlg)
}

// RotateEach rotates the key of each of algs (see Rotate), then deletes retired
// keys that have left the JWKS (see Prune), and returns the new keys. It is what
// `gatehouse keys rotate` and the admin API do.
func (m *Manager) RotateEach(ctx context.Context, algs []string) ([]Info, error) {
	out := make([]Info, 0, len(algs))
	for _, a := range algs {
		info, err := m.Rotate(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	if _, err := m.Prune(ctx); err != nil {
		return nil, err
	}
	return out, nil
}
