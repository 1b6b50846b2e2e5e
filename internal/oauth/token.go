package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
)

// supportedGrants are the grant types the token endpoint serves; discovery lists
// the same.
var supportedGrants = []string{"authorization_code", "refresh_token", "client_credentials"}

// Token serves POST /oauth2/token: authorization_code, refresh_token and
// client_credentials.
//
// A code redemption or a refresh rotation runs, request checks and response
// alike, in one database transaction, so a connection lost on the way loses
// nothing: it is rolled back and run once more. A client error (4xx) commits,
// because code replay and refresh-token reuse revoke the token family in that
// failing request. A COMMIT that loses its connection may have committed: the
// access token it wrote is looked for before the request is run again.
func (h *Handler) Token() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, st := withRequestState(r.Context())
		if err := r.ParseForm(); err != nil {
			h.tokenError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The request body could not be read."))
			return
		}
		// RFC 8707 §2: resource may be given more than once.
		if dup := duplicated(withoutParam(r.PostForm, "resource")); dup != "" {
			h.tokenError(w, r, nil, fosite.ErrInvalidRequest.WithHintf("The parameter %q was given more than once (RFC 6749 §3.1).", dup))
			return
		}
		grant := r.PostForm.Get("grant_type")
		switch {
		case grant == "":
			h.tokenError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The grant_type parameter is missing."))
			return
		case !slices.Contains(supportedGrants, grant):
			h.tokenError(w, r, nil, fosite.ErrUnsupportedGrantType.WithHintf("This server supports the grant types %v.", supportedGrants))
			return
		}
		client, err := h.fosite.AuthenticateClient(ctx, r, r.PostForm)
		if err != nil {
			h.tokenError(w, r, nil, err)
			return
		}
		ctx = h.clientContext(ctx, client)
		if fc, ok := client.(*storage.FositeClient); ok {
			if st.resources, err = requestedResources(r.PostForm, fc.Record()); err != nil {
				h.tokenError(w, r, nil, err)
				return
			}
			if len(st.resources) > 0 {
				// fosite reads the audience parameter (client credentials checks it
				// against the client's audiences with audienceStrategy).
				r.PostForm["audience"] = st.resources
			}
		}

		var ar fosite.AccessRequester
		var resp fosite.AccessResponder
		if grant == "client_credentials" {
			// One insert, no transaction: concurrent tokens are batched.
			ar, resp, err = h.exchange(ctx, r)
		} else {
			ar, resp, err = h.redeem(ctx, r)
		}
		if err != nil {
			h.tokenError(w, r, ar, err)
			return
		}
		h.provider.WriteAccessResponse(ctx, w, ar, resp)
		if h.metrics != nil {
			h.metrics.TokenIssued(grant)
		}
	})
}

