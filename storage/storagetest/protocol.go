package storagetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/hmac"
)

// protocolCases covers clients and every fosite storage interface.
func protocolCases() []Case {
	return []Case{
		{"ClientCRUD", testClientCRUD},
		{"ClientListPaging", testClientListPaging},
		{"ClientDeleteRemovesTokens", testClientDeleteRemovesTokens},
		{"FositeClientAdapter", testFositeClientAdapter},
		{"FositeClientLifespans", testFositeClientLifespans},
		{"ClientAssertionJTIReplay", testClientAssertionJTIReplay},
		{"AuthorizeCodeUsedOnce", testAuthorizeCodeUsedOnce},
		{"AccessTokenLifecycle", testAccessTokenLifecycle},
		{"ConcurrentAccessTokens", testConcurrentAccessTokens},
		{"RefreshTokenLifecycle", testRefreshTokenLifecycle},
		{"RefreshTokenRotation", testRefreshTokenRotation},
		{"RefreshTokenGracePeriod", testRefreshTokenGracePeriod},
		{"PKCERequestRoundTrip", testPKCERequestRoundTrip},
		{"OpenIDConnectRequestKeyedByHash", testOpenIDConnectRequestKeyedByHash},
		{"PARRequestRoundTrip", testPARRequestRoundTrip},
		{"TokensStoredAsSignatures", testTokensStoredAsSignatures},
		{"PayloadsEncryptedAtRest", testPayloadsEncryptedAtRest},
		{"SystemSecretRotation", testSystemSecretRotation},
		{"ProtocolWritesNeedSecret", testProtocolWritesNeedSecret},
		{"ConcurrentRefreshRotation", testConcurrentRefreshRotation},
		{"ConcurrentCodeRedemption", testConcurrentCodeRedemption},
		{"ConcurrentRedemptionAsFositeRunsIt", testConcurrentRedemptionAsFositeRunsIt},
		{"ConcurrentRotationAsFositeRunsIt", testConcurrentRotationAsFositeRunsIt},
		{"RedemptionWaitsForTheOneInFlight", testRedemptionWaitsForTheOneInFlight},
		{"RotationWaitsForTheOneInFlight", testRotationWaitsForTheOneInFlight},
		{"TransactionAllOrNothing", testTransactionAllOrNothing},
		{"RevokeSubjectTokens", testRevokeSubjectTokens},
		{"DeleteExpired", testDeleteExpired},
	}
}

// protoNow is a whole second, so every dialect stores it exactly.
func protoNow() time.Time { return time.Now().UTC().Truncate(time.Second) }

// newProtoClient stores a confidential client with id.
func newProtoClient(t *testing.T, s *storage.Store, id string) storage.Client {
	t.Helper()
	c, err := s.CreateClient(t.Context(), storage.Client{
		ID: id, Name: "Client " + id, SecretHash: "hash-of-" + id,
		RedirectURIs:  storage.StringList{"https://app.example/cb"},
		GrantTypes:    storage.StringList{"authorization_code", "refresh_token"},
		ResponseTypes: storage.StringList{"code"},
		Scopes:        storage.StringList{"openid", "offline_access", "profile"},
	})
	must(t, err, "CreateClient(%q)", id)
	return c
}

// protoRequest builds a request as fosite hands it to the store: client, scopes,
// audience, form, and an openid.DefaultSession for subject expiring in an hour.
func protoRequest(clientID, requestID, subject string) *fosite.Request {
	now := protoNow()
	sess := openid.NewDefaultSession()
	sess.Subject = subject
	sess.Username = subject
	sess.Claims.Subject = subject
	sess.Claims.Nonce = "nonce-" + requestID
	for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken, fosite.PushedAuthorizeRequestContext} {
		sess.SetExpiresAt(tt, now.Add(time.Hour))
	}
	return &fosite.Request{
		ID:                requestID,
		RequestedAt:       now,
		Client:            &fosite.DefaultClient{ID: clientID},
		RequestedScope:    fosite.Arguments{"openid", "offline_access", "profile"},
		GrantedScope:      fosite.Arguments{"openid", "offline_access"},
		RequestedAudience: fosite.Arguments{"https://api.example"},
		GrantedAudience:   fosite.Arguments{"https://api.example"},
		Form:              url.Values{"redirect_uri": {"https://app.example/cb"}, "secret_marker": {"form-value-" + requestID}},
		Session:           sess,
	}
}

// wantRequest compares a stored request with the one that was written.
func wantRequest(t *testing.T, what string, got fosite.Requester, want *fosite.Request) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: request is nil", what)
	}
	if got.GetID() != want.ID {
		t.Errorf("%s: ID = %q, want %q", what, got.GetID(), want.ID)
	}
	if !got.GetRequestedAt().Equal(want.RequestedAt) {
		t.Errorf("%s: RequestedAt = %v, want %v", what, got.GetRequestedAt(), want.RequestedAt)
	}
	if got.GetClient() == nil || got.GetClient().GetID() != want.Client.GetID() {
		t.Errorf("%s: client = %v, want %s", what, got.GetClient(), want.Client.GetID())
	}
	for _, c := range []struct {
		name      string
		got, want fosite.Arguments
	}{
		{"RequestedScopes", got.GetRequestedScopes(), want.RequestedScope},
		{"GrantedScopes", got.GetGrantedScopes(), want.GrantedScope},
		{"RequestedAudience", got.GetRequestedAudience(), want.RequestedAudience},
		{"GrantedAudience", got.GetGrantedAudience(), want.GrantedAudience},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %s = %q, want %q", what, c.name, c.got, c.want)
		}
	}
	if g, w := got.GetRequestForm().Encode(), want.Form.Encode(); g != w {
		t.Errorf("%s: form = %q, want %q", what, g, w)
	}
	sess, ok := got.GetSession().(*openid.DefaultSession)
	if !ok {
		t.Fatalf("%s: session is %T, want *openid.DefaultSession", what, got.GetSession())
	}
	wantSess := want.Session.(*openid.DefaultSession)
	if sess.Subject != wantSess.Subject || sess.Claims.Subject != wantSess.Claims.Subject || sess.Claims.Nonce != wantSess.Claims.Nonce {
		t.Errorf("%s: session subject/nonce = %q/%q, want %q/%q", what, sess.Subject, sess.Claims.Nonce, wantSess.Subject, wantSess.Claims.Nonce)
	}
	if g, w := sess.GetExpiresAt(fosite.AccessToken), wantSess.GetExpiresAt(fosite.AccessToken); !g.Equal(w) {
		t.Errorf("%s: session access-token expiry = %v, want %v", what, g, w)
	}
}

// newSession is the prototype fosite hands to the Get methods.
func newSession() fosite.Session { return openid.NewDefaultSession() }

// placeholder returns the n-th bind parameter in the store's dialect.
func placeholder(s *storage.Store, n int) string {
	if s.Dialect() == storage.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// countRows counts the rows of table matching where (with ? placeholders).
func countRows(t *testing.T, s *storage.Store, table, where string, args ...any) int {
	t.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		for i := 1; s.Dialect() == storage.Postgres && strings.Contains(where, "?"); i++ {
			where = strings.Replace(where, "?", placeholder(s, i), 1)
		}
		q += " WHERE " + where
	}
	var n int
	must(t, s.DB().QueryRowContext(t.Context(), q, args...).Scan(&n), "count %s", table)
	return n
}

// databaseURL returns the URL s was opened on, so a test can open a second store
// on the same database with other options.
func databaseURL(t *testing.T, s *storage.Store) string {
	t.Helper()
	if s.Dialect() == storage.SQLite {
		var seq int
		var name, file string
		must(t, s.DB().QueryRowContext(t.Context(), "PRAGMA database_list").Scan(&seq, &name, &file), "sqlite database_list")
		return "sqlite:" + file
	}
	var db string
	must(t, s.DB().QueryRowContext(t.Context(), "SELECT current_database()").Scan(&db), "current_database")
	return WithDatabase(t, PostgresServerURL(t), db)
}

// reopen opens a second store on s's database with o (URL and pooler filled in).
func reopen(t *testing.T, s *storage.Store, o storage.Options) *storage.Store {
	t.Helper()
	o.URL, o.Pooler = databaseURL(t, s), storage.PoolerNone
	s2, err := storage.Open(o)
	must(t, err, "reopen store")
	t.Cleanup(func() { s2.Close() })
	return s2
}

