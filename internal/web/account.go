package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// The account page's sections: each form's action ends with its section's
// fragment, so that the answer (a problem, or the notice after the redirect)
// opens where the person was.
const (
	sectionProfile  = "profile-section"
	sectionPassword = "password-section"
	sectionApps     = "applications-section"
	sectionSessions = "sessions-section"
	// sectionIdentities lists the linked upstream accounts.
	sectionIdentities = "identities-section"
)

// The password form's messages, by key.
const (
	msgEnterCurrent = "form.enter_current_password"
	msgChooseNew    = "form.choose_new_password"
	msgWrongCurrent = "form.wrong_current_password"
)

// AccountPage is the account page's data.
type AccountPage struct {
	Layout
	Email         string
	EmailVerified bool
	// Notice confirms the last action; it is shown in NoticeSection.
	Notice, NoticeSection string
	// Failed is the section whose form failed: the error summary (Layout's
	// Problems) is shown at its top.
	Failed string

	NameField, GivenNameField, FamilyNameField, PictureField, LocaleField Field
	CurrentPasswordField, NewPasswordField, ConfirmPasswordField          Field

	Applications []Application
	Sessions     []SessionView

	// Federation is set when upstream providers are configured: the
	// sign-in providers section shows the linked ones (Identities) and
	// offers the others (LinkProviders).
	Federation    bool
	Identities    []IdentityView
	LinkProviders []LinkButton
	// PasskeysEnabled shows the passkeys section; Passkeys are the user's,
	// PasskeyNameField names a new one.
	PasskeysEnabled  bool
	Passkeys         []PasskeyView
	PasskeyNameField Field
	// Methods is the "Sign-in methods" section (second factors, passkeys,
	// recovery codes).
	Methods MethodsSection
}

// Application is a connected application on the account page.
type Application struct {
	ClientID, Name string
	// Scopes are what it may do, in plain words.
	Scopes   []string
	LastUsed string
	// RevokeURL asks whether to disconnect it.
	RevokeURL string
}

// ScopeList is Scopes in one line, for account.app_can.
func (a Application) ScopeList() string { return strings.Join(a.Scopes, "; ") }

// SessionView is one signed-in browser on the account page.
type SessionView struct {
	// ID is the session's id (never its cookie), to sign that device out.
	ID                             string
	Current                        bool
	Device, IP, SignedIn, LastSeen string
}

// notices are the only confirmations the account page shows, chosen by the
// notice parameter (never text taken from the request): each one's message
// key and the section it is shown in.
func notice(key string) (messageKey, section string) {
	switch key {
	case "profile-saved":
		return "account.notice.profile_saved", sectionProfile
	case "password-changed":
		return "account.notice.password_changed", sectionPassword
	case "verification-sent":
		return "account.notice.verification_sent", sectionProfile
	case "application-revoked":
		return "account.notice.application_revoked", sectionApps
	case "session-ended":
		return "account.notice.session_ended", sectionSessions
	case "identity-linked":
		return "account.notice.identity_linked", sectionIdentities
	case "identity-unlinked":
		return "account.notice.identity_unlinked", sectionIdentities
	case "passkey-added":
		return "account.notice.passkey_added", sectionPasskeys
	case "passkey-renamed":
		return "account.notice.passkey_renamed", sectionPasskeys
	case "passkey-removed":
		return "account.notice.passkey_removed", sectionPasskeys
	case "totp-added":
		return "mfa.notice.totp_added", sectionMethods
	case "factor-removed":
		return "mfa.notice.factor_removed", sectionMethods
	case "recovery-codes-saved":
		return "mfa.notice.codes_saved", sectionMethods
	}
	return "", ""
}

// noticeURL is the account page showing the notice key, opened at its section.
func noticeURL(key string) string {
	_, section := notice(key)
	return accountPath + "?notice=" + key + "#" + section
}

// signedIn returns the session and user, or sends the browser to sign in and
// returns nils.
func (p *Pages) signedIn(w http.ResponseWriter, r *http.Request) (*storage.BrowserSession, *storage.User) {
	bs, u, err := p.currentUser(r)
	if err != nil {
		p.serverError(w, r, "account: current user", err)
		return nil, nil
	}
	if bs == nil {
		http.Redirect(w, r, "/signin?"+url.Values{"continue": {accountPath}}.Encode(), http.StatusSeeOther)
		return nil, nil
	}
	return bs, u
}

