package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Authorize serves GET and POST /oauth2/authorize.
func (h *Handler) Authorize() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := r.ParseForm(); err != nil {
			h.errorPage(w, r, http.StatusBadRequest, invalidSignInLink)
			return
		}
		// RFC 6749 §4.1.2.1: until client and redirect_uri are verified, errors
		// are shown here, never sent to the redirect_uri.
		client, redirectURI, ok := h.verifyClientAndRedirect(w, r)
		if !ok {
			return
		}
		// From here an error page knows the client and offers a way back to it.
		r = withClient(r, client)
		state := r.Form.Get("state")
		if h.isPushedRequestURI(r.Form.Get("request_uri")) {
			pushed, ok := h.pushedRequest(w, r, client)
			if !ok {
				return
			}
			redirectURI, state = pushed.GetRedirectURI().String(), pushed.GetState()
			// RFC 9126 §4: the pushed request is the authorization request; what
			// the browser adds beside request_uri is ignored, so nothing on the
			// way can add a prompt, widen the scope or swap the state.
			r.Form = pushedRequestForm(r.Form)
		}
		// RFC 8707 §2: resource may be given more than once.
		if dup := duplicated(withoutParam(r.Form, "resource")); dup != "" {
			if dup == "state" {
				state = ""
			}
			h.redirectError(w, r, redirectURI, r.Form.Get("response_mode"), state,
				fosite.ErrInvalidRequest.WithHintf("The parameter %q was given more than once (RFC 6749 §3.1).", dup))
			return
		}
		// Request objects are not offered (discovery says so): refuse them rather
		// than let fosite fetch or parse them.
		if r.Form.Get("request") != "" {
			h.redirectError(w, r, redirectURI, r.Form.Get("response_mode"), state,
				fosite.ErrRequestNotSupported.WithHint("Request objects are not supported; send the parameters in the query or push them to the PAR endpoint."))
			return
		}
		if u := r.Form.Get("request_uri"); u != "" && !h.isPushedRequestURI(u) {
			h.redirectError(w, r, redirectURI, r.Form.Get("response_mode"), state,
				fosite.ErrRequestURINotSupported.WithHint("Only request_uri values from the PAR endpoint are accepted."))
			return
		}
		if err := checkResponseMode(r.Form.Get("response_mode")); err != nil {
			h.redirectError(w, r, redirectURI, "", state, err)
			return
		}
		if !h.isPushedRequestURI(r.Form.Get("request_uri")) {
			// RFC 8707: the resources the tokens will be for, in fosite's audience
			// (a pushed request had its resources checked when it was pushed).
			res, err := requestedResources(r.Form, client)
			if err != nil {
				h.redirectError(w, r, redirectURI, r.Form.Get("response_mode"), state, err)
				return
			}
			if len(res) > 0 {
				// One space-separated value, as fosite also reads it: the form is
				// copied into the sign-in detour's URLs and comes back checked for
				// repeated parameters.
				r.Form.Set("audience", strings.Join(res, " "))
			}
		}
		ar, err := h.provider.NewAuthorizeRequest(ctx, r)
		err = acceptState(ar, err)
		if err != nil {
			h.authorizeError(w, r, ar, err)
			return
		}
		ar.SetID(newRequestID())
		h.authorize(w, r, client, ar)
	})
}

// invalidSignInLink is the error page's sentence for an authorization request
// that cannot be sent back to the client.
const invalidSignInLink = "error.signin_link_invalid"

// acceptState undoes fosite's refusal of an authorization request without state.
// state is RECOMMENDED, not required (RFC 6749 §4.1.1), and a client using PKCE
// or nonce is protected from CSRF without it (RFC 9700 §2.1); Auth.js's OpenID
// Connect setup sends none. fosite refuses a state shorter than its minimum
// parameter length, which cannot go below 1 (see GetMinParameterEntropy), but
// the state check is the last step of its validation: with invalid_state every
// other check has passed.
func acceptState(ar fosite.AuthorizeRequester, err error) error {
	var rfc *fosite.RFC6749Error
	if ar != nil && errors.As(err, &rfc) && rfc.ErrorField == fosite.ErrInvalidState.ErrorField {
		return nil
	}
	return err
}