func testClientCRUD(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	in := storage.Client{
		ID: "crud-app", Name: "CRUD App", SecretHash: "hmac-sha256$00000000$abc",
		RedirectURIs:                storage.StringList{"https://a.example/cb", "https://a.example/cb2"},
		PostLogoutRedirectURIs:      storage.StringList{"https://a.example/bye"},
		GrantTypes:                  storage.StringList{"authorization_code", "refresh_token", "client_credentials"},
		ResponseTypes:               storage.StringList{"code"},
		ResponseModes:               storage.StringList{"query", "form_post"},
		Scopes:                      storage.StringList{"openid", "email"},
		Audience:                    storage.StringList{"https://api.example"},
		TokenEndpointAuthMethod:     "client_secret_post",
		TokenEndpointAuthSigningAlg: "ES256",
		ApplicationType:             "native",
		JWKSURI:                     "https://a.example/jwks.json",
		IDTokenSignedResponseAlg:    "ES256",
		AccessTokenFormat:           "jwt",
		AccessTokenLifespan:         storage.Lifespan(5 * time.Minute),
		RefreshTokenLifespan:        storage.Lifespan(48 * time.Hour),
		IDTokenLifespan:             storage.Lifespan(10 * time.Minute),
		AuthorizationCodeLifespan:   storage.Lifespan(time.Minute),
		AlwaysIssueRefreshToken:     true,
		FirstParty:                  true,
		ClientURI:                   "https://a.example", LogoURI: "https://a.example/logo.png",
		PolicyURI: "https://a.example/privacy", TOSURI: "https://a.example/tos",
		AllowedCORSOrigins: storage.StringList{"https://spa.a.example"},
		ResourceServer:     true,
		ClaimsInIDToken:    true,
	}
	created, err := s.CreateClient(ctx, in)
	must(t, err, "CreateClient")
	if created.CreatedAt.IsZero() || created.UpdatedAt.IsZero() {
		t.Errorf("CreateClient: timestamps not set: %+v", created)
	}
	if _, err := s.CreateClient(ctx, in); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateClient(duplicate) = %v, want storage.ErrConflict", err)
	}
	if _, err := s.CreateClient(ctx, storage.Client{}); err == nil {
		t.Errorf("CreateClient(no id) = nil, want an error")
	}
	if _, err := s.CreateClient(ctx, storage.Client{ID: "bad-jwks", JWKS: "{not json"}); err == nil {
		t.Errorf("CreateClient(bad jwks) = nil, want an error")
	}

	got, err := s.GetClientRecord(ctx, in.ID)
	must(t, err, "GetClientRecord")
	want := in
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
	if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
		t.Errorf("GetClientRecord =\n%s\nwant\n%s", g, w)
	}
	if _, err := s.GetClientRecord(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetClientRecord(missing) = %v, want storage.ErrNotFound", err)
	}

	got.Name = "Renamed"
	got.RedirectURIs = storage.StringList{"https://b.example/cb"}
	got.Scopes = nil
	got.AccessTokenLifespan = 0
	got.FirstParty = false
	updated, err := s.UpdateClient(ctx, got)
	must(t, err, "UpdateClient")
	if updated.Name != "Renamed" || !slices.Equal(updated.RedirectURIs, storage.StringList{"https://b.example/cb"}) ||
		len(updated.Scopes) != 0 || updated.AccessTokenLifespan != 0 || updated.FirstParty {
		t.Errorf("UpdateClient = %+v, want the new values", updated)
	}
	if !updated.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("UpdateClient changed CreatedAt: %v, want %v", updated.CreatedAt, got.CreatedAt)
	}
	if _, err := s.UpdateClient(ctx, storage.Client{ID: "nobody"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UpdateClient(missing) = %v, want storage.ErrNotFound", err)
	}

	must(t, s.DeleteClient(ctx, in.ID), "DeleteClient")
	if _, err := s.GetClientRecord(ctx, in.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetClientRecord after delete = %v, want storage.ErrNotFound", err)
	}
	if err := s.DeleteClient(ctx, in.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("DeleteClient(missing) = %v, want storage.ErrNotFound", err)
	}
}

func testClientListPaging(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	for _, id := range []string{"c-3", "c-1", "c-5", "c-2", "c-4"} {
		newProtoClient(t, s, id)
	}
	for _, tc := range []struct {
		name string
		opts storage.ListClientsOptions
		want []string
	}{
		{"all", storage.ListClientsOptions{}, []string{"c-1", "c-2", "c-3", "c-4", "c-5"}},
		{"first page", storage.ListClientsOptions{Limit: 2}, []string{"c-1", "c-2"}},
		{"next page", storage.ListClientsOptions{After: "c-2", Limit: 2}, []string{"c-3", "c-4"}},
		{"last page", storage.ListClientsOptions{After: "c-4", Limit: 2}, []string{"c-5"}},
		{"past the end", storage.ListClientsOptions{After: "c-5"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.ListClients(ctx, tc.opts)
			must(t, err, "ListClients(%+v)", tc.opts)
			var ids []string
			for _, c := range list {
				ids = append(ids, c.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("ListClients(%+v) = %q, want %q", tc.opts, ids, tc.want)
			}
		})
	}
}

func testClientDeleteRemovesTokens(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "doomed")
	newProtoClient(t, s, "kept")
	r := protoRequest("doomed", "req-doomed", "user-1")
	must(t, s.CreateAuthorizeCodeSession(ctx, "code-doomed", r), "CreateAuthorizeCodeSession")
	must(t, s.CreateAccessTokenSession(ctx, "at-doomed", r), "CreateAccessTokenSession")
	must(t, s.CreateRefreshTokenSession(ctx, "rt-doomed", "at-doomed", r), "CreateRefreshTokenSession")
	must(t, s.CreatePKCERequestSession(ctx, "code-doomed", r), "CreatePKCERequestSession")
	must(t, s.CreateOpenIDConnectSession(ctx, "raw-code-doomed", r), "CreateOpenIDConnectSession")
	kept := protoRequest("kept", "req-kept", "user-1")
	must(t, s.CreateAccessTokenSession(ctx, "at-kept", kept), "CreateAccessTokenSession(kept)")

	must(t, s.DeleteClient(ctx, "doomed"), "DeleteClient")
	for _, tc := range []struct {
		name string
		get  func() error
	}{
		{"code", func() error { _, err := s.GetAuthorizeCodeSession(ctx, "code-doomed", newSession()); return err }},
		{"access token", func() error { _, err := s.GetAccessTokenSession(ctx, "at-doomed", newSession()); return err }},
		{"refresh token", func() error { _, err := s.GetRefreshTokenSession(ctx, "rt-doomed", newSession()); return err }},
		{"pkce", func() error { _, err := s.GetPKCERequestSession(ctx, "code-doomed", newSession()); return err }},
		{"oidc", func() error {
			_, err := s.GetOpenIDConnectSession(ctx, "raw-code-doomed", &fosite.Request{Session: newSession()})
			return err
		}},
	} {
		if err := tc.get(); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("%s after DeleteClient: error %v, want fosite.ErrNotFound", tc.name, err)
		}
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-kept", newSession()); err != nil {
		t.Errorf("another client's token after DeleteClient: %v", err)
	}
}

// testJWKS returns a JWK Set holding one public EC key with kid.
func testJWKS(t *testing.T, kid string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err, "generate key")
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	must(t, err, "marshal jwks")
	return string(b)
}