func (p *Pages) accountPage(ctx context.Context, r *http.Request, bs *storage.BrowserSession, u *storage.User) (AccountPage, error) {
	l := p.layout(r, "account.title")
	d := AccountPage{
		Layout:          l,
		Email:           u.Email,
		EmailVerified:   u.EmailVerified,
		NameField:       l.field(Field{ID: "name", Label: l.text("field.full_name"), Type: "text", Value: u.Name, Autocomplete: "name"}),
		GivenNameField:  l.field(Field{ID: "given_name", Label: l.text("field.given_name"), Type: "text", Value: u.GivenName, Autocomplete: "given-name"}),
		FamilyNameField: l.field(Field{ID: "family_name", Label: l.text("field.family_name"), Type: "text", Value: u.FamilyName, Autocomplete: "family-name"}),
		// The hint says what identity's profile rules check (an https address).
		PictureField: l.field(Field{ID: "picture", Label: l.text("field.picture"), Type: "url", Value: u.Picture, Autocomplete: "photo", Hint: l.text("field.picture_hint")}),
		LocaleField: l.field(Field{ID: "locale", Label: l.text("field.language"), Type: "select", Value: u.Locale, Autocomplete: "language",
			Hint: l.text("field.language_hint"), Options: p.languageOptions(l, u.Locale)}),
		CurrentPasswordField: l.field(Field{ID: "current-password", Label: l.text("field.current_password"), Type: "password", Autocomplete: "current-password", Required: true}),
		NewPasswordField: l.field(Field{ID: "new-password", Label: l.text("field.new_password"), Type: "password", Autocomplete: "new-password", Required: true,
			Hint: l.text("field.new_password_hint", "Count", identity.MinPasswordLen)}),
		ConfirmPasswordField: l.field(Field{ID: "confirm-password", Label: l.text("field.confirm_new_password"), Type: "password", Autocomplete: "new-password", Required: true}),
	}
	d.Wide = true
	apps, err := p.applications(ctx, r, u.ID)
	if err != nil {
		return AccountPage{}, err
	}
	d.Applications = apps
	if err := p.accountIdentities(ctx, &d, u.ID); err != nil {
		return AccountPage{}, err
	}
	if d.Methods, err = p.methodsSection(r, l, u.ID); err != nil {
		return AccountPage{}, err
	}
	if p.passkeys != nil {
		d.PasskeysEnabled = true
		d.PasskeyNameField = l.field(Field{ID: "passkey-name", Label: l.text("field.passkey_name"), Type: "text", Autocomplete: "off",
			Hint: l.text("field.passkey_name_hint"), Required: true})
		if d.Passkeys, err = p.passkeyViews(ctx, u.ID); err != nil {
			return AccountPage{}, err
		}
	}
	sessions, err := p.store.ListUserSessions(ctx, u.ID, p.now())
	if err != nil {
		return AccountPage{}, err
	}
	for _, s := range sessions {
		d.Sessions = append(d.Sessions, SessionView{
			ID: s.ID, Current: s.ID == bs.ID, Device: device(l.loc, s.UserAgent), IP: s.IP,
			SignedIn: when(s.AuthTime), LastSeen: when(s.LastSeenAt),
		})
	}
	return d, nil
}

// applications lists the applications connected to the user.
func (p *Pages) applications(ctx context.Context, r *http.Request, userID string) ([]Application, error) {
	accounts, err := p.store.ListAccounts(ctx, userID)
	if err != nil {
		return nil, err
	}
	loc := p.localizer(r)
	var apps []Application
	for _, a := range accounts {
		// A client that was deleted is named as such.
		app := Application{ClientID: a.ClientID, Name: loc.Text("account.removed_app"), LastUsed: when(a.LastAuthorizedAt),
			RevokeURL: pageURL("/account/applications/revoke", "client_id", a.ClientID)}
		if c, err := p.store.GetClientRecord(ctx, a.ClientID); err == nil {
			app.Name = labelOf(loc, c)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		for _, s := range strings.Fields(a.GrantedScopes) {
			app.Scopes = append(app.Scopes, describeScope(loc, s))
		}
		apps = append(apps, app)
	}
	return apps, nil
}

// Account serves GET /account.
func (p *Pages) Account() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		d, err := p.accountPage(r.Context(), r, bs, u)
		if err != nil {
			p.serverError(w, r, "account page", err)
			return
		}
		if key, section := notice(r.URL.Query().Get("notice")); key != "" {
			d.Notice, d.NoticeSection = d.text(key), section
		}
		p.render(w, r, http.StatusOK, pageAccount, d, p.accountRender())
	})
}

