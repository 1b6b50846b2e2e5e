package federation

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/outbound"
)

// flowTTL is how long a person has at the provider before the flow cookie
// expires.
const flowTTL = 10 * time.Minute

// Flow is what Begin needs besides the provider.
type Flow struct {
	// Continue is where the browser goes once signed in: the pending
	// authorization, the account page, or an application's page (API); the
	// caller has validated it.
	Continue string
	// LinkUserID, when set, links the upstream account to this signed-in
	// user (the account page) instead of signing in.
	LinkUserID string
	// API marks a flow begun by the JSON API (POST /api/auth/sign-in/social):
	// the provider sends the browser back to /api/auth/callback/{id}, as
	// Better Auth's redirect URI, and ErrorURL and NewUserURL are where the
	// callback sends it on a failure and after a sign-up (Continue when
	// empty).
	API                  bool
	ErrorURL, NewUserURL string
}

// flowState is what the flow cookie carries, sealed.
type flowState struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Continue string `json:"c"`
	LinkUser string `json:"l,omitempty"`
	Redirect string `json:"r"`
	API      bool   `json:"a,omitempty"`
	ErrorURL string `json:"x,omitempty"`
	NewUser  string `json:"w,omitempty"`
	Expires  int64  `json:"e"`
}

// APICallbackPath is the path of provider id's redirect URI for flows the
// JSON API begins (Better Auth's).
func APICallbackPath(id string) string { return "/api/auth/callback/" + id }

// Begin starts a sign-in at provider id: it puts state, nonce and the PKCE
// verifier in the flow cookie and returns the provider's authorization URL
// for the browser. An unknown provider is CodeUnknownProvider; a provider
// whose discovery document cannot be fetched is CodeUpstreamUnavailable.
func (s *Service) Begin(ctx context.Context, w http.ResponseWriter, id string, f Flow) (string, error) {
	p, ok := s.lookup(ctx, id)
	if !ok {
		return "", fail(CodeUnknownProvider, id, "", nil)
	}
	conf := p.oauth
	if p.cfg.Kind != KindGitHub {
		var err error
		if _, _, conf, err = p.discover(s.client(ctx)); err != nil {
			return "", fail(CodeUpstreamUnavailable, id, "discovery", err)
		}
	}
	st := flowState{
		Provider: id, State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(),
		Continue: f.Continue, LinkUser: f.LinkUserID, Expires: s.now().Add(flowTTL).Unix(),
		Redirect: s.issuer + CallbackPath(id), API: f.API, ErrorURL: f.ErrorURL, NewUser: f.NewUserURL,
	}
	if f.API {
		st.Redirect = s.issuer + APICallbackPath(id)
	}
	conf.RedirectURL = st.Redirect
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(st.Verifier)}
	if p.cfg.Kind != KindGitHub {
		opts = append(opts, oidc.Nonce(st.Nonce))
	}
	if err := s.setCookie(w, s.flowCookie(), flowAAD, st, flowTTL); err != nil {
		return "", err
	}
	return conf.AuthCodeURL(st.State, opts...), nil
}

// Result is a finished sign-in through a provider.
type Result struct {
	// UserID is the user now signed in (or who linked), "" when Pending.
	UserID string
	// AMR are the session's authentication methods: "fed", and "mfa" when
	// the provider is trusted for it and its own sign-in used a second
	// factor.
	AMR []string
	// Continue is where the flow was to end.
	Continue string
	// Provider is the provider's id.
	Provider string
	// ErrorURL and NewUserURL are the JSON API flow's (Flow).
	ErrorURL, NewUserURL string
	// Created is set when the upstream account made a new user; Linked when
	// the account page linked it now.
	Created, Linked bool
	// API is set when the JSON API began the flow: Continue is then the
	// caller's callbackURL, checked against the trusted origins at Begin.
	API bool
	// Pending is set when the address belongs to a user who must prove the
	// account before the link is made (ConfirmLink); the pending link is in
	// a cookie now.
	Pending *PendingLink
}