func testFositeClientAdapter(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	rec, err := s.CreateClient(ctx, storage.Client{
		ID: "adapted", SecretHash: "the-hash",
		RedirectURIs:                storage.StringList{"https://a.example/cb"},
		GrantTypes:                  storage.StringList{"authorization_code", "refresh_token"},
		ResponseTypes:               storage.StringList{"code"},
		ResponseModes:               storage.StringList{"query", "form_post"},
		Scopes:                      storage.StringList{"openid", "offline_access"},
		Audience:                    storage.StringList{"https://api.example"},
		TokenEndpointAuthMethod:     "private_key_jwt",
		TokenEndpointAuthSigningAlg: "ES256",
		JWKS:                        testJWKS(t, "key-1"),
		JWKSURI:                     "https://a.example/jwks.json",
		ApplicationType:             "native",
		AccessTokenFormat:           "jwt",
		IDTokenSignedResponseAlg:    "ES256",
		AlwaysIssueRefreshToken:     true,
		FirstParty:                  true,
	})
	must(t, err, "CreateClient")
	fc, err := s.GetClient(ctx, "adapted")
	must(t, err, "GetClient")
	c, ok := fc.(*storage.FositeClient)
	if !ok {
		t.Fatalf("GetClient returned %T, want *storage.FositeClient", fc)
	}
	var oc fosite.OpenIDConnectClient = c
	var rc fosite.ResponseModeClient = c
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"GetID", c.GetID(), "adapted"},
		{"GetHashedSecret", string(c.GetHashedSecret()), "the-hash"},
		{"GetRedirectURIs", c.GetRedirectURIs(), []string{"https://a.example/cb"}},
		{"GetGrantTypes", c.GetGrantTypes(), fosite.Arguments{"authorization_code", "refresh_token"}},
		{"GetResponseTypes", c.GetResponseTypes(), fosite.Arguments{"code"}},
		{"GetScopes", c.GetScopes(), fosite.Arguments{"openid", "offline_access"}},
		{"GetAudience", c.GetAudience(), fosite.Arguments{"https://api.example"}},
		{"IsPublic", c.IsPublic(), false},
		{"GetJSONWebKeysURI", oc.GetJSONWebKeysURI(), "https://a.example/jwks.json"},
		{"GetTokenEndpointAuthMethod", oc.GetTokenEndpointAuthMethod(), "private_key_jwt"},
		{"GetTokenEndpointAuthSigningAlgorithm", oc.GetTokenEndpointAuthSigningAlgorithm(), "ES256"},
		{"GetRequestObjectSigningAlgorithm", oc.GetRequestObjectSigningAlgorithm(), ""},
		{"GetResponseModes", rc.GetResponseModes(), []fosite.ResponseModeType{fosite.ResponseModeQuery, fosite.ResponseModeFormPost}},
		{"Record().ApplicationType", c.Record().ApplicationType, rec.ApplicationType},
		{"Record().FirstParty", c.Record().FirstParty, true},
		{"Record().AccessTokenFormat", c.Record().AccessTokenFormat, "jwt"},
		{"Record().IDTokenSignedResponseAlg", c.Record().IDTokenSignedResponseAlg, "ES256"},
		{"Record().AlwaysIssueRefreshToken", c.Record().AlwaysIssueRefreshToken, true},
	} {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if keys := oc.GetJSONWebKeys(); keys == nil || len(keys.Key("key-1")) != 1 {
		t.Errorf("GetJSONWebKeys = %+v, want a set with kid key-1", keys)
	} else if _, ok := keys.Key("key-1")[0].Key.(*ecdsa.PublicKey); !ok {
		t.Errorf("GetJSONWebKeys key-1 is %T, want *ecdsa.PublicKey", keys.Key("key-1")[0].Key)
	}

	// Defaults for a bare public client.
	_, err = s.CreateClient(ctx, storage.Client{ID: "bare", Public: true, TokenEndpointAuthMethod: ""})
	must(t, err, "CreateClient(bare)")
	bare, err := s.GetClient(ctx, "bare")
	must(t, err, "GetClient(bare)")
	bc := bare.(*storage.FositeClient)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"GetGrantTypes", bc.GetGrantTypes(), fosite.Arguments{"authorization_code"}},
		{"GetResponseTypes", bc.GetResponseTypes(), fosite.Arguments{"code"}},
		{"IsPublic", bc.IsPublic(), true},
		{"GetTokenEndpointAuthMethod", bc.GetTokenEndpointAuthMethod(), "none"},
		{"GetTokenEndpointAuthSigningAlgorithm", bc.GetTokenEndpointAuthSigningAlgorithm(), "RS256"},
		{"GetJSONWebKeys == nil", bc.GetJSONWebKeys() == nil, true},
		{"GetResponseModes", bc.GetResponseModes(), []fosite.ResponseModeType{fosite.ResponseModeQuery, fosite.ResponseModeFragment, fosite.ResponseModeFormPost}},
	} {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("bare client %s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}

	if _, err := s.GetClient(ctx, "nobody"); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetClient(missing) = %v, want fosite.ErrNotFound", err)
	}
}

func testFositeClientLifespans(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	_, err := s.CreateClient(ctx, storage.Client{
		ID:                  "short-lived",
		AccessTokenLifespan: storage.Lifespan(5 * time.Minute), RefreshTokenLifespan: storage.Lifespan(48 * time.Hour),
		IDTokenLifespan: storage.Lifespan(10 * time.Minute), AuthorizationCodeLifespan: storage.Lifespan(time.Minute),
	})
	must(t, err, "CreateClient(short-lived)")
	newProtoClient(t, s, "defaults")
	short, err := s.GetClient(ctx, "short-lived")
	must(t, err, "GetClient(short-lived)")
	plain, err := s.GetClient(ctx, "defaults")
	must(t, err, "GetClient(defaults)")
	const fallback = 42 * time.Second
	for _, tc := range []struct {
		name   string
		client fosite.Client
		gt     fosite.GrantType
		tt     fosite.TokenType
		want   time.Duration
	}{
		{"code grant access token", short, fosite.GrantTypeAuthorizationCode, fosite.AccessToken, 5 * time.Minute},
		{"refresh grant access token", short, fosite.GrantTypeRefreshToken, fosite.AccessToken, 5 * time.Minute},
		{"client credentials access token", short, fosite.GrantTypeClientCredentials, fosite.AccessToken, 5 * time.Minute},
		{"code grant refresh token", short, fosite.GrantTypeAuthorizationCode, fosite.RefreshToken, 48 * time.Hour},
		{"code grant id token", short, fosite.GrantTypeAuthorizationCode, fosite.IDToken, 10 * time.Minute},
		{"authorization code", short, fosite.GrantTypeAuthorizationCode, fosite.AuthorizeCode, time.Minute},
		{"no override: access token", plain, fosite.GrantTypeAuthorizationCode, fosite.AccessToken, fallback},
		{"no override: refresh token", plain, fosite.GrantTypeRefreshToken, fosite.RefreshToken, fallback},
		{"no override: id token", plain, fosite.GrantTypeRefreshToken, fosite.IDToken, fallback},
	} {
		if got := fosite.GetEffectiveLifespan(tc.client, tc.gt, tc.tt, fallback); got != tc.want {
			t.Errorf("%s: GetEffectiveLifespan(%s, %s) = %v, want %v", tc.name, tc.gt, tc.tt, got, tc.want)
		}
	}
	if got := short.(*storage.FositeClient).GetTokenLifespan(fosite.GrantTypeAuthorizationCode, fosite.AccessToken); got != 5*time.Minute {
		t.Errorf("GetTokenLifespan(access token) = %v, want 5m", got)
	}
	if got := plain.(*storage.FositeClient).GetTokenLifespan(fosite.GrantTypeAuthorizationCode, fosite.AccessToken); got != 0 {
		t.Errorf("GetTokenLifespan(no override) = %v, want 0", got)
	}
}

func testClientAssertionJTIReplay(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	now := time.Now().UTC()
	if err := s.ClientAssertionJWTValid(ctx, "jti-1"); err != nil {
		t.Fatalf("ClientAssertionJWTValid(unknown) = %v, want nil", err)
	}
	must(t, s.SetClientAssertionJWT(ctx, "jti-1", now.Add(time.Hour)), "SetClientAssertionJWT")
	if err := s.ClientAssertionJWTValid(ctx, "jti-1"); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Errorf("ClientAssertionJWTValid(known) = %v, want fosite.ErrJTIKnown", err)
	}
	if err := s.SetClientAssertionJWT(ctx, "jti-1", now.Add(2*time.Hour)); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Errorf("SetClientAssertionJWT(known) = %v, want fosite.ErrJTIKnown", err)
	}
	// A jti whose assertion expired can no longer be replayed (the assertion
	// itself is refused), so it is forgotten and may be set again.
	must(t, s.SetClientAssertionJWT(ctx, "jti-old", now.Add(-time.Minute)), "SetClientAssertionJWT(expired)")
	if err := s.ClientAssertionJWTValid(ctx, "jti-old"); err != nil {
		t.Errorf("ClientAssertionJWTValid(expired) = %v, want nil", err)
	}
	must(t, s.SetClientAssertionJWT(ctx, "jti-old", now.Add(time.Hour)), "SetClientAssertionJWT(replacing an expired jti)")
	if err := s.ClientAssertionJWTValid(ctx, "jti-old"); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Errorf("ClientAssertionJWTValid(replaced) = %v, want fosite.ErrJTIKnown", err)
	}
	// A client picks the jti; a long one must not break the key.
	long := strings.Repeat("j", 10000)
	must(t, s.SetClientAssertionJWT(ctx, long, now.Add(time.Hour)), "SetClientAssertionJWT(long jti)")
	if err := s.ClientAssertionJWTValid(ctx, long); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Errorf("ClientAssertionJWTValid(long jti) = %v, want fosite.ErrJTIKnown", err)
	}
}

