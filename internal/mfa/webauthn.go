package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Passkey ceremonies (WebAuthn, via github.com/go-webauthn/webauthn).
//
// The relying party ID is the issuer's host name (no port), and the only
// accepted origin is the issuer's origin. A ceremony's state (its challenge,
// the user it is for and what it is for) never lives in server memory: Begin
// returns it sealed with the system secret (AES-GCM, storage.Sealer) and
// short-lived, and the caller keeps it in a cookie of the browser that began
// the ceremony (ChallengeCookie), so any instance can finish it, once, within
// ChallengeTTL.

// ChallengeTTL is how long a passkey ceremony may take from Begin to Finish.
const ChallengeTTL = 5 * time.Minute

// The purposes of a ceremony; a state sealed for one is refused by another.
const (
	PurposeRegister     = "register"      // add a passkey to the signed-in user
	PurposePasswordless = "passwordless"  // sign in with a discoverable passkey
	PurposeSecondFactor = "second-factor" // the step after the password
	PurposeReauth       = "reauth"        // confirm it is them before a change
)

// The errors of a ceremony, each a clear sentence for the person; none of them
// changes anything stored.
var (
	// ErrChallengeExpired: the ceremony's state is missing, expired, altered,
	// or for another purpose or user.
	ErrChallengeExpired = errors.New("the passkey request expired; please try again")
	// ErrUnknownCredential: the passkey is not registered here (or was removed).
	ErrUnknownCredential = errors.New("this passkey is not registered for this account")
	// ErrPasskeyRejected: the authenticator's answer did not verify (wrong
	// challenge, origin, signature, or a tampered attestation).
	ErrPasskeyRejected = errors.New("the passkey's answer could not be verified")
	// ErrClonedAuthenticator: the signature counter went backwards, the sign
	// of a copied authenticator.
	ErrClonedAuthenticator = errors.New("this passkey's signature counter went backwards; it may have been copied")
	// ErrUserNotVerified: a passwordless sign-in without user verification
	// (PIN, fingerprint) is refused.
	ErrUserNotVerified = errors.New("the passkey did not verify the user")
	// ErrPasskeyName: a passkey's name is empty or too long.
	ErrPasskeyName = errors.New("a passkey's name is 1 to 64 characters")
)

// ErrNoRelyingParty: WebAuthn needs a domain name as relying party ID, and the
// issuer's host is an IP address (use localhost, or a name, to offer passkeys).
var ErrNoRelyingParty = errors.New("passkeys need an issuer with a host name, not an IP address")

// maxPasskeyName is the longest label a passkey may have, in characters.
const maxPasskeyName = 64

// passkeyStore is what the ceremonies need from storage.
type passkeyStore interface {
	GetUser(ctx context.Context, id string) (storage.User, error)
	SetWebAuthnHandle(ctx context.Context, userID string, handle []byte) ([]byte, error)
	GetUserByWebAuthnHandle(ctx context.Context, handle []byte) (storage.User, error)
	CreateFactor(ctx context.Context, f storage.Factor) (storage.Factor, error)
	ListFactors(ctx context.Context, userID string) ([]storage.Factor, error)
	GetFactorByCredentialID(ctx context.Context, credentialID []byte) (storage.Factor, error)
	UpdateFactorSignCount(ctx context.Context, id string, counter int64, backupState bool, usedAt time.Time) (bool, error)
	RenameFactor(ctx context.Context, userID, id, name string) error
	DeleteFactor(ctx context.Context, userID, id string) error
}

// PasskeyOptions configure NewPasskeys.
type PasskeyOptions struct {
	// Issuer is the issuer URL: its host is the relying party ID, its origin
	// the one origin a ceremony may come from.
	Issuer string
	// DisplayName is the relying party's name shown by authenticators.
	DisplayName string
	// Sealer seals ceremony state; storage.NewSealer of the system secrets.
	Sealer *storage.Sealer
	// Notifier hears of passkeys added and removed (ChangeAdded,
	// ChangeRemoved), to mail the user; nil tells nobody.
	Notifier Notifier
	Now      func() time.Time
}

// Passkeys registers and verifies a user's passkeys. Build it with
// NewPasskeys; the zero value is unusable.
type Passkeys struct {
	store  passkeyStore
	rp     *webauthn.WebAuthn
	sealer *storage.Sealer
	notify Notifier
	secure bool
	now    func() time.Time
}