// showAccount re-renders the account page after a form problem: edit sets the
// fields' errors and returns the form's own message, if any; the summary
// goes at the top of section.
func (p *Pages) showAccount(w http.ResponseWriter, r *http.Request, status int, bs *storage.BrowserSession, u *storage.User, section string, edit func(*AccountPage) string) {
	d, err := p.accountPage(r.Context(), r, bs, u)
	if err != nil {
		p.serverError(w, r, "account page", err)
		return
	}
	formError := edit(&d)
	d.Failed = section
	switch section {
	case sectionProfile:
		d.summarize(formError, &d.NameField, &d.GivenNameField, &d.FamilyNameField, &d.PictureField, &d.LocaleField)
	case sectionPassword:
		d.summarize(formError, &d.CurrentPasswordField, &d.NewPasswordField, &d.ConfirmPasswordField)
	case sectionPasskeys:
		d.summarize(formError, &d.PasskeyNameField)
	default:
		d.summarize(formError)
	}
	p.render(w, r, status, pageAccount, d, p.accountRender())
}

// AccountProfile serves POST /account/profile.
func (p *Pages) AccountProfile() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		prof := identity.Profile{
			Name:       strings.TrimSpace(r.PostFormValue("name")),
			GivenName:  strings.TrimSpace(r.PostFormValue("given_name")),
			FamilyName: strings.TrimSpace(r.PostFormValue("family_name")),
			Picture:    strings.TrimSpace(r.PostFormValue("picture")),
			Locale:     strings.TrimSpace(r.PostFormValue("locale")),
		}
		if _, err := p.identity.UpdateProfile(r.Context(), u.ID, prof); err != nil {
			var pe *identity.ProfileError
			if !errors.As(err, &pe) {
				p.serverError(w, r, "update profile", err)
				return
			}
			// Show what was typed again, with the refusal next to its field.
			p.showAccount(w, r, http.StatusBadRequest, bs, u, sectionProfile, func(d *AccountPage) string {
				d.NameField.Value, d.GivenNameField.Value, d.FamilyNameField.Value = prof.Name, prof.GivenName, prof.FamilyName
				d.PictureField.Value, d.LocaleField.Value = prof.Picture, prof.Locale
				d.LocaleField.Options = p.languageOptions(d.Layout, prof.Locale)
				msg := d.errorText(pe, "error.go_back")
				switch pe.Field {
				case "name":
					d.NameField.Error = msg
				case "given_name":
					d.GivenNameField.Error = msg
				case "family_name":
					d.FamilyNameField.Error = msg
				case "picture":
					d.PictureField.Error = msg
				case "locale":
					d.LocaleField.Error = msg
				default:
					return msg
				}
				return ""
			})
			return
		}
		http.Redirect(w, r, noticeURL("profile-saved"), http.StatusSeeOther)
	})
}

