package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// AccountPage is the account page's data.
type AccountPage struct {
	Layout
	Email         string
	EmailVerified bool
	// Notice confirms the last action; Error reports a problem outside a form.
	Notice, Error string
	ProfileError  string

	NameField, GivenNameField, FamilyNameField, PictureField, LocaleField Field
	CurrentPasswordField, NewPasswordField, ConfirmPasswordField          Field

	Applications []Application
	Sessions     []SessionView
}

// Application is a connected application on the account page.
type Application struct {
	ClientID, Name string
	// Scopes are what it may do, in plain words.
	Scopes   []string
	LastUsed string
}

// SessionView is one signed-in browser on the account page.
type SessionView struct {
	Current                        bool
	Device, IP, SignedIn, LastSeen string
}

// notices are the only confirmations the account page shows, chosen by the
// notice parameter (never text taken from the request).
func notice(key string) string {
	switch key {
	case "profile-saved":
		return "Your profile is saved."
	case "password-changed":
		return "Your password is changed."
	case "verification-sent":
		return "We sent you a new link to confirm your e-mail address."
	case "application-revoked":
		return "The application is disconnected. It can no longer use your account."
	}
	return ""
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
	d := AccountPage{
		Layout:               p.layout(r, "Your account"),
		Email:                u.Email,
		EmailVerified:        u.EmailVerified,
		NameField:            Field{ID: "name", Label: "Full name", Type: "text", Value: u.Name, Autocomplete: "name"},
		GivenNameField:       Field{ID: "given_name", Label: "Given name", Type: "text", Value: u.GivenName, Autocomplete: "given-name"},
		FamilyNameField:      Field{ID: "family_name", Label: "Family name", Type: "text", Value: u.FamilyName, Autocomplete: "family-name"},
		PictureField:         Field{ID: "picture", Label: "Picture URL", Type: "url", Value: u.Picture, Autocomplete: "photo", Hint: "An https address of a square image."},
		LocaleField:          Field{ID: "locale", Label: "Language", Type: "text", Value: u.Locale, Autocomplete: "language", Hint: "For example en, de or pt-BR."},
		CurrentPasswordField: Field{ID: "current-password", Label: "Current password", Type: "password", Autocomplete: "current-password", Required: true},
		NewPasswordField:     Field{ID: "new-password", Label: "New password", Type: "password", Autocomplete: "new-password", Required: true, Hint: "At least 8 characters."},
		ConfirmPasswordField: Field{ID: "confirm-password", Label: "Repeat the new password", Type: "password", Autocomplete: "new-password", Required: true},
	}
	d.Wide = true
	accounts, err := p.store.ListAccounts(ctx, u.ID)
	if err != nil {
		return AccountPage{}, err
	}
	for _, a := range accounts {
		app := Application{ClientID: a.ClientID, Name: a.ClientID, LastUsed: when(a.LastAuthorizedAt)}
		if c, err := p.store.GetClientRecord(ctx, a.ClientID); err == nil {
			app.Name = clientName(c.Name, c.ID)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return AccountPage{}, err
		}
		for _, s := range strings.Fields(a.GrantedScopes) {
			d := describeScope(p.localizer(r), s)
			app.Scopes = append(app.Scopes, strings.ToLower(d[:1])+d[1:])
		}
		d.Applications = append(d.Applications, app)
	}
	sessions, err := p.store.ListUserSessions(ctx, u.ID, p.now())
	if err != nil {
		return AccountPage{}, err
	}
	for _, s := range sessions {
		d.Sessions = append(d.Sessions, SessionView{
			Current: s.ID == bs.ID, Device: device(s.UserAgent), IP: s.IP,
			SignedIn: when(s.AuthTime), LastSeen: when(s.LastSeenAt),
		})
	}
	return d, nil
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
		d.Notice = notice(r.URL.Query().Get("notice"))
		p.render(w, r, http.StatusOK, pageAccount, d, renderOptions{})
	})
}

// showAccount re-renders the account page after a form problem.
func (p *Pages) showAccount(w http.ResponseWriter, r *http.Request, status int, bs *storage.BrowserSession, u *storage.User, edit func(*AccountPage)) {
	d, err := p.accountPage(r.Context(), r, bs, u)
	if err != nil {
		p.serverError(w, r, "account page", err)
		return
	}
	edit(&d)
	p.render(w, r, status, pageAccount, d, renderOptions{})
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
			p.showAccount(w, r, http.StatusBadRequest, bs, u, func(d *AccountPage) {
				d.NameField.Value, d.GivenNameField.Value, d.FamilyNameField.Value = prof.Name, prof.GivenName, prof.FamilyName
				d.PictureField.Value, d.LocaleField.Value = prof.Picture, prof.Locale
				switch pe.Field {
				case "name":
					d.NameField.Error = pe.Error()
				case "given_name":
					d.GivenNameField.Error = pe.Error()
				case "family_name":
					d.FamilyNameField.Error = pe.Error()
				case "picture":
					d.PictureField.Error = pe.Error()
				case "locale":
					d.LocaleField.Error = pe.Error()
				default:
					d.ProfileError = pe.Error()
				}
			})
			return
		}
		http.Redirect(w, r, accountPath+"?notice=profile-saved", http.StatusSeeOther)
	})
}

