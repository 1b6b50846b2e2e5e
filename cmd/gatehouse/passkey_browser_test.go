package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
)

// passkeySite is a running `gatehouse serve` on SQLite whose issuer is
// http://localhost:PORT (WebAuthn refuses an IP address as relying party ID;
// localhost is a secure context over http), one relying party "notes" and one
// user with a password.
type passkeySite struct {
	issuer, email, password string
	rp                      *relyingParty
	shots                   string
	env                     map[string]string
	dataDir                 string
}

func startPasskeySite(t *testing.T) passkeySite {
	t.Helper()
	smtp := mailtest.NewServer(t, mailtest.Options{TLS: mail.TLSNone})
	port := freePort(t)
	issuer := "http://localhost:" + port
	dataDir := t.TempDir()
	env := smtpEnv(smtp.Config())
	env["GATEHOUSE_ISSUER"] = issuer
	srv := startServe(t, env, "--addr", "127.0.0.1:"+port, "--data-dir", dataDir, "--migrate")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.log)
		}
	})
	waitReady(t, "http://127.0.0.1:"+port)
	rp := newRelyingParty(t)
	provider, err := oidc.NewProvider(oidc.ClientContext(t.Context(), http.DefaultClient), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp.provider, rp.issuer = provider, issuer
	out := gatehouse(t, env, "clients", "create", "--data-dir", dataDir, "--name", "Notes App", "--redirect-uri", rp.srv.URL+"/callback",
		"--scope", "openid,profile,email,offline_access", "-o", "json")
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" {
		t.Fatalf("clients create -o json = %q (%v)", out, err)
	}
	rp.register("notes", c.ID, c.Secret)
	const email, password = "ada@example.com", "correct horse battery"
	if r := runCLIWithStdin(t, env, password+"\n", "users", "create", "--data-dir", dataDir, "--email", email, "--password-stdin", "--email-verified"); r.code != 0 {
		t.Fatalf("users create: exit %d: %s", r.code, r.stderr)
	}
	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots == "" {
		shots = t.ArtifactDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return passkeySite{issuer: issuer, email: email, password: password, rp: rp, shots: shots, env: env, dataDir: dataDir}
}

// authenticator is a CDP virtual authenticator in the browser's tab: CTAP2,
// built in ("internal"), with resident keys and user verification, like a
// phone's or laptop's passkey store.
type authenticator struct {
	b  *browser
	id webauthn.AuthenticatorID
}

func addAuthenticator(b *browser) *authenticator {
	a := &authenticator{b: b}
	b.do("virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		if err != nil {
			return err
		}
		a.id = res.AuthenticatorID
		return nil
	}))
	return a
}

func (a *authenticator) credentials() []*webauthn.Credential {
	a.b.t.Helper()
	var out []*webauthn.Credential
	a.b.do("read the authenticator's credentials", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: a.id})
		if err != nil {
			return err
		}
		out = res.Credentials
		return nil
	}))
	return out
}

func (a *authenticator) remove(id []byte) {
	a.b.t.Helper()
	a.b.do("remove a credential", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: a.id, CredentialID: id})
		return err
	}))
}

// addCredential is WebAuthn.addCredential with only the fields of a plain
// credential: cdproto's type always sends generateCmtgKeyOnNextOperation,
// which the virtual authenticator refuses ("CMTG is not supported").
var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      plainCredential          `json:"credential"`
}

type plainCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
}

func (a *authenticator) add(in *webauthn.Credential) {
	a.b.t.Helper()
	c := plainCredential{CredentialID: in.CredentialID, IsResidentCredential: in.IsResidentCredential, RpID: in.RpID,
		PrivateKey: in.PrivateKey, UserHandle: in.UserHandle, SignCount: in.SignCount}
	if c.RpID == "" {
		c.RpID = "localhost"
	}
	a.b.do("add a credential", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, addCredential, addCredentialParams{AuthenticatorID: a.id, Credential: c})
		return err
	}))
}

