package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// mfaService is what the pages need from internal/mfa.
type mfaService interface {
	Methods(ctx context.Context, userID string) (mfa.Methods, error)
	StepAfter(ctx context.Context, userID string, amr []string, clientPolicy string) (mfa.Step, mfa.Methods, error)
	BeginTOTP(ctx context.Context, userID, account, name string) (mfa.Enrolment, error)
	PendingTOTP(ctx context.Context, userID, account, id string) (mfa.Enrolment, error)
	ConfirmTOTP(ctx context.Context, userID, id, code, ip string) error
	VerifyTOTP(ctx context.Context, userID, code, ip string) (storage.Factor, error)
	UseRecoveryCode(ctx context.Context, userID, code, ip string) (int, error)
	NewRecoveryCodes(ctx context.Context, userID string) ([]string, error)
	RemoveFactor(ctx context.Context, userID, id string) error
}

// The second step's routes.
const (
	secondFactorPath = "/signin/second-factor"
	enrolPath        = "/signin/set-up-second-factor"
)

// pendingTTL is how long a browser that gave the right password has to give
// its second factor (or enrol one): the same as the JSON API's.
const pendingTTL = mfa.PendingTTL

// pendingSignIn is a sign-in whose password was right and whose second factor
// is still to come. It is no session: it lives in a sealed cookie of this
// browser only, for pendingTTL, and authorize and the API never read it.
type pendingSignIn struct {
	UserID   string    `json:"u"`
	AMR      []string  `json:"a"`
	Continue string    `json:"c"`
	Expires  time.Time `json:"e"`
	// Enrol marks a user who must add a factor first (PolicyRequired);
	// FactorID is the pending authenticator app they are adding.
	Enrol    bool   `json:"n,omitempty"`
	FactorID string `json:"f,omitempty"`
	// Step marks a step-up of a signed-in session (no password asked).
	Step bool `json:"s,omitempty"`
	// APIReturn is where a flow the JSON API began goes once signed in:
	// its caller's callbackURL, checked against the trusted origins when
	// the flow began and sealed since (linking from sign-in/social).
	APIReturn string `json:"r,omitempty"`
}

// pendingTarget is where the browser goes once the pending sign-in is a
// session.
func (p *Pages) pendingTarget(ps pendingSignIn) string {
	if ps.APIReturn != "" {
		return ps.APIReturn
	}
	return p.redirectTarget(ps.Continue)
}

// pendingOptions are the render options of the second-step pages: CSP
// form-action covers the redirects their answers make, into the
// authorization and on to the client, or to the API caller.
func (p *Pages) pendingOptions(ctx context.Context, ps pendingSignIn) renderOptions {
	o := p.continueOptions(ctx, ps.Continue)
	if ps.APIReturn != "" {
		o.formTargets = append(o.formTargets, cspSources(ps.APIReturn)...)
	}
	return o
}

func (p *Pages) pendingCookieName() string {
	if p.secure {
		return "__Host-gatehouse_mfa"
	}
	return "gatehouse_mfa"
}

var pendingAAD = []byte("web:pending-sign-in:v1")

// setPending stores ps in this browser's pending cookie.
func (p *Pages) setPending(w http.ResponseWriter, ps pendingSignIn) error {
	sealer := p.store.Sealer()
	if sealer == nil {
		return storage.ErrNoSecret
	}
	raw, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: p.pendingCookieName(), Value: base64.RawURLEncoding.EncodeToString(sealer.Seal(raw, pendingAAD)),
		Path: "/", Secure: p.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: int(pendingTTL / time.Second),
	})
	return nil
}