// AccountPassword serves POST /account/password.
func (p *Pages) AccountPassword() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		current, next, confirm := r.PostFormValue("current-password"), r.PostFormValue("new-password"), r.PostFormValue("confirm-password")
		fail := func(status int, edit func(d *AccountPage)) { p.showAccount(w, r, status, bs, u, edit) }
		switch {
		case current == "":
			fail(http.StatusBadRequest, func(d *AccountPage) { d.CurrentPasswordField.Error = "Enter your current password." })
			return
		case next == "":
			fail(http.StatusBadRequest, func(d *AccountPage) { d.NewPasswordField.Error = "Choose a new password." })
			return
		case next != confirm:
			fail(http.StatusBadRequest, func(d *AccountPage) { d.ConfirmPasswordField.Error = "The passwords do not match." })
			return
		}
		err := p.identity.ChangePassword(r.Context(), identity.PasswordChange{
			UserID: u.ID, Current: current, Next: next, IP: clientip.FromRequest(r), KeepSession: bs.ID,
		})
		var pe *identity.PasswordError
		var throttled *identity.ThrottledError
		switch {
		case err == nil:
			// Every other session ended with the change; this one gets a new
			// token too, keeping how and when the person signed in.
			if _, err := p.sessions.Issue(w, r, u.ID, strings.Fields(bs.AMR), bs.AuthTime); err != nil {
				p.serverError(w, r, "change password: rotate session", err)
				return
			}
			http.Redirect(w, r, accountPath+"?notice=password-changed", http.StatusSeeOther)
		case errors.Is(err, identity.ErrInvalidCredentials):
			fail(http.StatusUnauthorized, func(d *AccountPage) { d.CurrentPasswordField.Error = "Your current password is incorrect." })
		case errors.As(err, &pe):
			fail(http.StatusBadRequest, func(d *AccountPage) { d.NewPasswordField.Error = pe.Error() })
		case errors.As(err, &throttled):
			w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
			fail(http.StatusTooManyRequests, func(d *AccountPage) { d.CurrentPasswordField.Error = throttled.Error() })
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
			http.Redirect(w, r, accountPath, http.StatusSeeOther)
			return
		}
		if err := p.identity.SendVerification(r.Context(), *u, clientip.FromRequest(r)); err != nil {
			var throttled *identity.ThrottledError
			if errors.As(err, &throttled) {
				w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
				p.showAccount(w, r, http.StatusTooManyRequests, bs, u, func(d *AccountPage) { d.Error = throttled.Error() })
				return
			}
			p.serverError(w, r, "resend verification", err)
			return
		}
		http.Redirect(w, r, accountPath+"?notice=verification-sent", http.StatusSeeOther)
	})
}

// RevokeApplication serves POST /account/applications/revoke: the link to the
// client is revoked and, in the same transaction, every token the client holds
// for the user.
func (p *Pages) RevokeApplication() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		clientID := r.PostFormValue("client_id")
		if clientID == "" {
			p.ErrorPage(w, r, http.StatusBadRequest, "No application was chosen. Go back and try again.")
			return
		}
		err := p.store.InTx(r.Context(), func(ctx context.Context) error {
			if err := p.store.RevokeAccount(ctx, u.ID, clientID, p.now()); err != nil {
				return err
			}
			_, err := p.store.RevokeClientTokensForSubject(ctx, u.ID, clientID)
			return err
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.serverError(w, r, "revoke application", err)
			return
		}
		if err == nil {
			p.log.InfoContext(r.Context(), "application revoked", "client_id", clientID, "request_id", requestID(w))
		}
		http.Redirect(w, r, accountPath+"?notice=application-revoked", http.StatusSeeOther)
	})
}

// SignOutEverywhere serves POST /account/sessions/end: every session of the
// user ends, this browser's included, and the user's tokens are revoked, so
// applications must sign the person in again.
func (p *Pages) SignOutEverywhere() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, u := p.signedIn(w, r)
		if u == nil {
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
		p.render(w, r, http.StatusOK, pageSignedOut, SignedOutPage{Layout: p.layout(r, "Signed out"), Everywhere: true}, renderOptions{})
	})
}

// when formats a time for the account page.
func when(t time.Time) string {
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// device names a browser and system from a User-Agent, roughly.
func device(ua string) string {
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
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return system
	case ua == "":
		return "Unknown browser"
	}
	if len(ua) > 40 {
		return ua[:40] + "…"
	}
	return ua
}