// AccountPassword serves POST /account/password. Every problem is named at
// once; a new password that passed its checks stays filled (keepPasswords),
// the current one never.
func (p *Pages) AccountPassword() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		current, next, confirm := r.PostFormValue("current-password"), r.PostFormValue("new-password"), r.PostFormValue("confirm-password")
		fail := func(status int, formError string, edit func(d *AccountPage)) {
			p.showAccount(w, r, status, bs, u, sectionPassword, func(d *AccountPage) string {
				edit(d)
				keepPasswords(&d.NewPasswordField, &d.ConfirmPasswordField, next, confirm)
				return formError
			})
		}
		// The three fields' problems, as errors that carry their messages.
		var currentErr, nextErr, confirmErr error
		if current == "" {
			currentErr = message(msgEnterCurrent)
		}
		var pe *identity.PasswordError
		switch err := identity.ValidatePassword(next); {
		case next == "":
			nextErr = message(msgChooseNew)
		case errors.As(err, &pe):
			nextErr = pe
		}
		if next != "" && next != confirm {
			confirmErr = message(msgMismatch)
		}
		if currentErr != nil || nextErr != nil || confirmErr != nil {
			fail(http.StatusBadRequest, "", func(d *AccountPage) {
				d.CurrentPasswordField.Error = d.problemText(currentErr)
				d.NewPasswordField.Error = d.problemText(nextErr)
				d.ConfirmPasswordField.Error = d.problemText(confirmErr)
			})
			return
		}
		err := p.identity.ChangePassword(r.Context(), identity.PasswordChange{
			UserID: u.ID, Current: current, Next: next, IP: clientip.FromRequest(r), KeepSession: bs.ID,
		})
		var throttled *identity.ThrottledError
		switch {
		case err == nil:
			// Every other session ended with the change; this one gets a new
			// token too, keeping how and when the person signed in.
			if _, err := p.sessions.Issue(w, r, u.ID, strings.Fields(bs.AMR), bs.AuthTime); err != nil {
				p.serverError(w, r, "change password: rotate session", err)
				return
			}
			http.Redirect(w, r, noticeURL("password-changed"), http.StatusSeeOther)
		case errors.Is(err, identity.ErrInvalidCredentials):
			fail(http.StatusUnauthorized, "", func(d *AccountPage) { d.CurrentPasswordField.Error = d.text(msgWrongCurrent) })
		case errors.As(err, &pe):
			fail(http.StatusBadRequest, "", func(d *AccountPage) { d.NewPasswordField.Error = d.errorText(pe, msgChooseNew) })
		case errors.As(err, &throttled):
			w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
			fail(http.StatusTooManyRequests, "", func(d *AccountPage) {
				d.CurrentPasswordField.Error = d.errorText(throttled, "error.heading.too_many")
			})
		default:
			p.serverError(w, r, "change password", err)
		}
	})
}

// ResendVerification serves POST /account/verify-email: a new verification link.
func (p *Pages) ResendVerification() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		if u.EmailVerified {
			http.Redirect(w, r, accountPath+"#"+sectionProfile, http.StatusSeeOther)
			return
		}
		if err := p.identity.SendVerification(r.Context(), *u, clientip.FromRequest(r)); err != nil {
			var throttled *identity.ThrottledError
			if errors.As(err, &throttled) {
				w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
				p.showAccount(w, r, http.StatusTooManyRequests, bs, u, sectionProfile, func(d *AccountPage) string {
					return d.errorText(throttled, "error.heading.too_many")
				})
				return
			}
			p.serverError(w, r, "resend verification", err)
			return
		}
		http.Redirect(w, r, noticeURL("verification-sent"), http.StatusSeeOther)
	})
}

// AccountConfirmPage is the data of the page that asks before the account page
// does something that cannot be undone: disconnecting an application, or
// signing out everywhere. It works without script: the account page links to
// it, and its form does the deed.
type AccountConfirmPage struct {
	Layout
	// Action is "revoke" or "sign-out-everywhere".
	Action string
	// AppName and ClientID are the application to disconnect.
	AppName, ClientID string
	// CancelURL goes back to the section the person came from.
	CancelURL string
}

// RevokeApplication serves GET and POST /account/applications/revoke. GET
// (?client_id=…) asks whether to disconnect the application, naming it; the
// answer posts here: the link to the client is revoked and, in the same
// transaction, every token the client holds for the user.
func (p *Pages) RevokeApplication() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		if r.Method != http.MethodPost {
			clientID := r.URL.Query().Get("client_id")
			apps, err := p.applications(r.Context(), r, u.ID)
			if err != nil {
				p.serverError(w, r, "revoke application: applications", err)
				return
			}
			i := slices.IndexFunc(apps, func(a Application) bool { return a.ClientID == clientID })
			if i < 0 {
				// Not connected (any more): nothing to ask.
				http.Redirect(w, r, accountPath+"#"+sectionApps, http.StatusSeeOther)
				return
			}
			d := AccountConfirmPage{Layout: p.layout(r, "confirm.revoke_title", "App", apps[i].Name), Action: "revoke",
				AppName: apps[i].Name, ClientID: clientID, CancelURL: accountPath + "#" + sectionApps}
			p.render(w, r, http.StatusOK, pageAccountConfirm, d, renderOptions{})
			return
		}
		clientID := r.PostFormValue("client_id")
		if clientID == "" {
			p.ErrorPage(w, r, http.StatusBadRequest, "error.no_app_chosen")
			return
		}
		if _, err := p.identity.RevokeAccount(r.Context(), u.ID, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.serverError(w, r, "revoke application", err)
			return
		}
		http.Redirect(w, r, noticeURL("application-revoked"), http.StatusSeeOther)
	})
}