// capture makes the form's next script submit hand over the credential JSON
// (window.__credential) instead of sending it, so that the test can alter
// the answer or the browser's cookies before sending it itself (send).
func capture(b *browser, formID string) {
	b.t.Helper()
	evaluate[bool](b, `(function () {
  var f = document.getElementById(`+jsString(formID)+`);
  window.__credential = new Promise(function (resolve) {
    f.submit = function () { resolve(f.querySelector("input[name='credential']").value); };
  });
  return true;
})()`)
}

func captured(b *browser) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`window.__credential`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("captured credential: %v", err)
	}
	return v
}

// send submits the form with credential as its answer.
func send(b *browser, formID, credential string) {
	b.t.Helper()
	evaluate[bool](b, `(function () {
  var f = document.getElementById(`+jsString(formID)+`);
  f.querySelector("input[name='credential']").value = `+jsString(credential)+`;
  HTMLFormElement.prototype.submit.call(f);
  return true;
})()`)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// idTokenAMR is the amr of the relying party's last ID token for client
// (verified by its callback).
func idTokenAMR(t *testing.T, rp *relyingParty, client string) []string {
	t.Helper()
	rp.mu.Lock()
	raw := rp.idTokens[client]
	rp.mu.Unlock()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("id token %q", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AMR []string `json:"amr"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c.AMR
}

// TestBrowserPasskeys drives chromium with a CDP virtual authenticator through
// passkeys end to end, against run() on SQLite: a signed-in person adds a
// passkey on the account page (a tampered attestation is refused and adds
// nothing); signs in to an application with it and no password (the ID
// token's amr says hwk, user, mfa); a cloned authenticator (its signature
// counter behind ours), an unknown credential and a missing challenge each get
// a clear message and no session; renaming and removing the passkey work.
func TestBrowserPasskeys(t *testing.T) {
	chromium := chromiumPath(t)
	site := startPasskeySite(t)
	issuer, rp := site.issuer, site.rp
	b := newBrowser(t, chromium, site.shots)
	b.name = "passkeys"
	auth := addAuthenticator(b)
	summary := func(what, want string) {
		t.Helper()
		b.do(what, chromedp.WaitVisible(chromedp.ID("error-summary")))
		if got := b.text("#error-summary"); !strings.Contains(got, want) {
			b.fail("%s: the summary says %q, want %q", what, got, want)
		}
	}
	signedOut := func(what string) {
		t.Helper()
		b.do(what, chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	}

	// The sign-in page offers the passkey button (the script shows it) and
	// the browser's passkey autofill in the address field.
	b.do("sign-in page", chromedp.Navigate(issuer+"/signin?continue=/account"), chromedp.WaitVisible(chromedp.ID("sign-in-passkey")))
	if ac := evaluate[string](b, `document.getElementById("email").getAttribute("autocomplete")`); ac != "username webauthn" {
		b.fail("the e-mail field's autocomplete is %q, want \"username webauthn\"", ac)
	}
	b.shoot("passkey-signin")
	b.do("sign in with the password", chromedp.SendKeys(chromedp.ID("email"), site.email), chromedp.SendKeys(chromedp.ID("password"), site.password),
		chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("add-passkey")))
	if n := evaluate[int](b, `document.querySelectorAll("#passkey-list li").length`); n != 0 {
		b.fail("a new account lists %d passkeys", n)
	}

	// A tampered attestation (the relying party ID's hash altered inside
	// the attestation object) is refused and adds nothing.
	capture(b, "add-passkey-form")
	b.do("add a passkey, answer captured", chromedp.SendKeys(chromedp.ID("passkey-name"), "Tampered"), chromedp.Click(chromedp.ID("add-passkey")))
	var reg struct {
		RawID    string `json:"rawId"`
		Response struct {
			AttestationObject string `json:"attestationObject"`
		} `json:"response"`
	}
	raw := captured(b)
	var regMap map[string]any
	if err := json.Unmarshal([]byte(raw), &reg); err != nil || json.Unmarshal([]byte(raw), &regMap) != nil {
		b.fail("registration answer %q: %v", raw, err)
	}
	att, err := base64.RawURLEncoding.DecodeString(reg.Response.AttestationObject)
	if err != nil {
		b.fail("attestation object: %v", err)
	}
	rpHash := sha256.Sum256([]byte("localhost"))
	at := bytes.Index(att, rpHash[:])
	if at < 0 {
		b.fail("the attestation object does not hold the RP ID hash")
	}
	att[at] ^= 0xff
	regMap["response"].(map[string]any)["attestationObject"] = base64.RawURLEncoding.EncodeToString(att)
	tampered, _ := json.Marshal(regMap)
	send(b, "add-passkey-form", string(tampered))
	summary("tampered attestation", "could not be verified")
	if n := evaluate[int](b, `document.querySelectorAll("#passkey-list li").length`); n != 0 {
		b.fail("after a tampered attestation the account lists %d passkeys", n)
	}
	b.shoot("passkey-add-refused")
	tamperedID, _ := base64.RawURLEncoding.DecodeString(reg.RawID)
	auth.remove(tamperedID) // the authenticator made it; we never stored it

	// Add a passkey for real.
	evaluate[string](b, `document.getElementById("passkey-name").value = ""`)
	b.do("add a passkey", chromedp.SendKeys(chromedp.ID("passkey-name"), "Work laptop"),
		chromedp.Click(chromedp.ID("add-passkey")), chromedp.WaitVisible(chromedp.ID("notice")))
	if got := b.text("#passkey-list"); !strings.Contains(got, "Work laptop") {
		b.fail("the passkey list says %q", got)
	}
	if n := evaluate[int](b, `document.querySelectorAll("#passkey-list li").length`); n != 1 {
		b.fail("the account lists %d passkeys, want 1", n)
	}
	b.shoot("passkey-added")
	creds := auth.credentials()
	if len(creds) != 1 || !creds[0].IsResidentCredential || len(creds[0].UserHandle) != 64 {
		b.fail("the authenticator holds %d credentials (want one discoverable, with a 64-byte user handle)", len(creds))
	}
	if bytes.Contains(creds[0].UserHandle, []byte(site.email)) {
		b.fail("the user handle contains the e-mail address")
	}
	real := *creds[0]

	// Passwordless, into an application, through the browser's passkey
	// autofill (conditional mediation): the virtual authenticator answers
	// the pending request at once, as a person choosing the passkey in the
	// address field's suggestions would. The ID token says how.
	b.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in-again")))
	b.do("to the application, passkey autofill", chromedp.Navigate(rp.srv.URL+"/login?client=notes"), chromedp.WaitVisible(chromedp.ID("allow")))
	b.do("allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.text("#result"); got != "signed in as "+site.email {
		b.fail("relying party says %q", got)
	}
	amr := idTokenAMR(t, rp, "notes")
	for _, m := range []string{"hwk", "user", "mfa"} {
		if !slices.Contains(amr, m) {
			b.fail("the ID token's amr is %v, want %s in it", amr, m)
		}
	}
	if slices.Contains(amr, "pwd") {
		b.fail("a passkey sign-in's amr %v says pwd", amr)
	}

	// From here on the button: the autofill is switched off, so that each
	// ceremony starts when the test says.
	b.do("no passkey autofill", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `PublicKeyCredential.isConditionalMediationAvailable = function () { return Promise.resolve(false); };`})
		return err
	}))

	// A cloned authenticator: the same key with a counter behind ours.
	after := auth.credentials()
	if len(after) != 1 || after[0].SignCount < 1 {
		b.fail("after a sign-in the authenticator's counter is not above 0")
	}
	clone := *after[0]
	clone.SignCount = 0
	auth.remove(clone.CredentialID)
	auth.add(&clone)
	b.do("sign out", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("sign-out")), chromedp.Click(chromedp.ID("sign-out")),
		chromedp.WaitVisible(chromedp.ID("sign-in-again")))
	b.do("sign-in page", chromedp.Navigate(issuer+"/signin?continue=/account"), chromedp.WaitVisible(chromedp.ID("sign-in-passkey")))
	b.do("sign in with the clone", chromedp.Click(chromedp.ID("sign-in-passkey")))
	summary("cloned authenticator", "copied")
	b.shoot("passkey-cloned")
	signedOut("no session after the clone")

	// An unknown credential: a discoverable key this server never saw.
	auth.remove(clone.CredentialID)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	stranger := &webauthn.Credential{CredentialID: []byte("stranger-credential-0001"), IsResidentCredential: true, RpID: "localhost",
		PrivateKey: pkcs8, UserHandle: bytes.Repeat([]byte{7}, 64), SignCount: 1}
	auth.add(stranger)
	b.do("sign-in page", chromedp.Navigate(issuer+"/signin?continue=/account"), chromedp.WaitVisible(chromedp.ID("sign-in-passkey")))
	b.do("sign in with an unknown passkey", chromedp.Click(chromedp.ID("sign-in-passkey")))
	summary("unknown credential", "not registered")
	signedOut("no session after the unknown credential")
	auth.remove(stranger.CredentialID)
	real.SignCount = after[0].SignCount + 10
	auth.add(&real)

	// A challenge that is gone (expired, or never given to this browser):
	// the answer is refused and nothing changes.
	b.do("sign-in page", chromedp.Navigate(issuer+"/signin?continue=/account"), chromedp.WaitVisible(chromedp.ID("sign-in-passkey")))
	capture(b, "passkey-form")
	b.do("ceremony, answer captured", chromedp.Click(chromedp.ID("sign-in-passkey")))
	answer := captured(b)
	b.do("drop the challenge cookie", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.DeleteCookies, network.DeleteCookiesParams{Name: "gatehouse_webauthn", URL: issuer + "/"})
		return err
	}))
	send(b, "passkey-form", answer)
	summary("missing challenge", "expired")
	signedOut("no session after the missing challenge")

	// The passkey as the second step after the password (a user with a
	// passkey is always asked for a second factor): pwd plus hwk, mfa.
	b.do("to the application", chromedp.Navigate(rp.srv.URL+"/login?client=notes"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.do("password", chromedp.SendKeys(chromedp.ID("email"), site.email), chromedp.SendKeys(chromedp.ID("password"), site.password),
		chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("use-passkey")))
	b.shoot("passkey-second-step")
	b.do("second step with the passkey", chromedp.Click(chromedp.ID("use-passkey")), chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.text("#result"); got != "signed in as "+site.email {
		b.fail("after the second step the relying party says %q", got)
	}
	amr = idTokenAMR(t, rp, "notes")
	for _, m := range []string{"pwd", "hwk", "mfa"} {
		if !slices.Contains(amr, m) {
			b.fail("after password and passkey the ID token's amr is %v, want %s in it", amr, m)
		}
	}
	b.do("sign out", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("sign-out")), chromedp.Click(chromedp.ID("sign-out")),
		chromedp.WaitVisible(chromedp.ID("sign-in-again")))

	// The real passkey still works; rename it, then remove it.
	b.do("sign in with the passkey", chromedp.Navigate(issuer+"/signin?continue=/account"), chromedp.WaitVisible(chromedp.ID("sign-in-passkey")),
		chromedp.Click(chromedp.ID("sign-in-passkey")), chromedp.WaitVisible(chromedp.ID("add-passkey")))
	id := evaluate[string](b, `document.querySelector("#passkey-list input[name='id']").value`)
	evaluate[string](b, `document.getElementById(`+jsString("rename-"+id)+`).value = ""`)
	b.do("rename", chromedp.SendKeys(chromedp.ID("rename-"+id), "Old laptop"),
		chromedp.Click(chromedp.ID("rename-passkey-"+id)), chromedp.WaitVisible(chromedp.ID("notice")))
	if got := b.text("#passkey-" + id); !strings.Contains(got, "Old laptop") {
		b.fail("after renaming the passkey is called %q", got)
	}
	if got := b.text("#passkey-list"); !strings.Contains(got, "Last used") {
		b.fail("the passkey list does not say when it was last used: %q", got)
	}
	b.do("remove", chromedp.Click(chromedp.ID("remove-passkey-"+id)), chromedp.WaitVisible(chromedp.ID("no-passkeys")))
	b.shoot("passkey-removed")
	b.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in-again")))
	b.do("sign-in page", chromedp.Navigate(issuer+"/signin?continue=/account"), chromedp.WaitVisible(chromedp.ID("sign-in-passkey")))
	b.do("sign in with the removed passkey", chromedp.Click(chromedp.ID("sign-in-passkey")))
	summary("removed passkey", "not registered")
	signedOut("no session with a removed passkey")
	t.Logf("screenshots in %s", site.shots)
}