// clearPending deletes the pending cookie.
func (p *Pages) clearPending(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: p.pendingCookieName(), Value: "", Path: "/", Secure: p.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// pending returns this browser's pending sign-in, if it has a valid one.
func (p *Pages) pending(r *http.Request) (pendingSignIn, bool) {
	c, err := r.Cookie(p.pendingCookieName())
	sealer := p.store.Sealer()
	if err != nil || sealer == nil {
		return pendingSignIn{}, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return pendingSignIn{}, false
	}
	raw, err := sealer.Open(sealed, pendingAAD)
	if err != nil {
		return pendingSignIn{}, false
	}
	var ps pendingSignIn
	if json.Unmarshal(raw, &ps) != nil || ps.UserID == "" || !p.now().Before(ps.Expires) {
		return pendingSignIn{}, false
	}
	ps.Continue = p.continueTarget(ps.Continue)
	return ps, true
}

// afterPassword decides what follows a right password: a session now
// (returns false), or the second step (sets the pending cookie, redirects and
// returns true).
func (p *Pages) afterPassword(w http.ResponseWriter, r *http.Request, u storage.User, cont string) (bool, error) {
	return p.afterFirstFactor(w, r, u.ID, []string{mfa.AMRPassword}, cont)
}

// afterFirstFactor is afterPassword for any first factor whose methods are
// amr: a password, an upstream identity provider, or both (linking). The same
// policy applies to each, so that signing in through another provider is no
// way around a second factor; a first factor that already counts as
// multi-factor (a provider trusted for it) needs no second step.
func (p *Pages) afterFirstFactor(w http.ResponseWriter, r *http.Request, userID string, amr []string, cont string) (bool, error) {
	return p.secondStepFor(w, r, pendingSignIn{UserID: userID, AMR: amr, Continue: cont})
}

// secondStepFor is afterFirstFactor for a pending sign-in ps (its user,
// first-factor methods, continue URL and, for a flow the JSON API began,
// APIReturn); it fills in the rest.
func (p *Pages) secondStepFor(w http.ResponseWriter, r *http.Request, ps pendingSignIn) (bool, error) {
	userID, amr, cont := ps.UserID, ps.AMR, ps.Continue
	if p.mfa == nil {
		return false, nil
	}
	clientPolicy := ""
	if c, ok := p.clientForContinue(r.Context(), cont); ok {
		clientPolicy = c.MFAPolicy
	}
	step, _, err := p.mfa.StepAfter(r.Context(), userID, amr, clientPolicy)
	if err != nil {
		return false, err
	}
	if step == mfa.StepNone {
		return false, nil
	}
	ps.Expires, ps.Enrol = p.now().Add(pendingTTL), step == mfa.StepEnrol
	if err := p.setPending(w, ps); err != nil {
		return false, err
	}
	target := secondFactorPath
	if ps.Enrol {
		target = enrolPath
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return true, nil
}

// stepUp sends the signed-in user pr.ReauthFor to the second step (or to
// set one up) without asking for the password again, and reports whether it
// did; false means sign in from the start.
func (p *Pages) stepUp(w http.ResponseWriter, r *http.Request, pr signin.Prompt) bool {
	if p.mfa == nil {
		return false
	}
	bs, u, err := p.currentUser(r)
	if err != nil || bs == nil || u.ID != pr.ReauthFor {
		return false
	}
	m, err := p.mfa.Methods(r.Context(), u.ID)
	if err != nil {
		p.serverError(w, r, "step up: methods", err)
		return true
	}
	ps := pendingSignIn{UserID: u.ID, AMR: strings.Fields(bs.AMR), Continue: pr.ContinueURL, Expires: p.now().Add(pendingTTL), Enrol: !m.Enrolled(), Step: true}
	if err := p.setPending(w, ps); err != nil {
		p.serverError(w, r, "step up", err)
		return true
	}
	target := secondFactorPath
	if ps.Enrol {
		target = enrolPath
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return true
}

// finishPending turns the pending sign-in into a session with the second
// factor's methods added and sends the browser on.
func (p *Pages) finishPending(w http.ResponseWriter, r *http.Request, ps pendingSignIn, methods ...string) bool {
	if _, err := p.sessions.Issue(w, r, ps.UserID, mfa.CompleteAMR(ps.AMR, methods...), p.now()); err != nil {
		p.serverError(w, r, "second factor: issue session", err)
		return false
	}
	p.clearPending(w)
	p.countSignIn("success")
	return true
}

// MethodLink is one way to give the second factor, offered as "use another
// method" on the second-step page.
type MethodLink struct {
	// ID names the method ("totp", "recovery"; "passkey" when the user has one)
	// and is the link's id (method-<ID>).
	ID, Label, URL string
}

// SecondFactorPage is the second step's data.
type SecondFactorPage struct {
	Layout
	// Method is the form shown: "totp" or "recovery" (other methods, such as
	// passkeys, add their own).
	Method    string
	CodeField Field
	// Methods are the other ways this user can finish signing in.
	Methods []MethodLink
	// Remaining is set after a recovery code: how many are left; Continue is
	// where the browser goes then.
	UsedRecovery bool
	Remaining    int
	Continue     string
	// Passkeys counts the user's passkeys, for a script that offers them.
	Passkeys int
}

func (p *Pages) secondFactorPage(r *http.Request, method string, m mfa.Methods) SecondFactorPage {
	l := p.layout(r, "mfa.challenge.title")
	if method != "recovery" && (method != "totp" || m.TOTP == 0) {
		method = "totp"
		if m.TOTP == 0 {
			method = "recovery"
		}
	}
	d := SecondFactorPage{Layout: l, Method: method, Passkeys: m.Passkeys}
	if method == "recovery" {
		d.CodeField = l.field(Field{ID: "code", Label: l.text("mfa.field.recovery_code"), Type: "text", Autocomplete: "off", Required: true, Hint: l.text("mfa.field.recovery_code_hint")})
	} else {
		d.CodeField = l.field(Field{ID: "code", Label: l.text("mfa.field.totp_code"), Type: "text", Autocomplete: "one-time-code", Required: true, Hint: l.text("mfa.field.totp_code_hint")})
	}
	if m.TOTP > 0 && method != "totp" {
		d.Methods = append(d.Methods, MethodLink{ID: "totp", Label: l.text("mfa.method.totp"), URL: secondFactorPath + "?method=totp"})
	}
	if m.RecoveryCodes > 0 && method != "recovery" {
		d.Methods = append(d.Methods, MethodLink{ID: "recovery", Label: l.text("mfa.method.recovery"), URL: secondFactorPath + "?method=recovery"})
	}
	return d
}

// SecondFactor serves GET and POST /signin/second-factor: after the right
// password, a code from the authenticator app or a recovery code; then the
// session, and the continue URL.
func (p *Pages) SecondFactor() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps, ok := p.pending(r)
		if !ok || ps.Enrol || p.mfa == nil {
			// Expired or never started: sign in again.
			http.Redirect(w, r, pageURL("/signin", "continue", ps.Continue), http.StatusSeeOther)
			return
		}
		m, err := p.mfa.Methods(r.Context(), ps.UserID)
		if err != nil {
			p.serverError(w, r, "second factor: methods", err)
			return
		}
		// The answer redirects into the authorization and on to the client:
		// CSP form-action covers those redirects.
		o := p.pendingOptions(r.Context(), ps)
		if r.Method != http.MethodPost {
			p.render(w, r, http.StatusOK, pageSecondFactor, p.secondFactorPage(r, r.URL.Query().Get("method"), m), o)
			return
		}
		d := p.secondFactorPage(r, r.PostFormValue("method"), m)
		code := strings.TrimSpace(r.PostFormValue("code"))
		ip := clientip.FromRequest(r)
		if code == "" {
			d.CodeField.Error = d.text("mfa.enter_code")
			d.summarize("", &d.CodeField)
			p.render(w, r, http.StatusBadRequest, pageSecondFactor, d, o)
			return
		}
		var used []string
		switch d.Method {
		case "recovery":
			left, err := p.mfa.UseRecoveryCode(r.Context(), ps.UserID, code, ip)
			if err != nil {
				p.secondFactorFailed(w, r, d, o, err)
				return
			}
			if !p.finishPending(w, r, ps, mfa.AMROTP) {
				return
			}
			// Say how many remain before going on.
			d.UsedRecovery, d.Remaining, d.Continue = true, left, p.pendingTarget(ps)
			d.Layout.Title = d.text("mfa.recovery_used.title")
			p.render(w, r, http.StatusOK, pageSecondFactor, d, o)
			return
		default:
			if _, err := p.mfa.VerifyTOTP(r.Context(), ps.UserID, code, ip); err != nil {
				p.secondFactorFailed(w, r, d, o, err)
				return
			}
			used = []string{mfa.AMROTP}
		}
		if !p.finishPending(w, r, ps, used...) {
			return
		}
		http.Redirect(w, r, p.pendingTarget(ps), http.StatusSeeOther)
	})
}