// upstreamUser is what the provider said about the person.
type upstreamUser struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name, Picture string
	AMR           []string
	// ACR is the ID token's acr ("" for none, and for GitHub).
	ACR   string
	Token *oauth2.Token
}

// Finish completes the flow at the callback of provider id. The flow cookie
// is cleared whatever happens, so a callback is used once. currentUserID is
// the user signed in on this browser, if any (a link begun on the account
// page must end in the same session).
func (s *Service) Finish(w http.ResponseWriter, r *http.Request, id, currentUserID string) (Result, error) {
	var st flowState
	ok := s.readCookie(r, s.flowCookie(), flowAAD, &st)
	s.clearCookie(w, s.flowCookie())
	p, known := s.lookup(r.Context(), id)
	if !known {
		return Result{}, fail(CodeUnknownProvider, id, "", nil)
	}
	q := r.URL.Query()
	switch {
	case !ok:
		return Result{}, fail(CodeBadState, id, "no flow cookie, or it expired or does not open", nil)
	case st.Provider != id:
		return Result{}, fail(CodeBadState, id, "the flow began at provider "+st.Provider, nil)
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1:
		return Result{}, fail(CodeBadState, id, "state does not match", nil)
	case st.LinkUser != "" && st.LinkUser != currentUserID:
		return Result{}, fail(CodeBadState, id, "the link began in another session", nil)
	case !strings.HasSuffix(st.Redirect, r.URL.Path):
		return Result{}, fail(CodeBadState, id, "the flow was to end at "+st.Redirect, nil)
	}
	res := Result{Continue: st.Continue, Provider: id, ErrorURL: st.ErrorURL, NewUserURL: st.NewUser}
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return res, fail(CodeAccessDenied, id, "", nil)
		}
		return res, fail(CodeUpstreamError, id, "the provider answered error="+truncate(e, 64), nil)
	}
	code := q.Get("code")
	if code == "" {
		return res, fail(CodeUpstreamError, id, "no code in the callback", nil)
	}
	ctx := s.client(r.Context())
	var up upstreamUser
	var err error
	if p.cfg.Kind == KindGitHub {
		up, err = s.githubUser(ctx, p, code, st)
	} else {
		up, err = s.oidcUser(ctx, p, code, st)
	}
	if err != nil {
		return res, err
	}
	return s.resolve(r.Context(), w, p, up, st, res)
}

// oidcUser redeems code and verifies the ID token (signature, issuer,
// audience, expiry, nonce), then adds what userinfo says.
func (s *Service) oidcUser(ctx context.Context, p *provider, code string, st flowState) (upstreamUser, error) {
	op, verifier, conf, err := p.discover(ctx)
	if err != nil {
		return upstreamUser{}, fail(CodeUpstreamUnavailable, p.cfg.ID, "discovery", err)
	}
	conf.RedirectURL = st.Redirect
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return upstreamUser{}, upstreamFailure(p.cfg.ID, "token exchange", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return upstreamUser{}, fail(CodeUpstreamError, p.cfg.ID, "no id_token in the token response", nil)
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return upstreamUser{}, upstreamFailure(p.cfg.ID, "id token", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return upstreamUser{}, fail(CodeUpstreamError, p.cfg.ID, "the id token's nonce does not match", nil)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return upstreamUser{}, fail(CodeUpstreamError, p.cfg.ID, "id token claims", err)
	}
	// The ID token's own acr, never one userinfo adds below.
	acr := truncate(claimString(claims, "acr"), 256)
	if p.multiTenant() {
		tid, _ := claims["tid"].(string)
		if tid == "" || idt.Issuer != p.tenantIssuer(tid) {
			return upstreamUser{}, fail(CodeUpstreamError, p.cfg.ID, "the id token's issuer does not match its tenant", nil)
		}
	}
	if op.UserInfoEndpoint() != "" {
		ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return upstreamUser{}, upstreamFailure(p.cfg.ID, "userinfo", err)
		}
		if ui.Subject != idt.Subject {
			return upstreamUser{}, fail(CodeUpstreamError, p.cfg.ID, "userinfo names another subject than the id token", nil)
		}
		extra := map[string]any{}
		if err := ui.Claims(&extra); err == nil {
			for k, v := range extra {
				if _, ok := claims[k]; !ok {
					claims[k] = v
				}
			}
		}
	}
	m := p.claims
	up := upstreamUser{
		Subject:       claimString(claims, m.Subject),
		Email:         strings.TrimSpace(claimString(claims, m.Email)),
		EmailVerified: claimBool(claims, m.EmailVerified),
		Name:          claimString(claims, m.Name),
		Picture:       claimString(claims, m.Picture),
		AMR:           claimStrings(claims, "amr"),
		ACR:           acr,
		Token:         tok,
	}
	if up.Subject == "" {
		return upstreamUser{}, fail(CodeUpstreamError, p.cfg.ID, "no subject claim "+m.Subject, nil)
	}
	return up, nil
}

