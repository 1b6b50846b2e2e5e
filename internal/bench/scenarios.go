package bench

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// post sends a form and returns the status and body.
func post(ctx context.Context, c *http.Client, target string, form url.Values, user, pass string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func statusKind(status int) string {
	if status == http.StatusOK {
		return ""
	}
	return fmt.Sprintf("http %d", status)
}

// clientCredentials: POST /oauth2/token, grant client_credentials, basic auth.
type clientCredentials struct{ jwt bool }

func (s *clientCredentials) setup(ctx context.Context, e *env) error {
	spec := map[string]any{"grant_types": []string{"client_credentials"}, "scope": "bench", "token_endpoint_auth_method": "client_secret_basic"}
	if s.jwt {
		spec["access_token_format"] = "jwt"
	}
	return e.createClient(ctx, spec)
}

func (s *clientCredentials) worker(_ context.Context, e *env, _ int) (func(context.Context) string, error) {
	target := e.o.URL + "/oauth2/token"
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"bench"}}
	return func(ctx context.Context) string {
		status, _, err := post(ctx, e.o.HTTP, target, form, e.clientID, e.secret)
		if err != nil {
			return errKind(err)
		}
		return statusKind(status)
	}, nil
}

func (s *clientCredentials) cleanup(ctx context.Context, e *env) { e.deleteAll(ctx) }

// introspection: POST /oauth2/introspect of opaque access tokens fetched first.
type introspection struct{ tokens []string }

func (s *introspection) setup(ctx context.Context, e *env) error {
	if err := e.createClient(ctx, map[string]any{"grant_types": []string{"client_credentials"}, "scope": "bench", "token_endpoint_auth_method": "client_secret_basic"}); err != nil {
		return err
	}
	for range 64 {
		status, body, err := post(ctx, e.o.HTTP, e.o.URL+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"bench"}}, e.clientID, e.secret)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("get a token to introspect: %d %v", status, err)
		}
		var t struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(body, &t); err != nil {
			return err
		}
		s.tokens = append(s.tokens, t.AccessToken)
	}
	return nil
}

func (s *introspection) worker(_ context.Context, e *env, id int) (func(context.Context) string, error) {
	target := e.o.URL + "/oauth2/introspect"
	n := id
	return func(ctx context.Context) string {
		n++
		status, body, err := post(ctx, e.o.HTTP, target, url.Values{"token": {s.tokens[n%len(s.tokens)]}}, e.clientID, e.secret)
		if err != nil {
			return errKind(err)
		}
		if status == http.StatusOK && !strings.Contains(string(body), `"active":true`) {
			return "inactive token"
		}
		return statusKind(status)
	}, nil
}

func (s *introspection) cleanup(ctx context.Context, e *env) { e.deleteAll(ctx) }

// discovery: GET the discovery document and the JWKS, alternately.
type discovery struct{}