func testAuthorizeCodeUsedOnce(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "req-1", "user-1")
	must(t, s.CreateAuthorizeCodeSession(ctx, "code-sig", r), "CreateAuthorizeCodeSession")

	got, err := s.GetAuthorizeCodeSession(ctx, "code-sig", newSession())
	must(t, err, "GetAuthorizeCodeSession")
	wantRequest(t, "GetAuthorizeCodeSession", got, r)

	must(t, s.InvalidateAuthorizeCodeSession(ctx, "code-sig"), "InvalidateAuthorizeCodeSession")
	got, err = s.GetAuthorizeCodeSession(ctx, "code-sig", newSession())
	if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("GetAuthorizeCodeSession(used) error = %v, want fosite.ErrInvalidatedAuthorizeCode", err)
	}
	// fosite revokes the tokens issued from a replayed code by the request id.
	wantRequest(t, "GetAuthorizeCodeSession(used)", got, r)
	if err := s.InvalidateAuthorizeCodeSession(ctx, "code-sig"); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Errorf("InvalidateAuthorizeCodeSession(used) = %v, want fosite.ErrInvalidatedAuthorizeCode", err)
	}
	if _, err := s.GetAuthorizeCodeSession(ctx, "no-such-code", newSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetAuthorizeCodeSession(missing) = %v, want fosite.ErrNotFound", err)
	}
}

func testAccessTokenLifecycle(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "req-1", "user-1")
	other := protoRequest("app", "req-2", "user-1")
	for _, sig := range []string{"at-1", "at-2"} {
		must(t, s.CreateAccessTokenSession(ctx, sig, r), "CreateAccessTokenSession(%s)", sig)
	}
	must(t, s.CreateAccessTokenSession(ctx, "at-other", other), "CreateAccessTokenSession(other)")

	got, err := s.GetAccessTokenSession(ctx, "at-1", newSession())
	must(t, err, "GetAccessTokenSession")
	wantRequest(t, "GetAccessTokenSession", got, r)
	// fosite's revocation endpoint passes no session prototype.
	got, err = s.GetAccessTokenSession(ctx, "at-1", nil)
	must(t, err, "GetAccessTokenSession(nil session)")
	wantRequest(t, "GetAccessTokenSession(nil session)", got, r)

	must(t, s.DeleteAccessTokenSession(ctx, "at-1"), "DeleteAccessTokenSession")
	if _, err := s.GetAccessTokenSession(ctx, "at-1", newSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetAccessTokenSession(deleted) = %v, want fosite.ErrNotFound", err)
	}
	must(t, s.DeleteAccessTokenSession(ctx, "at-1"), "DeleteAccessTokenSession(again)")

	must(t, s.RevokeAccessToken(ctx, "req-1"), "RevokeAccessToken")
	if _, err := s.GetAccessTokenSession(ctx, "at-2", newSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetAccessTokenSession(revoked) = %v, want fosite.ErrNotFound", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-other", newSession()); err != nil {
		t.Errorf("GetAccessTokenSession(other request) = %v, want nil", err)
	}
	must(t, s.RevokeAccessToken(ctx, "no-such-request"), "RevokeAccessToken(unknown request)")
}

// testConcurrentAccessTokens writes many access tokens at once, as the token
// endpoint does under load (the store batches them into multi-row inserts): each
// caller learns the fate of its own row, and one bad row fails alone.
func testConcurrentAccessTokens(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	const n, bad, dupA, dupB = 120, 17, 40, 41
	var next atomic.Int64
	errs := race(n, func() error {
		i := int(next.Add(1)) - 1
		clientID, sig := "app", fmt.Sprintf("at-%d", i)
		switch i {
		case bad:
			clientID = "no-such-client" // violates the clients foreign key
		case dupB:
			sig = fmt.Sprintf("at-%d", dupA)
		}
		return s.CreateAccessTokenSession(ctx, sig, protoRequest(clientID, fmt.Sprintf("req-%d", i), "user-1"))
	})
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) != 2 {
		t.Errorf("%d of %d inserts failed, want 2 (the unknown client and the duplicate signature): %v", len(failed), n, failed)
	}
	if !slices.ContainsFunc(failed, func(err error) bool { return errors.Is(err, storage.ErrConflict) }) {
		t.Errorf("failures %v: want the duplicate signature reported as storage.ErrConflict", failed)
	}
	if got := countRows(t, s, "access_tokens", "client_id = ?", "app"); got != n-2 {
		t.Errorf("access_tokens rows = %d, want %d", got, n-2)
	}
	for i := range n {
		if i == bad || i == dupB {
			continue
		}
		if _, err := s.GetAccessTokenSession(ctx, fmt.Sprintf("at-%d", i), newSession()); err != nil {
			t.Errorf("GetAccessTokenSession(at-%d) = %v, want the stored token", i, err)
		}
	}
	if _, err := s.GetAccessTokenSession(ctx, fmt.Sprintf("at-%d", bad), newSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetAccessTokenSession(token of unknown client) = %v, want fosite.ErrNotFound", err)
	}
}

func testRefreshTokenLifecycle(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "req-1", "user-1")
	must(t, s.CreateRefreshTokenSession(ctx, "rt-1", "at-1", r), "CreateRefreshTokenSession")
	got, err := s.GetRefreshTokenSession(ctx, "rt-1", newSession())
	must(t, err, "GetRefreshTokenSession")
	wantRequest(t, "GetRefreshTokenSession", got, r)

	must(t, s.RevokeRefreshToken(ctx, "req-1"), "RevokeRefreshToken")
	got, err = s.GetRefreshTokenSession(ctx, "rt-1", newSession())
	if !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("GetRefreshTokenSession(revoked) error = %v, want fosite.ErrInactiveToken", err)
	}
	wantRequest(t, "GetRefreshTokenSession(revoked)", got, r)

	must(t, s.DeleteRefreshTokenSession(ctx, "rt-1"), "DeleteRefreshTokenSession")
	if _, err := s.GetRefreshTokenSession(ctx, "rt-1", newSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetRefreshTokenSession(deleted) = %v, want fosite.ErrNotFound", err)
	}
	must(t, s.RevokeRefreshToken(ctx, "no-such-request"), "RevokeRefreshToken(unknown request)")
}

// rotate does what fosite's refresh handler does in its transaction: rotate the
// presented token, then store the new pair under the same request id.
func rotate(ctx context.Context, s *storage.Store, r *fosite.Request, oldSig, newAT, newRT string) error {
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		return err
	}
	err = s.RotateRefreshToken(txCtx, r.ID, oldSig)
	if err == nil {
		err = s.CreateAccessTokenSession(txCtx, newAT, r)
	}
	if err == nil {
		err = s.CreateRefreshTokenSession(txCtx, newRT, newAT, r)
	}
	if err != nil {
		_ = s.Rollback(txCtx)
		return err
	}
	return s.Commit(txCtx)
}

func testRefreshTokenRotation(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "family", "user-1")
	must(t, s.CreateAccessTokenSession(ctx, "at-0", r), "CreateAccessTokenSession")
	must(t, s.CreateRefreshTokenSession(ctx, "rt-0", "at-0", r), "CreateRefreshTokenSession")

	must(t, rotate(ctx, s, r, "rt-0", "at-1", "rt-1"), "rotate rt-0")
	got, err := s.GetRefreshTokenSession(ctx, "rt-0", newSession())
	if !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("GetRefreshTokenSession(rotated) error = %v, want fosite.ErrInactiveToken", err)
	}
	wantRequest(t, "GetRefreshTokenSession(rotated)", got, r)
	if _, err := s.GetAccessTokenSession(ctx, "at-0", newSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("old access token after rotation: %v, want fosite.ErrNotFound", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, "rt-1", newSession()); err != nil {
		t.Errorf("new refresh token: %v", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-1", newSession()); err != nil {
		t.Errorf("new access token: %v", err)
	}
	if err := rotate(ctx, s, r, "rt-0", "at-x", "rt-x"); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("rotating rt-0 again = %v, want fosite.ErrInactiveToken", err)
	}
	if err := s.RotateRefreshToken(ctx, "family", "no-such-token"); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("RotateRefreshToken(unknown) = %v, want fosite.ErrInactiveToken", err)
	}

	// Reuse detected: fosite revokes the family by request id.
	must(t, s.RevokeRefreshToken(ctx, "family"), "RevokeRefreshToken")
	must(t, s.RevokeAccessToken(ctx, "family"), "RevokeAccessToken")
	if _, err := s.GetRefreshTokenSession(ctx, "rt-1", newSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("newest refresh token after family revocation: %v, want fosite.ErrInactiveToken", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-1", newSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("newest access token after family revocation: %v, want fosite.ErrNotFound", err)
	}
}

