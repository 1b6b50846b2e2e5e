package keys_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/go-jose/go-jose/v4"
)

// backend names a database every test runs on. newDB returns the URL of a new,
// empty database; several stores may be opened on it, as several instances would.
type backend struct {
	name  string
	newDB func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"SQLite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db") }},
		{"Postgres", func(t *testing.T) string { return storagetest.NewPostgresDatabase(t) }},
	}
}

// forEachBackend runs test on every backend with a fresh database.
func forEachBackend(t *testing.T, test func(t *testing.T, dbURL string)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { test(t, b.newDB(t)) })
	}
}

func openStore(t *testing.T, dbURL string) *storage.Store {
	t.Helper()
	return storagetest.OpenURL(t, dbURL, storage.PoolerNone)
}

// clock is a settable clock for one test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

func newManager(t *testing.T, s *storage.Store, c *clock) *keys.Manager {
	t.Helper()
	return keys.New(s, keys.Options{Now: c.Now, RefreshInterval: time.Minute, MaxTokenLifetime: time.Hour})
}

func mustSigner(t *testing.T, m *keys.Manager, alg string) keys.ActiveKey {
	t.Helper()
	k, err := m.Signer(alg)
	if err != nil {
		t.Fatalf("Signer(%s): %v", alg, err)
	}
	return k
}

// jwksKIDs returns the kids in the manager's JWKS, in order.
func jwksKIDs(t *testing.T, m *keys.Manager) []string {
	t.Helper()
	body, _, err := m.JWKS()
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS is not a JWK Set: %v\n%s", err, body)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func TestJWKSHasPublicMembersOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dbURL string) {
		m := newManager(t, openStore(t, dbURL), newClock())
		if err := m.EnsureKeys(t.Context()); err != nil {
			t.Fatalf("EnsureKeys: %v", err)
		}
		body, etag, err := m.JWKS()
		if err != nil {
			t.Fatalf("JWKS: %v", err)
		}
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("JWKS: %v\n%s", err, body)
		}
		if len(doc.Keys) != 2 {
			t.Fatalf("JWKS has %d keys, want 2 (RS256 and ES256):\n%s", len(doc.Keys), body)
		}
		wantKty := map[string]string{keys.RS256: "RSA", keys.ES256: "EC"}
		var algs []string
		for _, k := range doc.Keys {
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
				if _, ok := k[private]; ok {
					t.Errorf("JWKS key %v has private member %q", k["kid"], private)
				}
			}
			kid, _ := k["kid"].(string)
			alg, _ := k["alg"].(string)
			if kid == "" || k["use"] != "sig" || k["kty"] != wantKty[alg] {
				t.Errorf("JWKS key = kid %q alg %q use %v kty %v; want a kid, use sig and the kty of the alg", kid, alg, k["use"], k["kty"])
			}
			algs = append(algs, alg)
		}
		if !slices.Equal(algs, []string{keys.RS256, keys.ES256}) {
			t.Errorf("JWKS algs = %v, want [RS256 ES256]", algs)
		}
		if len(etag) < 10 || etag[0] != '"' || etag[len(etag)-1] != '"' {
			t.Errorf("ETag = %q, want a quoted strong validator", etag)
		}
		if _, again, _ := m.JWKS(); again != etag {
			t.Errorf("ETag changed without a key change: %q then %q", etag, again)
		}

		// A second start creates nothing.
		before := jwksKIDs(t, m)
		if err := m.EnsureKeys(t.Context()); err != nil {
			t.Fatalf("EnsureKeys again: %v", err)
		}
		if after := jwksKIDs(t, m); !slices.Equal(before, after) {
			t.Errorf("EnsureKeys on existing keys changed the JWKS: %v → %v", before, after)
		}
	})
}