func (discovery) setup(context.Context, *env) error { return nil }
func (discovery) cleanup(context.Context, *env)     {}
func (discovery) worker(_ context.Context, e *env, id int) (func(context.Context) string, error) {
	paths := []string{e.o.URL + "/.well-known/openid-configuration", e.o.URL + "/.well-known/jwks.json"}
	n := id
	return func(ctx context.Context) string {
		n++
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, paths[n%2], nil)
		resp, err := e.o.HTTP.Do(req)
		if err != nil {
			return errKind(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return statusKind(resp.StatusCode)
	}, nil
}

// csrfField finds the CSRF token of the first form on a page.
var csrfField = regexp.MustCompile(`name="(csrf_token)" value="([^"]+)"`)

// signIn signs the browser in: GET the sign-in form, POST it with the CSRF token.
func signIn(ctx context.Context, c *http.Client, e *env) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.o.URL+"/signin", nil)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return resp.StatusCode, errors.New("no CSRF token on the sign-in page")
	}
	form := url.Values{"email": {e.email}, "password": {e.password}, string(m[1]): {html.UnescapeString(string(m[2]))}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, e.o.URL+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.o.URL)
	req.Header.Set("Referer", e.o.URL+"/signin")
	resp, err = c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		return resp.StatusCode, fmt.Errorf("sign-in answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

func browserClient(base *http.Client) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: base.Transport, Jar: jar, Timeout: base.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// authorizationCode: a signed-in user with a first-party client repeats
// authorize → code → token → userinfo.
type authorizationCode struct{}

const benchRedirect = "http://127.0.0.1:9/callback"

func (authorizationCode) setup(ctx context.Context, e *env) error {
	if err := e.createUser(ctx); err != nil {
		return err
	}
	spec := map[string]any{"grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
		"redirect_uris": []string{benchRedirect}, "scope": "openid profile email", "first_party": true, "token_endpoint_auth_method": "client_secret_basic"}
	if e.o.IDTokenAlg != "" {
		spec["id_token_signed_response_alg"] = e.o.IDTokenAlg
	}
	return e.createClient(ctx, spec)
}

func (authorizationCode) cleanup(ctx context.Context, e *env) { e.deleteAll(ctx) }

func (authorizationCode) worker(ctx context.Context, e *env, _ int) (func(context.Context) string, error) {
	c := browserClient(e.o.HTTP)
	if _, err := signIn(ctx, c, e); err != nil {
		return nil, err
	}
	return func(ctx context.Context) string {
		verifier := randomHex(32)
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"client_id": {e.clientID}, "response_type": {"code"}, "redirect_uri": {benchRedirect}, "scope": {"openid profile email"},
			"state": {randomHex(8)}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.o.URL+"/oauth2/authorize?"+q.Encode(), nil)
		resp, err := c.Do(req)
		if err != nil {
			return errKind(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			return fmt.Sprintf("authorize %d", resp.StatusCode)
		}
		status, body, err := post(ctx, e.o.HTTP, e.o.URL+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {benchRedirect}, "code_verifier": {verifier}}, e.clientID, e.secret)
		if err != nil {
			return errKind(err)
		}
		if status != http.StatusOK {
			return fmt.Sprintf("token %d", status)
		}
		var t struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(body, &t) != nil {
			return "token body"
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, e.o.URL+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+t.AccessToken)
		resp, err = e.o.HTTP.Do(req)
		if err != nil {
			return errKind(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Sprintf("userinfo %d", resp.StatusCode)
		}
		return ""
	}, nil
}

// firstSignIn: a fresh browser signs in each time (the argon2id check dominates).
type firstSignIn struct{}

func (firstSignIn) setup(ctx context.Context, e *env) error { return e.createUser(ctx) }
func (firstSignIn) cleanup(ctx context.Context, e *env)     { e.deleteAll(ctx) }
func (firstSignIn) worker(_ context.Context, e *env, _ int) (func(context.Context) string, error) {
	return func(ctx context.Context) string {
		status, err := signIn(ctx, browserClient(e.o.HTTP), e)
		if err != nil {
			if status != 0 {
				return fmt.Sprintf("sign-in %d", status)
			}
			return errKind(err)
		}
		return ""
	}, nil
}

// signInByAPI signs a browser in through the JSON API (POST
// /api/auth/sign-in/email); the answer carries the session token.
func signInByAPI(ctx context.Context, c *http.Client, e *env) (string, int, error) {
	body, _ := json.Marshal(map[string]string{"email": e.email, "password": e.password})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.o.URL+"/api/auth/sign-in/email", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", e.o.URL)
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode, fmt.Errorf("API sign-in answered %d", resp.StatusCode)
	}
	return resp.Header.Get("set-auth-token"), resp.StatusCode, nil
}

// apiSignIn: a fresh browser signs in by API each time (first sign-in:
// the argon2id check dominates, as in first-sign-in).
type apiSignIn struct{}

func (apiSignIn) setup(ctx context.Context, e *env) error { return e.createUser(ctx) }
func (apiSignIn) cleanup(ctx context.Context, e *env)     { e.deleteAll(ctx) }
func (apiSignIn) worker(_ context.Context, e *env, _ int) (func(context.Context) string, error) {
	return func(ctx context.Context) string {
		_, status, err := signInByAPI(ctx, browserClient(e.o.HTTP), e)
		if err != nil {
			if status != 0 {
				return fmt.Sprintf("sign-in %d", status)
			}
			return errKind(err)
		}
		return ""
	}, nil
}

// getSession: each worker signs in once by API, then repeats GET
// /api/auth/get-session with its cookie (one indexed read; activity written
// at most once a minute per session).
type getSession struct{}

func (getSession) setup(ctx context.Context, e *env) error { return e.createUser(ctx) }
func (getSession) cleanup(ctx context.Context, e *env)     { e.deleteAll(ctx) }
func (getSession) worker(ctx context.Context, e *env, _ int) (func(context.Context) string, error) {
	c := browserClient(e.o.HTTP)
	if _, _, err := signInByAPI(ctx, c, e); err != nil {
		return nil, err
	}
	return func(ctx context.Context) string {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.o.URL+"/api/auth/get-session", nil)
		resp, err := c.Do(req)
		if err != nil {
			return errKind(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return statusKind(resp.StatusCode)
		}
		if len(b) < 8 || string(b[:4]) == "null" {
			return "signed out"
		}
		return ""
	}, nil
}
