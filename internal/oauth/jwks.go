package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/internal/reqlog"
)

// How long a fetched client key set is used, and how often it is fetched.
const (
	// jwksDefaultTTL applies when the response has no usable Cache-Control
	// max-age.
	jwksDefaultTTL = 15 * time.Minute
	// jwksMinTTL and jwksMaxTTL bound max-age: a client cannot make us fetch on
	// every request, nor keep a key it replaced for more than a day.
	jwksMinTTL = time.Minute
	jwksMaxTTL = 24 * time.Hour
	// jwksRefetchInterval bounds refetches for an unknown kid: a client that
	// rotated its key is picked up within it, and an assertion with a made-up
	// kid cannot make us fetch more often.
	jwksRefetchInterval = time.Minute
	// jwksFailureBackoff is how long a failed fetch is remembered: requests in
	// that time fail at once instead of each sending the target one more
	// request.
	jwksFailureBackoff = 10 * time.Second
	// jwksMaxEntries bounds the cache; clients are few, but each has its URL.
	jwksMaxEntries = 4096
)

// jwksUnusableHint is all a client learns of a failed fetch of its jwks_uri:
// the status, address or error the fetch met stays in our log.
const jwksUnusableHint = "The client's jwks_uri could not be used."

// jwksFetcher resolves private_key_jwt clients' jwks_uri for fosite (it is a
// fosite.JWKSFetcherStrategy) through the outbound client. Key sets are cached
// per URL, honouring Cache-Control max-age within [jwksMinTTL, jwksMaxTTL];
// fosite's refetch on an unknown kid (ignoreCache) fetches at most once per
// jwksRefetchInterval per URL; concurrent fetches of one URL share one request.
// Every failure is fosite.ErrInvalidClient with jwksUnusableHint, its cause
// added to the request's log line.
type jwksFetcher struct {
	client *outbound.Client
	now    func() time.Time
	log    *slog.Logger // for a cause with no request log line to join

	mu      sync.Mutex
	entries map[string]*jwksEntry
}

var _ fosite.JWKSFetcherStrategy = (*jwksFetcher)(nil)

// jwksEntry is what is known of one jwks_uri.
type jwksEntry struct {
	set       *jose.JSONWebKeySet // nil until a fetch succeeds
	expires   time.Time           // when set stops being used without a fetch
	attempted time.Time           // when the last fetch started
	failure   error               // the last fetch's error; nil after a success
	call      *jwksCall           // the fetch in flight, if any
}

// jwksCall is one fetch in flight; the requests that need it wait on done.
type jwksCall struct {
	done    chan struct{}
	set     *jose.JSONWebKeySet
	err     error
	waiters int // requests waiting besides the one fetching (tests read it)
}

func newJWKSFetcher(client *outbound.Client, now func() time.Time, log *slog.Logger) *jwksFetcher {
	return &jwksFetcher{client: client, now: now, log: log, entries: map[string]*jwksEntry{}}
}

// Resolve returns the key set at location. fosite calls it with ignoreCache
// false, and again with true when the set lacks the assertion's key.
func (f *jwksFetcher) Resolve(ctx context.Context, location string, ignoreCache bool) (*jose.JSONWebKeySet, error) {
	f.mu.Lock()
	now := f.now()
	e := f.entries[location]
	if e == nil {
		e = &jwksEntry{}
		f.evictLocked(now)
		f.entries[location] = e
	}
	fresh := e.set != nil && now.Before(e.expires)
	switch {
	case e.call != nil:
		// Someone is fetching it now: share the answer.
		call := e.call
		call.waiters++
		f.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, f.unusable(ctx, location, fmt.Errorf("waiting for the key set: %w", ctx.Err()))
		}
		if call.err != nil {
			return nil, f.unusable(ctx, location, call.err)
		}
		return call.set, nil
	case fresh && !ignoreCache:
		set := e.set
		f.mu.Unlock()
		return set, nil
	case fresh && now.Sub(e.attempted) < jwksRefetchInterval:
		// An unknown kid shortly after a fetch: the set is what it was, and
		// fosite will find the key missing again (invalid_client).
		set := e.set
		f.mu.Unlock()
		return set, nil
	case e.failure != nil && now.Sub(e.attempted) < jwksFailureBackoff:
		err := e.failure
		f.mu.Unlock()
		return nil, f.unusable(ctx, location, fmt.Errorf("failed %s ago, not retried yet: %w", now.Sub(e.attempted).Round(time.Second), err))
	}
	call := &jwksCall{done: make(chan struct{})}
	e.call, e.attempted = call, now
	f.mu.Unlock()

	// Detached from the request: others may be waiting for this fetch, and the
	// outbound client's own deadline bounds it.
	set, ttl, err := f.fetch(context.WithoutCancel(ctx), location)

	f.mu.Lock()
	call.set, call.err = set, err
	e.call = nil
	if err != nil {
		e.failure = err
	} else {
		e.set, e.failure, e.expires = set, nil, f.now().Add(ttl)
	}
	f.mu.Unlock()
	close(call.done)
	if err != nil {
		return nil, f.unusable(ctx, location, err)
	}
	return set, nil
}

