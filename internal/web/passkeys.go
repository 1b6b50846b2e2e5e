package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// passkeyService is what the pages need from internal/mfa's passkeys (an
// *mfa.Passkeys).
type passkeyService interface {
	BeginPasswordless(conditional bool) (mfa.CeremonyOptions, error)
	BeginRegistration(ctx context.Context, userID string) (mfa.CeremonyOptions, error)
	FinishRegistration(ctx context.Context, userID, state string, response []byte, name string) (mfa.Passkey, error)
	BeginLogin(ctx context.Context, userID, purpose string) (mfa.CeremonyOptions, error)
	FinishLogin(ctx context.Context, purpose, userID, state string, response []byte) (mfa.Assertion, error)
	List(ctx context.Context, userID string) ([]mfa.Passkey, error)
	Rename(ctx context.Context, userID, id, name string) error
	Remove(ctx context.Context, userID, id string) (mfa.Passkey, error)
	ChallengeCookie(state string) *http.Cookie
	ChallengeState(r *http.Request) string
}

// sectionPasskeys is the account page's passkeys section.
const sectionPasskeys = "passkeys-section"

// recentAuth is how long after signing in a person may add, rename or remove
// passkeys without confirming it is them again (with the password or a
// passkey).
const recentAuth = 10 * time.Minute

// errPasskeyCancelled: the page's script sent no answer (the person cancelled,
// or the authenticator timed out or refused).
var errPasskeyCancelled = errors.New("no passkey answer: cancelled or timed out")

// maxCredentialJSON bounds the browser's answer to a ceremony.
const maxCredentialJSON = 64 << 10

// PasskeyView is one passkey on the account page.
type PasskeyView struct {
	ID, Name, Added, LastUsed string
	Synced                    bool
}

// passkeyViews lists the user's passkeys for the account page; none when
// passkeys are not configured.
func (p *Pages) passkeyViews(ctx context.Context, userID string) ([]PasskeyView, error) {
	if p.passkeys == nil {
		return nil, nil
	}
	l, err := p.passkeys.List(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]PasskeyView, 0, len(l))
	for _, pk := range l {
		v := PasskeyView{ID: pk.ID, Name: pk.Name, Added: when(pk.CreatedAt), Synced: pk.Synced}
		if pk.LastUsed != nil {
			v.LastUsed = when(*pk.LastUsed)
		}
		out = append(out, v)
	}
	return out, nil
}

// passkeyFailure is the message key for a ceremony's refusal, or "" when err
// is not one (a server problem).
func passkeyFailure(err error) string {
	switch {
	case errors.Is(err, errPasskeyCancelled):
		return "passkey.cancelled"
	case errors.Is(err, mfa.ErrChallengeExpired):
		return "passkey.expired"
	case errors.Is(err, mfa.ErrUnknownCredential):
		return "passkey.unknown"
	case errors.Is(err, mfa.ErrClonedAuthenticator):
		return "passkey.cloned"
	case errors.Is(err, mfa.ErrUserNotVerified):
		return "passkey.not_verified"
	case errors.Is(err, mfa.ErrPasskeyRejected):
		return "passkey.rejected"
	case errors.Is(err, mfa.ErrPasskeyName):
		return "passkey.name_invalid"
	}
	return ""
}

// writeOptions answers a Begin with its options as JSON and keeps its state in
// the challenge cookie.
func (p *Pages) writeOptions(w http.ResponseWriter, o mfa.CeremonyOptions) {
	http.SetCookie(w, p.passkeys.ChallengeCookie(o.State))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(o.JSON)
}

// jsonStatus answers a script's request that cannot go on with a status and a
// small JSON body (the script then reloads or follows location).
func jsonStatus(w http.ResponseWriter, status int, location string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if location != "" {
		w.Write([]byte(`{"location":"` + strings.ReplaceAll(location, `"`, `%22`) + `"}`))
		return
	}
	w.Write([]byte(`{}`))
}

// credentialField is the browser's answer posted by the page's script.
func credentialField(r *http.Request) []byte {
	v := r.PostFormValue("credential")
	if len(v) > maxCredentialJSON {
		return nil
	}
	return []byte(v)
}

// PasskeySignInOptions serves POST /signin/passkey/options: the options of a
// passwordless sign-in (conditional=1: for the browser's autofill), the
// ceremony's state kept in a short-lived sealed cookie.
func (p *Pages) PasskeySignInOptions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		o, err := p.passkeys.BeginPasswordless(r.URL.Query().Get("conditional") == "1")
		if err != nil {
			p.logFailure(w, r, "passkey sign-in options", err)
			jsonStatus(w, http.StatusServiceUnavailable, "")
			return
		}
		p.writeOptions(w, o)
	})
}