// upstreamFailure tells an unreachable provider from one that answered
// wrongly.
func upstreamFailure(provider, what string, err error) *Error {
	var oe *outbound.Error
	if errors.As(err, &oe) && !errors.Is(oe, outbound.ErrStatus) {
		return fail(CodeUpstreamUnavailable, provider, what, err)
	}
	return fail(CodeUpstreamError, provider, what, err)
}

// client puts the guarded outbound client in ctx for go-oidc and x/oauth2.
func (s *Service) client(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, s.http)
	return context.WithValue(ctx, oauth2.HTTPClient, s.http)
}

func claimString(c map[string]any, name string) string {
	switch v := c[name].(type) {
	case string:
		return v
	case float64:
		return fmt.Sprintf("%.0f", v)
	case json.Number:
		return v.String()
	}
	return ""
}

// claimBool reads a boolean claim; some providers send "true" as a string.
func claimBool(c map[string]any, name string) bool {
	switch v := c[name].(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

func claimStrings(c map[string]any, name string) []string {
	var out []string
	switch v := c[name].(type) {
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	case string:
		out = strings.Fields(v)
	}
	return out
}

// Cookies.

const (
	flowAAD    = "gatehouse federation flow v1"
	pendingAAD = "gatehouse federation pending link v1"
)

func (s *Service) cookieName(base string) string {
	if s.secure {
		// __Host-: Secure, Path=/ and no Domain.
		return "__Host-" + base
	}
	return base
}

func (s *Service) flowCookie() string    { return s.cookieName("gatehouse_fed") }
func (s *Service) pendingCookie() string { return s.cookieName("gatehouse_fed_link") }

// sealValue is v sealed for a cookie bound to aad.
func (s *Service) sealValue(aad string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.sealer.Seal(b, []byte(aad))), nil
}

// setCookie seals v into the cookie name for ttl. Lax: the callback is a
// top-level navigation from the provider's site.
func (s *Service) setCookie(w http.ResponseWriter, name, aad string, v any, ttl time.Duration) error {
	value, err := s.sealValue(aad, v)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value,
		Path: "/", MaxAge: int(ttl / time.Second), Secure: s.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (s *Service) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: s.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// readCookie opens the cookie name into v (which has an Expires field) and
// reports whether it was there, opened and had not expired.
func (s *Service) readCookie(r *http.Request, name, aad string, v interface{ expires() int64 }) bool {
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" || len(c.Value) > 4096 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return false
	}
	b, err := s.sealer.Open(raw, []byte(aad))
	if err != nil {
		return false
	}
	if json.Unmarshal(b, v) != nil {
		return false
	}
	return s.now().Unix() < v.expires()
}

func (f *flowState) expires() int64 { return f.Expires }

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