// secondFactorFailed shows the second step again with the refusal.
func (p *Pages) secondFactorFailed(w http.ResponseWriter, r *http.Request, d SecondFactorPage, o renderOptions, err error) {
	status := http.StatusUnauthorized
	var throttled *identity.ThrottledError
	switch {
	case errors.As(err, &throttled):
		p.countSignIn("throttled")
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
		d.CodeField.Error = d.errorText(err, "error.heading.too_many")
	case mfa.MessageKey(err) != "":
		p.countSignIn("failure")
		d.CodeField.Error = d.text(mfa.MessageKey(err))
	default:
		p.serverError(w, r, "second factor", err)
		return
	}
	d.summarize("", &d.CodeField)
	p.render(w, r, status, pageSecondFactor, d, o)
}

// continueOptions lets the page's form end at the client the continue URL
// resumes an authorization for (CSP form-action applies to redirects).
func (p *Pages) continueOptions(ctx context.Context, cont string) renderOptions {
	var o renderOptions
	if c, ok := p.clientForContinue(ctx, cont); ok {
		o.formTargets = cspSources(c.RedirectURIs...)
	}
	return o
}

// EnrolPage is the data of the page that adds an authenticator app: the QR
// code, the secret in text, and the field for the first code.
type EnrolPage struct {
	Layout
	Enrolment mfa.Enrolment
	// SecretGroups is the secret in groups of four, easier to type.
	SecretGroups string
	CodeField    Field
	// Action is where the form posts: the sign-in's set-up step or the
	// account page's.
	Action string
	// Required says the person must add a factor before going on.
	Required bool
}