func TestRotationKeepsOldKeyPublishedUntilTokensExpire(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dbURL string) {
		ctx := t.Context()
		c := newClock()
		m := newManager(t, openStore(t, dbURL), c)
		if err := m.EnsureKeys(ctx); err != nil {
			t.Fatalf("EnsureKeys: %v", err)
		}
		old := mustSigner(t, m, keys.RS256)
		es := mustSigner(t, m, keys.ES256)
		_, oldETag, _ := m.JWKS()

		c.Advance(time.Hour)
		rotatedAt := c.Now()
		info, err := m.Rotate(ctx, keys.RS256)
		if err != nil {
			t.Fatalf("Rotate(RS256): %v", err)
		}
		// Published at once, signing one refresh interval (1m) later.
		signsFrom := rotatedAt.Add(time.Minute)
		if !info.ActivatedAt.Equal(signsFrom) || info.Signing || !info.Published {
			t.Errorf("Rotate = %+v, want published, not signing before %v", info, signsFrom)
		}
		want := []string{info.KID, es.KID, old.KID}
		if got := jwksKIDs(t, m); !slices.Equal(got, want) {
			t.Errorf("JWKS after rotation = %v, want %v (active keys, then the retired one)", got, want)
		}
		if _, etag, _ := m.JWKS(); etag == oldETag {
			t.Error("JWKS ETag did not change with the key set")
		}
		c.Set(signsFrom.Add(-time.Microsecond))
		if got := mustSigner(t, m, keys.RS256); got.KID != old.KID {
			t.Errorf("Signer(RS256) before the new key's start = %s, want the old key %s", got.KID, old.KID)
		}
		// The new key takes over at its start without waiting for a refresh.
		c.Set(signsFrom)
		cur := mustSigner(t, m, keys.RS256)
		if cur.KID != info.KID {
			t.Fatalf("Signer(RS256) at the new key's start = %s, want the new key %s (old %s)", cur.KID, info.KID, old.KID)
		}
		if got := mustSigner(t, m, keys.ES256); got.KID != es.KID {
			t.Errorf("Signer(ES256) after an RS256 rotation = %s, want unchanged %s", got.KID, es.KID)
		}

		list, err := m.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		// Published for MaxTokenLifetime (1h) plus RefreshInterval (1m) after it
		// stopped signing.
		publishUntil := signsFrom.Add(time.Hour + time.Minute)
		i := slices.IndexFunc(list, func(k keys.Info) bool { return k.KID == old.KID })
		if i < 0 || list[i].State != storage.SigningKeyRetired || !list[i].Published || list[i].Signing ||
			list[i].PublishUntil == nil || !list[i].PublishUntil.Equal(publishUntil) {
			t.Fatalf("List: old key = %+v, want retired, not signing, published until %v", list, publishUntil)
		}

		c.Set(publishUntil.Add(-time.Microsecond))
		if _, err := m.PublicKey(old.KID); err != nil {
			t.Errorf("PublicKey(old) just before PublishUntil: %v", err)
		}
		if got := jwksKIDs(t, m); !slices.Contains(got, old.KID) {
			t.Errorf("JWKS just before PublishUntil = %v, want the old key still there", got)
		}

		// The JWKS drops the key at PublishUntil without waiting for a refresh.
		c.Set(publishUntil)
		if got := jwksKIDs(t, m); !slices.Equal(got, []string{cur.KID, es.KID}) {
			t.Errorf("JWKS at PublishUntil = %v, want only the active keys", got)
		}
		if _, err := m.PublicKey(old.KID); !errors.Is(err, keys.ErrNoKey) {
			t.Errorf("PublicKey(old) at PublishUntil error = %v, want ErrNoKey", err)
		}
		if err := m.Refresh(ctx); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if got := jwksKIDs(t, m); slices.Contains(got, old.KID) {
			t.Errorf("JWKS after Refresh = %v, want the old key gone", got)
		}
		if n, err := m.Prune(ctx); err != nil || n != 1 {
			t.Errorf("Prune = %d, %v; want 1 key deleted", n, err)
		}
	})
}

func TestRotationReachesOtherInstanceOnRefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dbURL string) {
		ctx := t.Context()
		c := newClock()
		a := newManager(t, openStore(t, dbURL), c)
		b := newManager(t, openStore(t, dbURL), c)
		if err := a.EnsureKeys(ctx); err != nil {
			t.Fatalf("a.EnsureKeys: %v", err)
		}
		if err := b.EnsureKeys(ctx); err != nil {
			t.Fatalf("b.EnsureKeys: %v", err)
		}
		old := mustSigner(t, b, keys.ES256)
		if got := mustSigner(t, a, keys.ES256); got.KID != old.KID {
			t.Fatalf("two instances sign with %s and %s, want one key", got.KID, old.KID)
		}

		info, err := a.Rotate(ctx, keys.ES256)
		if err != nil {
			t.Fatalf("a.Rotate: %v", err)
		}
		// No instance signs with the new key before every instance publishes
		// it: a keeps signing with the old one until the refresh interval has
		// passed, and b has not reloaded yet.
		for name, m := range map[string]*keys.Manager{"a": a, "b": b} {
			if got := mustSigner(t, m, keys.ES256); got.KID != old.KID {
				t.Errorf("%s signs with %s right after the rotation, want the old %s", name, got.KID, old.KID)
			}
		}
		if slices.Contains(jwksKIDs(t, b), info.KID) {
			t.Fatalf("b publishes the new key before refreshing")
		}
		if !slices.Contains(jwksKIDs(t, a), info.KID) {
			t.Errorf("a does not publish the key it just made")
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatalf("b.Refresh: %v", err)
		}
		if !slices.Contains(jwksKIDs(t, b), info.KID) {
			t.Errorf("b does not publish the new key after refreshing")
		}
		c.Set(info.ActivatedAt)
		for name, m := range map[string]*keys.Manager{"a": a, "b": b} {
			if got := mustSigner(t, m, keys.ES256); got.KID != info.KID {
				t.Errorf("%s signs with %s once the new key has started, want %s", name, got.KID, info.KID)
			}
		}
		aBody, aTag, _ := a.JWKS()
		bBody, bTag, _ := b.JWKS()
		if string(aBody) != string(bBody) || aTag != bTag {
			t.Errorf("instances serve different JWKS:\n%s (%s)\n%s (%s)", aBody, aTag, bBody, bTag)
		}
	})
}

func TestRunRefreshesPeriodically(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dbURL string) {
		ctx := t.Context()
		c := newClock()
		a := newManager(t, openStore(t, dbURL), c)
		b := keys.New(openStore(t, dbURL), keys.Options{Now: c.Now, RefreshInterval: 5 * time.Millisecond})
		if err := a.EnsureKeys(ctx); err != nil {
			t.Fatalf("a.EnsureKeys: %v", err)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatalf("b.Refresh: %v", err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { b.Run(runCtx); close(done) }()
		defer func() { stop(); <-done }()

		info, err := a.Rotate(ctx, keys.RS256)
		if err != nil {
			t.Fatalf("a.Rotate: %v", err)
		}
		waitPublished(t, b, info.KID, "b does not publish the new key 10 s after a rotation, with a 5 ms refresh interval")
		c.Set(info.ActivatedAt)
		if got := mustSigner(t, b, keys.RS256); got.KID != info.KID {
			t.Errorf("b signs with %s once the new key has started, want %s", got.KID, info.KID)
		}
	})
}

// waitPublished polls m's JWKS until it holds kid, failing after 10 seconds.
func waitPublished(t *testing.T, m *keys.Manager, kid, failure string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for !slices.Contains(jwksKIDs(t, m), kid) {
		select {
		case <-deadline:
			t.Fatal(failure)
		case <-poll.C:
		}
	}
}

// TestRunRefreshesOnRotation: on PostgreSQL a rotation on one instance reaches
// another that listens at once, although its refresh interval is an hour, so
// an idle instance need not poll for keys.
func TestRunRefreshesOnRotation(t *testing.T) {
	ctx := t.Context()
	dbURL := storagetest.NewPostgresDatabase(t)
	c := newClock()
	a := newManager(t, openStore(t, dbURL), c)
	bStore := openStore(t, dbURL)
	b := keys.New(bStore, keys.Options{Now: c.Now, RefreshInterval: time.Hour})
	if err := a.EnsureKeys(ctx); err != nil {
		t.Fatalf("a.EnsureKeys: %v", err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatalf("b.Refresh: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { b.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	waitFor(t, "b's store listening", bStore.Listening)

	info, err := a.Rotate(ctx, keys.ES256)
	if err != nil {
		t.Fatalf("a.Rotate: %v", err)
	}
	waitPublished(t, b, info.KID, "b does not publish the new key 10 s after a rotation, with a 1 h refresh interval")
}

// TestRotateWithoutKeysSignsAtOnce: the first key of an algorithm, made by a
// rotation on an empty database, signs at once: no key could sign meanwhile.
func TestRotateWithoutKeysSignsAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dbURL string) {
		m := newManager(t, openStore(t, dbURL), newClock())
		infos, err := m.RotateEach(t.Context(), keys.Algorithms())
		if err != nil {
			t.Fatalf("RotateEach on an empty database: %v", err)
		}
		for _, info := range infos {
			if !info.Signing {
				t.Errorf("first %s key %+v does not sign at once", info.Alg, info)
			}
			if got := mustSigner(t, m, info.Alg); got.KID != info.KID {
				t.Errorf("Signer(%s) = %s, want the first key %s", info.Alg, got.KID, info.KID)
			}
		}
	})
}

