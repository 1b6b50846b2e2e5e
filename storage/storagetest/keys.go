package storagetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// keyCases covers signing keys.
func keyCases() []Case {
	return []Case{
		{"SigningKeyCreateListUnseal", testSigningKeyCreateListUnseal},
		{"SigningKeySealedAtRest", testSigningKeySealedAtRest},
		{"SigningKeyRotate", testSigningKeyRotate},
		{"SigningKeyRotateConcurrent", testSigningKeyRotateConcurrent},
		{"SigningKeyDeleteUnpublished", testSigningKeyDeleteUnpublished},
	}
}

// keyEpoch is a fixed instant the key tests count from.
func keyEpoch() time.Time { return time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC) }

// newTestKey returns a signing-key record and a real PKCS #8 DER private key. The
// storage layer does not parse either; the DER is real so that the at-rest test
// looks for something worth hiding.
func newTestKey(t *testing.T, alg string, created time.Time) (storage.SigningKey, []byte) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err, "generate key")
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	must(t, err, "marshal key")
	var b [8]byte
	rand.Read(b[:])
	kid := "kid-" + hex.EncodeToString(b[:])
	return storage.SigningKey{
		KID:         kid,
		Alg:         alg,
		PublicJWK:   fmt.Sprintf(`{"kty":"EC","kid":%q,"alg":%q,"use":"sig"}`, kid, alg),
		ActivatedAt: created,
		CreatedAt:   created,
	}, der
}

// rawPrivateKey reads the private_key column of kid as stored.
func rawPrivateKey(t *testing.T, s *storage.Store, kid string) []byte {
	t.Helper()
	q := "SELECT private_key FROM signing_keys WHERE kid = ?"
	if s.Dialect() == storage.Postgres {
		q = "SELECT private_key FROM signing_keys WHERE kid = $1"
	}
	var raw []byte
	must(t, s.DB().QueryRowContext(t.Context(), q, kid).Scan(&raw), "read raw private key of %s", kid)
	return raw
}

func keysByKID(t *testing.T, s *storage.Store) map[string]storage.SigningKey {
	t.Helper()
	list, err := s.ListSigningKeys(t.Context())
	must(t, err, "ListSigningKeys")
	m := map[string]storage.SigningKey{}
	for _, k := range list {
		m[k.KID] = k
	}
	return m
}

func countActive(keys []storage.SigningKey, alg string) int {
	n := 0
	for _, k := range keys {
		if k.Alg == alg && k.State == storage.SigningKeyActive {
			n++
		}
	}
	return n
}

func testSigningKeyCreateListUnseal(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	rs, rsDER := newTestKey(t, "RS256", keyEpoch())
	es, esDER := newTestKey(t, "ES256", keyEpoch().Add(time.Minute))
	must(t, s.CreateSigningKey(ctx, rs, rsDER), "CreateSigningKey(RS256)")
	must(t, s.CreateSigningKey(ctx, es, esDER), "CreateSigningKey(ES256)")

	list, err := s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	if len(list) != 2 || list[0].KID != es.KID || list[1].KID != rs.KID {
		t.Fatalf("ListSigningKeys = %d keys, want ES256 then RS256 (newest first)", len(list))
	}
	got := list[1]
	if got.Alg != "RS256" || got.Use != "sig" || got.State != storage.SigningKeyActive ||
		got.PublicJWK != rs.PublicJWK || !got.CreatedAt.Equal(keyEpoch()) || !got.ActivatedAt.Equal(keyEpoch()) ||
		got.RetiredAt != nil || got.PublishUntil != nil {
		t.Errorf("ListSigningKeys()[1] = %+v, want the RS256 key as created, active, use sig", got)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}

	for _, c := range []struct {
		kid  string
		want []byte
	}{{rs.KID, rsDER}, {es.KID, esDER}} {
		priv, err := s.GetSigningKeyPrivate(ctx, c.kid)
		must(t, err, "GetSigningKeyPrivate(%s)", c.kid)
		if !bytes.Equal(priv, c.want) {
			t.Errorf("GetSigningKeyPrivate(%s) differs from the DER given to CreateSigningKey", c.kid)
		}
	}
	if _, err := s.GetSigningKeyPrivate(ctx, "no-such-kid"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetSigningKeyPrivate(unknown) error = %v, want ErrNotFound", err)
	}

	if err := s.CreateSigningKey(ctx, rs, rsDER); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateSigningKey(same kid) error = %v, want ErrConflict", err)
	}
	second, secondDER := newTestKey(t, "RS256", keyEpoch().Add(2*time.Minute))
	if err := s.CreateSigningKey(ctx, second, secondDER); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateSigningKey(second active RS256) error = %v, want ErrConflict", err)
	}
	second.State = storage.SigningKeyRetired
	must(t, s.CreateSigningKey(ctx, second, secondDER), "CreateSigningKey(retired RS256 beside an active one)")
}

func testSigningKeySealedAtRest(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	a, aDER := newTestKey(t, "RS256", keyEpoch())
	b, bDER := newTestKey(t, "ES256", keyEpoch())
	must(t, s.CreateSigningKey(ctx, a, aDER), "CreateSigningKey(a)")
	must(t, s.CreateSigningKey(ctx, b, bDER), "CreateSigningKey(b)")

	raw := rawPrivateKey(t, s, a.KID)
	if len(raw) == 0 || bytes.Equal(raw, aDER) || bytes.Contains(raw, aDER[len(aDER)-32:]) {
		t.Fatalf("private_key column holds the key in clear (or nothing): %d bytes", len(raw))
	}

	// The sealed key is bound to its kid: copied to another row, it does not open.
	q := "UPDATE signing_keys SET private_key = ? WHERE kid = ?"
	if s.Dialect() == storage.Postgres {
		q = "UPDATE signing_keys SET private_key = $1 WHERE kid = $2"
	}
	_, err := s.DB().ExecContext(ctx, q, raw, b.KID)
	must(t, err, "copy sealed key to another row")
	if _, err := s.GetSigningKeyPrivate(ctx, b.KID); !errors.Is(err, storage.ErrUnsealable) {
		t.Errorf("GetSigningKeyPrivate(row with another row's sealed key) error = %v, want ErrUnsealable", err)
	}
}

