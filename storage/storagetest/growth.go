package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/google/uuid"
)

// growthCases cover bulk loading (gatehouse bench seed) and the janitor's
// batched deletes of a big backlog.
func growthCases() []Case {
	return []Case{
		{"SeedRowsReadBack", testSeedRowsReadBack},
		{"DeleteExpiredInBoundedBatches", testDeleteExpiredInBoundedBatches},
	}
}

// seedTokens stores n access tokens and n refresh tokens of client "app" for
// user-1, expiring at exp, keyed prefix-0…, and returns their signatures.
func seedTokens(t *testing.T, s *storage.Store, prefix string, n int, exp time.Time) []string {
	t.Helper()
	var rows []storage.SeedToken
	var sigs []string
	for i := range n {
		sig := fmt.Sprintf("%s-%d", prefix, i)
		sess := fmt.Sprintf(`{"subject":"user-1","expires_at":{"access_token":%q,"refresh_token":%q}}`, exp.Format(time.RFC3339Nano), exp.Format(time.RFC3339Nano))
		base := storage.SeedToken{
			RequestID: uuid.NewString(), RequestedAt: exp.Add(-time.Hour), ClientID: "app", Subject: "user-1",
			Scopes: []string{"openid", "offline_access"}, ExpiresAt: exp,
			Form: []byte(`{"grant_type":["authorization_code"]}`), Session: []byte(sess),
		}
		at, rt := base, base
		at.Signature = "at-" + sig
		rt.Refresh, rt.Signature, rt.AccessTokenSignature = true, "rt-"+sig, at.Signature
		rows = append(rows, at, rt)
		sigs = append(sigs, sig)
	}
	must(t, s.SeedTokens(t.Context(), rows), "SeedTokens(%s)", prefix)
	return sigs
}

// testSeedRowsReadBack: what SeedUsers, SeedClients and SeedTokens write (COPY
// on PostgreSQL, INSERTs on SQLite) reads back through the ordinary methods,
// sealed tokens included, and is counted by SeededCounts; ResetSeeded empties
// the tables again.
func testSeedRowsReadBack(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	users := make([]storage.User, 250)
	for i := range users {
		users[i] = storage.User{ID: uuid.NewString(), Email: fmt.Sprintf("seed%d@example.com", i), EmailVerified: true,
			PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5", Name: fmt.Sprintf("Seed %d", i), CreatedAt: now, UpdatedAt: now}
	}
	must(t, s.SeedUsers(ctx, users), "SeedUsers")
	clients := []storage.Client{{
		ID: "app", Name: "Seeded", SecretHash: "hash", RedirectURIs: storage.StringList{"https://app.example/cb"},
		GrantTypes: storage.StringList{"authorization_code", "refresh_token"}, ResponseTypes: storage.StringList{"code"},
		Scopes: storage.StringList{"openid", "offline_access"}, TokenEndpointAuthMethod: "client_secret_basic",
		AccessTokenLifespan: storage.Lifespan(time.Minute), CreatedAt: now, UpdatedAt: now,
	}}
	must(t, s.SeedClients(ctx, clients), "SeedClients")
	seedTokens(t, s, "seed", 70, now.Add(time.Hour))

	got, err := s.GetUserByEmail(ctx, "seed249@example.com")
	must(t, err, "GetUserByEmail(seeded)")
	if got.ID != users[249].ID || got.Name != "Seed 249" || !got.EmailVerified || !got.CreatedAt.Equal(now) {
		t.Errorf("seeded user read back as %+v, want %+v", got, users[249])
	}
	c, err := s.GetClientRecord(ctx, "app")
	must(t, err, "GetClientRecord(seeded)")
	if !c.GrantTypes.Has("refresh_token") || c.AccessTokenLifespan != storage.Lifespan(time.Minute) || c.SecretHash != "hash" {
		t.Errorf("seeded client read back as %+v", c)
	}
	at, err := s.GetAccessTokenSession(ctx, "at-seed-69", newSession())
	must(t, err, "GetAccessTokenSession(seeded)")
	if at.GetSession().GetSubject() != "user-1" || at.GetClient().GetID() != "app" || !at.GetGrantedScopes().Has("offline_access") {
		t.Errorf("seeded access token read back as subject %q, client %q, scopes %v", at.GetSession().GetSubject(), at.GetClient().GetID(), at.GetGrantedScopes())
	}
	if _, err := s.GetRefreshTokenSession(ctx, "rt-seed-0", newSession()); err != nil {
		t.Errorf("GetRefreshTokenSession(seeded): %v", err)
	}
	counts, err := s.SeededCounts(ctx)
	must(t, err, "SeededCounts")
	if want := map[string]int64{"access_tokens": 70, "refresh_tokens": 70, "users": 250, "clients": 1}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("SeededCounts = %v, want %v", counts, want)
	}
	// A taken signature is refused, as CreateAccessTokenSession refuses it.
	if err := s.SeedTokens(ctx, []storage.SeedToken{{Signature: "at-seed-0", RequestID: "r", ClientID: "app", ExpiresAt: now, Form: []byte("{}"), Session: []byte("{}")}}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("SeedTokens(taken signature) = %v, want ErrConflict", err)
	}

	must(t, s.ResetSeeded(ctx), "ResetSeeded")
	counts, err = s.SeededCounts(ctx)
	must(t, err, "SeededCounts after reset")
	for table, n := range counts {
		if n != 0 {
			t.Errorf("%s after ResetSeeded: %d rows, want 0", table, n)
		}
	}
}