// TestRotateTwiceQuickly: a second rotation before the first key has started
// still leaves exactly one signer per algorithm at every moment, the newest
// started key, and every key that may have signed stays published.
func TestRotateTwiceQuickly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dbURL string) {
		ctx := t.Context()
		c := newClock()
		m := newManager(t, openStore(t, dbURL), c)
		if err := m.EnsureKeys(ctx); err != nil {
			t.Fatalf("EnsureKeys: %v", err)
		}
		k0 := mustSigner(t, m, keys.RS256)
		k1, err := m.Rotate(ctx, keys.RS256)
		if err != nil {
			t.Fatalf("Rotate 1: %v", err)
		}
		c.Advance(30 * time.Second)
		k2, err := m.Rotate(ctx, keys.RS256)
		if err != nil {
			t.Fatalf("Rotate 2: %v", err)
		}
		for _, step := range []struct {
			at   time.Time
			want string
		}{
			{k1.ActivatedAt.Add(-time.Microsecond), k0.KID},
			{k1.ActivatedAt, k1.KID},
			{k2.ActivatedAt.Add(-time.Microsecond), k1.KID},
			{k2.ActivatedAt, k2.KID},
		} {
			c.Set(step.at)
			if got := mustSigner(t, m, keys.RS256); got.KID != step.want {
				t.Errorf("Signer(RS256) at %v = %s, want %s", step.at, got.KID, step.want)
			}
			if err := m.Refresh(ctx); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if got := mustSigner(t, m, keys.RS256); got.KID != step.want {
				t.Errorf("Signer(RS256) at %v after Refresh = %s, want %s", step.at, got.KID, step.want)
			}
			for _, kid := range []string{k0.KID, k1.KID, k2.KID} {
				if !slices.Contains(jwksKIDs(t, m), kid) {
					t.Errorf("JWKS at %v lacks %s", step.at, kid)
				}
			}
		}
	})
}

// waitFor polls cond until it holds, failing after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-poll.C:
		}
	}
}

func TestEnsureKeysConcurrentStartCreatesOneKeyPerAlg(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dbURL string) {
		c := newClock()
		const instances = 4
		ms := make([]*keys.Manager, instances)
		for i := range ms {
			ms[i] = newManager(t, openStore(t, dbURL), c)
		}
		errs := make([]error, instances)
		var wg sync.WaitGroup
		for i, m := range ms {
			wg.Go(func() { errs[i] = m.EnsureKeys(t.Context()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("EnsureKeys on instance %d: %v", i, err)
			}
		}
		list, err := ms[0].List(t.Context())
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, alg := range keys.Algorithms() {
			n := 0
			for _, k := range list {
				if k.Alg == alg && k.State == storage.SigningKeyActive {
					n++
				}
			}
			if n != 1 {
				t.Errorf("active %s keys after %d concurrent starts = %d, want 1", alg, instances, n)
			}
		}
		if len(list) != 2 {
			t.Errorf("keys after %d concurrent starts = %d, want 2", instances, len(list))
		}
		for _, alg := range keys.Algorithms() {
			want := mustSigner(t, ms[0], alg).KID
			for i, m := range ms[1:] {
				if got := mustSigner(t, m, alg).KID; got != want {
					t.Errorf("instance %d signs %s with %s, instance 0 with %s", i+1, alg, got, want)
				}
			}
		}
	})
}