func testSigningKeyRotate(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	old, oldDER := newTestKey(t, "RS256", keyEpoch())
	es, esDER := newTestKey(t, "ES256", keyEpoch())
	must(t, s.CreateSigningKey(ctx, old, oldDER), "CreateSigningKey(old)")
	must(t, s.CreateSigningKey(ctx, es, esDER), "CreateSigningKey(ES256)")

	rotatedAt := keyEpoch().Add(time.Hour)
	until := rotatedAt.Add(24 * time.Hour)
	next, nextDER := newTestKey(t, "RS256", rotatedAt)
	must(t, s.RotateSigningKey(ctx, next, nextDER, until), "RotateSigningKey")

	keys := keysByKID(t, s)
	if len(keys) != 3 {
		t.Fatalf("after rotation %d keys, want 3", len(keys))
	}
	if k := keys[next.KID]; k.State != storage.SigningKeyActive || k.RetiredAt != nil || k.PublishUntil != nil {
		t.Errorf("new key = state %s, retired %v, publish until %v; want active, nil, nil", k.State, k.RetiredAt, k.PublishUntil)
	}
	k := keys[old.KID]
	if k.State != storage.SigningKeyRetired || k.RetiredAt == nil || !k.RetiredAt.Equal(rotatedAt) ||
		k.PublishUntil == nil || !k.PublishUntil.Equal(until) {
		t.Errorf("old key = state %s, retired %v, publish until %v; want retired at %v until %v",
			k.State, k.RetiredAt, k.PublishUntil, rotatedAt, until)
	}
	if k := keys[es.KID]; k.State != storage.SigningKeyActive {
		t.Errorf("ES256 key state after an RS256 rotation = %s, want active", k.State)
	}
	priv, err := s.GetSigningKeyPrivate(ctx, next.KID)
	must(t, err, "GetSigningKeyPrivate(new)")
	if !bytes.Equal(priv, nextDER) {
		t.Error("GetSigningKeyPrivate(new) differs from the DER given to RotateSigningKey")
	}

	// Rotating with no active key of the alg simply makes one.
	s2, s2DER := newTestKey(t, "ES256", rotatedAt)
	must(t, s.RotateSigningKey(ctx, s2, s2DER, until), "RotateSigningKey(ES256)")
	list, err := s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	if n := countActive(list, "ES256"); n != 1 {
		t.Errorf("active ES256 keys = %d, want 1", n)
	}
}

func testSigningKeyRotateConcurrent(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	first, firstDER := newTestKey(t, "RS256", keyEpoch())
	must(t, s.CreateSigningKey(ctx, first, firstDER), "CreateSigningKey")

	const n = 10
	type rot struct {
		key storage.SigningKey
		der []byte
	}
	rots := make([]rot, n)
	for i := range rots {
		rots[i].key, rots[i].der = newTestKey(t, "RS256", keyEpoch().Add(time.Duration(i+1)*time.Second))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range rots {
		wg.Go(func() {
			errs[i] = s.RotateSigningKey(ctx, rots[i].key, rots[i].der, keyEpoch().Add(48*time.Hour))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent RotateSigningKey %d: %v", i, err)
		}
	}
	list, err := s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	if len(list) != n+1 {
		t.Errorf("keys after %d rotations = %d, want %d", n, len(list), n+1)
	}
	if got := countActive(list, "RS256"); got != 1 {
		t.Errorf("active RS256 keys after %d concurrent rotations = %d, want exactly 1", n, got)
	}
	for _, k := range list {
		if k.State == storage.SigningKeyRetired && (k.RetiredAt == nil || k.PublishUntil == nil) {
			t.Errorf("retired key %s: retired at %v, publish until %v; want both set", k.KID, k.RetiredAt, k.PublishUntil)
		}
	}
}

func testSigningKeyDeleteUnpublished(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	old, oldDER := newTestKey(t, "RS256", keyEpoch())
	must(t, s.CreateSigningKey(ctx, old, oldDER), "CreateSigningKey")
	es, esDER := newTestKey(t, "ES256", keyEpoch())
	must(t, s.CreateSigningKey(ctx, es, esDER), "CreateSigningKey(ES256)")
	until := keyEpoch().Add(2 * time.Hour)
	next, nextDER := newTestKey(t, "RS256", keyEpoch().Add(time.Hour))
	must(t, s.RotateSigningKey(ctx, next, nextDER, until), "RotateSigningKey")

	for _, c := range []struct {
		name string
		now  time.Time
		want int64
	}{
		{"before PublishUntil", until.Add(-time.Microsecond), 0},
		{"at PublishUntil", until, 1},
		{"long after, nothing left but active keys", until.Add(1000 * time.Hour), 0},
	} {
		n, err := s.DeleteUnpublishedSigningKeys(ctx, c.now)
		must(t, err, "DeleteUnpublishedSigningKeys(%s)", c.name)
		if n != c.want {
			t.Errorf("DeleteUnpublishedSigningKeys(%s) = %d, want %d", c.name, n, c.want)
		}
	}
	keys := keysByKID(t, s)
	if _, ok := keys[old.KID]; ok || len(keys) != 2 {
		t.Errorf("keys left = %d (old present: %v), want the two active keys only", len(keys), ok)
	}
}
