package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Logout serves GET and POST /oauth2/logout, OpenID Connect RP-Initiated Logout
// 1.0: it validates id_token_hint, client_id and post_logout_redirect_uri, then
// hands the browser to the sign-out page, which ends the session when the person's
// intent is clear and asks otherwise.
func (h *Handler) Logout() http.Handler {
	const invalid = "error.signout_invalid"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := r.ParseForm(); err != nil || duplicated(r.Form) != "" {
			h.errorPage(w, r, http.StatusBadRequest, invalid)
			return
		}
		form := r.Form
		clientID := form.Get("client_id")
		var hint *idTokenHint
		if raw := form.Get("id_token_hint"); raw != "" {
			c, err := h.verifyIDTokenHint(raw)
			if err == nil && clientID != "" && !slices.Contains(c.Audience, clientID) {
				err = errors.New("id_token_hint: not issued to client_id")
			}
			if err != nil {
				h.requestNote(ctx, slog.LevelInfo, "logout rejected", slog.String("reason", "invalid id_token_hint"), slog.String("cause", err.Error()))
				h.errorPage(w, r, http.StatusBadRequest, invalid)
				return
			}
			hint = c
		}
		var logout signin.Logout
		var client storage.Client
		var err error
		switch {
		case clientID != "":
			client, err = h.store.CachedClientRecord(ctx, clientID)
		case hint != nil:
			// The hint must name a client we know (RP-Initiated Logout 1.0 §2):
			// the first of its audiences that is one.
			client, err = h.hintClient(ctx, hint)
		}
		if err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				h.log.ErrorContext(ctx, "logout: load client", "error", err.Error())
				h.errorPage(w, r, http.StatusServiceUnavailable, "error.signout_unavailable")
				return
			}
			h.requestNote(ctx, slog.LevelInfo, "logout rejected", slog.String("reason", "unknown client"), slog.String("client_id", clientID))
			h.errorPage(w, r, http.StatusBadRequest, invalid)
			return
		}
		if client.ID != "" {
			clientID = client.ID
			info := clientInfo(client)
			logout.Client = &info
			r = withClient(r, client)
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
		login, err := h.interaction.CurrentLogin(r, "")
		if err != nil {
			h.log.ErrorContext(ctx, "logout: current login", "error", err.Error())
			h.errorPage(w, r, http.StatusServiceUnavailable, "error.signout_unavailable")
			return
		}
		switch {
		case login == nil:
			// Nobody is signed in: nothing to end, nothing to confirm.
			logout.Confirmed = true
		case hint != nil && hint.Subject == login.UserID:
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

// maxHintAudiences bounds the client lookups an id_token_hint without client_id
// may cost; ours name one.
const maxHintAudiences = 5

// hintClient returns the first client named in the hint's audience, or an error
// wrapping storage.ErrNotFound when none is known.
func (h *Handler) hintClient(ctx context.Context, hint *idTokenHint) (storage.Client, error) {
	for i, aud := range hint.Audience {
		if i == maxHintAudiences {
			break
		}
		c, err := h.store.CachedClientRecord(ctx, aud)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		return c, err
	}
	return storage.Client{}, fmt.Errorf("id_token_hint names no known client: %w", storage.ErrNotFound)
}
