package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/google/uuid"
)

// SeedOptions say what Seed generates.
type SeedOptions struct {
	Tokens, Users, Clients int
	// ExpiredFraction of the tokens have expired (0 to 1): the janitor's work.
	ExpiredFraction float64
	// Issuer goes into the sessions of user tokens, as the server writes it.
	Issuer string
	// PasswordHash is the one argon2id hash every seeded user gets (hashing a
	// million passwords would take hours and tell nothing).
	PasswordHash string
	// SecretHash is the one keyed client-secret hash every seeded client gets.
	SecretHash string
	// Progress receives a line as each tenth of each kind is written; nil: none.
	Progress io.Writer
	// Now is the clock expiries are set from; nil means time.Now.
	Now func() time.Time
}

// SeedStore is what Seed writes through.
type SeedStore interface {
	SeedUsers(ctx context.Context, users []storage.User) error
	SeedClients(ctx context.Context, clients []storage.Client) error
	SeedTokens(ctx context.Context, tokens []storage.SeedToken) error
}

// Token lifetimes of the generated tokens: the server's defaults.
const (
	seedAccessLifetime  = time.Hour
	seedRefreshLifetime = 30 * 24 * time.Hour
	// seedChunk rows go in one COPY.
	seedChunk = 20000
)

// Seed fills a database with generated clients, users and tokens, as a big
// deployment's would look: Clients clients registered like `gatehouse clients
// create` registers them, Users users with verified e-mails, and Tokens stored
// tokens, three in five client_credentials access tokens, one in five a user's
// access token and one in five the refresh token issued with it. Of each kind
// ExpiredFraction have expired, at times spread over the last day; the rest
// expire within their lifetime. Tokens are issued in order, oldest first.
// Keys have the server's formats (UUIDs, 43-character signatures).
func Seed(ctx context.Context, store SeedStore, o SeedOptions) error {
	if o.Tokens < 0 || o.Users < 0 || o.Clients < 0 {
		return errors.New("seed: counts must not be negative")
	}
	if o.ExpiredFraction < 0 || o.ExpiredFraction > 1 {
		return fmt.Errorf("seed: expired fraction must be between 0 and 1, got %v", o.ExpiredFraction)
	}
	if o.Tokens > 0 && o.Clients == 0 {
		return errors.New("seed: tokens need at least one client")
	}
	if o.Tokens > 0 && o.Users == 0 {
		return errors.New("seed: tokens need at least one user")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	now := o.Now().UTC()

	clientIDs := make([]string, o.Clients)
	for i := range clientIDs {
		clientIDs[i] = uuid.NewString()
	}
	template, err := clients.Rules{}.Validate(clients.Spec{
		ClientName:   "seed",
		RedirectURIs: []string{"https://app.seed.example/callback"},
		GrantTypes:   []string{"authorization_code", "refresh_token", "client_credentials"},
		Scope:        clients.Scopes{"openid", "profile", "email", "offline_access", "api:read"},
	})
	if err != nil {
		return fmt.Errorf("seed: client template: %w", err)
	}
	template.SecretHash = o.SecretHash
	template.CreatedAt, template.UpdatedAt = now, now
	err = seedInChunks(ctx, o.Progress, "clients", o.Clients, 5000, func(start, n int) error {
		rows := make([]storage.Client, n)
		for i := range rows {
			c := template
			c.ID = clientIDs[start+i]
			c.Name = fmt.Sprintf("Seed client %d", start+i)
			c.RedirectURIs = storage.StringList{fmt.Sprintf("https://app%d.seed.example/callback", start+i)}
			rows[i] = c
		}
		return store.SeedClients(ctx, rows)
	})
	if err != nil {
		return err
	}

	userIDs := make([]string, o.Users)
	for i := range userIDs {
		userIDs[i] = uuid.NewString()
	}
	err = seedInChunks(ctx, o.Progress, "users", o.Users, 10000, func(start, n int) error {
		rows := make([]storage.User, n)
		for i := range rows {
			k := start + i
			rows[i] = storage.User{
				ID: userIDs[k], Email: fmt.Sprintf("user%07d@seed.example", k), EmailVerified: true,
				PasswordHash: o.PasswordHash, Name: fmt.Sprintf("Seed User %d", k), GivenName: "Seed", FamilyName: fmt.Sprintf("User %d", k),
				CreatedAt: now, UpdatedAt: now,
			}
		}
		return store.SeedUsers(ctx, rows)
	})
	if err != nil {
		return err
	}

	g := tokenGen{o: o, now: now, clientIDs: clientIDs, userIDs: userIDs}
	return seedInChunks(ctx, o.Progress, "tokens", o.Tokens, seedChunk, func(start, n int) error {
		rows, err := g.tokens(start, n)
		if err != nil {
			return err
		}
		return store.SeedTokens(ctx, rows)
	})
}

// seedInChunks calls write for each chunk of total rows, from as many
// goroutines as there are cores (generating rows costs about as much CPU as
// the database takes to load them), and reports progress by tenths.
func seedInChunks(ctx context.Context, progress io.Writer, what string, total, chunk int, write func(start, n int) error) error {
	if total == 0 {
		return nil
	}
	started := time.Now()
	var (
		mu       sync.Mutex
		done     int
		reported int
		firstErr error
	)
	starts := make(chan int)
	var wg sync.WaitGroup
	for range max(2, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for start := range starts {
				n := min(chunk, total-start)
				err := write(start, n)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("seed %s: %w", what, err)
				}
				done += n
				if tenth := done * 10 / total; tenth > reported && firstErr == nil {
					reported = tenth
					secs := time.Since(started).Seconds()
					fmt.Fprintf(progress, "%s: %d of %d (%d%%), %.0f rows/s\n", what, done, total, tenth*10, float64(done)/secs)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for start := 0; start < total; start += chunk {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		select {
		case starts <- start:
		case <-ctx.Done():
			break feed
		}
	}
	close(starts)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// tokenGen makes the rows of a range of tokens.
type tokenGen struct {
	o                  SeedOptions
	now                time.Time
	clientIDs, userIDs []string
}

var (
	ccScopes   = []string{"api:read"}
	userScopes = []string{"openid", "profile", "email", "offline_access"}
)

// tokens makes tokens start … start+n-1. Token k is, by k mod 5, a
// client_credentials access token (0–2), a user's access token (3) or the
// refresh token issued with it (4: same request, client and user).
func (g tokenGen) tokens(start, n int) ([]storage.SeedToken, error) {
	rng := mrand.New(mrand.NewPCG(uint64(start), uint64(g.now.UnixNano())))
	rows := make([]storage.SeedToken, 0, n)
	var pair storage.SeedToken // the user access token a refresh token follows
	for k := start; k < start+n; k++ {
		t := storage.SeedToken{Signature: signature(), RequestID: uuid.NewString(), ClientID: g.clientIDs[rng.IntN(len(g.clientIDs))]}
		st := oauth.StoredToken{Issuer: g.o.Issuer, ClientID: t.ClientID}
		switch k % 5 {
		case 0, 1, 2:
			t.Scopes = ccScopes
		case 3:
			t.Subject = g.userIDs[rng.IntN(len(g.userIDs))]
			t.Scopes = userScopes
		case 4:
			if pair.Signature == "" { // the chunk began with a refresh token
				pair = storage.SeedToken{Signature: signature(), RequestID: t.RequestID, Subject: g.userIDs[rng.IntN(len(g.userIDs))], ClientID: t.ClientID}
			}
			t.Refresh, t.RequestID, t.ClientID, t.Subject = true, pair.RequestID, pair.ClientID, pair.Subject
			t.AccessTokenSignature = pair.Signature
			t.Scopes = userScopes
			st.ClientID = t.ClientID
		}
		st.Subject, st.Scopes = t.Subject, t.Scopes
		lifetime := seedAccessLifetime
		if t.Refresh {
			lifetime = seedRefreshLifetime
		}
		// Issued in order, as a server issues them: the first ExpiredFraction
		// of the tokens over the day before the last lifetime (expired now),
		// the rest within the last lifetime (live). So the rows lie in the
		// table in the order they expire, as they do on a server, which is
		// what the janitor's deletes meet.
		t.RequestedAt = g.issuedAt(k, lifetime).Truncate(time.Microsecond)
		t.ExpiresAt = t.RequestedAt.Add(lifetime)
		if !t.Refresh {
			t.RequestID = requestID(t.RequestedAt, rng)
		}
		st.AuthTime = t.RequestedAt
		st.AccessExpiresAt = t.RequestedAt.Add(seedAccessLifetime)
		if t.Refresh || k%5 == 3 {
			st.RefreshExpiresAt = t.RequestedAt.Add(seedRefreshLifetime)
		}
		var err error
		if t.Form, t.Session, err = st.StoredJSON(); err != nil {
			return nil, err
		}
		if k%5 == 3 {
			pair = t
		}
		rows = append(rows, t)
	}
	return rows, nil
}

// issuedAt is when token k of the seed was issued, for a token of lifetime.
func (g tokenGen) issuedAt(k int, lifetime time.Duration) time.Time {
	n := float64(g.o.Tokens)
	cut := n * g.o.ExpiredFraction // tokens before cut have expired
	x := float64(k)
	if x < cut {
		day := 24 * time.Hour
		return g.now.Add(-lifetime - day + time.Duration(float64(day)*x/cut))
	}
	return g.now.Add(-lifetime + time.Duration(float64(lifetime)*(x-cut+1)/(n-cut+1)))
}

// requestID is a UUIDv7 of time at, as the server makes request IDs (see
// internal/oauth): a refresh token takes its access token's.
func requestID(at time.Time, rng *mrand.Rand) string {
	var u uuid.UUID
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(at.UnixMilli()))
	copy(u[:6], b[2:])
	binary.BigEndian.PutUint64(u[8:], rng.Uint64())
	binary.BigEndian.PutUint16(u[6:], uint16(rng.Uint32()))
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u.String()
}

// signature is a token signature as fosite's HMAC strategy makes it: the
// unpadded base64url of 32 bytes (HMAC-SHA512/256).
func signature() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
