package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
)

// jwtBearerAssertion is the client_assertion_type of private_key_jwt (RFC 7523 §2.2).
const jwtBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// requestState is what one token, introspection or revocation request learns
// about itself, carried in its context: the client that authenticated, so that
// per-client choices hold while fosite checks the request and a request run again
// after a lost connection does not authenticate twice (a client assertion's jti
// may be used once); and the RFC 8707 resources the token request named.
type requestState struct {
	client    fosite.Client
	resources []string
}

type requestStateKey struct{}

// withRequestState returns ctx carrying a new, empty requestState.
func withRequestState(ctx context.Context) (context.Context, *requestState) {
	st := &requestState{}
	return context.WithValue(ctx, requestStateKey{}, st), st
}

// requestStateOf returns the requestState ctx carries, or nil.
func requestStateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(requestStateKey{}).(*requestState)
	return st
}

// requestClient returns the stored record of the client that authenticated in the
// request ctx belongs to.
func requestClient(ctx context.Context) (storage.Client, bool) {
	st := requestStateOf(ctx)
	if st == nil {
		return storage.Client{}, false
	}
	fc, ok := st.client.(*storage.FositeClient)
	if !ok {
		return storage.Client{}, false
	}
	return fc.Record(), true
}

// authenticateClient is fosite's ClientAuthenticationStrategy, used by every
// endpoint where a client authenticates. A client registered for
// client_secret_basic may also send its secret as client_secret_post and the
// other way round (as Keycloak allows: libraries switch between the two);
// private_key_jwt and none are exact. Every refusal names what the client must
// send instead. The client is remembered in the request's state.
func (h *Handler) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	st := requestStateOf(ctx)
	if st != nil && st.client != nil {
		return st.client, nil
	}
	c, err := h.authenticate(ctx, r, form)
	if err != nil {
		return nil, err
	}
	if st != nil {
		st.client = c
	}
	return c, nil
}

var errOneMethod = fosite.ErrInvalidRequest.WithHint("The request uses more than one client authentication method; a client must use exactly one (RFC 6749 §2.3).")

func (h *Handler) authenticate(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	assertionType, assertion := form.Get("client_assertion_type"), form.Get("client_assertion")
	if assertionType != "" || assertion != "" {
		if hasBasic || form.Get("client_secret") != "" {
			return nil, errOneMethod
		}
		return h.authenticateAssertion(ctx, r, form)
	}

	id, secret := form.Get("client_id"), form.Get("client_secret")
	if hasBasic {
		if secret != "" {
			return nil, errOneMethod
		}
		// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
		var err1, err2 error
		id, err1 = url.QueryUnescape(basicID)
		secret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, fosite.ErrInvalidRequest.WithHint("The client id and secret in the Authorization header must be form-encoded (RFC 6749 §2.3.1).")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return nil, fosite.ErrInvalidRequest.WithHint("The client_id in the body is not the one in the Authorization header.")
		}
	}
	if id == "" {
		return nil, fosite.ErrInvalidClient.WithHint("The request carries no client authentication: send the client id and secret with HTTP Basic authentication or in the body, a client assertion, or, for a public client, client_id.")
	}
	client, err := h.lookupClient(ctx, id)
	if err != nil {
		return nil, err
	}
	method := authMethodOf(client)
	switch method {
	case "none":
		if secret != "" || !client.IsPublic() {
			return nil, fosite.ErrInvalidClient.WithHint(authHint(method))
		}
		return client, nil
	case "client_secret_basic", "client_secret_post":
		if client.IsPublic() || secret == "" {
			return nil, fosite.ErrInvalidClient.WithHint(authHint(method))
		}
		if err := h.fcfg.GetSecretsHasher(ctx).Compare(ctx, client.GetHashedSecret(), []byte(secret)); err != nil {
			return nil, fosite.ErrInvalidClient.WithHint("The client secret is not the client's.")
		}
		return client, nil
	}
	return nil, fosite.ErrInvalidClient.WithHint(authHint(method))
}

