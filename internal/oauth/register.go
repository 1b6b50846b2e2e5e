package oauth

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/clients"
)

// registerPath is the Dynamic Client Registration endpoint (RFC 7591 §3); a
// client's configuration endpoint (RFC 7592 §2) is registerPath/{client_id}.
const registerPath = "/oauth2/register"

// maxRegistrationBody bounds a registration request: metadata with an inline
// JWK Set fits well within it.
const maxRegistrationBody = 64 << 10

// RegistrationEnabled reports whether Dynamic Client Registration is on, so the
// router mounts Register and the client configuration endpoints.
func (h *Handler) RegistrationEnabled() bool { return h.cfg.DynamicRegistration }

// clientMetadata is the client metadata a client may send to register itself
// (RFC 7591 §2, OpenID Connect Dynamic Client Registration 1.0 §2). Members not
// listed are ignored, as RFC 7591 §2 requires of what a server does not
// understand; so are the settings only an operator may make (first_party, token
// lifespans, audience, resource_server), which the admin API and the CLI set.
// allowed_cors_origins (as Ory Hydra names it) and claims_in_id_token are ours.
type clientMetadata struct {
	ClientID                    string          `json:"client_id"` // RFC 7592 §2.2: updates only
	RedirectURIs                []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs      []string        `json:"post_logout_redirect_uris"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg"`
	GrantTypes                  []string        `json:"grant_types"`
	ResponseTypes               []string        `json:"response_types"`
	ClientName                  string          `json:"client_name"`
	ClientURI                   string          `json:"client_uri"`
	LogoURI                     string          `json:"logo_uri"`
	Scope                       string          `json:"scope"`
	TOSURI                      string          `json:"tos_uri"`
	PolicyURI                   string          `json:"policy_uri"`
	JWKSURI                     string          `json:"jwks_uri"`
	JWKS                        json.RawMessage `json:"jwks"`
	ApplicationType             string          `json:"application_type"`
	IDTokenSignedResponseAlg    string          `json:"id_token_signed_response_alg"`
	AllowedCORSOrigins          []string        `json:"allowed_cors_origins"`
	ClaimsInIDToken             bool            `json:"claims_in_id_token"`
}

// apply writes the metadata onto spec, replacing every field a client may set.
func (m clientMetadata) apply(spec *clients.Spec) {
	spec.RedirectURIs = m.RedirectURIs
	spec.PostLogoutRedirectURIs = m.PostLogoutRedirectURIs
	spec.TokenEndpointAuthMethod = m.TokenEndpointAuthMethod
	spec.TokenEndpointAuthSigningAlg = m.TokenEndpointAuthSigningAlg
	spec.Public = m.TokenEndpointAuthMethod == clients.AuthNone
	spec.GrantTypes = m.GrantTypes
	spec.ResponseTypes = m.ResponseTypes
	spec.ClientName = m.ClientName
	spec.ClientURI = m.ClientURI
	spec.LogoURI = m.LogoURI
	spec.Scope = clients.Scopes(strings.Fields(m.Scope))
	spec.TOSURI = m.TOSURI
	spec.PolicyURI = m.PolicyURI
	spec.JWKSURI = m.JWKSURI
	spec.JWKS = m.JWKS
	spec.ApplicationType = m.ApplicationType
	spec.IDTokenSignedResponseAlg = m.IDTokenSignedResponseAlg
	spec.AllowedCORSOrigins = m.AllowedCORSOrigins
	spec.ClaimsInIDToken = m.ClaimsInIDToken
}