func testRefreshTokenGracePeriod(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	graceful := reopen(t, s, storage.Options{Secrets: []string{TestSecret}, RefreshTokenGracePeriod: time.Hour})
	newProtoClient(t, s, "app")
	r := protoRequest("app", "family", "user-1")
	must(t, s.CreateAccessTokenSession(ctx, "at-0", r), "CreateAccessTokenSession")
	must(t, s.CreateRefreshTokenSession(ctx, "rt-0", "at-0", r), "CreateRefreshTokenSession")

	must(t, rotate(ctx, graceful, r, "rt-0", "at-1", "rt-1"), "rotate rt-0")
	if _, err := graceful.GetRefreshTokenSession(ctx, "rt-0", newSession()); err != nil {
		t.Errorf("GetRefreshTokenSession(rotated, in grace) = %v, want nil", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, "rt-0", newSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("GetRefreshTokenSession(rotated) without grace = %v, want fosite.ErrInactiveToken", err)
	}
	// A retry within the grace period rotates again; the first rotation's
	// tokens stay valid.
	must(t, rotate(ctx, graceful, r, "rt-0", "at-2", "rt-2"), "rotate rt-0 again within grace")
	for _, sig := range []string{"at-1", "at-2"} {
		if _, err := graceful.GetAccessTokenSession(ctx, sig, newSession()); err != nil {
			t.Errorf("access token %s after a retry within grace: %v", sig, err)
		}
	}

	// Once the grace period has passed the token is inactive.
	past := time.Now().UTC().Add(-2 * time.Hour)
	if _, err := s.DB().ExecContext(ctx, "UPDATE refresh_tokens SET rotated_at = "+placeholder(s, 1)+" WHERE signature = "+placeholder(s, 2), past, "rt-0"); err != nil {
		t.Fatalf("age rotated_at: %v", err)
	}
	if _, err := graceful.GetRefreshTokenSession(ctx, "rt-0", newSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("GetRefreshTokenSession(grace passed) = %v, want fosite.ErrInactiveToken", err)
	}
	if err := graceful.RotateRefreshToken(ctx, "family", "rt-0"); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("RotateRefreshToken(grace passed) = %v, want fosite.ErrInactiveToken", err)
	}

	// A revoked token gets no grace, however recently it was rotated.
	must(t, rotate(ctx, graceful, r, "rt-1", "at-3", "rt-3"), "rotate rt-1")
	must(t, graceful.RevokeRefreshToken(ctx, "family"), "RevokeRefreshToken")
	for _, sig := range []string{"rt-1", "rt-3"} {
		if _, err := graceful.GetRefreshTokenSession(ctx, sig, newSession()); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("GetRefreshTokenSession(%s revoked) = %v, want fosite.ErrInactiveToken", sig, err)
		}
		if err := graceful.RotateRefreshToken(ctx, "family", sig); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("RotateRefreshToken(%s revoked) = %v, want fosite.ErrInactiveToken", sig, err)
		}
	}
}

func testPKCERequestRoundTrip(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "req-1", "user-1")
	r.Form.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
	r.Form.Set("code_challenge_method", "S256")
	must(t, s.CreatePKCERequestSession(ctx, "code-sig", r), "CreatePKCERequestSession")
	got, err := s.GetPKCERequestSession(ctx, "code-sig", newSession())
	must(t, err, "GetPKCERequestSession")
	wantRequest(t, "GetPKCERequestSession", got, r)
	must(t, s.DeletePKCERequestSession(ctx, "code-sig"), "DeletePKCERequestSession")
	if _, err := s.GetPKCERequestSession(ctx, "code-sig", newSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetPKCERequestSession(deleted) = %v, want fosite.ErrNotFound", err)
	}
}

func testOpenIDConnectRequestKeyedByHash(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "req-1", "user-1")
	const code = "ory_ac_rawAuthorizationCode.WithItsSignaturePart"
	must(t, s.CreateOpenIDConnectSession(ctx, code, r), "CreateOpenIDConnectSession")

	// The access request fosite passes carries the session to decode into.
	got, err := s.GetOpenIDConnectSession(ctx, code, &fosite.AccessRequest{Request: fosite.Request{Session: newSession()}})
	must(t, err, "GetOpenIDConnectSession")
	wantRequest(t, "GetOpenIDConnectSession", got, r)

	if n := countRows(t, s, "oidc_requests", "signature = ?", code); n != 0 {
		t.Errorf("oidc_requests holds %d rows keyed by the raw code, want 0", n)
	}
	sum := sha256.Sum256([]byte(code))
	if n := countRows(t, s, "oidc_requests", "signature = ?", hex.EncodeToString(sum[:])); n != 1 {
		t.Errorf("oidc_requests holds %d rows keyed by SHA-256(code), want 1", n)
	}
	wantNotInTable(t, s, "oidc_requests", code)

	must(t, s.DeleteOpenIDConnectSession(ctx, code), "DeleteOpenIDConnectSession")
	if _, err := s.GetOpenIDConnectSession(ctx, code, &fosite.Request{Session: newSession()}); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetOpenIDConnectSession(deleted) = %v, want fosite.ErrNotFound", err)
	}
}

func testPARRequestRoundTrip(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	base := protoRequest("app", "req-par", "")
	redirect, _ := url.Parse("https://app.example/cb?x=1")
	ar := &fosite.AuthorizeRequest{
		ResponseTypes:        fosite.Arguments{"code"},
		RedirectURI:          redirect,
		State:                "state-123",
		HandledResponseTypes: fosite.Arguments{"code"},
		ResponseMode:         fosite.ResponseModeFormPost,
		DefaultResponseMode:  fosite.ResponseModeQuery,
		Request:              *base,
	}
	const requestURI = "urn:ietf:params:oauth:request_uri:abc123"
	must(t, s.CreatePARSession(ctx, requestURI, ar), "CreatePARSession")
	got, err := s.GetPARSession(ctx, requestURI)
	must(t, err, "GetPARSession")
	wantRequest(t, "GetPARSession", got, base)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"ResponseTypes", got.GetResponseTypes(), ar.ResponseTypes},
		{"RedirectURI", got.GetRedirectURI(), redirect},
		{"State", got.GetState(), "state-123"},
		{"ResponseMode", got.GetResponseMode(), fosite.ResponseModeFormPost},
		{"DefaultResponseMode", got.GetDefaultResponseMode(), fosite.ResponseModeQuery},
		{"DidHandleAllResponseTypes", got.DidHandleAllResponseTypes(), true},
	} {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("GetPARSession %s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if n := countRows(t, s, "par_requests", "signature = ?", requestURI); n != 0 {
		t.Errorf("par_requests holds %d rows keyed by the raw request_uri, want 0", n)
	}
	must(t, s.DeletePARSession(ctx, requestURI), "DeletePARSession")
	if _, err := s.GetPARSession(ctx, requestURI); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetPARSession(deleted) = %v, want fosite.ErrNotFound", err)
	}

	// RFC 9126 §2.2: an expired request_uri is refused.
	expired := protoRequest("app", "req-par-old", "")
	expired.Session.SetExpiresAt(fosite.PushedAuthorizeRequestContext, time.Now().UTC().Add(-time.Second))
	must(t, s.CreatePARSession(ctx, "urn:expired", &fosite.AuthorizeRequest{ResponseTypes: fosite.Arguments{"code"}, Request: *expired}), "CreatePARSession(expired)")
	if _, err := s.GetPARSession(ctx, "urn:expired"); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetPARSession(expired) = %v, want fosite.ErrNotFound", err)
	}
}

// wantNotInTable fails when any column of any row of table contains needle.
func wantNotInTable(t *testing.T, s *storage.Store, table, needle string) {
	t.Helper()
	rows, err := s.DB().QueryContext(t.Context(), "SELECT * FROM "+table)
	must(t, err, "select %s", table)
	defer rows.Close()
	cols, err := rows.Columns()
	must(t, err, "columns of %s", table)
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...), "scan %s", table)
		for i, v := range vals {
			if bytes.Contains(v, []byte(needle)) {
				t.Errorf("%s.%s contains %q in the clear", table, cols[i], needle)
			}
		}
	}
	must(t, rows.Err(), "rows of %s", table)
}

