package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Logout serves GET and POST /oauth2/logout, OpenID Connect RP-Initiated Logout
// 1.0: it validates id_token_hint, client_id and post_logout_redirect_uri, then
// hands the browser to the sign-out page, which ends the session when the person's
// intent is clear and asks otherwise.
func (h *Handler) Logout() http.Handler {
	const invalid = "This sign-out link is not valid. Go back to the application and try again."
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := r.ParseForm(); err != nil || duplicated(r.Form) != "" {
			h.errorPage(w, r, http.StatusBadRequest, invalid)
			return
		}
		form := r.Form
		var hint *idTokenClaims
		if raw := form.Get("id_token_hint"); raw != "" {
			c, err := h.verifyIDToken(raw)
			if err != nil {
				h.log.InfoContext(ctx, "logout rejected", "reason", "invalid id_token_hint")
				h.errorPage(w, r, http.StatusBadRequest, invalid)
				return
			}
			hint = c
		}
		clientID := form.Get("client_id")
		if hint != nil {
			if clientID != "" && !slices.Contains(hint.Aud, clientID) {
				h.errorPage(w, r, http.StatusBadRequest, invalid)
				return
			}
			if clientID == "" && len(hint.Aud) == 1 {
				clientID = hint.Aud[0]
			}
		}
		var logout signin.Logout
		var client storage.Client
		if clientID != "" {
			c, err := h.store.GetClientRecord(ctx, clientID)
			if err != nil {
				if !errors.Is(err, storage.ErrNotFound) {
					h.log.ErrorContext(ctx, "logout: load client", "error", err.Error())
				}
				h.errorPage(w, r, http.StatusBadRequest, invalid)
				return
			}
			client = c
			logout.Client = &signin.ClientInfo{ID: c.ID, Name: c.Name, LogoURI: c.LogoURI, PolicyURI: c.PolicyURI, TOSURI: c.TOSURI, ClientURI: c.ClientURI, FirstParty: c.FirstParty}
		}
		if redirect := form.Get("post_logout_redirect_uri"); redirect != "" {
			// The redirect must be registered for an identified client (§3).
			if clientID == "" || !slices.Contains(client.PostLogoutRedirectURIs, redirect) {
				h.log.InfoContext(ctx, "logout rejected", "reason", "post_logout_redirect_uri not registered", "client_id", clientID)
				h.errorPage(w, r, http.StatusBadRequest, invalid)
				return
			}
			u, err := url.Parse(redirect)
			if err != nil {
				h.errorPage(w, r, http.StatusBadRequest, invalid)
				return
			}
			if state := form.Get("state"); state != "" {
				q := u.Query()
				q.Set("state", state)
				u.RawQuery = q.Encode()
			}
			logout.RedirectURI = u.String()
		}
		login, err := h.interaction.CurrentLogin(r)
		if err != nil {
			h.log.ErrorContext(ctx, "logout: current login", "error", err.Error())
			h.errorPage(w, r, http.StatusServiceUnavailable, "Signing out is unavailable right now. Please try again in a moment.")
			return
		}
		switch {
		case login == nil:
			// Nobody is signed in: nothing to end, nothing to confirm.
			logout.Confirmed = true
		case hint != nil && hint.Sub == login.UserID:
			logout.Confirmed = true
		case r.Method == http.MethodPost && form.Get("confirm") == "1" && h.sameOrigin(r):
			logout.Confirmed = true
		}
		logout.ConfirmURL = h.cfg.Issuer + "/oauth2/logout"
		logout.ConfirmFields = map[string]string{"confirm": "1"}
		for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
			if v := form.Get(k); v != "" {
				logout.ConfirmFields[k] = v
			}
		}
		h.interaction.SignOut(w, r, logout)
	})
}

// sameOrigin reports whether a form post came from our own pages, by the headers
// browsers set (OWASP: verifying origin with standard headers).
func (h *Handler) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return o == h.issuerOrigin()
	}
	return r.Header.Get("Sec-Fetch-Site") == "same-origin"
}

func (h *Handler) issuerOrigin() string {
	u, err := url.Parse(h.cfg.Issuer)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

type idTokenClaims struct {
	Iss string
	Sub string
	Aud []string
}

// verifyIDToken checks that raw is an ID token this server signed with any
// published key (expired is fine: OpenID Connect Core §3.1.2.1, RP-Initiated
// Logout §2) and returns its claims.
func (h *Handler) verifyIDToken(raw string) (*idTokenClaims, error) {
	algs := make([]jose.SignatureAlgorithm, len(supportedIDTokenAlgs))
	for i, a := range supportedIDTokenAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	sig, err := jose.ParseSigned(raw, algs)
	if err != nil {
		return nil, fmt.Errorf("parse ID token: %w", err)
	}
	if len(sig.Signatures) != 1 {
		return nil, errors.New("ID token: want one signature")
	}
	body, _, err := h.keys.JWKS()
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	keys := set.Key(sig.Signatures[0].Header.KeyID)
	if len(keys) == 0 {
		return nil, errors.New("ID token: unknown key")
	}
	payload, err := sig.Verify(keys[0].Key)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Iss != h.cfg.Issuer || claims.Sub == "" {
		return nil, errors.New("ID token: not issued here")
	}
	c := &idTokenClaims{Iss: claims.Iss, Sub: claims.Sub}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		c.Aud = []string{one}
	} else if err := json.Unmarshal(claims.Aud, &c.Aud); err != nil {
		return nil, errors.New("ID token: bad aud")
	}
	return c, nil
}