// withoutParam returns form without key (a copy; form is unchanged).
func withoutParam(form url.Values, key string) url.Values {
	if _, ok := form[key]; !ok {
		return form
	}
	out := make(url.Values, len(form))
	for k, v := range form {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// errRefused marks a refusal of ours inside a redemption: nothing it did may be
// kept.
type errRefused struct{ error }

func (e errRefused) Unwrap() error { return e.error }

// exchange runs fosite's token request and response for r.
func (h *Handler) exchange(ctx context.Context, r *http.Request) (fosite.AccessRequester, fosite.AccessResponder, error) {
	session := NewSession()
	ar, err := h.provider.NewAccessRequest(ctx, r, session)
	if err != nil {
		return ar, nil, err
	}
	switch {
	case ar.GetGrantTypes().ExactOne("client_credentials"):
		// The client acts for itself: every scope and audience it asked for and
		// may have (fosite checked) is granted.
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
		session.ClientID = ar.GetClient().GetID()
		ar.SetID(newRequestID())
	default:
		if err := h.checkNarrowedResources(ctx, ar); err != nil {
			return ar, nil, errRefused{err}
		}
	}
	resp, err := h.provider.NewAccessResponse(ctx, ar)
	return ar, resp, err
}

// checkNarrowedResources: a code or refresh token request that names resources
// (RFC 8707 §2.2) may name only ones the grant was made for, when the grant
// named any.
func (h *Handler) checkNarrowedResources(ctx context.Context, ar fosite.AccessRequester) error {
	st := requestStateOf(ctx)
	if st == nil || len(st.resources) == 0 {
		return nil
	}
	grantAud := ar.GetGrantedAudience() // a refresh grant's
	if ar.GetGrantTypes().ExactOne("authorization_code") {
		grantAud = ar.GetRequestedAudience() // the authorization request's, all granted
	}
	var named []string
	for _, a := range grantAud {
		if a != h.defaultAudience() && a != h.cfg.Issuer {
			named = append(named, a)
		}
	}
	for _, res := range st.resources {
		if len(named) > 0 && !slices.Contains(named, res) {
			return errInvalidTarget.WithHintf("The grant was not made for the resource %q.", res)
		}
	}
	return nil
}

// redeem runs a code redemption or refresh rotation in one transaction (see
// Token), at most twice.
func (h *Handler) redeem(ctx context.Context, r *http.Request) (fosite.AccessRequester, fosite.AccessResponder, error) {
	for attempt := 1; ; attempt++ {
		again := attempt < 2
		txCtx, err := h.store.BeginTX(ctx)
		if err != nil {
			return nil, nil, fosite.ErrTemporarilyUnavailable.WithWrap(err)
		}
		ar, resp, err := h.exchange(txCtx, r)
		if err != nil && !keepsItsWrites(err) {
			_ = h.store.Rollback(txCtx)
			if again && storage.IsConnectionLoss(err) {
				h.note(r, slog.String("retried", "connection lost during the redemption"))
				continue
			}
			return ar, nil, err
		}
		cerr := h.store.Commit(txCtx)
		if cerr == nil {
			return ar, resp, err
		}
		if !storage.IsConnectionLoss(cerr) {
			return ar, nil, fosite.ErrTemporarilyUnavailable.WithWrap(cerr)
		}
		// The connection died during COMMIT: the server may have committed.
		if err == nil {
			done, lookErr := h.committed(ctx, resp)
			if done {
				h.note(r, slog.String("retried", "commit answer lost; the tokens were committed"))
				return ar, resp, nil
			}
			if lookErr != nil {
				// Nothing tells whether the tokens exist: the client must retry.
				return ar, nil, fosite.ErrTemporarilyUnavailable.WithWrap(cerr)
			}
		}
		if !again {
			return ar, nil, fosite.ErrTemporarilyUnavailable.WithWrap(cerr)
		}
		h.note(r, slog.String("retried", "connection lost at commit"))
	}
}

// keepsItsWrites reports whether a failed redemption is committed: a client's
// mistake as fosite judged it (replay and reuse revoke a token family then),
// unlike a refusal of ours or a failure of the database or the server.
func keepsItsWrites(err error) bool {
	if errors.As(err, new(errRefused)) || storage.IsUnavailable(err) {
		return false
	}
	return fosite.ErrorToRFC6749Error(err).CodeField < http.StatusInternalServerError
}

// committed reports whether the access token of resp is stored: whether a
// redemption whose COMMIT lost its connection was committed all the same. An
// error means it cannot be known.
func (h *Handler) committed(ctx context.Context, resp fosite.AccessResponder) (bool, error) {
	if resp == nil || resp.GetAccessToken() == "" {
		return false, nil
	}
	sig := h.strategy.AccessTokenSignature(ctx, resp.GetAccessToken())
	_, err := h.store.GetAccessTokenSession(ctx, sig, NewSession())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fosite.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("look up the access token after a lost commit: %w", err)
}

// clientContext carries the client's per-client choices to the strategies fosite
// calls: the ID token algorithm.
func (h *Handler) clientContext(ctx context.Context, c fosite.Client) context.Context {
	fc, ok := c.(*storage.FositeClient)
	if !ok {
		return ctx
	}
	alg := fc.Record().IDTokenSignedResponseAlg
	if alg == "" {
		alg = "RS256"
	}
	return withIDTokenAlg(ctx, alg)
}

func (h *Handler) tokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	if ar == nil {
		ar = fosite.NewAccessRequest(nil)
	}
	rfc := h.answer(w, r, err)
	setClientAuthChallenge(w, rfc)
	h.provider.WriteAccessError(r.Context(), w, ar, rfc)
}

// setClientAuthChallenge adds WWW-Authenticate to a 401 (RFC 6749 §5.2: a failed
// client authentication answers with the scheme the client may use).
func setClientAuthChallenge(w http.ResponseWriter, err error) {
	if fosite.ErrorToRFC6749Error(err).CodeField == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
}