func testTokensStoredAsSignatures(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	strategy := &hmac.HMACStrategy{Config: &fosite.Config{GlobalSecret: []byte("a-global-secret-of-32-bytes-long!")}}
	r := protoRequest("app", "req-1", "user-1")
	var tokens []string
	for _, tc := range []struct {
		name   string
		create func(sig string) error
	}{
		{"authorization_codes", func(sig string) error { return s.CreateAuthorizeCodeSession(ctx, sig, r) }},
		{"access_tokens", func(sig string) error { return s.CreateAccessTokenSession(ctx, sig, r) }},
		{"refresh_tokens", func(sig string) error { return s.CreateRefreshTokenSession(ctx, sig, "at-sig", r) }},
		{"pkce_requests", func(sig string) error { return s.CreatePKCERequestSession(ctx, sig, r) }},
	} {
		token, sig, err := strategy.Generate(ctx)
		must(t, err, "generate token")
		tokens = append(tokens, token)
		must(t, tc.create(sig), "store %s", tc.name)
		if n := countRows(t, s, tc.name, "signature = ?", sig); n != 1 {
			t.Errorf("%s: %d rows keyed by the signature, want 1", tc.name, n)
		}
	}
	for _, table := range []string{"authorization_codes", "access_tokens", "refresh_tokens", "pkce_requests"} {
		for _, token := range tokens {
			wantNotInTable(t, s, table, token)
		}
	}
}

func testPayloadsEncryptedAtRest(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "req-1", "subject-in-the-session")
	r.Form.Set("state", "form-value-in-clear?")
	must(t, s.CreateAccessTokenSession(ctx, "at-1", r), "CreateAccessTokenSession")
	must(t, s.CreateOpenIDConnectSession(ctx, "code", r), "CreateOpenIDConnectSession")
	for _, table := range []string{"access_tokens", "oidc_requests"} {
		rows, err := s.DB().QueryContext(ctx, "SELECT form, session FROM "+table)
		must(t, err, "select %s", table)
		for rows.Next() {
			var form, session []byte
			must(t, rows.Scan(&form, &session), "scan %s", table)
			for _, needle := range []string{"subject-in-the-session", "form-value-in-clear", "nonce-req-1", "redirect_uri"} {
				if bytes.Contains(form, []byte(needle)) || bytes.Contains(session, []byte(needle)) {
					t.Errorf("%s: form or session contains %q in the clear", table, needle)
				}
			}
			if len(form) == 0 || len(session) == 0 {
				t.Errorf("%s: empty form or session column", table)
			}
		}
		must(t, rows.Err(), "rows of %s", table)
		rows.Close()
	}
	// A sealed value is bound to its row: copied to another row it does not open.
	must(t, s.CreateAccessTokenSession(ctx, "at-2", protoRequest("app", "req-2", "someone-else")), "CreateAccessTokenSession(at-2)")
	if _, err := s.DB().ExecContext(ctx, "UPDATE access_tokens SET session = (SELECT session FROM access_tokens WHERE signature = "+placeholder(s, 1)+") WHERE signature = "+placeholder(s, 2), "at-1", "at-2"); err != nil {
		t.Fatalf("copy session: %v", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-2", newSession()); !errors.Is(err, storage.ErrUnsealable) {
		t.Errorf("GetAccessTokenSession(moved session) = %v, want storage.ErrUnsealable", err)
	}
}

func testSystemSecretRotation(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	const newSecret = "the-next-system-secret-0123456789abcdefghijklmnop"
	newProtoClient(t, s, "app")
	old := protoRequest("app", "req-old", "user-1")
	must(t, s.CreateAccessTokenSession(ctx, "at-old", old), "CreateAccessTokenSession with the old secret")

	rotated := reopen(t, s, storage.Options{Secrets: []string{newSecret, TestSecret}})
	got, err := rotated.GetAccessTokenSession(ctx, "at-old", newSession())
	must(t, err, "read an old record with secrets [new, old]")
	wantRequest(t, "old record after rotation", got, old)

	fresh := protoRequest("app", "req-new", "user-1")
	must(t, rotated.CreateAccessTokenSession(ctx, "at-new", fresh), "CreateAccessTokenSession with the new secret")
	got, err = rotated.GetAccessTokenSession(ctx, "at-new", newSession())
	must(t, err, "read a new record")
	wantRequest(t, "new record", got, fresh)

	// The new secret encrypts: a store that knows only the old one cannot read it,
	// and once the old secret is dropped the old record is unreadable.
	if _, err := s.GetAccessTokenSession(ctx, "at-new", newSession()); !errors.Is(err, storage.ErrUnsealable) {
		t.Errorf("old-secret store reading a new record = %v, want storage.ErrUnsealable", err)
	}
	newOnly := reopen(t, s, storage.Options{Secrets: []string{newSecret}})
	if _, err := newOnly.GetAccessTokenSession(ctx, "at-old", newSession()); !errors.Is(err, storage.ErrUnsealable) {
		t.Errorf("new-secret-only store reading an old record = %v, want storage.ErrUnsealable", err)
	}
}

func testProtocolWritesNeedSecret(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	bare := reopen(t, s, storage.Options{})
	r := protoRequest("app", "req-1", "user-1")
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"CreateAuthorizeCodeSession", bare.CreateAuthorizeCodeSession(ctx, "c", r)},
		{"CreateAccessTokenSession", bare.CreateAccessTokenSession(ctx, "a", r)},
		{"CreateRefreshTokenSession", bare.CreateRefreshTokenSession(ctx, "r", "a", r)},
		{"CreatePKCERequestSession", bare.CreatePKCERequestSession(ctx, "p", r)},
		{"CreateOpenIDConnectSession", bare.CreateOpenIDConnectSession(ctx, "o", r)},
		{"CreatePARSession", bare.CreatePARSession(ctx, "urn:x", &fosite.AuthorizeRequest{Request: *r})},
	} {
		if !errors.Is(tc.err, storage.ErrNoSecret) {
			t.Errorf("%s without a system secret = %v, want storage.ErrNoSecret", tc.name, tc.err)
		}
	}
	// Clients need no secret.
	if _, err := bare.GetClient(ctx, "app"); err != nil {
		t.Errorf("GetClient without a system secret: %v", err)
	}
}

// race runs fn from n goroutines at once and returns their errors.
func race(n int, fn func() error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn()
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

// wantOneWinner checks that exactly one error is nil and the rest are loser.
func wantOneWinner(t *testing.T, what string, errs []error, loser error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Errorf("%s: unexpected error %v, want nil or %v", what, err, loser)
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d of %d succeeded, want exactly 1", what, wins, len(errs))
	}
}

func testConcurrentRefreshRotation(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "family", "user-1")
	must(t, s.CreateRefreshTokenSession(ctx, "rt-0", "at-0", r), "CreateRefreshTokenSession")
	var mu sync.Mutex
	next := 0
	errs := race(20, func() error {
		mu.Lock()
		next++
		n := next
		mu.Unlock()
		return rotate(ctx, s, r, "rt-0", fmt.Sprintf("at-%d", n), fmt.Sprintf("rt-%d", n))
	})
	wantOneWinner(t, "20 concurrent rotations of one refresh token", errs, fosite.ErrInactiveToken)
	if n := countRows(t, s, "refresh_tokens", "request_id = ? AND active = ?", "family", true); n != 1 {
		t.Errorf("active refresh tokens in the family = %d, want 1", n)
	}
}

func testConcurrentCodeRedemption(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "req-1", "user-1")
	must(t, s.CreateAuthorizeCodeSession(ctx, "code-sig", r), "CreateAuthorizeCodeSession")
	var mu sync.Mutex
	next := 0
	errs := race(20, func() error {
		mu.Lock()
		next++
		n := next
		mu.Unlock()
		txCtx, err := s.BeginTX(ctx)
		if err != nil {
			return err
		}
		err = s.InvalidateAuthorizeCodeSession(txCtx, "code-sig")
		if err == nil {
			err = s.CreateAccessTokenSession(txCtx, fmt.Sprintf("at-%d", n), r)
		}
		if err != nil {
			_ = s.Rollback(txCtx)
			return err
		}
		return s.Commit(txCtx)
	})
	wantOneWinner(t, "20 concurrent redemptions of one code", errs, fosite.ErrInvalidatedAuthorizeCode)
	if n := countRows(t, s, "access_tokens", "request_id = ?", "req-1"); n != 1 {
		t.Errorf("access tokens issued from the code = %d, want 1", n)
	}
}