func (p *Pages) enrolPage(r *http.Request, e mfa.Enrolment, action string, required bool) EnrolPage {
	l := p.layout(r, "mfa.enrol.title")
	var groups []string
	for s := e.Secret; len(s) > 0; {
		n := min(4, len(s))
		groups = append(groups, s[:n])
		s = s[n:]
	}
	return EnrolPage{
		Layout: l, Enrolment: e, SecretGroups: strings.Join(groups, " "), Action: action, Required: required,
		CodeField: l.field(Field{ID: "code", Label: l.text("mfa.field.totp_code"), Type: "text", Autocomplete: "one-time-code", Required: true, Hint: l.text("mfa.field.first_code_hint")}),
	}
}

// RecoveryCodesPage shows new recovery codes, once.
type RecoveryCodesPage struct {
	Layout
	Codes []string
	// Continue is where "I have saved them" leads.
	Continue string
}

// SetUpSecondFactor serves GET and POST /signin/set-up-second-factor: a user
// whose application requires a second factor and who has none adds an
// authenticator app after the password, confirms it with a first code, sees
// recovery codes, and is signed in.
func (p *Pages) SetUpSecondFactor() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps, ok := p.pending(r)
		if !ok || !ps.Enrol || p.mfa == nil {
			http.Redirect(w, r, pageURL("/signin", "continue", ps.Continue), http.StatusSeeOther)
			return
		}
		u, err := p.store.GetUser(r.Context(), ps.UserID)
		if err != nil {
			p.serverError(w, r, "set up second factor: user", err)
			return
		}
		var e mfa.Enrolment
		if ps.FactorID != "" {
			e, err = p.mfa.PendingTOTP(r.Context(), u.ID, u.Email, ps.FactorID)
		}
		if ps.FactorID == "" || errors.Is(err, mfa.ErrNotFound) {
			if e, err = p.mfa.BeginTOTP(r.Context(), u.ID, u.Email, ""); err == nil {
				ps.FactorID = e.FactorID
				err = p.setPending(w, ps)
			}
		}
		if err != nil {
			p.serverError(w, r, "set up second factor", err)
			return
		}
		d := p.enrolPage(r, e, enrolPath, true)
		if r.Method != http.MethodPost {
			p.render(w, r, http.StatusOK, pageEnrol, d, renderOptions{})
			return
		}
		if err := p.confirmTOTP(r, &d, u.ID, e.FactorID); err != nil {
			p.enrolFailed(w, r, d, err)
			return
		}
		codes, err := p.mfa.NewRecoveryCodes(r.Context(), u.ID)
		if err != nil {
			p.serverError(w, r, "set up second factor: recovery codes", err)
			return
		}
		if !p.finishPending(w, r, ps, mfa.AMROTP) {
			return
		}
		p.render(w, r, http.StatusOK, pageRecoveryCodes, RecoveryCodesPage{Layout: p.layout(r, "mfa.codes.title"), Codes: codes, Continue: p.pendingTarget(ps)}, renderOptions{})
	})
}

// confirmTOTP checks the posted first code of factor id.
func (p *Pages) confirmTOTP(r *http.Request, d *EnrolPage, userID, id string) error {
	code := strings.TrimSpace(r.PostFormValue("code"))
	if code == "" {
		return message("mfa.enter_code")
	}
	return p.mfa.ConfirmTOTP(r.Context(), userID, id, code, clientip.FromRequest(r))
}

// enrolFailed shows the enrolment page again with the refusal.
func (p *Pages) enrolFailed(w http.ResponseWriter, r *http.Request, d EnrolPage, err error) {
	status := http.StatusBadRequest
	var throttled *identity.ThrottledError
	var msg message
	switch {
	case errors.As(err, &msg):
		d.CodeField.Error = d.text(string(msg))
	case errors.As(err, &throttled):
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
		d.CodeField.Error = d.errorText(err, "error.heading.too_many")
	case mfa.MessageKey(err) != "":
		d.CodeField.Error = d.text(mfa.MessageKey(err))
	default:
		p.serverError(w, r, "confirm authenticator app", err)
		return
	}
	d.summarize("", &d.CodeField)
	p.render(w, r, status, pageEnrol, d, renderOptions{})
}