// fetch gets and parses the key set, and says how long to keep it.
func (f *jwksFetcher) fetch(ctx context.Context, location string) (*jose.JSONWebKeySet, time.Duration, error) {
	resp, err := f.client.Get(ctx, location)
	if err != nil {
		return nil, 0, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(resp.Body, &set); err != nil {
		return nil, 0, fmt.Errorf("GET %s: not a JWK Set (RFC 7517 §5): %s", logLocation(location), jsonProblem(err))
	}
	if len(set.Keys) == 0 {
		return nil, 0, fmt.Errorf("GET %s: the JWK Set has no keys", logLocation(location))
	}
	return &set, cacheTTL(resp.Header), nil
}

// unusable notes cause on the request's log line and returns what the client
// is told: invalid_client with the generic hint. The cause is neither wrapped
// nor put in the debug field, so no detail reaches the client and no network
// error is mistaken upstream for a lost database.
func (f *jwksFetcher) unusable(ctx context.Context, location string, cause error) error {
	attr := slog.Group("jwks_fetch", slog.String("uri", logLocation(location)), slog.String("error", cause.Error()))
	if !reqlog.Add(ctx, attr) {
		f.log.LogAttrs(ctx, slog.LevelInfo, "client jwks_uri unusable", attr)
	}
	return fosite.ErrInvalidClient.WithHint(jwksUnusableHint)
}

// evictLocked makes room for one more entry: first the ones no longer worth
// keeping, then, if the cache is still full, any idle one.
func (f *jwksFetcher) evictLocked(now time.Time) {
	if len(f.entries) < jwksMaxEntries {
		return
	}
	for k, e := range f.entries {
		if e.call == nil && !now.Before(e.expires) && now.Sub(e.attempted) >= jwksRefetchInterval {
			delete(f.entries, k)
		}
	}
	for k, e := range f.entries {
		if len(f.entries) < jwksMaxEntries {
			return
		}
		if e.call == nil {
			delete(f.entries, k)
		}
	}
}

// cacheTTL reads Cache-Control max-age (RFC 9111 §5.2.2.1), within the bounds;
// no-store and no-cache mean the shortest time we keep a set.
func cacheTTL(h http.Header) time.Duration {
	ttl := jwksDefaultTTL
	for _, line := range h.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return jwksMinTTL
			case "max-age":
				secs, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
				if err != nil || secs < 0 {
					continue
				}
				ttl = time.Duration(min(secs, int64(jwksMaxTTL/time.Second))) * time.Second
			}
		}
	}
	return min(max(ttl, jwksMinTTL), jwksMaxTTL)
}

// logLocation is a jwks_uri for the log: without query or user information,
// which could carry a credential.
func logLocation(location string) string {
	u, err := url.Parse(location)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// missingKeyHints are how fosite (client_authentication.go, findPublicKey)
// says that a client's key set has no key for an assertion. It answers them
// as invalid_request, but the client failed to authenticate.
var missingKeyHints = []string{
	"The JSON Web Token uses signing key with kid",
	"The retrieved JSON Web Key Set does not contain any key",
	"Unable to find RSA public key",
	"Unable to find ECDSA public key",
}

// withMissingKeyAsInvalidClient wraps a client authentication strategy so that
// an assertion signed with a key the client's key set lacks is answered 401
// invalid_client (RFC 7523 §3.2, RFC 6749 §5.2) rather than fosite's 400
// invalid_request: whether the kid is unknown or made up, the client did not
// authenticate.
func withMissingKeyAsInvalidClient(next fosite.ClientAuthenticationStrategy) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		c, err := next(ctx, r, form)
		if err == nil || !errors.Is(err, fosite.ErrInvalidRequest) {
			return c, err
		}
		hint := fosite.ErrorToRFC6749Error(err).HintField
		for _, h := range missingKeyHints {
			if strings.HasPrefix(hint, h) {
				return nil, fosite.ErrInvalidClient.WithHint("The client assertion is signed with a key that is not in the client's JWK Set.").WithDebug(hint)
			}
		}
		return c, err
	}
}