// PasskeySignIn serves POST /signin/passkey: the page's script posts the
// authenticator's answer; a verified one with user verification starts a
// session (amr hwk or swk, user, mfa) and continues. A refusal shows the
// sign-in page with what went wrong and changes nothing.
func (p *Pages) PasskeySignIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		cont := p.continueTarget(r.PostFormValue("continue"))
		state := p.passkeys.ChallengeState(r)
		http.SetCookie(w, p.passkeys.ChallengeCookie("")) // one answer per challenge
		var a mfa.Assertion
		err := errPasskeyCancelled
		if cred := credentialField(r); len(cred) > 0 {
			a, err = p.passkeys.FinishLogin(r.Context(), mfa.PurposePasswordless, "", state, cred)
		}
		if err != nil {
			key := passkeyFailure(err)
			if key == "" {
				p.serverError(w, r, "passkey sign-in", err)
				return
			}
			p.countSignIn("failure")
			p.logFailure(w, r, "passkey sign-in refused", err)
			d, o := p.signInPage(r, cont, "", r.PostFormValue("reauth") == "1")
			d.summarize(d.text(key))
			p.render(w, r, http.StatusBadRequest, pageSignIn, d, o)
			return
		}
		// A passkey with user verification is two factors in one: something
		// the person has and something they know or are (RFC 8176 "mfa").
		amr := append(a.AMR(), mfa.AMRMFA)
		if _, err := p.sessions.Issue(w, r, a.UserID, amr, p.now()); err != nil {
			p.serverError(w, r, "passkey sign-in: issue session", err)
			return
		}
		p.countSignIn("success")
		http.Redirect(w, r, p.redirectTarget(cont), http.StatusSeeOther)
	})
}

// recentlySignedIn reports whether the session's sign-in is recent enough to
// change passkeys; if not it sends the browser to confirm it is them (the
// sign-in page with the address fixed, the password or a passkey) and back to
// the passkeys section.
func (p *Pages) recentlySignedIn(w http.ResponseWriter, r *http.Request, bs *storage.BrowserSession, u *storage.User, script bool) bool {
	if p.now().Sub(bs.AuthTime) <= recentAuth {
		return true
	}
	target := "/signin?" + url.Values{"reauth": {"1"}, "login_hint": {u.Email}, "continue": {accountPath + "#" + sectionPasskeys}}.Encode()
	if script {
		jsonStatus(w, http.StatusForbidden, target)
		return false
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return false
}

// PasskeyRegisterOptions serves POST /account/passkeys/options: the options
// to create a passkey for the signed-in user.
func (p *Pages) PasskeyRegisterOptions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		bs, u, err := p.currentUser(r)
		if err != nil {
			p.logFailure(w, r, "passkey options: current user", err)
			jsonStatus(w, http.StatusServiceUnavailable, "")
			return
		}
		if bs == nil {
			jsonStatus(w, http.StatusUnauthorized, "/signin?"+url.Values{"continue": {accountPath}}.Encode())
			return
		}
		if !p.recentlySignedIn(w, r, bs, u, true) {
			return
		}
		o, err := p.passkeys.BeginRegistration(r.Context(), u.ID)
		if err != nil {
			p.logFailure(w, r, "passkey registration options", err)
			jsonStatus(w, http.StatusServiceUnavailable, "")
			return
		}
		p.writeOptions(w, o)
	})
}

// AddPasskey serves POST /account/passkeys: the page's script posts the new
// passkey's name and the authenticator's answer.
func (p *Pages) AddPasskey() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil || !p.recentlySignedIn(w, r, bs, u, false) {
			return
		}
		if p.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		name := r.PostFormValue("passkey-name")
		state := p.passkeys.ChallengeState(r)
		http.SetCookie(w, p.passkeys.ChallengeCookie(""))
		err := errPasskeyCancelled
		if cred := credentialField(r); len(cred) > 0 {
			_, err = p.passkeys.FinishRegistration(r.Context(), u.ID, state, cred, name)
		}
		if err != nil {
			key := passkeyFailure(err)
			if key == "" {
				p.serverError(w, r, "add passkey", err)
				return
			}
			p.logFailure(w, r, "add passkey refused", err)
			p.showAccount(w, r, http.StatusBadRequest, bs, u, sectionPasskeys, func(d *AccountPage) string {
				if errors.Is(err, mfa.ErrPasskeyName) {
					d.PasskeyNameField.Value = name
					d.PasskeyNameField.Error = d.text(key)
					return ""
				}
				return d.text(key)
			})
			return
		}
		http.Redirect(w, r, noticeURL("passkey-added"), http.StatusSeeOther)
	})
}