// checkResponseMode refuses the response modes discovery does not list: only
// query (the code's default, OAuth 2.0 Multiple Response Type Encoding Practices
// §2.1) and form_post are offered. fragment is refused: a code in the fragment
// is handed to the page's scripts, and no code-flow client needs it.
func checkResponseMode(mode string) error {
	switch mode {
	case "", string(fosite.ResponseModeQuery), string(fosite.ResponseModeFormPost):
		return nil
	}
	return fosite.ErrUnsupportedResponseMode.WithHintf("response_mode %q is not supported; use query or form_post.", mode)
}

// verifyClientAndRedirect finds the client and checks the redirect URI, showing the
// error page when either is wrong. For a pushed request the redirect URI was
// checked when it was pushed, and one given beside request_uri is ignored.
func (h *Handler) verifyClientAndRedirect(w http.ResponseWriter, r *http.Request) (storage.Client, string, bool) {
	ids := r.Form["client_id"]
	if len(ids) != 1 || ids[0] == "" {
		h.log.InfoContext(r.Context(), "authorize rejected", "reason", "missing or repeated client_id")
		h.errorPage(w, r, http.StatusBadRequest, invalidSignInLink)
		return storage.Client{}, "", false
	}
	client, err := h.store.CachedClientRecord(r.Context(), ids[0])
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			h.log.ErrorContext(r.Context(), "authorize: load client", "client_id", ids[0], "error", err.Error())
			h.errorPage(w, r, http.StatusServiceUnavailable, "signin.unavailable")
			return storage.Client{}, "", false
		}
		h.log.InfoContext(r.Context(), "authorize rejected", "reason", "unknown client", "client_id", ids[0])
		h.errorPage(w, r, http.StatusBadRequest, invalidSignInLink)
		return storage.Client{}, "", false
	}
	r = withClient(r, client)
	if uris := r.Form["request_uri"]; len(uris) == 1 && h.isPushedRequestURI(uris[0]) {
		return client, "", true
	}
	uris := r.Form["redirect_uri"]
	requested := ""
	if len(uris) > 1 {
		h.errorPage(w, r, http.StatusBadRequest, invalidSignInLink)
		return storage.Client{}, "", false
	}
	if len(uris) == 1 {
		requested = uris[0]
	}
	matched, ok := MatchRedirectURI(client, requested)
	if !ok {
		h.log.InfoContext(r.Context(), "authorize rejected", "reason", "redirect_uri not registered", "client_id", client.ID)
		h.errorPage(w, r, http.StatusBadRequest, invalidSignInLink)
		return storage.Client{}, "", false
	}
	return client, matched, true
}

// duplicated returns the first parameter given more than once, or "".
func duplicated(form url.Values) string {
	for k, v := range form {
		if len(v) > 1 {
			return k
		}
	}
	return ""
}

