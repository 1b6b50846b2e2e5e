package federation_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// fakeOIDC is a small OpenID Connect provider written for these tests, for
// the cases a real Gatehouse upstream cannot be made to produce: a wrong
// nonce, a bad signature, a refusal. It checks PKCE (S256) like a real one.
type fakeOIDC struct {
	t   *testing.T
	srv *httptest.Server
	key *rsa.PrivateKey
	// other signs when badSignature is set: a key the JWKS does not hold.
	other *rsa.PrivateKey

	mu sync.Mutex
	// claims are the signed-in person's (sub, email, email_verified, amr …).
	claims       map[string]any
	deny         bool // answer access_denied
	wrongNonce   bool
	badSignature bool
	codes        map[string]pendingCode
	tokens       int // access tokens issued
	refreshes    int // of them by refresh_token
	expiresIn    int // seconds; 0 means an hour
	refreshTok   map[string]bool
}

func (f *fakeOIDC) issued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens
}

func (f *fakeOIDC) refreshed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refreshes
}

func (f *fakeOIDC) lifetime() int {
	if f.expiresIn > 0 {
		return f.expiresIn
	}
	return 3600
}

type pendingCode struct {
	nonce, challenge, redirect string
	claims                     map[string]any
}

func newFakeOIDC(t *testing.T) *fakeOIDC {
	t.Helper()
	f := &fakeOIDC{t: t, codes: map[string]pendingCode{}, refreshTok: map[string]bool{}}
	var err error
	if f.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if f.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", f.discovery)
	mux.HandleFunc("GET /jwks", f.jwks)
	mux.HandleFunc("GET /authorize", f.authorize)
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("GET /userinfo", f.userinfo)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOIDC) issuer() string { return f.srv.URL }

func (f *fakeOIDC) set(change func(f *fakeOIDC)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeOIDC) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer": f.issuer(), "authorization_endpoint": f.issuer() + "/authorize", "token_endpoint": f.issuer() + "/token",
		"userinfo_endpoint": f.issuer() + "/userinfo", "jwks_uri": f.issuer() + "/jwks",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (f *fakeOIDC) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

func (f *fakeOIDC) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := url.Values{"state": {q.Get("state")}}
	if f.deny {
		v.Set("error", "access_denied")
	} else {
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			f.t.Errorf("authorize without PKCE S256: %s", r.URL.RawQuery)
		}
		code := rand.Text()
		f.codes[code] = pendingCode{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), claims: f.claims}
		v.Set("code", code)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (f *fakeOIDC) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.PostFormValue("grant_type") == "refresh_token" {
		if !f.refreshTok[r.PostFormValue("refresh_token")] {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		f.tokens++
		f.refreshes++
		writeJSON(w, map[string]any{"access_token": "at-" + rand.Text(), "token_type": "Bearer", "expires_in": f.lifetime()})
		return
	}
	code := r.PostFormValue("code")
	pc, ok := f.codes[code]
	delete(f.codes, code) // once
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != pc.challenge || r.PostFormValue("redirect_uri") != pc.redirect {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	key, nonce := f.key, pc.nonce
	if f.badSignature {
		key = f.other
	}
	if f.wrongNonce {
		nonce = "not-the-nonce"
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		f.t.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{"iss": f.issuer(), "aud": "rp", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": nonce}
	for k, v := range pc.claims {
		claims[k] = v
	}
	idt, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		f.t.Fatal(err)
	}
	f.tokens++
	rt := "rt-" + rand.Text()
	f.refreshTok[rt] = true
	writeJSON(w, map[string]any{"access_token": "at-" + rand.Text(), "token_type": "Bearer", "expires_in": f.lifetime(),
		"refresh_token": rt, "id_token": idt})
}

func (f *fakeOIDC) userinfo(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, map[string]any{"sub": f.claims["sub"], "name": "From Userinfo", "picture": "https://example.com/p.png"})
}

// fakeGitHub serves the shapes of GitHub's OAuth and REST endpoints that the
// preset uses: /login/oauth/authorize, /login/oauth/access_token (form
// encoded, as GitHub answers without Accept: application/json), GET /user
// and GET /user/emails.
type fakeGitHub struct {
	srv    *httptest.Server
	mu     sync.Mutex
	user   map[string]any
	emails []map[string]any
	codes  map[string]string // code → PKCE challenge
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{codes: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := rand.Text()
		g.mu.Lock()
		g.codes[code] = q.Get("code_challenge")
		g.mu.Unlock()
		back, _ := url.Parse(q.Get("redirect_uri"))
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		challenge, ok := g.codes[r.PostFormValue("code")]
		delete(g.codes, r.PostFormValue("code"))
		g.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		if !ok || r.PostFormValue("client_secret") != "gh-secret" || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			// GitHub answers 200 with an error in the body.
			w.Write([]byte("error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired."))
			return
		}
		w.Write([]byte("access_token=gho_" + rand.Text() + "&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer"))
	})
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if len(r.Header.Get("Authorization")) < len("Bearer gho_x") {
				w.WriteHeader(http.StatusUnauthorized)
				writeJSON(w, map[string]any{"message": "Requires authentication"})
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /user", auth(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		writeJSON(w, g.user)
	}))
	mux.HandleFunc("GET /user/emails", auth(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		writeJSON(w, g.emails)
	}))
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
