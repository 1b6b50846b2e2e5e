package oauth

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
)

// errInvalidTarget is RFC 8707 §2's error for a resource the client may not ask
// for or that is not an absolute URI.
var errInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested resource is invalid, missing, unknown, or malformed.",
	CodeField:        http.StatusBadRequest,
}

// defaultAudience is the aud of access tokens whose request named no resource.
func (h *Handler) defaultAudience() string {
	if h.cfg.DefaultAudience != "" {
		return h.cfg.DefaultAudience
	}
	return h.cfg.Issuer
}

// requestedResources returns the RFC 8707 resource parameters of form (there may
// be several), each checked: an absolute URI without a fragment (RFC 8707 §2)
// that is one of the client's allowed audiences. Otherwise it answers
// invalid_target. Both the token and the authorization endpoint use it; the
// caller puts the result in fosite's "audience" parameter, which is what fosite
// reads.
func requestedResources(form url.Values, c storage.Client) ([]string, error) {
	var out []string
	for _, res := range form["resource"] {
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || strings.ContainsAny(res, "# \t\r\n") {
			return nil, errInvalidTarget.WithHintf("The resource %q is not an absolute URI without a fragment (RFC 8707 §2).", res)
		}
		if !c.Audience.Has(res) {
			return nil, errInvalidTarget.WithHintf("This client may not ask for the resource %q; its allowed audiences are set by the operator.", res)
		}
		if !slices.Contains(out, res) {
			out = append(out, res)
		}
	}
	return out, nil
}

// audienceStrategy is fosite's AudienceMatchingStrategy: every audience must be
// one of the client's allowed audiences exactly, or the default audience (or the
// issuer), which every client's tokens carry when they name no resource.
func (h *Handler) audienceStrategy(allowed []string, requested []string) error {
	for _, a := range requested {
		// The issuer is allowed too: it is the default audience when none is
		// configured, and grants made before one was keep it.
		if a != h.defaultAudience() && a != h.cfg.Issuer && !slices.Contains(allowed, a) {
			return errInvalidTarget.WithHintf("This client may not ask for the audience %q.", a)
		}
	}
	return nil
}

// setAccessTokenAudience gives the access token being made for r its audience:
// the resources the token request named (already checked), or what the grant
// carries, or else the default audience, so that aud is never empty (RFC 9068
// §2.2). The stored request, and so introspection, shows the same.
func (h *Handler) setAccessTokenAudience(ctx context.Context, r fosite.Requester) {
	st := requestStateOf(ctx)
	ar, ok := r.(*fosite.AccessRequest)
	if !ok {
		return
	}
	if st != nil && len(st.resources) > 0 {
		ar.GrantedAudience = fosite.Arguments(slices.Clone(st.resources))
		return
	}
	if len(ar.GrantedAudience) == 0 {
		ar.GrantedAudience = fosite.Arguments{h.defaultAudience()}
	}
}
