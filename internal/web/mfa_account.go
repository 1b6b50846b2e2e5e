package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// sectionMethods is the account page's "Sign-in methods" section.
const sectionMethods = "methods-section"

// The account page's sign-in method actions, each confirmed with the password
// first (mfa_confirm page).
const (
	actionAddTOTP       = "add-totp"
	actionRecoveryCodes = "recovery-codes"
	actionRemoveFactor  = "remove"
)

// MethodsSection is the account page's "Sign-in methods": the factors, the
// recovery codes left, and links to add, replace or remove them.
type MethodsSection struct {
	// Enabled is false when the server has no second factors configured.
	Enabled bool
	Factors []FactorView
	// RecoveryCodes counts the unused recovery codes.
	RecoveryCodes int
	// HasFactor says whether recovery codes make sense yet.
	HasFactor bool
	// AddTOTPURL, RecoveryCodesURL lead to the password confirmation.
	AddTOTPURL, RecoveryCodesURL string
}

// FactorView is one factor in the list.
type FactorView struct {
	ID, Name string
	// Kind is "totp" or "webauthn"; KindLabel says it in words.
	Kind, KindLabel string
	Added, LastUsed string
	RemoveURL       string
}

// methodsSection fills the section for the user.
func (p *Pages) methodsSection(r *http.Request, l Layout, userID string) (MethodsSection, error) {
	if p.mfa == nil {
		return MethodsSection{}, nil
	}
	m, err := p.mfa.Methods(r.Context(), userID)
	if err != nil {
		return MethodsSection{}, err
	}
	s := MethodsSection{Enabled: true, RecoveryCodes: m.RecoveryCodes, HasFactor: m.Enrolled(),
		AddTOTPURL:       pageURL("/account/mfa", "action", actionAddTOTP),
		RecoveryCodesURL: pageURL("/account/mfa", "action", actionRecoveryCodes)}
	for _, f := range m.Factors {
		v := FactorView{ID: f.ID, Name: f.Name, Kind: f.Kind, Added: when(f.CreatedAt),
			RemoveURL: pageURL("/account/mfa", "action", actionRemoveFactor, "factor_id", f.ID)}
		v.KindLabel = l.text("mfa.kind.totp")
		if f.Kind == storage.FactorWebAuthn {
			v.KindLabel = l.text("mfa.kind.passkey")
		}
		if f.LastUsedAt != nil {
			v.LastUsed = when(*f.LastUsedAt)
		}
		s.Factors = append(s.Factors, v)
	}
	return s, nil
}

// MFAConfirmPage asks for the password before a change to the sign-in
// methods.
type MFAConfirmPage struct {
	Layout
	Action, FactorID, FactorName string
	Email                        string
	PasswordField                Field
	CancelURL                    string
}

func (p *Pages) mfaConfirmPage(r *http.Request, email, action, factorID, factorName string) MFAConfirmPage {
	l := p.layout(r, "mfa.confirm.title")
	return MFAConfirmPage{
		Layout: l, Action: action, FactorID: factorID, FactorName: factorName, Email: email,
		CancelURL:     accountPath + "#" + sectionMethods,
		PasswordField: l.field(Field{ID: "current-password", Label: l.text("field.current_password"), Type: "password", Autocomplete: "current-password", Required: true}),
	}
}