// SignOutEverywhere serves GET and POST /account/sessions/end. GET asks
// whether to; the answer posts here: every session of the user ends, this
// browser's included, and the user's tokens are revoked, so applications
// must sign the person in again.
func (p *Pages) SignOutEverywhere() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		if r.Method != http.MethodPost {
			d := AccountConfirmPage{Layout: p.layout(r, "confirm.everywhere_title"), Action: "sign-out-everywhere",
				CancelURL: accountPath + "#" + sectionSessions}
			p.render(w, r, http.StatusOK, pageAccountConfirm, d, renderOptions{})
			return
		}
		if _, err := p.identity.SignOutEverywhere(r.Context(), u.ID); err != nil {
			p.serverError(w, r, "sign out everywhere", err)
			return
		}
		if err := p.sessions.End(w, r); err != nil {
			p.serverError(w, r, "sign out everywhere", err)
			return
		}
		p.render(w, r, http.StatusOK, pageSignedOut, SignedOutPage{Layout: p.layout(r, "signedout.page_title"), Everywhere: true}, renderOptions{})
	})
}

// SignOutSession serves POST /account/sessions/sign-out: the session
// session_id of the user ends (another device is signed out); this
// browser's own is ended as the sign-out button does.
func (p *Pages) SignOutSession() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		id := r.PostFormValue("session_id")
		if id == bs.ID {
			if err := p.sessions.End(w, r); err != nil {
				p.serverError(w, r, "sign out", err)
				return
			}
			p.render(w, r, http.StatusOK, pageSignedOut, SignedOutPage{Layout: p.layout(r, "signedout.page_title")}, renderOptions{})
			return
		}
		// Ended already (or never the user's): the answer is the same.
		if err := p.identity.EndSession(r.Context(), u.ID, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.serverError(w, r, "sign out a device", err)
			return
		}
		http.Redirect(w, r, noticeURL("session-ended"), http.StatusSeeOther)
	})
}

// when formats a time for the account page, the same in every language
// (ISO 8601's order, which no reader mistakes for another date).
func when(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// device names a browser and system from a User-Agent, roughly, in loc's
// language.
func device(loc *i18n.Localizer, ua string) string {
	browser := ""
	switch {
	case strings.Contains(ua, "Firefox/"):
		browser = "Firefox"
	case strings.Contains(ua, "Edg/"):
		browser = "Edge"
	case strings.Contains(ua, "OPR/"):
		browser = "Opera"
	case strings.Contains(ua, "Chrome/"), strings.Contains(ua, "Chromium/"):
		browser = "Chrome"
	case strings.Contains(ua, "Safari/"):
		browser = "Safari"
	}
	system := ""
	switch {
	case strings.Contains(ua, "Android"):
		system = "Android"
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPad"):
		system = "iOS"
	case strings.Contains(ua, "Windows"):
		system = "Windows"
	case strings.Contains(ua, "Mac OS X"), strings.Contains(ua, "Macintosh"):
		system = "macOS"
	case strings.Contains(ua, "CrOS"):
		system = "ChromeOS"
	case strings.Contains(ua, "Linux"):
		system = "Linux"
	}
	switch {
	case browser != "" && system != "":
		return loc.Text("account.device", "Browser", browser, "System", system)
	case browser != "":
		return browser
	case system != "":
		return system
	case ua == "":
		return loc.Text("account.unknown_browser")
	}
	if len(ua) > 40 {
		return ua[:40] + "…"
	}
	return ua
}