func TestSignedTokenVerifiesWithJWKS(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dbURL string) {
		m := keys.New(openStore(t, dbURL), keys.Options{Now: newClock().Now, Extra: []string{keys.EdDSA}})
		if err := m.EnsureKeys(t.Context()); err != nil {
			t.Fatalf("EnsureKeys: %v", err)
		}
		body, _, err := m.JWKS()
		if err != nil {
			t.Fatalf("JWKS: %v", err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(body, &set); err != nil {
			t.Fatalf("JWKS: %v", err)
		}
		for _, alg := range keys.Supported() {
			t.Run(alg, func(t *testing.T) {
				k := mustSigner(t, m, alg)
				signer, err := jose.NewSigner(jose.SigningKey{
					Algorithm: jose.SignatureAlgorithm(k.Alg),
					Key:       jose.JSONWebKey{Key: k.Signer, KeyID: k.KID, Algorithm: k.Alg},
				}, (&jose.SignerOptions{}).WithType("JWT"))
				if err != nil {
					t.Fatalf("NewSigner: %v", err)
				}
				payload := []byte(`{"iss":"https://id.example","sub":"alice"}`)
				jws, err := signer.Sign(payload)
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				compact, err := jws.CompactSerialize()
				if err != nil {
					t.Fatalf("CompactSerialize: %v", err)
				}

				parsed, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
				if err != nil {
					t.Fatalf("ParseSigned: %v", err)
				}
				kid := parsed.Signatures[0].Header.KeyID
				if kid != k.KID || parsed.Signatures[0].Header.Algorithm != alg {
					t.Fatalf("JWS header kid %q alg %q, want %q %q", kid, parsed.Signatures[0].Header.Algorithm, k.KID, alg)
				}
				found := set.Key(kid)
				if len(found) != 1 {
					t.Fatalf("JWKS has %d keys with kid %s, want 1", len(found), kid)
				}
				got, err := parsed.Verify(found[0])
				if err != nil {
					t.Fatalf("Verify with the JWKS key: %v", err)
				}
				if string(got) != string(payload) {
					t.Errorf("verified payload = %s, want %s", got, payload)
				}
				pub, err := m.PublicKey(kid)
				if err != nil {
					t.Fatalf("PublicKey(%s): %v", kid, err)
				}
				if _, err := parsed.Verify(pub.Key); err != nil || pub.Alg != alg {
					t.Errorf("Verify with PublicKey(%s) (alg %s): %v", kid, pub.Alg, err)
				}
			})
		}
	})
}

// TestEdDSAKeyLifecycle checks that an EdDSA key, kept on request, is created
// once, sealed in the database (another instance unseals the same key),
// published as an OKP key without private members, rotated like the others, and
// included in "all" only where it is kept.
func TestEdDSAKeyLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dbURL string) {
		ctx := t.Context()
		c := newClock()
		opts := keys.Options{Now: c.Now, RefreshInterval: time.Minute, MaxTokenLifetime: time.Hour, Extra: []string{keys.EdDSA}}
		m := keys.New(openStore(t, dbURL), opts)
		if err := m.EnsureKeys(ctx); err != nil {
			t.Fatalf("EnsureKeys: %v", err)
		}
		ed := mustSigner(t, m, keys.EdDSA)
		if _, ok := ed.Signer.(ed25519.PrivateKey); !ok {
			t.Fatalf("Signer(EdDSA) = %T, want an ed25519.PrivateKey", ed.Signer)
		}
		body, _, _ := m.JWKS()
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("JWKS: %v", err)
		}
		var algs []string
		for _, k := range doc.Keys {
			algs = append(algs, k["alg"].(string))
			if k["alg"] == keys.EdDSA {
				if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["kid"] != ed.KID || k["use"] != "sig" {
					t.Errorf("JWKS EdDSA key = %v, want kty OKP, crv Ed25519, kid %s, use sig", k, ed.KID)
				}
				if _, ok := k["d"]; ok {
					t.Errorf("JWKS EdDSA key has its private member d")
				}
			}
		}
		if !slices.Equal(algs, []string{keys.RS256, keys.ES256, keys.EdDSA}) {
			t.Errorf("JWKS algs = %v, want [RS256 ES256 EdDSA]", algs)
		}

		// Another instance that keeps EdDSA creates nothing and unseals the same key.
		other := keys.New(openStore(t, dbURL), opts)
		if err := other.EnsureKeys(ctx); err != nil {
			t.Fatalf("EnsureKeys on a second instance: %v", err)
		}
		if got := mustSigner(t, other, keys.EdDSA); got.KID != ed.KID || !ed.Signer.(ed25519.PrivateKey).Equal(got.Signer) {
			t.Errorf("second instance's EdDSA key = %s, want the first instance's %s with the same private key", got.KID, ed.KID)
		}
		// One that does not keep EdDSA still publishes the stored key, but
		// "all" leaves it alone.
		plain := newManager(t, openStore(t, dbURL), c)
		if err := plain.EnsureKeys(ctx); err != nil {
			t.Fatalf("EnsureKeys without EdDSA: %v", err)
		}
		if !slices.Contains(jwksKIDs(t, plain), ed.KID) {
			t.Errorf("JWKS of an instance that does not keep EdDSA = %v, want the stored EdDSA key %s too", jwksKIDs(t, plain), ed.KID)
		}
		if all, _ := plain.ParseAlgs("all"); !slices.Equal(all, []string{keys.RS256, keys.ES256}) {
			t.Errorf("ParseAlgs(all) without EdDSA kept = %v, want [RS256 ES256]", all)
		}
		all, err := m.ParseAlgs("ALL")
		if err != nil || !slices.Equal(all, []string{keys.RS256, keys.ES256, keys.EdDSA}) {
			t.Fatalf("ParseAlgs(ALL) with EdDSA kept = %v, %v; want [RS256 ES256 EdDSA]", all, err)
		}
		if one, err := m.ParseAlgs("eddsa"); err != nil || !slices.Equal(one, []string{keys.EdDSA}) {
			t.Errorf("ParseAlgs(eddsa) = %v, %v; want [EdDSA]", one, err)
		}

		c.Advance(time.Hour)
		rotated, err := m.RotateEach(ctx, []string{keys.EdDSA})
		if err != nil || len(rotated) != 1 || rotated[0].Alg != keys.EdDSA || !rotated[0].Published || rotated[0].Signing {
			t.Fatalf("RotateEach(EdDSA) = %+v, %v; want one new EdDSA key, published, not yet signing", rotated, err)
		}
		if got := mustSigner(t, m, keys.EdDSA); got.KID != ed.KID {
			t.Errorf("Signer(EdDSA) right after rotation = %s, want the old key %s until the new one starts", got.KID, ed.KID)
		}
		c.Advance(time.Minute)
		if got := mustSigner(t, m, keys.EdDSA); got.KID != rotated[0].KID {
			t.Errorf("Signer(EdDSA) one refresh interval later = %s, want the new key %s", got.KID, rotated[0].KID)
		}
		if kids := jwksKIDs(t, m); !slices.Contains(kids, ed.KID) || !slices.Contains(kids, rotated[0].KID) {
			t.Errorf("JWKS after the EdDSA rotation = %v, want the new key %s and the retired %s", kids, rotated[0].KID, ed.KID)
		}
		if pub, err := m.PublicKey(ed.KID); err != nil || pub.Alg != keys.EdDSA {
			t.Errorf("PublicKey(retired EdDSA key) = %+v, %v; want it still published", pub, err)
		}
	})
}