// authenticateAssertion checks a private_key_jwt assertion (RFC 7523) with
// fosite's own code, after the checks fosite gets wrong: a client of another
// method is told what to send, and an expired or not yet valid assertion is a
// failed client authentication (fosite answers it with a non-standard 500).
func (h *Handler) authenticateAssertion(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	if form.Get("client_assertion_type") != jwtBearerAssertion {
		return nil, fosite.ErrInvalidRequest.WithHintf("A client assertion needs client_assertion_type=%s (RFC 7523 §2.2).", jwtBearerAssertion)
	}
	claims, parsed := unverifiedAssertionClaims(form.Get("client_assertion"))
	id := form.Get("client_id")
	if id == "" && parsed {
		id = claims.Subject
	}
	if id != "" {
		client, err := h.lookupClient(ctx, id)
		if err != nil {
			return nil, err
		}
		if m := authMethodOf(client); m != "private_key_jwt" {
			return nil, fosite.ErrInvalidClient.WithHint(authHint(m))
		}
	}
	if parsed {
		// The rules of fosite's check (RFC 7519 §4.1.4, §4.1.5, §4.1.6), made here
		// so that a failure gets a standard answer.
		now := h.now().Unix()
		switch {
		case claims.Expiry != nil && now > int64(*claims.Expiry):
			return nil, fosite.ErrInvalidClient.WithHint("The client assertion has expired (its exp has passed): sign a new one.")
		case claims.NotBefore != nil && now < int64(*claims.NotBefore):
			return nil, fosite.ErrInvalidClient.WithHint("The client assertion is not valid yet (its nbf is in the future): check the client's clock.")
		case claims.IssuedAt != nil && now < int64(*claims.IssuedAt):
			return nil, fosite.ErrInvalidClient.WithHint("The client assertion was issued in the future (its iat): check the client's clock.")
		}
	}
	// fosite's own assertion checks, with a key missing from the set answered
	// invalid_client (jwks.go).
	client, err := withMissingKeyAsInvalidClient(h.fosite.DefaultClientAuthenticationStrategy)(ctx, r, form)
	if err == nil {
		return client, nil
	}
	var rfc *fosite.RFC6749Error
	switch {
	case errors.Is(err, fosite.ErrJTIKnown):
		// fosite says "known" for any failure of the check, a database's too:
		// ask again before blaming the client.
		if parsed && claims.ID != "" {
			switch again := h.store.ClientAssertionJWTValid(ctx, claims.ID); {
			case again == nil:
				return nil, fosite.ErrTemporarilyUnavailable.WithHint("The client assertion could not be checked; try again with a new one.")
			case !errors.Is(again, fosite.ErrJTIKnown):
				return nil, fosite.ErrServerError.WithWrap(again)
			}
		}
		// RFC 7523 §3.2: a replayed assertion fails client authentication.
		return nil, fosite.ErrInvalidClient.WithHint("The client assertion was already used (its jti): sign a new one for each request.")
	case errors.As(err, &rfc):
		return nil, err
	case storage.IsUnavailable(err):
		return nil, err
	}
	// fosite hands back what its claim check or the store said, unwrapped.
	return nil, fosite.ErrServerError.WithWrap(err)
}

// unverifiedAssertionClaims reads the claims of a client assertion without
// checking it: only to find the client and the time window.
func unverifiedAssertionClaims(raw string) (josejwt.Claims, bool) {
	var c josejwt.Claims
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512, jose.HS256, jose.HS384, jose.HS512, jose.EdDSA,
	})
	if err != nil {
		return c, false
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return c, false
	}
	return c, true
}

// lookupClient finds a client for authentication: an unknown one is
// invalid_client; a database failure keeps its cause for the 503.
func (h *Handler) lookupClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := h.store.GetClient(ctx, id)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, fosite.ErrNotFound):
		return nil, fosite.ErrInvalidClient.WithHint("There is no client with this client_id.")
	}
	return nil, fosite.ErrInvalidClient.WithWrap(err)
}

func authMethodOf(c fosite.Client) string {
	if oc, ok := c.(fosite.OpenIDConnectClient); ok {
		return oc.GetTokenEndpointAuthMethod()
	}
	if c.IsPublic() {
		return "none"
	}
	return "client_secret_basic"
}

// authHint tells a client registered for method how to authenticate.
func authHint(method string) string {
	switch method {
	case "none":
		return "This client is public (token_endpoint_auth_method none) and has no secret: send only client_id in the body, without a secret or an assertion."
	case "client_secret_basic", "client_secret_post":
		return "This client authenticates with its client secret: send it with HTTP Basic authentication (client_secret_basic) or as client_secret in the body (client_secret_post)."
	case "private_key_jwt":
		return "This client authenticates with private_key_jwt: send client_assertion_type=" + jwtBearerAssertion + " and a client_assertion signed with one of its keys, not a client secret."
	}
	return "This client's token_endpoint_auth_method (" + method + ") is not supported by this server."
}