func testRevokeSubjectTokens(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app-a")
	newProtoClient(t, s, "app-b")
	issue := func(client, subject, id string) {
		t.Helper()
		r := protoRequest(client, id, subject)
		must(t, s.CreateAuthorizeCodeSession(ctx, "code-"+id, r), "code %s", id)
		must(t, s.CreateAccessTokenSession(ctx, "at-"+id, r), "access token %s", id)
		must(t, s.CreateRefreshTokenSession(ctx, "rt-"+id, "at-"+id, r), "refresh token %s", id)
	}
	issue("app-a", "alice", "a1")
	issue("app-a", "alice", "a2")
	issue("app-b", "alice", "b1")
	issue("app-a", "bob", "bob1")

	n, err := s.RevokeClientTokensForSubject(ctx, "alice", "app-a")
	must(t, err, "RevokeClientTokensForSubject")
	if want := (storage.RevokedTokens{RefreshTokens: 2, AccessTokens: 2, AuthorizationCodes: 2}); n != want {
		t.Errorf("RevokeClientTokensForSubject(alice, app-a) = %+v, want %+v", n, want)
	}
	for _, id := range []string{"a1", "a2"} {
		if _, err := s.GetRefreshTokenSession(ctx, "rt-"+id, newSession()); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("refresh token %s: %v, want fosite.ErrInactiveToken", id, err)
		}
		if _, err := s.GetAccessTokenSession(ctx, "at-"+id, newSession()); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("access token %s: %v, want fosite.ErrNotFound", id, err)
		}
		if _, err := s.GetAuthorizeCodeSession(ctx, "code-"+id, newSession()); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			t.Errorf("code %s: %v, want fosite.ErrInvalidatedAuthorizeCode", id, err)
		}
	}
	for _, id := range []string{"b1", "bob1"} {
		if _, err := s.GetRefreshTokenSession(ctx, "rt-"+id, newSession()); err != nil {
			t.Errorf("refresh token %s of another client or subject: %v", id, err)
		}
	}

	n, err = s.RevokeSubjectTokens(ctx, "alice")
	must(t, err, "RevokeSubjectTokens")
	if want := (storage.RevokedTokens{RefreshTokens: 1, AccessTokens: 1, AuthorizationCodes: 1}); n != want {
		t.Errorf("RevokeSubjectTokens(alice) = %+v, want %+v", n, want)
	}
	if _, err := s.GetRefreshTokenSession(ctx, "rt-bob1", newSession()); err != nil {
		t.Errorf("bob's refresh token after revoking alice: %v", err)
	}
}

func testDeleteExpired(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	now := time.Now().UTC()
	put := func(id string, exp time.Time) {
		t.Helper()
		r := protoRequest("app", id, "user-1")
		for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken, fosite.PushedAuthorizeRequestContext} {
			r.Session.SetExpiresAt(tt, exp)
		}
		must(t, s.CreateAuthorizeCodeSession(ctx, "code-"+id, r), "code %s", id)
		must(t, s.CreateAccessTokenSession(ctx, "at-"+id, r), "access token %s", id)
		must(t, s.CreateRefreshTokenSession(ctx, "rt-"+id, "at-"+id, r), "refresh token %s", id)
		must(t, s.CreatePKCERequestSession(ctx, "code-"+id, r), "pkce %s", id)
		must(t, s.CreateOpenIDConnectSession(ctx, "raw-"+id, r), "oidc %s", id)
		must(t, s.CreatePARSession(ctx, "urn:"+id, &fosite.AuthorizeRequest{ResponseTypes: fosite.Arguments{"code"}, Request: *r}), "par %s", id)
		must(t, s.SetClientAssertionJWT(ctx, "jti-"+id, exp), "jti %s", id)
	}
	for i := range 5 {
		put(fmt.Sprintf("old-%d", i), now.Add(-time.Duration(i+1)*time.Minute))
	}
	for i := range 2 {
		put(fmt.Sprintf("live-%d", i), now.Add(time.Hour))
	}
	tables := []string{"authorization_codes", "access_tokens", "refresh_tokens", "pkce_requests", "oidc_requests", "par_requests", "client_assertion_jtis"}

	// A batch of 2 forces several rounds per table.
	n, err := s.DeleteExpired(ctx, now, storage.SweepOptions{Batch: 2})
	must(t, err, "DeleteExpired")
	if want := int64(5 * len(tables)); n != want {
		t.Errorf("DeleteExpired = %d, want %d", n, want)
	}
	for _, table := range tables {
		if got := countRows(t, s, table, ""); got != 2 {
			t.Errorf("%s: %d rows left, want the 2 live ones", table, got)
		}
	}
	if _, err := s.GetRefreshTokenSession(ctx, "rt-live-0", newSession()); err != nil {
		t.Errorf("live refresh token after sweep: %v", err)
	}
	n, err = s.DeleteExpired(ctx, now, storage.SweepOptions{Batch: 2})
	must(t, err, "DeleteExpired(again)")
	if n != 0 {
		t.Errorf("DeleteExpired(again) = %d, want 0", n)
	}
}

// redeemAsFosite runs a code redemption in the order fosite's handlers call the
// store (authorization code, PKCE, then OpenID Connect), in one transaction.
// read, when not nil, is closed once the code has been read.
func redeemAsFosite(ctx context.Context, s *storage.Store, r *fosite.Request, codeSig, rawCode string, n int, read chan<- struct{}) error {
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error {
			_, err := s.GetAuthorizeCodeSession(txCtx, codeSig, newSession())
			if read != nil {
				close(read)
			}
			return err
		},
		func() error { _, err := s.GetPKCERequestSession(txCtx, codeSig, newSession()); return err },
		func() error { return s.DeletePKCERequestSession(txCtx, codeSig) },
		func() error { _, err := s.GetAuthorizeCodeSession(txCtx, codeSig, newSession()); return err },
		func() error { return s.InvalidateAuthorizeCodeSession(txCtx, codeSig) },
		func() error { return s.CreateAccessTokenSession(txCtx, fmt.Sprintf("at-%d", n), r) },
		func() error {
			return s.CreateRefreshTokenSession(txCtx, fmt.Sprintf("rt-%d", n), fmt.Sprintf("at-%d", n), r)
		},
		func() error { _, err := s.GetOpenIDConnectSession(txCtx, rawCode, r); return err },
		func() error { return s.DeleteOpenIDConnectSession(txCtx, rawCode) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			_ = s.Rollback(txCtx)
			return err
		}
	}
	return s.Commit(txCtx)
}

// testConcurrentRedemptionAsFositeRunsIt: of concurrent redemptions of one
// code, each reading the code first as fosite does, exactly one wins; the
// others see the code used; the PKCE and OpenID Connect records are gone with
// the winner's commit.
func testConcurrentRedemptionAsFositeRunsIt(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "req-1", "user-1")
	must(t, s.CreateAuthorizeCodeSession(ctx, "code-sig", r), "CreateAuthorizeCodeSession")
	must(t, s.CreatePKCERequestSession(ctx, "code-sig", r), "CreatePKCERequestSession")
	must(t, s.CreateOpenIDConnectSession(ctx, "raw-code", r), "CreateOpenIDConnectSession")
	var mu sync.Mutex
	next := 0
	errs := race(10, func() error {
		mu.Lock()
		next++
		n := next
		mu.Unlock()
		return redeemAsFosite(ctx, s, r, "code-sig", "raw-code", n, nil)
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode), errors.Is(err, fosite.ErrNotFound):
			// The code was used; or its PKCE record is gone with the winner's commit.
		default:
			t.Errorf("redemption: unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("10 concurrent redemptions of one code: %d succeeded, want exactly 1", wins)
	}
	if n := countRows(t, s, "access_tokens", "request_id = ?", "req-1"); n != 1 {
		t.Errorf("access tokens issued from the code = %d, want 1", n)
	}
	if n := countRows(t, s, "refresh_tokens", "request_id = ?", "req-1"); n != 1 {
		t.Errorf("refresh tokens issued from the code = %d, want 1", n)
	}
	if n := countRows(t, s, "pkce_requests", "request_id = ?", "req-1") + countRows(t, s, "oidc_requests", "request_id = ?", "req-1"); n != 0 {
		t.Errorf("PKCE and OpenID Connect records left after the redemption = %d, want 0", n)
	}
	if _, err := s.GetAuthorizeCodeSession(ctx, "code-sig", newSession()); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Errorf("the redeemed code reads as %v, want fosite.ErrInvalidatedAuthorizeCode", err)
	}
}

