package oauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// signingKeys returns a key manager on a fresh SQLite store that keeps a key of
// every supported algorithm.
func signingKeys(tb testing.TB) *keys.Manager {
	tb.Helper()
	s := storagetest.OpenURL(tb, "sqlite:"+tb.TempDir()+"/gatehouse.db", storage.PoolerNone)
	km := keys.New(s, keys.Options{Extra: []string{keys.EdDSA}})
	if err := km.EnsureKeys(context.Background()); err != nil {
		tb.Fatalf("EnsureKeys: %v", err)
	}
	return km
}

// accessTokenRequest is a client_credentials request as the token endpoint has
// it when it makes the access token.
func accessTokenRequest() *fosite.Request {
	s := NewSession()
	s.ClientID = "service-client-0123456789"
	s.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
	r := fosite.NewRequest()
	r.Session = s
	r.GrantedScope = fosite.Arguments{"reports", "orders:read"}
	r.GrantedAudience = fosite.Arguments{"https://api.example.com"}
	return r
}

func jwtStrategy(signer jwt.Signer) *oauth2.DefaultJWTStrategy {
	fc := &fosite.Config{AccessTokenIssuer: "https://id.example.com", JWTScopeClaimKey: jwt.JWTScopeFieldString}
	return &oauth2.DefaultJWTStrategy{Signer: signer, Config: fc}
}

// fositeKeyGetter is how access tokens were signed before jwsSigner: fosite's
// DefaultSigner with the active key as a go-jose v3 JWK. It stays here as the
// benchmark's baseline.
func fositeKeyGetter(ks KeySource, alg string) jwt.GetPrivateKeyFunc {
	return func(context.Context) (any, error) {
		k, err := ks.Signer(alg)
		if err != nil {
			return nil, err
		}
		return &josev3.JSONWebKey{Key: k.Signer, KeyID: k.KID, Algorithm: k.Alg, Use: "sig"}, nil
	}
}

func TestJWSSignerRoundTrip(t *testing.T) {
	km := signingKeys(t)
	ctx := context.Background()
	for _, alg := range keys.Supported() {
		t.Run(alg, func(t *testing.T) {
			st := jwtStrategy(&jwsSigner{keys: km, alg: fixedAlg(alg)})
			req := accessTokenRequest()
			token, sig, err := st.GenerateAccessToken(ctx, req)
			if err != nil {
				t.Fatalf("GenerateAccessToken: %v", err)
			}
			if !strings.HasSuffix(token, "."+sig) || st.AccessTokenSignature(ctx, token) != sig {
				t.Errorf("signature %q is not the token's third part: %s", sig, token)
			}
			if err := st.ValidateAccessToken(ctx, req, token); err != nil {
				t.Fatalf("ValidateAccessToken of a fresh token: %v", err)
			}
			tok, err := st.Decode(ctx, token)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			k, _ := km.Signer(alg)
			if tok.Header["alg"] != alg || tok.Header["kid"] != k.KID || tok.Header["typ"] != "at+jwt" {
				t.Errorf("header = %v, want alg %s, kid %s, typ at+jwt", tok.Header, alg, k.KID)
			}
			if tok.Claims["client_id"] != "service-client-0123456789" || tok.Claims["scope"] != "reports orders:read" ||
				tok.Claims["iss"] != "https://id.example.com" || tok.Claims["jti"] == "" {
				t.Errorf("claims = %v, want client_id, scope, iss and jti", tok.Claims)
			}

			// A changed payload, an unknown kid and an expired token are refused.
			parts := strings.Split(token, ".")
			tampered := parts[0] + "." + parts[1] + "x." + parts[2]
			if err := st.ValidateAccessToken(ctx, req, tampered); err == nil {
				t.Error("ValidateAccessToken of a tampered token succeeded")
			}
			expired := accessTokenRequest()
			expired.Session.SetExpiresAt(fosite.AccessToken, time.Now().Add(-time.Minute))
			old, _, err := st.GenerateAccessToken(ctx, expired)
			if err != nil {
				t.Fatalf("GenerateAccessToken (expired): %v", err)
			}
			err = st.ValidateAccessToken(ctx, expired, old)
			if !errors.Is(err, fosite.ErrTokenExpired) {
				t.Errorf("ValidateAccessToken of an expired token = %v, want ErrTokenExpired", err)
			}
		})
	}
	t.Run("unknown kid", func(t *testing.T) {
		other := signingKeys(t) // another database: other keys
		token, _, err := jwtStrategy(&jwsSigner{keys: other, alg: fixedAlg(keys.ES256)}).GenerateAccessToken(ctx, accessTokenRequest())
		if err != nil {
			t.Fatalf("GenerateAccessToken: %v", err)
		}
		err = jwtStrategy(&jwsSigner{keys: km, alg: fixedAlg(keys.ES256)}).ValidateAccessToken(ctx, nil, token)
		if !errors.Is(err, fosite.ErrTokenSignatureMismatch) {
			t.Errorf("ValidateAccessToken of a token signed by an unknown key = %v, want ErrTokenSignatureMismatch", err)
		}
	})
}

// BenchmarkJWTAccessTokenSigning: the CPU cost of one JWT access token as the
// token endpoint makes it (claims from the session, JOSE header, encoding,
// signature), without HTTP or the database. "fosite" is fosite's DefaultSigner,
// which signed them before jwsSigner; it knows no EdDSA.
//
//	go test ./internal/oauth -run '^$' -bench JWTAccessTokenSigning -benchmem
func BenchmarkJWTAccessTokenSigning(b *testing.B) {
	km := signingKeys(b)
	ctx := context.Background()
	for _, alg := range keys.Supported() {
		for _, impl := range []struct {
			name   string
			signer jwt.Signer
		}{
			{"fosite", &jwt.DefaultSigner{GetPrivateKey: fositeKeyGetter(km, alg)}},
			{"gatehouse", &jwsSigner{keys: km, alg: fixedAlg(alg)}},
		} {
			if impl.name == "fosite" && alg == keys.EdDSA {
				continue
			}
			b.Run(alg+"/"+impl.name, func(b *testing.B) {
				st := jwtStrategy(impl.signer)
				req := accessTokenRequest()
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := st.GenerateAccessToken(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