// registrationResponse is the client information response (RFC 7591 §3.2.1,
// RFC 7592 §3): the registered metadata, the credentials and where to manage them.
type registrationResponse struct {
	ClientID                    string          `json:"client_id"`
	ClientSecret                string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt            int64           `json:"client_id_issued_at"`
	ClientSecretExpiresAt       *int64          `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken     string          `json:"registration_access_token"`
	RegistrationClientURI       string          `json:"registration_client_uri"`
	RedirectURIs                []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs      []string        `json:"post_logout_redirect_uris,omitempty"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	GrantTypes                  []string        `json:"grant_types"`
	ResponseTypes               []string        `json:"response_types"`
	ClientName                  string          `json:"client_name,omitempty"`
	ClientURI                   string          `json:"client_uri,omitempty"`
	LogoURI                     string          `json:"logo_uri,omitempty"`
	Scope                       string          `json:"scope,omitempty"`
	TOSURI                      string          `json:"tos_uri,omitempty"`
	PolicyURI                   string          `json:"policy_uri,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	ApplicationType             string          `json:"application_type"`
	IDTokenSignedResponseAlg    string          `json:"id_token_signed_response_alg"`
	AllowedCORSOrigins          []string        `json:"allowed_cors_origins"`
	ClaimsInIDToken             bool            `json:"claims_in_id_token"`
}

func (h *Handler) registrationResponse(v clients.View, secret, token string) registrationResponse {
	resp := registrationResponse{
		ClientID:                    v.ClientID,
		ClientSecret:                secret,
		ClientIDIssuedAt:            v.CreatedAt.Unix(),
		RegistrationAccessToken:     token,
		RegistrationClientURI:       h.cfg.Issuer + registerPath + "/" + url.PathEscape(v.ClientID),
		RedirectURIs:                v.RedirectURIs,
		PostLogoutRedirectURIs:      v.PostLogoutRedirectURIs,
		TokenEndpointAuthMethod:     v.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: v.TokenEndpointAuthSigningAlg,
		GrantTypes:                  v.GrantTypes,
		ResponseTypes:               v.ResponseTypes,
		ClientName:                  v.ClientName,
		ClientURI:                   v.ClientURI,
		LogoURI:                     v.LogoURI,
		Scope:                       strings.Join(v.Scope, " "),
		TOSURI:                      v.TOSURI,
		PolicyURI:                   v.PolicyURI,
		JWKSURI:                     v.JWKSURI,
		JWKS:                        v.JWKS,
		ApplicationType:             v.ApplicationType,
		IDTokenSignedResponseAlg:    v.IDTokenSignedResponseAlg,
		AllowedCORSOrigins:          v.AllowedCORSOrigins,
		ClaimsInIDToken:             v.ClaimsInIDToken,
	}
	if secret != "" {
		never := int64(0) // RFC 7591 §3.2.1: 0 means the secret does not expire
		resp.ClientSecretExpiresAt = &never
	}
	return resp
}

// Register serves POST /oauth2/register (RFC 7591 §3). The caller presents an
// initial access token as a bearer token; the new client gets its id, its secret
// (confidential clients) and a registration access token, each shown only here.
func (h *Handler) Register() http.Handler {
	svc := clients.New(h.store, h.store.Sealer(), h.now, h.clientRules)
	// The configured tokens are compared by their SHA-256, so every comparison
	// is of equal length and takes the same time.
	var initial [][sha256.Size]byte
	for _, t := range h.cfg.RegistrationTokens {
		initial = append(initial, sha256.Sum256([]byte(t)))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			registrationUnauthorized(w, "")
			return
		}
		sum := sha256.Sum256([]byte(token))
		match := 0
		for _, t := range initial { // no early exit: the time does not say which token matched
			match |= subtle.ConstantTimeCompare(sum[:], t[:])
		}
		if match != 1 {
			h.log.InfoContext(r.Context(), "registration rejected", "error", "invalid_token")
			registrationUnauthorized(w, "invalid_token")
			return
		}
		var m clientMetadata
		if !h.decodeMetadata(w, r, &m) {
			return
		}
		var spec clients.Spec
		m.apply(&spec)
		v, secret, regToken, err := svc.Register(r.Context(), spec, h.registrationRules())
		if err != nil {
			h.registrationError(w, r, err)
			return
		}
		h.log.InfoContext(r.Context(), "client registered", "client_id", v.ClientID)
		w.Header().Set("Location", h.cfg.Issuer+registerPath+"/"+url.PathEscape(v.ClientID))
		writeRegistration(w, http.StatusCreated, h.registrationResponse(v, secret, regToken))
	})
}

// registrationRules limit what a client may give itself: only the operator's
// registrable scopes (RFC 7591 §2: the server decides).
func (h *Handler) registrationRules() clients.RegistrationRules {
	return clients.RegistrationRules{Scopes: h.cfg.RegistrableScopes}
}

// RegisteredClient serves GET /oauth2/register/{client_id} (RFC 7592 §2.1): the
// client's current registration, for the holder of its registration access token.
func (h *Handler) RegisteredClient() http.Handler {
	svc := clients.New(h.store, h.store.Sealer(), h.now, h.clientRules)
	return h.withRegistration(svc, func(w http.ResponseWriter, r *http.Request, v clients.View, token string) {
		writeRegistration(w, http.StatusOK, h.registrationResponse(v, "", token))
	})
}

// UpdateRegistration serves PUT /oauth2/register/{client_id} (RFC 7592 §2.2): the
// metadata sent replaces every field a client may set; omitted ones return to
// their defaults. The secret and the registration access token stay the same.
func (h *Handler) UpdateRegistration() http.Handler {
	svc := clients.New(h.store, h.store.Sealer(), h.now, h.clientRules)
	return h.withRegistration(svc, func(w http.ResponseWriter, r *http.Request, v clients.View, token string) {
		var m clientMetadata
		if !h.decodeMetadata(w, r, &m) {
			return
		}
		if m.ClientID != v.ClientID {
			writeRegistrationError(w, http.StatusBadRequest, "invalid_client_metadata", "client_id must be sent and equal the client's id (RFC 7592 §2.2)")
			return
		}
		spec := v.Spec() // keeps what only an operator sets
		m.apply(&spec)
		updated, secret, err := svc.UpdateRegistered(r.Context(), v.ClientID, spec, h.registrationRules())
		if err != nil {
			h.registrationError(w, r, err)
			return
		}
		h.log.InfoContext(r.Context(), "client registration updated", "client_id", v.ClientID)
		writeRegistration(w, http.StatusOK, h.registrationResponse(updated, secret, token))
	})
}

// DeleteRegistration serves DELETE /oauth2/register/{client_id} (RFC 7592 §2.3):
// the client and every token issued to it are deleted.
func (h *Handler) DeleteRegistration() http.Handler {
	svc := clients.New(h.store, h.store.Sealer(), h.now, h.clientRules)
	return h.withRegistration(svc, func(w http.ResponseWriter, r *http.Request, v clients.View, _ string) {
		if err := svc.Delete(r.Context(), v.ClientID); err != nil {
			h.registrationError(w, r, err)
			return
		}
		h.log.InfoContext(r.Context(), "client registration deleted", "client_id", v.ClientID)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

// withRegistration authenticates a request to a client configuration endpoint
// with the client's registration access token. A wrong token and an unknown
// client both get 401 (RFC 7592 §2.1), so client ids cannot be probed.
func (h *Handler) withRegistration(svc *clients.Service, next func(http.ResponseWriter, *http.Request, clients.View, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			registrationUnauthorized(w, "")
			return
		}
		v, err := svc.Registered(r.Context(), mux.Vars(r)["client_id"], token)
		if errors.Is(err, clients.ErrRegistrationToken) {
			h.log.InfoContext(r.Context(), "client configuration rejected", "error", "invalid_token")
			registrationUnauthorized(w, "invalid_token")
			return
		}
		if err != nil {
			h.registrationError(w, r, err)
			return
		}
		next(w, r, v, token)
	})
}

// decodeMetadata reads a JSON object of client metadata, answering the client
// itself when it cannot.
func (h *Handler) decodeMetadata(w http.ResponseWriter, r *http.Request, m *clientMetadata) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeRegistrationError(w, http.StatusBadRequest, "invalid_client_metadata", "send the client metadata as application/json (RFC 7591 §3.1)")
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRegistrationBody))
	if err := dec.Decode(m); err != nil {
		writeRegistrationError(w, http.StatusBadRequest, "invalid_client_metadata", "the body is not a JSON object of client metadata: "+jsonProblem(err))
		return false
	}
	return true
}

// jsonProblem says what is wrong with a JSON body without echoing it.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be a JSON %s", te.Field, jsonKind(te.Type.Kind().String()))
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is empty or cut short"
	}
	return "it cannot be read"
}

func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	return k
}

// registrationError answers a failed registration or update: RFC 7591 §3.2.2
// codes for refused metadata, a plain server error otherwise.
func (h *Handler) registrationError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *clients.ValidationError
	if errors.As(err, &ve) {
		code := "invalid_client_metadata"
		msgs := make([]string, 0, len(ve.Problems))
		for _, p := range ve.Problems {
			if strings.HasPrefix(p.Field, "redirect_uris") || strings.HasPrefix(p.Field, "post_logout_redirect_uris") {
				code = "invalid_redirect_uri"
			}
			msgs = append(msgs, p.Field+": "+p.Message)
		}
		h.log.InfoContext(r.Context(), "registration refused", "error", code)
		writeRegistrationError(w, http.StatusBadRequest, code, strings.Join(msgs, "; "))
		return
	}
	h.log.ErrorContext(r.Context(), "registration failed", "error", err.Error())
	writeRegistrationError(w, http.StatusInternalServerError, "server_error", "The registration could not be completed. Try again later.")
}

// bearerToken returns the token of an "Authorization: Bearer" header (RFC 6750 §2.1).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// registrationUnauthorized answers 401 with the RFC 6750 §3 challenge; code is
// empty when no token was sent at all.
func registrationUnauthorized(w http.ResponseWriter, code string) {
	challenge := `Bearer realm="client-registration"`
	desc := "Send an initial or registration access token as a bearer token."
	if code != "" {
		challenge += `, error="` + code + `"`
		desc = "The access token is not valid here."
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeRegistrationError(w, http.StatusUnauthorized, cmp.Or(code, "invalid_request"), desc)
}

func writeRegistration(w http.ResponseWriter, status int, v registrationResponse) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, v)
}

func writeRegistrationError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Pragma", "no-cache")
	writeJSONError(w, status, code, description)
}