// authorize decides, for a request fosite found valid, whether the person must sign
// in or consent first, and otherwise issues the code.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, client storage.Client, ar fosite.AuthorizeRequester) {
	ctx := r.Context()
	form := ar.GetRequestForm()
	since, denied, resumed := h.interactionSince(r.Form, client.ID, ar.GetState())
	if resumed && denied {
		h.authorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user refused the request."))
		return
	}
	prompts := strings.Fields(form.Get("prompt"))
	promptNone := slices.Contains(prompts, "none")
	if promptNone && len(prompts) > 1 {
		h.authorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other prompt values."))
		return
	}
	// Interaction that happened after `since` satisfies prompt=login/consent/create.
	freshSince := func(t time.Time) bool { return resumed && !t.Before(since) }

	// An id_token_hint must be an ID token we issued to this client (OpenID
	// Connect Core §3.1.2.1), whoever is signed in.
	var hint *idTokenHint
	if raw := form.Get("id_token_hint"); raw != "" {
		var err error
		if hint, err = h.verifyIDTokenHint(raw); err == nil && !slices.Contains(hint.Audience, client.ID) {
			err = errors.New("id_token_hint: issued to another client")
		}
		if err != nil {
			h.requestNote(ctx, slog.LevelInfo, "authorize rejected", slog.String("reason", "bad id_token_hint"), slog.String("cause", err.Error()), slog.String("client_id", client.ID))
			h.authorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("The id_token_hint is not an ID token issued by this server to this client."))
			return
		}
	}
	// The signed-in person comes with what they granted this client, in one
	// read: on a distant database each read is a round trip.
	login, err := h.interaction.CurrentLogin(r, client.ID)
	if err != nil {
		h.authorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	reauth := ""
	needLogin := login == nil
	if login != nil {
		switch {
		case (slices.Contains(prompts, "login") || slices.Contains(prompts, "create")) && !freshSince(login.AuthTime):
			needLogin, reauth = true, login.UserID
		case form.Get("max_age") != "":
			maxAge, err := strconv.ParseInt(form.Get("max_age"), 10, 64)
			if err != nil || maxAge < 0 {
				h.authorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer."))
				return
			}
			if h.now().Sub(login.AuthTime) > time.Duration(maxAge)*time.Second && !freshSince(login.AuthTime) {
				needLogin, reauth = true, login.UserID
			}
		}
		if hint != nil && !needLogin {
			if hint.Subject != login.UserID {
				// A different user is signed in than the one the client expects:
				// that user is asked to sign in.
				if promptNone {
					h.authorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The signed-in user is not the one named by id_token_hint."))
					return
				}
				needLogin, reauth = true, hint.Subject
			}
		}
	}
	// A client that asks for the MFA level (acr_values, or an essential acr
	// in the claims parameter), or whose policy (its own, else the server's)
	// requires a second factor, gets a step-up of a session that has not
	// reached it: a session begun before the policy changed included.
	stepUp := false
	if login != nil && !needLogin && (wantsMFA(form) || h.mfaRequired(client)) && signin.ACRFor(login.AMR) != signin.ACRMFA {
		if promptNone {
			h.authorizeError(w, r, ar, fosite.ErrInteractionRequired.WithHint("The requested authentication context needs a second factor."))
			return
		}
		needLogin, reauth, stepUp = true, login.UserID, true
	}
	prompt := signin.Prompt{
		Client:    clientInfo(client),
		Scopes:    ar.GetRequestedScopes(),
		LoginHint: form.Get("login_hint"),
		Register:  slices.Contains(prompts, "create"),
		ReauthFor: reauth,
		IdPHint:   form.Get("idp_hint"),
		StepUp:    stepUp,
	}
	if needLogin {
		if promptNone {
			h.authorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("No user is signed in."))
			return
		}
		if err := h.setInteractionURLs(r, ar, &prompt); err != nil {
			h.authorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
		h.interaction.SignIn(w, r, prompt)
		return
	}

	consent := login.Consent
	covered := consent != nil && containsAll(consent.Scopes, ar.GetRequestedScopes())
	needConsent := !client.FirstParty && !covered
	if slices.Contains(prompts, "consent") && (consent == nil || !freshSince(consent.GrantedAt)) {
		needConsent = true
	}
	if needConsent {
		if promptNone {
			h.authorizeError(w, r, ar, fosite.ErrConsentRequired.WithHint("The user has not approved this application's request."))
			return
		}
		if err := h.setInteractionURLs(r, ar, &prompt); err != nil {
			h.authorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
		h.interaction.AskConsent(w, r, prompt)
		return
	}

	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	session := newUserSession(h.cfg.Issuer, client.ID, *login)
	if client.ClaimsInIDToken {
		if err := h.addUserClaims(ctx, session, login.UserID, ar.GetGrantedScopes()); err != nil {
			h.authorizeError(w, r, ar, err)
			return
		}
	}
	// fosite checks prompt and max_age against the time the request was made. A
	// request that comes back from the sign-in page was made when the detour began.
	session.Claims.RequestedAt = ar.GetRequestedAt().UTC()
	if resumed {
		session.Claims.RequestedAt = since.UTC()
	}
	// id_token_hint was verified above against every published key; fosite would
	// check it again with the active key only, failing after a rotation.
	form.Del("id_token_hint")
	// The link keeps every scope the user has granted this client, not only this
	// request's, so asking for fewer scopes later does not forget the others.
	granted := []string(ar.GetGrantedScopes())
	if consent != nil {
		for _, s := range consent.Scopes {
			if !slices.Contains(granted, s) {
				granted = append(granted, s)
			}
		}
	}
	// A link that already holds these scopes and was recorded within the last
	// minute is left alone: a client signing the same user in again and again
	// costs no write, and "last authorized" is at most a minute behind.
	unchanged := consent != nil && len(granted) == len(consent.Scopes) && h.now().Sub(consent.GrantedAt) < linkRefreshInterval
	// The code, PKCE and OpenID Connect records, and the link's refresh, go to
	// the database in one transaction: one commit (one WAL flush) instead of
	// four, and on PostgreSQL one batch with the commit.
	var resp fosite.AuthorizeResponder
	ctx = withCodeLifespan(ctx, time.Duration(client.AuthorizationCodeLifespan))
	err = h.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if resp, err = h.provider.NewAuthorizeResponse(ctx, ar, session); err != nil || unchanged {
			return err
		}
		return h.store.NoteAuthorization(ctx, login.UserID, client.ID, strings.Join(granted, " "), true, h.now())
	})
	if err != nil {
		h.authorizeError(w, r, ar, err)
		return
	}

	// RFC 9207: name the issuer in the response (mix-up defence).
	resp.AddParameter("iss", h.cfg.Issuer)
	if ar.GetState() == "" {
		// fosite adds state= even when the request had none; RFC 6749 §4.1.2
		// returns state only "if the state parameter was present".
		resp.GetParameters().Del("state")
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		writeFormPost(w, ar.GetRedirectURI().String(), resp.GetParameters())
		return
	}
	h.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// linkRefreshInterval is how stale an account link's last-authorized time may
