package authapi

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
)

// federationService is what the API needs from internal/federation.
type federationService interface {
	Has(id string) bool
	Begin(ctx context.Context, w http.ResponseWriter, id string, f federation.Flow) (string, error)
	Finish(w http.ResponseWriter, r *http.Request, id, currentUserID string) (federation.Result, error)
	accountService // accounts.go
}

const (
	codeProviderNotFound    = "PROVIDER_NOT_FOUND"
	codeUpstreamUnavailable = "UPSTREAM_UNAVAILABLE"
)

// SignInSocial serves POST /api/auth/sign-in/social (Better Auth's shape):
// it begins a sign-in at the provider and answers its authorization URL, for
// the app to send the browser there ({"url", "redirect": true}). The flow
// cookie is set on this response, so the browser that follows the URL is the
// one that must come back. callbackURL, errorCallbackURL and
// newUserCallbackURL are where /api/auth/callback/{provider} sends the
// browser after; each must be a path here or at a trusted origin.
func (a *API) SignInSocial() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Provider           *string `json:"provider"`
			CallbackURL        *string `json:"callbackURL"`
			ErrorCallbackURL   *string `json:"errorCallbackURL"`
			NewUserCallbackURL *string `json:"newUserCallbackURL"`
			DisableRedirect    *bool   `json:"disableRedirect"`
		}
		if !a.body(w, r, &in, false) || !a.missing(w, r, map[string]*string{"provider": in.Provider}, "provider") {
			return
		}
		if a.fed == nil || !a.fed.Has(*in.Provider) {
			a.fail(w, r, http.StatusNotFound, codeProviderNotFound, "Provider not found")
			return
		}
		f := federation.Flow{API: true, Continue: "/"}
		a.beginFlow(w, r, "sign in social", *in.Provider, &f, in.DisableRedirect,
			returnURL{in.CallbackURL, &f.Continue}, returnURL{in.ErrorCallbackURL, &f.ErrorURL}, returnURL{in.NewUserCallbackURL, &f.NewUserURL})
	})
}

// returnURL is a return URL a request gives (nil or "": none) and the field
// of the flow that keeps it.
type returnURL struct {
	given *string
	keep  *string
}

// beginFlow begins f at provider once every given return URL is a path here
// or at a trusted origin (403 INVALID_CALLBACK_URL else), each kept in f, and
// answers the provider's URL for the app to send the browser to ({url,
// redirect}, redirect false when disableRedirect). The flow cookie is set on
// this answer. what names the request on the log line of an error.
func (a *API) beginFlow(w http.ResponseWriter, r *http.Request, what, provider string, f *federation.Flow, disableRedirect *bool, urls ...returnURL) {
	for _, u := range urls {
		if u.given == nil || *u.given == "" {
			continue
		}
		if !a.callbackAllowed(*u.given) {
			a.fail(w, r, http.StatusForbidden, codeInvalidCallbackURL, "Invalid callbackURL")
			return
		}
		*u.keep = *u.given
	}
	to, err := a.fed.Begin(r.Context(), w, provider, *f)
	if err != nil {
		if federation.CodeOf(err) == federation.CodeUpstreamUnavailable {
			a.fail(w, r, http.StatusBadGateway, codeUpstreamUnavailable, "The provider cannot be reached. Try again in a moment.")
			return
		}
		a.serverError(w, r, what, err)
		return
	}
	redirect := disableRedirect == nil || !*disableRedirect
	writeJSON(w, http.StatusOK, map[string]any{"url": to, "redirect": redirect})
}

// SocialCallback serves GET /api/auth/callback/{provider}, where the provider
// sends the browser back from a flow the API began: signed in (the session
// cookie set), it goes on to callbackURL (newUserCallbackURL after a
// sign-up); refused, to errorCallbackURL (else callbackURL) with
// ?error=<reason> (access_denied, bad_state, unverified_email, …). An
// address that belongs to an existing user is linked only after that user
// proves the account on the page /signin/link, where the browser goes; once
// linked there, it goes on to callbackURL.
func (a *API) SocialCallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["provider"]
		if a.fed == nil || !a.fed.Has(id) {
			a.fail(w, r, http.StatusNotFound, codeProviderNotFound, "Provider not found")
			return
		}
		// A link begun by link-social must end in the session that began it.
		c, err := a.lookup(r)
		if err != nil {
			a.serverError(w, r, "social callback: look up session", err)
			return
		}
		signedInAs := ""
		if c.bs != nil {
			signedInAs = c.bs.UserID
		}
		res, err := a.fed.Finish(w, r, id, signedInAs)
		if err != nil {
			code := federation.CodeOf(err)
			if code == "" {
				a.serverError(w, r, "social callback", err)
				return
			}
			if code == federation.CodeLinkedElsewhere {
				code = codeLinkedToAnotherUser // Better Auth's
			}
			a.log.InfoContext(r.Context(), "social sign-in refused", "provider", id, "reason", err.Error())
			to := res.ErrorURL
			if to == "" {
				to = res.Continue
			}
			if to == "" {
				to = "/"
			}
			http.Redirect(w, r, withQuery(a.absolute(to), "error", code), http.StatusFound)
			return
		}
		if res.Pending != nil {
			http.Redirect(w, r, a.issuer+"/signin/link", http.StatusFound)
			return
		}
		if res.Linked { // link-social: the caller is signed in already
			http.Redirect(w, r, a.absolute(res.Continue), http.StatusFound)
			return
		}
		to := res.Continue
		if to == "" {
			to = "/"
		}
		step, _, err := a.afterFirstFactor(w, r, res.UserID, res.AMR)
		switch {
		case err != nil:
			a.serverError(w, r, "social callback: second factor", err)
			return
		case step == mfa.StepVerify:
			// An account with a second factor gets no session yet: the
			// browser goes on to callbackURL?twoFactorRedirect=true with the
			// pending sign-in cookie (set on this answer), and the app
			// finishes with verify-totp or verify-backup-code, as after
			// sign-in/email.
			a.log.InfoContext(r.Context(), "social sign-in needs a second factor", "provider", id)
			http.Redirect(w, r, withQuery(a.absolute(to), "twoFactorRedirect", "true"), http.StatusFound)
			return
		case step == mfa.StepEnrol:
			// The sign-in page walks the account through adding a factor.
			a.log.InfoContext(r.Context(), "social sign-in must set up a second factor", "provider", id)
			to := res.ErrorURL
			if to == "" {
				to = res.Continue
			}
			if to == "" {
				to = "/"
			}
			http.Redirect(w, r, withQuery(a.absolute(to), "error", codeTwoFactorRequired), http.StatusFound)
			return
		}
		if _, _, err := a.sessions.Start(w, r, res.UserID, res.AMR, a.now()); err != nil {
			a.serverError(w, r, "social callback: start session", err)
			return
		}
		a.countSignIn("success")
		if res.Created && res.NewUserURL != "" {
			to = res.NewUserURL
		}
		http.Redirect(w, r, a.absolute(to), http.StatusFound)
	})
}