func TestUnsupportedAndUnloaded(t *testing.T) {
	s := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"))
	m := newManager(t, s, newClock())
	if _, err := m.Signer(keys.RS256); err == nil {
		t.Error("Signer before any load succeeded, want an error")
	}
	if _, _, err := m.JWKS(); err == nil {
		t.Error("JWKS before any load succeeded, want an error")
	}
	if err := m.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh on an empty database: %v", err)
	}
	if _, err := m.Signer(keys.RS256); !errors.Is(err, keys.ErrNoKey) {
		t.Errorf("Signer(RS256) with no keys error = %v, want ErrNoKey", err)
	}
	if body, _, err := m.JWKS(); err != nil || string(body) != `{"keys":[]}` {
		t.Errorf("JWKS with no keys = %s, %v; want an empty set", body, err)
	}
	for _, alg := range []string{"HS256", "none", "rs256", ""} {
		if _, err := m.Signer(alg); !errors.Is(err, keys.ErrUnsupportedAlg) {
			t.Errorf("Signer(%q) error = %v, want ErrUnsupportedAlg", alg, err)
		}
		if _, err := m.Rotate(t.Context(), alg); !errors.Is(err, keys.ErrUnsupportedAlg) {
			t.Errorf("Rotate(%q) error = %v, want ErrUnsupportedAlg", alg, err)
		}
	}
	if _, err := m.PublicKey("nope"); !errors.Is(err, keys.ErrNoKey) {
		t.Errorf("PublicKey(unknown) error = %v, want ErrNoKey", err)
	}
}

// TestNoSystemSecretRefusesToStoreKeys checks that private keys are never written
// in clear: a store opened without system secrets refuses to create them.
func TestNoSystemSecretRefusesToStoreKeys(t *testing.T) {
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
	openStore(t, dbURL) // migrates
	bare, err := storage.Open(storage.Options{URL: dbURL, Pooler: storage.PoolerNone})
	if err != nil {
		t.Fatalf("open without secrets: %v", err)
	}
	t.Cleanup(func() { bare.Close() })
	m := newManager(t, bare, newClock())
	if err := m.EnsureKeys(t.Context()); err == nil {
		t.Fatal("EnsureKeys on a store without system secrets succeeded, want a refusal")
	}
	list, err := m.List(t.Context())
	if err != nil || len(list) != 0 {
		t.Errorf("List after the refusal = %d keys, %v; want none stored", len(list), err)
	}
}
