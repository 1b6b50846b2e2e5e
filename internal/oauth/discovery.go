package oauth

import (
	"encoding/json"
	"fmt"
	"github.com/gatehouse-id/gatehouse/internal/signin"
	"net/http"

	"github.com/ory/fosite"
)

// Supported values, advertised in discovery; each one is implemented and tested.
var (
	supportedScopes        = []string{"openid", "profile", "email", "offline_access"}
	supportedIDTokenAlgs   = []string{"RS256", "ES256"}
	supportedAssertionAlgs = []string{"RS256", "ES256"}
)

// providerMetadata is the OpenID Provider Metadata (OpenID Connect Discovery 1.0
// §3, RFC 8414).
type providerMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	RequirePushedAuthorizationRequests         bool     `json:"require_pushed_authorization_requests"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	ACRValuesSupported                         []string `json:"acr_values_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	UILocalesSupported                         []string `json:"ui_locales_supported,omitempty"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

func (h *Handler) renderDiscovery() ([]byte, error) {
	iss := h.cfg.Issuer
	m := providerMetadata{
		Issuer:                                     iss,
		AuthorizationEndpoint:                      iss + "/oauth2/authorize",
		TokenEndpoint:                              iss + "/oauth2/token",
		UserinfoEndpoint:                           iss + "/userinfo",
		JWKSURI:                                    iss + "/.well-known/jwks.json",
		IntrospectionEndpoint:                      iss + "/oauth2/introspect",
		RevocationEndpoint:                         iss + "/oauth2/revoke",
		PushedAuthorizationRequestEndpoint:         iss + "/oauth2/par",
		EndSessionEndpoint:                         iss + "/oauth2/logout",
		ScopesSupported:                            supportedScopes,
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query", "form_post"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token", "client_credentials"},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           supportedIDTokenAlgs,
		TokenEndpointAuthMethodsSupported:          []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		TokenEndpointAuthSigningAlgValuesSupported: supportedAssertionAlgs,
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		RevocationEndpointAuthMethodsSupported:     []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "acr", "sid",
			"name", "given_name", "family_name", "picture", "locale", "updated_at", "email", "email_verified"},
		ACRValuesSupported:                         []string{signin.ACRPassword, signin.ACRMFA},
		PromptValuesSupported:                      []string{"none", "login", "consent", "create"},
		UILocalesSupported:                         h.cfg.UILocales,
		AuthorizationResponseIssParameterSupported: true,
	}
	if h.cfg.DynamicRegistration {
		m.RegistrationEndpoint = iss + registerPath
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render discovery: %w", err)
	}
	return append(b, '\n'), nil
}

// Discovery serves GET /.well-known/openid-configuration from bytes rendered once.
func (h *Handler) Discovery() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Cache-Control", "public, max-age=3600")
		hdr.Set("Access-Control-Allow-Origin", "*")
		hdr.Set("ETag", h.discoveryETag)
		if r.Header.Get("If-None-Match") == h.discoveryETag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		// A known length spares the chunked encoding the document's size would get.
		hdr.Set("Content-Length", h.discoveryLength)
		w.Write(h.discovery)
	})
}

// JWKS serves GET /.well-known/jwks.json: the public signing keys, cacheable for as
// long as a rotation takes to reach every instance.
func (h *Handler) JWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, etag, err := h.keys.JWKS()
		if err != nil {
			h.log.ErrorContext(r.Context(), "jwks", "error", err.Error())
			writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The signing keys are not loaded yet.")
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if etag != "" {
			w.Header().Set("ETag", etag)
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Write(body)
	})
}

// SessionFactory returns the constructor of empty sessions, for the store to decode
// pushed authorization requests into.
func SessionFactory() func() fosite.Session { return func() fosite.Session { return NewSession() } }