// NewPasskeys returns the passkey ceremonies for the issuer.
func NewPasskeys(store passkeyStore, o PasskeyOptions) (*Passkeys, error) {
	u, err := url.Parse(strings.TrimSuffix(o.Issuer, "/"))
	if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("passkeys: issuer %q is not an http(s) URL", o.Issuer)
	}
	if o.Sealer == nil {
		return nil, errors.New("passkeys: a sealer is required")
	}
	if net.ParseIP(u.Hostname()) != nil {
		return nil, ErrNoRelyingParty
	}
	name := o.DisplayName
	if name == "" {
		name = "Gatehouse"
	}
	rp, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: name,
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		// Attestation is not asked for: a passkey is trusted for what it
		// proves (possession, and user verification when flagged), not for
		// its make. Its attestation statement, if any, is still verified.
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Passkeys{store: store, rp: rp, sealer: o.Sealer, notify: o.Notifier, secure: u.Scheme == "https", now: o.Now}, nil
}

// RPID is the relying party ID: the issuer's host name.
func (p *Passkeys) RPID() string { return p.rp.Config.RPID }

// webauthnUser adapts a user and their passkeys to go-webauthn.
type webauthnUser struct {
	u       storage.User
	handle  []byte
	factors []storage.Factor
}

func (w webauthnUser) WebAuthnID() []byte          { return w.handle }
func (w webauthnUser) WebAuthnName() string        { return w.u.Email }
func (w webauthnUser) WebAuthnDisplayName() string { return displayName(w.u) }
func (w webauthnUser) WebAuthnCredentials() []webauthn.Credential {
	var out []webauthn.Credential
	for _, f := range w.factors {
		if f.Kind == storage.FactorWebAuthn {
			out = append(out, credentialOf(f))
		}
	}
	return out
}