// testConcurrentRotationAsFositeRunsIt: of concurrent rotations of one refresh
// token, each reading the token first as fosite does, exactly one wins and the
// others see it inactive (reuse), with the request they need to revoke the
// family.
func testConcurrentRotationAsFositeRunsIt(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "family", "user-1")
	must(t, s.CreateAccessTokenSession(ctx, "at-0", r), "CreateAccessTokenSession")
	must(t, s.CreateRefreshTokenSession(ctx, "rt-0", "at-0", r), "CreateRefreshTokenSession")
	var mu sync.Mutex
	next := 0
	errs := race(10, func() error {
		mu.Lock()
		next++
		n := next
		mu.Unlock()
		txCtx, err := s.BeginTX(ctx)
		if err != nil {
			return err
		}
		req, err := s.GetRefreshTokenSession(txCtx, "rt-0", newSession())
		if err == nil {
			err = s.RotateRefreshToken(txCtx, req.GetID(), "rt-0")
		} else if errors.Is(err, fosite.ErrInactiveToken) && (req == nil || req.GetID() != "family") {
			err = fmt.Errorf("a reused token's request is missing: %v", req)
		}
		if err == nil {
			err = s.CreateAccessTokenSession(txCtx, fmt.Sprintf("at-%d", n), r)
		}
		if err == nil {
			err = s.CreateRefreshTokenSession(txCtx, fmt.Sprintf("rt-%d", n), fmt.Sprintf("at-%d", n), r)
		}
		if err != nil {
			_ = s.Rollback(txCtx)
			return err
		}
		return s.Commit(txCtx)
	})
	wantOneWinner(t, "10 concurrent rotations of one refresh token", errs, fosite.ErrInactiveToken)
	if n := countRows(t, s, "refresh_tokens", "request_id = ? AND active = ?", "family", true); n != 1 {
		t.Errorf("active refresh tokens in the family = %d, want 1", n)
	}
	if n := countRows(t, s, "access_tokens", "request_id = ?", "family"); n != 1 {
		t.Errorf("access tokens in the family = %d, want 1 (the first revoked, the winner's kept)", n)
	}
}

// testTransactionAllOrNothing: a write that fails in a transaction (a taken
// signature), whether the store reports it at the call or at the commit,
// leaves nothing of the transaction behind.
func testTransactionAllOrNothing(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	taken := protoRequest("app", "req-taken", "user-1")
	must(t, s.CreateAccessTokenSession(ctx, "at-taken", taken), "CreateAccessTokenSession")
	r := protoRequest("app", "req-new", "user-1")
	txCtx, err := s.BeginTX(ctx)
	must(t, err, "BeginTX")
	err = s.CreateAuthorizeCodeSession(txCtx, "code-new", r)
	if err == nil {
		err = s.CreateAccessTokenSession(txCtx, "at-taken", r)
	}
	if err == nil {
		err = s.Commit(txCtx)
	} else {
		_ = s.Rollback(txCtx)
	}
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("a transaction reusing a token signature ended with %v, want storage.ErrConflict", err)
	}
	if n := countRows(t, s, "authorization_codes", "request_id = ?", "req-new"); n != 0 {
		t.Errorf("the failed transaction's authorization code was stored (%d rows)", n)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-taken", newSession()); err != nil {
		t.Errorf("the token whose signature was reused: %v", err)
	}
}

// testRedemptionWaitsForTheOneInFlight: a redemption that reads a code while
// another, which has read it, is still running may not also win: it waits
// and finds the code used. (A store that decides a redemption on what it read,
// without holding the row, would let both commit.)
func testRedemptionWaitsForTheOneInFlight(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "req-1", "user-1")
	must(t, s.CreateAuthorizeCodeSession(ctx, "code-sig", r), "CreateAuthorizeCodeSession")
	must(t, s.CreatePKCERequestSession(ctx, "code-sig", r), "CreatePKCERequestSession")
	must(t, s.CreateOpenIDConnectSession(ctx, "raw-code", r), "CreateOpenIDConnectSession")

	first, err := s.BeginTX(ctx)
	must(t, err, "BeginTX")
	if _, err := s.GetAuthorizeCodeSession(first, "code-sig", newSession()); err != nil {
		_ = s.Rollback(first)
		t.Fatalf("first redemption reads the code: %v", err)
	}
	second, read := make(chan error, 1), make(chan struct{})
	go func() { second <- redeemAsFosite(ctx, s, r, "code-sig", "raw-code", 2, read) }()
	readOrWaiting(t, s, read)
	err = s.InvalidateAuthorizeCodeSession(first, "code-sig")
	if err == nil {
		err = s.CreateAccessTokenSession(first, "at-1", r)
	}
	if err != nil {
		_ = s.Rollback(first)
		t.Fatalf("first redemption: %v", err)
	}
	must(t, s.Commit(first), "commit the first redemption")
	if err := <-second; !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Errorf("second redemption of the code = %v, want fosite.ErrInvalidatedAuthorizeCode", err)
	}
	if n := countRows(t, s, "access_tokens", "request_id = ?", "req-1"); n != 1 {
		t.Errorf("access tokens issued from the code = %d, want 1", n)
	}
}

// testRotationWaitsForTheOneInFlight is testRedemptionWaitsForTheOneInFlight
// for a refresh token: the second rotation finds the token rotated, with the
// request it needs to revoke the family.
func testRotationWaitsForTheOneInFlight(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	r := protoRequest("app", "family", "user-1")
	must(t, s.CreateRefreshTokenSession(ctx, "rt-0", "at-0", r), "CreateRefreshTokenSession")

	first, err := s.BeginTX(ctx)
	must(t, err, "BeginTX")
	if _, err := s.GetRefreshTokenSession(first, "rt-0", newSession()); err != nil {
		_ = s.Rollback(first)
		t.Fatalf("first rotation reads the token: %v", err)
	}
	second, read := make(chan error, 1), make(chan struct{})
	go func() {
		txCtx, err := s.BeginTX(ctx)
		if err != nil {
			close(read)
			second <- err
			return
		}
		defer s.Rollback(txCtx)
		req, err := s.GetRefreshTokenSession(txCtx, "rt-0", newSession())
		close(read)
		if err == nil {
			err = s.RotateRefreshToken(txCtx, req.GetID(), "rt-0")
		} else if req == nil || req.GetID() != "family" {
			err = fmt.Errorf("%w, without the request to revoke (%v)", err, req)
		}
		if err == nil {
			err = s.CreateRefreshTokenSession(txCtx, "rt-2", "at-2", r)
		}
		if err == nil {
			err = s.Commit(txCtx)
		}
		second <- err
	}()
	readOrWaiting(t, s, read)
	err = s.RotateRefreshToken(first, "family", "rt-0")
	if err == nil {
		err = s.CreateRefreshTokenSession(first, "rt-1", "at-1", r)
	}
	if err != nil {
		_ = s.Rollback(first)
		t.Fatalf("first rotation: %v", err)
	}
	must(t, s.Commit(first), "commit the first rotation")
	if err := <-second; !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("second rotation of the token = %v, want fosite.ErrInactiveToken with its request", err)
	}
	if n := countRows(t, s, "refresh_tokens", "request_id = ? AND active = ?", "family", true); n != 1 {
		t.Errorf("active refresh tokens in the family = %d, want 1", n)
	}
}

// readOrWaiting returns once the second transaction of a race has read its row
// (read is closed) or, on PostgreSQL, waits for a lock to read it: only then
// does the first go on, so that the race is run, not just two transactions in
// a row. SQLite's second transaction waits for the first's write lock at its
// BEGIN, which nothing shows: it is not waited for.
func readOrWaiting(t *testing.T, s *storage.Store, read <-chan struct{}) {
	t.Helper()
	if s.Dialect() != storage.Postgres {
		return
	}
	waitUntil(t, "the second transaction to read the row or wait for its lock", func() bool {
		select {
		case <-read:
			return true
		default:
		}
		var waiting int
		err := s.DB().QueryRowContext(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&waiting)
		return err == nil && waiting > 0
	})
}
