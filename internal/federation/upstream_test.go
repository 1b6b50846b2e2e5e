package federation_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

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