func displayName(u storage.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// credentialOf is the go-webauthn credential record of a stored passkey.
func credentialOf(f storage.Factor) webauthn.Credential {
	var flags protocol.AuthenticatorFlags = protocol.FlagUserPresent
	if f.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if f.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if f.BackupState {
		flags |= protocol.FlagBackupState
	}
	var transports []protocol.AuthenticatorTransport
	for _, t := range strings.Split(f.Transports, ",") {
		if t != "" {
			transports = append(transports, protocol.AuthenticatorTransport(t))
		}
	}
	return webauthn.Credential{
		ID:              f.CredentialID,
		PublicKey:       f.PublicKey,
		AttestationType: f.AttestationType,
		Transport:       transports,
		Flags:           webauthn.NewCredentialFlags(flags),
		Authenticator:   webauthn.Authenticator{AAGUID: f.AAGUID, SignCount: uint32(f.SignCount)},
	}
}

// user loads the user, their WebAuthn handle (made on first need) and their
// factors.
func (p *Passkeys) user(ctx context.Context, userID string, makeHandle bool) (webauthnUser, error) {
	u, err := p.store.GetUser(ctx, userID)
	if err != nil {
		return webauthnUser{}, err
	}
	handle := u.WebAuthnHandle
	if len(handle) == 0 && makeHandle {
		// 64 random bytes, never the e-mail or the user id: an
		// authenticator shows or syncs it (WebAuthn §14.6.1).
		fresh := make([]byte, 64)
		rand.Read(fresh)
		if handle, err = p.store.SetWebAuthnHandle(ctx, u.ID, fresh); err != nil {
			return webauthnUser{}, err
		}
	}
	fs, err := p.store.ListFactors(ctx, u.ID)
	if err != nil {
		return webauthnUser{}, err
	}
	return webauthnUser{u: u, handle: handle, factors: fs}, nil
}

// Passkey is one of a user's passkeys as the account page and the API show it.
type Passkey struct {
	ID        string
	Name      string
	CreatedAt time.Time
	LastUsed  *time.Time
	// Synced is the backup-eligible flag: a passkey that a password manager
	// or platform syncs between devices.
	Synced     bool
	Transports []string
	AAGUID     []byte
	// CredentialID is the WebAuthn credential id.
	CredentialID []byte
	SignCount    int64
	BackedUp     bool
}

// List returns the user's passkeys, oldest first.
func (p *Passkeys) List(ctx context.Context, userID string) ([]Passkey, error) {
	fs, err := p.store.ListFactors(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []Passkey
	for _, f := range fs {
		if f.Kind != storage.FactorWebAuthn {
			continue
		}
		var tr []string
		for _, t := range strings.Split(f.Transports, ",") {
			if t != "" {
				tr = append(tr, t)
			}
		}
		out = append(out, Passkey{ID: f.ID, Name: f.Name, CreatedAt: f.CreatedAt, LastUsed: f.LastUsedAt, Synced: f.BackupEligible,
			Transports: tr, AAGUID: f.AAGUID, CredentialID: f.CredentialID, SignCount: f.SignCount, BackedUp: f.BackupState})
	}
	return out, nil
}

// HasPasskey reports whether the user has at least one passkey.
func (p *Passkeys) HasPasskey(ctx context.Context, userID string) (bool, error) {
	l, err := p.List(ctx, userID)
	return len(l) > 0, err
}

// Rename changes the label of the user's passkey id.
func (p *Passkeys) Rename(ctx context.Context, userID, id, name string) error {
	name, err := CleanPasskeyName(name)
	if err != nil {
		return err
	}
	if _, err := p.owned(ctx, userID, id); err != nil {
		return err
	}
	return p.store.RenameFactor(ctx, userID, id, name)
}

// Remove deletes the user's passkey id.
func (p *Passkeys) Remove(ctx context.Context, userID, id string) (Passkey, error) {
	pk, err := p.owned(ctx, userID, id)
	if err != nil {
		return Passkey{}, err
	}
	if err := p.store.DeleteFactor(ctx, userID, id); err != nil {
		return Passkey{}, err
	}
	if p.notify != nil {
		p.notify.FactorsChanged(ctx, userID, ChangeRemoved, storage.FactorWebAuthn)
	}
	return pk, nil
}

// owned returns the user's passkey id, or storage.ErrNotFound (another user's
// passkey, or a TOTP factor, is not one).
func (p *Passkeys) owned(ctx context.Context, userID, id string) (Passkey, error) {
	l, err := p.List(ctx, userID)
	if err != nil {
		return Passkey{}, err
	}
	for _, pk := range l {
		if pk.ID == id {
			return pk, nil
		}
	}
	return Passkey{}, fmt.Errorf("passkey %s: %w", id, storage.ErrNotFound)
}

// CleanPasskeyName trims a passkey's label and checks its length.
func CleanPasskeyName(name string) (string, error) {
	name = strings.Join(strings.Fields(name), " ")
	if name == "" || len([]rune(name)) > maxPasskeyName {
		return "", ErrPasskeyName
	}
	return name, nil
}

// ceremony is the sealed state of one ceremony.
type ceremony struct {
	Purpose string               `json:"p"`
	UserID  string               `json:"u,omitempty"`
	Expires time.Time            `json:"e"`
	Session webauthn.SessionData `json:"s"`
}

var challengeAAD = []byte("gatehouse webauthn ceremony v1")

func (p *Passkeys) seal(c ceremony) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return encodeState(p.sealer.Seal(b, challengeAAD)), nil
}

// open returns the ceremony sealed in state if it is for purpose and userID
// ("" for any user) and has not expired.
func (p *Passkeys) open(state, purpose, userID string) (ceremony, error) {
	raw, err := decodeState(state)
	if err != nil {
		return ceremony{}, ErrChallengeExpired
	}
	b, err := p.sealer.Open(raw, challengeAAD)
	if err != nil {
		return ceremony{}, ErrChallengeExpired
	}
	var c ceremony
	if json.Unmarshal(b, &c) != nil || c.Purpose != purpose || (userID != "" && c.UserID != userID) || !p.now().Before(c.Expires) {
		return ceremony{}, ErrChallengeExpired
	}
	return c, nil
}

// CeremonyOptions is what a Begin returns: the options for the browser's
// navigator.credentials call (JSON, as WebAuthn's …OptionsJSON), and the
// sealed state to keep in the browser until Finish.
type CeremonyOptions struct {
	JSON  json.RawMessage
	State string
}

// BeginRegistration starts adding a passkey for the user: a discoverable
// credential (so it can sign in without a password) with user verification
// preferred, excluding the user's passkeys already registered.
func (p *Passkeys) BeginRegistration(ctx context.Context, userID string) (CeremonyOptions, error) {
	wu, err := p.user(ctx, userID, true)
	if err != nil {
		return CeremonyOptions{}, err
	}
	creds := webauthn.Credentials(wu.WebAuthnCredentials())
	creation, sd, err := p.rp.BeginRegistration(wu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(creds.CredentialDescriptors()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return CeremonyOptions{}, fmt.Errorf("begin registration: %w", err)
	}
	return p.options(creation.Response, ceremony{Purpose: PurposeRegister, UserID: userID, Session: *sd})
}

func (p *Passkeys) options(v any, c ceremony) (CeremonyOptions, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return CeremonyOptions{}, err
	}
	c.Expires = p.now().Add(ChallengeTTL)
	state, err := p.seal(c)
	if err != nil {
		return CeremonyOptions{}, err
	}
	return CeremonyOptions{JSON: b, State: state}, nil
}

// FinishRegistration verifies the browser's answer (a RegistrationResponseJSON)
// to BeginRegistration and stores the passkey under name. A state for another
// user or purpose, an expired one, or an answer that does not verify changes
// nothing.
func (p *Passkeys) FinishRegistration(ctx context.Context, userID, state string, response []byte, name string) (Passkey, error) {
	name, err := CleanPasskeyName(name)
	if err != nil {
		return Passkey{}, err
	}
	c, err := p.open(state, PurposeRegister, userID)
	if err != nil {
		return Passkey{}, err
	}
	wu, err := p.user(ctx, userID, false)
	if err != nil {
		return Passkey{}, err
	}
	if !bytes.Equal(wu.handle, c.Session.UserID) {
		return Passkey{}, ErrChallengeExpired
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Passkey{}, fmt.Errorf("%w: %v", ErrPasskeyRejected, protocolDetail(err))
	}
	cred, err := p.rp.CreateCredential(wu, c.Session, parsed)
	if err != nil {
		return Passkey{}, fmt.Errorf("%w: %v", ErrPasskeyRejected, protocolDetail(err))
	}
	var transports []string
	for _, t := range cred.Transport {
		transports = append(transports, string(t))
	}
	now := p.now()
	f, err := p.store.CreateFactor(ctx, storage.Factor{
		UserID: userID, Kind: storage.FactorWebAuthn, Name: name, ConfirmedAt: &now,
		CredentialID: cred.ID, PublicKey: cred.PublicKey, AAGUID: cred.Authenticator.AAGUID,
		SignCount: int64(cred.Authenticator.SignCount), BackupEligible: cred.Flags.BackupEligible,
		BackupState: cred.Flags.BackupState, UserVerified: cred.Flags.UserVerified,
		Transports: strings.Join(transports, ","), AttestationType: cred.AttestationType,
	})
	if err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return Passkey{}, fmt.Errorf("%w: the credential is registered already", ErrPasskeyRejected)
		}
		return Passkey{}, err
	}
	if p.notify != nil {
		p.notify.FactorsChanged(ctx, userID, ChangeAdded, storage.FactorWebAuthn)
	}
	return Passkey{ID: f.ID, Name: f.Name, CreatedAt: f.CreatedAt, Synced: f.BackupEligible, Transports: transports,
		AAGUID: f.AAGUID, CredentialID: f.CredentialID, SignCount: f.SignCount, BackedUp: f.BackupState}, nil
}