// RenamePasskey serves POST /account/passkeys/rename.
func (p *Pages) RenamePasskey() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil || !p.recentlySignedIn(w, r, bs, u, false) {
			return
		}
		if p.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		err := p.passkeys.Rename(r.Context(), u.ID, r.PostFormValue("id"), r.PostFormValue("name"))
		switch {
		case err == nil:
			http.Redirect(w, r, noticeURL("passkey-renamed"), http.StatusSeeOther)
		case errors.Is(err, mfa.ErrPasskeyName):
			p.showAccount(w, r, http.StatusBadRequest, bs, u, sectionPasskeys, func(d *AccountPage) string { return d.text("passkey.name_invalid") })
		case errors.Is(err, storage.ErrNotFound):
			p.showAccount(w, r, http.StatusNotFound, bs, u, sectionPasskeys, func(d *AccountPage) string { return d.text("passkey.gone") })
		default:
			p.serverError(w, r, "rename passkey", err)
		}
	})
}

// RemovePasskey serves POST /account/passkeys/remove.
func (p *Pages) RemovePasskey() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil || !p.recentlySignedIn(w, r, bs, u, false) {
			return
		}
		if p.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		_, err := p.passkeys.Remove(r.Context(), u.ID, r.PostFormValue("id"))
		switch {
		case err == nil:
			http.Redirect(w, r, noticeURL("passkey-removed"), http.StatusSeeOther)
		case errors.Is(err, storage.ErrNotFound):
			p.showAccount(w, r, http.StatusNotFound, bs, u, sectionPasskeys, func(d *AccountPage) string { return d.text("passkey.gone") })
		default:
			p.serverError(w, r, "remove passkey", err)
		}
	})
}

// PasskeySecondFactorOptions serves POST /signin/second-factor/passkey/options:
// the options to prove, after the password, that the pending user holds one of
// their passkeys.
func (p *Pages) PasskeySecondFactorOptions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps, ok := p.pending(r)
		if !ok || ps.Enrol || p.passkeys == nil {
			jsonStatus(w, http.StatusUnauthorized, pageURL("/signin", "continue", ps.Continue))
			return
		}
		o, err := p.passkeys.BeginLogin(r.Context(), ps.UserID, mfa.PurposeSecondFactor)
		if err != nil {
			if errors.Is(err, mfa.ErrUnknownCredential) {
				jsonStatus(w, http.StatusNotFound, secondFactorPath)
				return
			}
			p.logFailure(w, r, "passkey second factor options", err)
			jsonStatus(w, http.StatusServiceUnavailable, "")
			return
		}
		p.writeOptions(w, o)
	})
}

// PasskeySecondFactor serves POST /signin/second-factor/passkey: the second
// step with a passkey; a verified one finishes the pending sign-in (amr adds
// hwk or swk, user when verified, and mfa), a refusal shows the second step
// again with what went wrong.
func (p *Pages) PasskeySecondFactor() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps, ok := p.pending(r)
		if !ok || ps.Enrol || p.passkeys == nil || p.mfa == nil {
			http.Redirect(w, r, pageURL("/signin", "continue", ps.Continue), http.StatusSeeOther)
			return
		}
		state := p.passkeys.ChallengeState(r)
		http.SetCookie(w, p.passkeys.ChallengeCookie(""))
		var a mfa.Assertion
		err := errPasskeyCancelled
		if cred := credentialField(r); len(cred) > 0 {
			a, err = p.passkeys.FinishLogin(r.Context(), mfa.PurposeSecondFactor, ps.UserID, state, cred)
		}
		if err != nil {
			key := passkeyFailure(err)
			if key == "" {
				p.serverError(w, r, "passkey second factor", err)
				return
			}
			m, merr := p.mfa.Methods(r.Context(), ps.UserID)
			if merr != nil {
				p.serverError(w, r, "second factor: methods", merr)
				return
			}
			p.countSignIn("failure")
			p.logFailure(w, r, "passkey second factor refused", err)
			d := p.secondFactorPage(r, r.PostFormValue("method"), m)
			d.summarize(d.text(key))
			p.render(w, r, http.StatusUnauthorized, pageSecondFactor, d, p.pendingOptions(r.Context(), ps))
			return
		}
		if !p.finishPending(w, r, ps, a.AMR()...) {
			return
		}
		http.Redirect(w, r, p.pendingTarget(ps), http.StatusSeeOther)
	})
}
