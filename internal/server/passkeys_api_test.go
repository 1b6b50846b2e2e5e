package server_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestAuthAPIPasskeys checks the passkey plugin's paths without an
// authenticator (cmd/gatehouse TestBrowserPasskeys runs the ceremonies in
// chromium): every answer against openapi.json, the options' shape and their
// challenge cookie, and refusals that change nothing: signed out, an answer
// without its challenge, garbage, another user's passkey id.
func TestAuthAPIPasskeys(t *testing.T) {
	eachAPIDatabase(t, func(t *testing.T, store *storage.Store) {
		e := newAPIEnv(t, store, apiOptions{passkeys: true})
		anon := e.browser(trustedApp)
		wantAPI(t, "list signed out", anon.do("GET", "/api/auth/passkey/list-user-passkeys", nil), 401, "UNAUTHORIZED")
		wantAPI(t, "register options signed out", anon.do("GET", "/api/auth/passkey/generate-register-options", nil), 401, "UNAUTHORIZED")

		opts := anon.do("GET", "/api/auth/passkey/generate-authenticate-options", nil)
		wantAPI(t, "authenticate options", opts, 200, "")
		if m := opts.json(t); m["userVerification"] != "required" || m["challenge"] == "" || m["rpId"] != "localhost" {
			t.Errorf("authenticate options = %s", opts.body)
		}
		if c := opts.header.Get("Set-Cookie"); c == "" || !strings.Contains(c, "gatehouse_webauthn=") || !strings.Contains(c, "HttpOnly") {
			t.Errorf("authenticate options set no challenge cookie: %q", c)
		}
		// An answer that is not one: refused, no session.
		wantAPI(t, "garbage answer", anon.do("POST", "/api/auth/passkey/verify-authentication", map[string]any{"response": map[string]any{"id": "x"}}), 400, "AUTHENTICATION_FAILED")
		wantAPI(t, "answer without its challenge", e.app().do("POST", "/api/auth/passkey/verify-authentication", map[string]any{"response": map[string]any{"id": "x"}}), 400, "CHALLENGE_NOT_FOUND")
		wantAPI(t, "no answer", anon.do("POST", "/api/auth/passkey/verify-authentication", map[string]any{}), 400, "VALIDATION_ERROR")
		if s := anon.do("GET", "/api/auth/get-session", nil); strings.TrimSpace(string(s.body)) != "null" {
			t.Errorf("after refused passkey answers get-session = %s", s.body)
		}

		e.signUpVerified("ada@example.com", apiPassword)
		ada := e.browser(trustedApp)
		wantAPI(t, "sign in", ada.do("POST", "/api/auth/sign-in/email", map[string]any{"email": "ada@example.com", "password": apiPassword}), 200, "")
		list := ada.do("GET", "/api/auth/passkey/list-user-passkeys", nil)
		wantAPI(t, "list", list, 200, "")
		if strings.TrimSpace(string(list.body)) != "[]" {
			t.Errorf("a new user's passkeys = %s", list.body)
		}
		reg := ada.do("GET", "/api/auth/passkey/generate-register-options", nil)
		wantAPI(t, "register options", reg, 200, "")
		m := reg.json(t)
		if sel, _ := m["authenticatorSelection"].(map[string]any); sel["residentKey"] != "required" {
			t.Errorf("register options = %s", reg.body)
		}
		if u, _ := m["user"].(map[string]any); u["name"] != "ada@example.com" || u["id"] == "" {
			t.Errorf("register options' user = %v", m["user"])
		}
		wantAPI(t, "tampered registration", ada.do("POST", "/api/auth/passkey/verify-registration", map[string]any{"response": map[string]any{"id": "x", "type": "public-key"}, "name": "Laptop"}), 400, "FAILED_TO_VERIFY_REGISTRATION")
		wantAPI(t, "registration again, challenge spent", ada.do("POST", "/api/auth/passkey/verify-registration", map[string]any{"response": map[string]any{"id": "x"}}), 400, "CHALLENGE_NOT_FOUND")
		wantAPI(t, "delete unknown", ada.do("POST", "/api/auth/passkey/delete-passkey", map[string]any{"id": "8d6c7c1e-5a7b-4a39-9d0b-111111111111"}), 404, "PASSKEY_NOT_FOUND")
		wantAPI(t, "rename unknown", ada.do("POST", "/api/auth/passkey/update-passkey", map[string]any{"id": "8d6c7c1e-5a7b-4a39-9d0b-111111111111", "name": "X"}), 404, "PASSKEY_NOT_FOUND")
		wantAPI(t, "delete without id", ada.do("POST", "/api/auth/passkey/delete-passkey", map[string]any{}), 400, "VALIDATION_ERROR")
		if list := ada.do("GET", "/api/auth/passkey/list-user-passkeys", nil); strings.TrimSpace(string(list.body)) != "[]" {
			t.Errorf("after refusals Ada's passkeys = %s", list.body)
		}
	})
}