// BeginPasswordless starts a sign-in with a discoverable passkey: no user is
// named, and user verification is required. With conditional set the options
// are for the browser's autofill (mediation "conditional").
func (p *Passkeys) BeginPasswordless(conditional bool) (CeremonyOptions, error) {
	mediation := protocol.MediationDefault
	if conditional {
		mediation = protocol.MediationConditional
	}
	assertion, sd, err := p.rp.BeginDiscoverableMediatedLogin(mediation, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return CeremonyOptions{}, fmt.Errorf("begin passwordless: %w", err)
	}
	return p.options(assertion.Response, ceremony{Purpose: PurposePasswordless, Session: *sd})
}

// BeginLogin starts proving the user holds one of their passkeys: as the
// second step after the password (PurposeSecondFactor), or to confirm it is
// them before a change (PurposeReauth). It fails with ErrUnknownCredential when
// the user has no passkey.
func (p *Passkeys) BeginLogin(ctx context.Context, userID, purpose string) (CeremonyOptions, error) {
	if purpose != PurposeSecondFactor && purpose != PurposeReauth {
		return CeremonyOptions{}, fmt.Errorf("begin login: purpose %q", purpose)
	}
	wu, err := p.user(ctx, userID, false)
	if err != nil {
		return CeremonyOptions{}, err
	}
	if len(wu.WebAuthnCredentials()) == 0 || len(wu.handle) == 0 {
		return CeremonyOptions{}, ErrUnknownCredential
	}
	assertion, sd, err := p.rp.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return CeremonyOptions{}, fmt.Errorf("begin login: %w", err)
	}
	return p.options(assertion.Response, ceremony{Purpose: purpose, UserID: userID, Session: *sd})
}

// Assertion is a verified passkey sign-in.
type Assertion struct {
	UserID   string
	FactorID string
	// Name is the passkey's label.
	Name string
	// UserVerified: the authenticator verified the user (PIN, biometrics)
	// in this ceremony.
	UserVerified bool
	// Synced: the passkey is backup eligible (a synced passkey).
	Synced bool
}