// get before an authorization that changes nothing else records it again.
const linkRefreshInterval = time.Minute

func containsAll(have, want []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

// setInteractionURLs fills the prompt's ContinueURL and DenyURL: the authorization
// request again, plus a signed marker of when the detour began. A pushed request
// was consumed by fosite, so it is pushed again under a new request_uri, with
// its ui_locales beside it for the pages.
func (h *Handler) setInteractionURLs(r *http.Request, ar fosite.AuthorizeRequester, p *signin.Prompt) error {
	params := url.Values{}
	if r.Form.Get("request_uri") != "" {
		var b [24]byte
		rand.Read(b[:])
		uri := h.fcfg.PushedAuthorizeRequestURIPrefix + base64.RawURLEncoding.EncodeToString(b[:])
		s := NewSession()
		s.SetExpiresAt(fosite.PushedAuthorizeRequestContext, h.now().UTC().Add(h.cfg.InteractionLifespan))
		ar.SetSession(s)
		if err := h.store.CreatePARSession(r.Context(), uri, ar); err != nil {
			return err
		}
		params.Set("client_id", ar.GetClient().GetID())
		params.Set("request_uri", uri)
		// The pages read the language from the continue URL; fosite ignores
		// it next to request_uri.
		if v := ar.GetRequestForm().Get("ui_locales"); v != "" {
			params.Set("ui_locales", v)
		}
	} else {
		for k, v := range r.Form {
			if k != paramSince && k != paramDeny && k != paramSig {
				params[k] = v
			}
		}
	}
	since := h.now().Unix()
	cont := cloneValues(params)
	cont.Set(paramSince, strconv.FormatInt(since, 10))
	cont.Set(paramSig, h.marker(ar.GetClient().GetID(), ar.GetState(), since, false))
	deny := cloneValues(params)
	deny.Set(paramSince, strconv.FormatInt(since, 10))
	deny.Set(paramDeny, "1")
	deny.Set(paramSig, h.marker(ar.GetClient().GetID(), ar.GetState(), since, true))
	base := h.cfg.Issuer + "/oauth2/authorize?"
	p.ContinueURL = base + cont.Encode()
	p.DenyURL = base + deny.Encode()
	return nil
}

// clientInfo describes a client to the pages.
func clientInfo(c storage.Client) signin.ClientInfo {
	return signin.ClientInfo{ID: c.ID, Name: c.Name, LogoURI: c.LogoURI, PolicyURI: c.PolicyURI,
		TOSURI: c.TOSURI, ClientURI: c.ClientURI, FirstParty: c.FirstParty}
}

// withClient returns r with c named in its context for the error page
// (signin.WithClient).
func withClient(r *http.Request, c storage.Client) *http.Request {
	return r.WithContext(signin.WithClient(r.Context(), clientInfo(c)))
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+3)
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

type codeLifespanKey struct{}

// withCodeLifespan carries a client's own authorization-code lifespan (zero: the
// server's) to GetAuthorizeCodeLifespan.
func withCodeLifespan(ctx context.Context, d time.Duration) context.Context {
	if d <= 0 {
		return ctx
	}
	return context.WithValue(ctx, codeLifespanKey{}, d)
}

// GetAuthorizeCodeLifespan returns the lifespan of an authorization code: the
// client's own when the request carries one, else the server's. fosite reads
// only the global value (handler/oauth2/flow_authorize_code_auth.go).
func (c *fositeConfig) GetAuthorizeCodeLifespan(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(codeLifespanKey{}).(time.Duration); ok {
		return d
	}
	return c.Config.GetAuthorizeCodeLifespan(ctx)
}

// addUserClaims puts the claims userinfo would release for the granted scopes in
// the session's ID token claims, for a client that reads only the ID token
// (OpenID Connect Core §5.4 allows them in either). The ID tokens of later
// refreshes carry the same values, as of this authorization.
func (h *Handler) addUserClaims(ctx context.Context, s *Session, userID string, scopes []string) error {
	user, err := h.store.GetUser(ctx, userID)
	if err != nil {
		return fosite.ErrServerError.WithWrap(fmt.Errorf("load user for ID token claims: %w", err))
	}
	if s.Claims.Extra == nil {
		s.Claims.Extra = map[string]any{}
	}
	for k, v := range UserClaims(user, scopes) {
		if k != "sub" {
			s.Claims.Extra[k] = v
		}
	}
	return nil
}

// GetMinParameterEntropy returns 1: fosite refuses a state or nonce shorter than
// this (8 by default, and 0 means the default). Both are the client's opaque
// values, whose strength is its own concern (RFC 6749 §10.12, OpenID Connect
// Core §3.1.2.1 set no length), and fosite checked nonce only when it signed the
// ID token at the token endpoint, after the code was spent. Any non-empty nonce
// is now echoed as sent; a missing state is let through by acceptState.
func (c *fositeConfig) GetMinParameterEntropy(context.Context) int { return 1 }

// mfaRequired reports whether the second-factor policy in force for client is
// "required": the client's own, or the server's when the client has none.
func (h *Handler) mfaRequired(client storage.Client) bool {
	policy := client.MFAPolicy
	if policy == "" {
		policy = h.cfg.MFAPolicy
	}
	return policy == "required"
}

// wantsMFA reports whether the request asks for the MFA level: ACRMFA among
// acr_values, or as a value of an essential acr claim of the ID token in the
// claims parameter (OpenID Connect Core §5.5.1.1).
func wantsMFA(form url.Values) bool {
	if slices.Contains(strings.Fields(form.Get("acr_values")), signin.ACRMFA) {
		return true
	}
	raw := form.Get("claims")
	if raw == "" {
		return false
	}
	var claims struct {
		IDToken struct {
			ACR *struct {
				Essential bool     `json:"essential"`
				Value     string   `json:"value"`
				Values    []string `json:"values"`
			} `json:"acr"`
		} `json:"id_token"`
	}
	if json.Unmarshal([]byte(raw), &claims) != nil || claims.IDToken.ACR == nil || !claims.IDToken.ACR.Essential {
		return false
	}
	a := claims.IDToken.ACR
	return a.Value == signin.ACRMFA || slices.Contains(a.Values, signin.ACRMFA)
}