// testDeleteExpiredInBoundedBatches: DeleteExpired removes a backlog of expired
// tokens in DELETEs of at most Batch rows, pausing between full batches, leaves
// every live token readable, and stops between batches when the sleep (the
// context) ends.
func testDeleteExpiredInBoundedBatches(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	now := time.Now().UTC().Truncate(time.Second)
	seedTokens(t, s, "old", 23, now.Add(-time.Minute))
	live := seedTokens(t, s, "live", 4, now.Add(time.Hour))

	expiredLeft := func() int {
		return countRows(t, s, "access_tokens", "expires_at < ?", now) + countRows(t, s, "refresh_tokens", "expires_at < ?", now)
	}
	const batch = 5
	last := expiredLeft()
	var deltas []int
	sleep := func(_ context.Context, d time.Duration) error {
		if d != 3*time.Millisecond {
			t.Errorf("pause %v, want 3ms", d)
		}
		left := expiredLeft()
		deltas = append(deltas, last-left)
		last = left
		return nil
	}
	n, err := s.DeleteExpired(ctx, now, storage.SweepOptions{Batch: batch, Pause: 3 * time.Millisecond, Sleep: sleep})
	must(t, err, "DeleteExpired")
	if n != 46 {
		t.Errorf("DeleteExpired = %d, want the 46 expired tokens", n)
	}
	// 23 expired rows in each table: four full batches and a short one each,
	// with a pause after every full batch and nowhere else.
	if want := "[5 5 5 5 8 5 5 5]"; fmt.Sprint(deltas) != want {
		t.Errorf("rows deleted between pauses %v, want %s (a full batch each; the 8 is the access tokens' short batch and the refresh tokens' first)", deltas, want)
	}
	if left := expiredLeft(); left != 0 {
		t.Errorf("%d expired tokens left, want none", left)
	}
	for _, sig := range live {
		if _, err := s.GetAccessTokenSession(ctx, "at-"+sig, newSession()); err != nil {
			t.Errorf("live access token %s after the sweep: %v", sig, err)
		}
		if _, err := s.GetRefreshTokenSession(ctx, "rt-"+sig, newSession()); err != nil {
			t.Errorf("live refresh token %s after the sweep: %v", sig, err)
		}
	}

	// An ended context stops the sweep at the next pause, keeping what was done.
	seedTokens(t, s, "again", 12, now.Add(-time.Minute))
	stop := func(context.Context, time.Duration) error { return context.Canceled }
	n, err = s.DeleteExpired(ctx, now, storage.SweepOptions{Batch: batch, Pause: time.Millisecond, Sleep: stop})
	if !errors.Is(err, context.Canceled) || n != batch {
		t.Errorf("DeleteExpired with its context ending = %d, %v; want %d (one batch), context.Canceled", n, err, batch)
	}
	if left := expiredLeft(); left != 24-batch {
		t.Errorf("%d expired tokens left after the stopped sweep, want %d", left, 24-batch)
	}
}