// AMR is the RFC 8176 authentication methods of the assertion: "hwk" for a
// passkey bound to its device, "swk" for a synced one (its key is software
// that travels), plus "user" when the user was verified.
func (a Assertion) AMR() []string {
	amr := []string{AMRHardware}
	if a.Synced {
		amr[0] = AMRSoftware
	}
	if a.UserVerified {
		amr = append(amr, AMRUser)
	}
	return amr
}

// FinishLogin verifies the browser's answer (an AuthenticationResponseJSON) to
// a BeginPasswordless (purpose PurposePasswordless, userID "") or a BeginLogin
// for userID. It refuses an unknown credential, a passwordless answer without
// user verification and a signature counter that did not go up (a cloned
// authenticator), changing nothing; a verified answer records the counter,
// backup state and time of use.
func (p *Passkeys) FinishLogin(ctx context.Context, purpose, userID, state string, response []byte) (Assertion, error) {
	c, err := p.open(state, purpose, userID)
	if err != nil {
		return Assertion{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Assertion{}, fmt.Errorf("%w: %v", ErrPasskeyRejected, protocolDetail(err))
	}
	f, err := p.store.GetFactorByCredentialID(ctx, parsed.RawID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return Assertion{}, ErrUnknownCredential
		}
		return Assertion{}, err
	}
	if f.Kind != storage.FactorWebAuthn || (c.UserID != "" && f.UserID != c.UserID) {
		return Assertion{}, ErrUnknownCredential
	}
	wu, err := p.user(ctx, f.UserID, false)
	if err != nil {
		return Assertion{}, err
	}
	if len(wu.handle) == 0 {
		return Assertion{}, ErrUnknownCredential
	}
	var cred *webauthn.Credential
	if purpose == PurposePasswordless {
		cred, err = p.rp.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(userHandle, wu.handle) {
				return nil, ErrUnknownCredential
			}
			return wu, nil
		}, c.Session, parsed)
	} else {
		cred, err = p.rp.ValidateLogin(wu, c.Session, parsed)
	}
	if err != nil {
		if errors.Is(err, ErrUnknownCredential) {
			return Assertion{}, ErrUnknownCredential
		}
		var unknown *protocol.ErrorUnknownCredential
		if errors.As(err, &unknown) {
			return Assertion{}, ErrUnknownCredential
		}
		return Assertion{}, fmt.Errorf("%w: %v", ErrPasskeyRejected, protocolDetail(err))
	}
	uv := parsed.Response.AuthenticatorData.Flags.HasUserVerified()
	if purpose == PurposePasswordless && !uv {
		return Assertion{}, ErrUserNotVerified
	}
	if cred.Authenticator.CloneWarning {
		return Assertion{}, ErrClonedAuthenticator
	}
	ok, err := p.store.UpdateFactorSignCount(ctx, f.ID, int64(parsed.Response.AuthenticatorData.Counter),
		parsed.Response.AuthenticatorData.Flags.HasBackupState(), p.now())
	if err != nil {
		return Assertion{}, err
	}
	if !ok {
		// Another instance accepted this counter value meanwhile.
		return Assertion{}, ErrClonedAuthenticator
	}
	return Assertion{UserID: f.UserID, FactorID: f.ID, Name: f.Name, UserVerified: uv, Synced: f.BackupEligible}, nil
}

// protocolDetail is the developer detail of a go-webauthn error, for logs
// (it names no secret: challenges and keys are not in it).
func protocolDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.DevInfo != "" {
			return pe.Details + " (" + pe.DevInfo + ")"
		}
		return pe.Details
	}
	return err.Error()
}

// ChallengeCookieName is the cookie that carries a ceremony's sealed state in
// the browser that began it; __Host- on https.
func (p *Passkeys) ChallengeCookieName() string {
	if p.secure {
		return "__Host-gatehouse_webauthn"
	}
	return "gatehouse_webauthn"
}

// ChallengeCookie is the cookie keeping state; an empty state deletes it.
// SameSite=Strict: only this site's own pages and scripts send it.
func (p *Passkeys) ChallengeCookie(state string) *http.Cookie {
	c := &http.Cookie{Name: p.ChallengeCookieName(), Value: state, Path: "/", Secure: p.secure, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(ChallengeTTL / time.Second)}
	if state == "" {
		c.MaxAge = -1
	}
	return c
}

// ChallengeState is the sealed state the request's cookie carries, or "".
func (p *Passkeys) ChallengeState(r *http.Request) string {
	c, err := r.Cookie(p.ChallengeCookieName())
	if err != nil {
		return ""
	}
	return c.Value
}

func encodeState(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeState(s string) ([]byte, error) {
	if s == "" || len(s) > 8192 {
		return nil, ErrChallengeExpired
	}
	return base64.RawURLEncoding.DecodeString(s)
}