// AccountMFA serves GET and POST /account/mfa: GET asks for the password
// before adding an authenticator app, making new recovery codes or removing a
// factor (?action=…); POST checks it and does the action (adding an app shows
// its QR code, to be confirmed at /account/mfa/totp).
func (p *Pages) AccountMFA() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		if p.mfa == nil {
			p.ErrorPage(w, r, http.StatusNotFound, "error.request_invalid")
			return
		}
		get := r.Method != http.MethodPost
		action, factorID := r.PostFormValue("action"), r.PostFormValue("factor_id")
		if get {
			action, factorID = r.URL.Query().Get("action"), r.URL.Query().Get("factor_id")
		}
		factorName := ""
		switch action {
		case actionAddTOTP, actionRecoveryCodes:
			factorID = ""
		case actionRemoveFactor:
			m, err := p.mfa.Methods(r.Context(), u.ID)
			if err != nil {
				p.serverError(w, r, "account mfa: methods", err)
				return
			}
			for _, f := range m.Factors {
				if f.ID == factorID {
					factorName = f.Name
				}
			}
			if factorName == "" {
				p.ErrorPage(w, r, http.StatusBadRequest, "mfa.not_enrolled")
				return
			}
		default:
			p.ErrorPage(w, r, http.StatusBadRequest, "error.request_invalid")
			return
		}
		d := p.mfaConfirmPage(r, u.Email, action, factorID, factorName)
		if get {
			p.render(w, r, http.StatusOK, pageMFAConfirm, d, renderOptions{})
			return
		}
		password := r.PostFormValue("current-password")
		if password == "" {
			d.PasswordField.Error = d.text(msgEnterCurrent)
			d.summarize("", &d.PasswordField)
			p.render(w, r, http.StatusBadRequest, pageMFAConfirm, d, renderOptions{})
			return
		}
		if _, err := p.identity.Authenticate(r.Context(), u.Email, password, clientip.FromRequest(r)); err != nil {
			status := http.StatusUnauthorized
			var throttled *identity.ThrottledError
			switch {
			case errors.As(err, &throttled):
				status = http.StatusTooManyRequests
				w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
				d.PasswordField.Error = d.errorText(err, "error.heading.too_many")
			case errors.Is(err, identity.ErrInvalidCredentials):
				d.PasswordField.Error = d.text(msgWrongCurrent)
			default:
				p.serverError(w, r, "account mfa: check password", err)
				return
			}
			d.summarize("", &d.PasswordField)
			p.render(w, r, status, pageMFAConfirm, d, renderOptions{})
			return
		}
		switch action {
		case actionAddTOTP:
			name := strings.TrimSpace(r.PostFormValue("name"))
			e, err := p.mfa.BeginTOTP(r.Context(), u.ID, u.Email, name)
			if err != nil {
				p.serverError(w, r, "account mfa: begin authenticator app", err)
				return
			}
			p.render(w, r, http.StatusOK, pageEnrol, p.enrolPage(r, e, "/account/mfa/totp", false), renderOptions{})
		case actionRecoveryCodes:
			p.showRecoveryCodes(w, r, u.ID, "recovery-codes-saved")
		case actionRemoveFactor:
			if err := p.mfa.RemoveFactor(r.Context(), u.ID, factorID); err != nil && !errors.Is(err, mfa.ErrNotFound) {
				p.serverError(w, r, "account mfa: remove factor", err)
				return
			}
			http.Redirect(w, r, noticeURL("factor-removed"), http.StatusSeeOther)
		}
	})
}

// showRecoveryCodes makes new recovery codes and shows them, once; "I have
// saved them" leads to the account page with the notice key.
func (p *Pages) showRecoveryCodes(w http.ResponseWriter, r *http.Request, userID, noticeKey string) {
	codes, err := p.mfa.NewRecoveryCodes(r.Context(), userID)
	if err != nil {
		p.serverError(w, r, "account mfa: recovery codes", err)
		return
	}
	p.render(w, r, http.StatusOK, pageRecoveryCodes, RecoveryCodesPage{Layout: p.layout(r, "mfa.codes.title"), Codes: codes,
		Continue: noticeURL(noticeKey)}, renderOptions{})
}

// AccountTOTP serves POST /account/mfa/totp: the first code confirms the
// authenticator app added on /account/mfa. A user's first factor comes with
// recovery codes, shown once.
func (p *Pages) AccountTOTP() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		if p.mfa == nil {
			p.ErrorPage(w, r, http.StatusNotFound, "error.request_invalid")
			return
		}
		id := r.PostFormValue("factor_id")
		e, err := p.mfa.PendingTOTP(r.Context(), u.ID, u.Email, id)
		if errors.Is(err, mfa.ErrNotFound) {
			p.ErrorPage(w, r, http.StatusBadRequest, "mfa.enrolment_expired")
			return
		}
		if err != nil {
			p.serverError(w, r, "account mfa: pending authenticator app", err)
			return
		}
		d := p.enrolPage(r, e, "/account/mfa/totp", false)
		if err := p.confirmTOTP(r, &d, u.ID, id); err != nil {
			p.enrolFailed(w, r, d, err)
			return
		}
		m, err := p.mfa.Methods(r.Context(), u.ID)
		if err != nil {
			p.serverError(w, r, "account mfa: methods", err)
			return
		}
		if m.RecoveryCodes == 0 {
			p.showRecoveryCodes(w, r, u.ID, "totp-added")
			return
		}
		http.Redirect(w, r, noticeURL("totp-added"), http.StatusSeeOther)
	})
}
