package storagetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// factorCases covers second factors, passkeys and recovery codes.
func factorCases() []Case {
	return []Case{
		{"TOTPFactorSealedAndConfirmedOnce", testTOTPFactorSealedAndConfirmedOnce},
		{"TOTPStepUsedOnce", testTOTPStepUsedOnce},
		{"TOTPStepUsedOnceConcurrently", testTOTPStepUsedOnceConcurrently},
		{"PasskeyByCredentialIDAndSignCount", testPasskeyByCredentialIDAndSignCount},
		{"FactorRenameDeleteOwnOnly", testFactorRenameDeleteOwnOnly},
		{"FactorRefusesBadInput", testFactorRefusesBadInput},
		{"RecoveryCodesSingleUse", testRecoveryCodesSingleUse},
		{"RecoveryCodeUsedOnceConcurrently", testRecoveryCodeUsedOnceConcurrently},
		{"DeleteFactorsResetsEverything", testDeleteFactorsResetsEverything},
		{"WebAuthnHandleSetOnce", testWebAuthnHandleSetOnce},
		{"ClientMFAPolicyStored", testClientMFAPolicyStored},
	}
}

func createTOTP(t *testing.T, s *storage.Store, u storage.User, secret string) storage.Factor {
	t.Helper()
	f, err := s.CreateFactor(t.Context(), storage.Factor{UserID: u.ID, Kind: storage.FactorTOTP, Name: "Phone", Secret: []byte(secret)})
	must(t, err, "CreateFactor(totp)")
	return f
}

func codeHash(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// testTOTPFactorSealedAndConfirmedOnce: the secret is stored sealed (not in
// the clear) and read back opened; the factor is pending until confirmed, and a
// second confirmation or one with an old step changes nothing.
func testTOTPFactorSealedAndConfirmedOnce(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "totp@example.com")
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	f := createTOTP(t, s, u, secret)
	if f.ID == "" || f.Confirmed() || f.CreatedAt.IsZero() {
		t.Fatalf("CreateFactor = %+v, want an id, pending, with times", f)
	}
	var raw []byte
	if err := s.DB().QueryRowContext(ctx, "SELECT secret_sealed FROM user_factors WHERE id = $1", f.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || bytes.Contains(raw, []byte(secret)) {
		t.Errorf("secret_sealed = %q, want a sealed value without the secret", raw)
	}
	got, err := s.GetFactor(ctx, f.ID)
	must(t, err, "GetFactor")
	if string(got.Secret) != secret || got.Kind != storage.FactorTOTP || got.Name != "Phone" || got.UserID != u.ID || got.Confirmed() {
		t.Errorf("GetFactor = %+v, want the pending TOTP factor with its secret", got)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}

	other := createUser(t, s, "other-totp@example.com")
	wantNotFound(t, s.ConfirmFactor(ctx, other.ID, f.ID, 100), "ConfirmFactor by another user")
	must(t, s.ConfirmFactor(ctx, u.ID, f.ID, 100), "ConfirmFactor")
	wantNotFound(t, s.ConfirmFactor(ctx, u.ID, f.ID, 101), "second ConfirmFactor")
	got, err = s.GetFactor(ctx, f.ID)
	must(t, err, "GetFactor after confirming")
	if !got.Confirmed() || got.LastStep != 100 {
		t.Errorf("confirmed factor = confirmed %v, last step %d; want confirmed at step 100", got.Confirmed(), got.LastStep)
	}
	// The confirming code's step is spent.
	ok, err := s.UseTOTPStep(ctx, f.ID, 100)
	must(t, err, "UseTOTPStep")
	if ok {
		t.Error("UseTOTPStep(step of the confirming code) = true, want false")
	}
	list, err := s.ListFactors(ctx, u.ID)
	must(t, err, "ListFactors")
	if len(list) != 1 || list[0].ID != f.ID || string(list[0].Secret) != secret {
		t.Errorf("ListFactors = %+v, want the one factor with its secret", list)
	}
	list, err = s.ListFactors(ctx, other.ID)
	must(t, err, "ListFactors of another user")
	if len(list) != 0 {
		t.Errorf("ListFactors(other user) = %d factors, want 0", len(list))
	}
}

// testTOTPStepUsedOnce: a step is accepted once; an older step is refused;
// a pending factor accepts no step.
func testTOTPStepUsedOnce(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "steps@example.com")
	f := createTOTP(t, s, u, "secret-steps")
	ok, err := s.UseTOTPStep(ctx, f.ID, 5)
	must(t, err, "UseTOTPStep on a pending factor")
	if ok {
		t.Error("UseTOTPStep on a pending factor = true, want false")
	}
	must(t, s.ConfirmFactor(ctx, u.ID, f.ID, 10), "ConfirmFactor")
	for _, tc := range []struct {
		step int64
		want bool
	}{{11, true}, {11, false}, {10, false}, {9, false}, {13, true}, {12, false}} {
		ok, err := s.UseTOTPStep(ctx, f.ID, tc.step)
		must(t, err, "UseTOTPStep(%d)", tc.step)
		if ok != tc.want {
			t.Errorf("UseTOTPStep(%d) = %v, want %v", tc.step, ok, tc.want)
		}
	}
	got, err := s.GetFactor(ctx, f.ID)
	must(t, err, "GetFactor")
	if got.LastStep != 13 || got.LastUsedAt == nil {
		t.Errorf("after use: last step %d, last used %v; want 13 and a time", got.LastStep, got.LastUsedAt)
	}
	ok, err = s.UseTOTPStep(ctx, "5d7f3a0e-1111-4c1e-9a55-000000000000", 20)
	must(t, err, "UseTOTPStep of an unknown factor")
	if ok {
		t.Error("UseTOTPStep of an unknown factor = true")
	}
}

// testTOTPStepUsedOnceConcurrently: of many instances accepting the same code
// at once, exactly one wins.
func testTOTPStepUsedOnceConcurrently(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "race-totp@example.com")
	f := createTOTP(t, s, u, "secret-race")
	must(t, s.ConfirmFactor(ctx, u.ID, f.ID, 1), "ConfirmFactor")
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range n {
		wg.Go(func() {
			ok, err := s.UseTOTPStep(ctx, f.ID, 2)
			if err != nil {
				t.Errorf("UseTOTPStep: %v", err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent UseTOTPStep of one step succeeded %d times, want 1", n, wins)
	}
}

// testPasskeyByCredentialIDAndSignCount: a passkey is found by its credential
// id, a credential id is unique, and the signature counter never goes back.
func testPasskeyByCredentialIDAndSignCount(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "passkey@example.com")
	now := time.Now()
	cred := []byte{1, 2, 3, 4, 5}
	f, err := s.CreateFactor(ctx, storage.Factor{
		UserID: u.ID, Kind: storage.FactorWebAuthn, Name: "YubiKey", CredentialID: cred, PublicKey: []byte("cose"),
		AAGUID: make([]byte, 16), SignCount: 5, BackupEligible: true, UserVerified: true, Transports: "usb,nfc",
		AttestationType: "none", ConfirmedAt: &now,
	})
	must(t, err, "CreateFactor(webauthn)")
	got, err := s.GetFactorByCredentialID(ctx, cred)
	must(t, err, "GetFactorByCredentialID")
	if got.ID != f.ID || !got.Confirmed() || got.SignCount != 5 || !got.BackupEligible || got.BackupState ||
		!got.UserVerified || got.Transports != "usb,nfc" || string(got.PublicKey) != "cose" || len(got.AAGUID) != 16 || len(got.Secret) != 0 {
		t.Errorf("GetFactorByCredentialID = %+v, want the passkey as created", got)
	}
	_, err = s.GetFactorByCredentialID(ctx, []byte{9, 9})
	wantNotFound(t, err, "GetFactorByCredentialID of an unknown credential")
	_, err = s.GetFactorByCredentialID(ctx, nil)
	wantNotFound(t, err, "GetFactorByCredentialID(nil)")

	other := createUser(t, s, "passkey2@example.com")
	_, err = s.CreateFactor(ctx, storage.Factor{UserID: other.ID, Kind: storage.FactorWebAuthn, Name: "Copy", CredentialID: cred, ConfirmedAt: &now})
	if !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateFactor with a stored credential id: error %v, want ErrConflict", err)
	}

	used := time.Date(2026, 1, 2, 3, 4, 5, 0, elsewhere)
	for _, tc := range []struct {
		counter int64
		want    bool
	}{{6, true}, {6, false}, {3, false}, {0, false}, {10, true}} {
		ok, err := s.UpdateFactorSignCount(ctx, f.ID, tc.counter, true, used)
		must(t, err, "UpdateFactorSignCount(%d)", tc.counter)
		if ok != tc.want {
			t.Errorf("UpdateFactorSignCount(%d) = %v, want %v", tc.counter, ok, tc.want)
		}
	}
	got, err = s.GetFactor(ctx, f.ID)
	must(t, err, "GetFactor")
	if got.SignCount != 10 || !got.BackupState || got.LastUsedAt == nil {
		t.Fatalf("after assertions: %+v, want counter 10, backed up, last used set", got)
	}
	wantTime(t, "LastUsedAt", *got.LastUsedAt, used)

	// An authenticator without a counter always sends zero.
	zero, err := s.CreateFactor(ctx, storage.Factor{UserID: u.ID, Kind: storage.FactorWebAuthn, Name: "Phone", CredentialID: []byte{7}, ConfirmedAt: &now})
	must(t, err, "CreateFactor(counterless)")
	for range 2 {
		ok, err := s.UpdateFactorSignCount(ctx, zero.ID, 0, false, used)
		must(t, err, "UpdateFactorSignCount(0)")
		if !ok {
			t.Error("UpdateFactorSignCount(0) on a counterless passkey = false, want true")
		}
	}
	// A TOTP factor has no counter to update.
	totp := createTOTP(t, s, u, "secret")
	ok, err := s.UpdateFactorSignCount(ctx, totp.ID, 1, false, used)
	must(t, err, "UpdateFactorSignCount of a TOTP factor")
	if ok {
		t.Error("UpdateFactorSignCount of a TOTP factor = true, want false")
	}
}

// testFactorRenameDeleteOwnOnly: a user renames and removes only their own
// factors.
func testFactorRenameDeleteOwnOnly(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "own@example.com")
	other := createUser(t, s, "notown@example.com")
	f := createTOTP(t, s, u, "secret-own")
	wantNotFound(t, s.RenameFactor(ctx, other.ID, f.ID, "Stolen"), "RenameFactor by another user")
	must(t, s.RenameFactor(ctx, u.ID, f.ID, "Work phone"), "RenameFactor")
	got, err := s.GetFactor(ctx, f.ID)
	must(t, err, "GetFactor")
	if got.Name != "Work phone" || string(got.Secret) != "secret-own" {
		t.Errorf("after rename: %+v, want the new name and the same secret", got)
	}
	wantNotFound(t, s.DeleteFactor(ctx, other.ID, f.ID), "DeleteFactor by another user")
	must(t, s.DeleteFactor(ctx, u.ID, f.ID), "DeleteFactor")
	_, err = s.GetFactor(ctx, f.ID)
	wantNotFound(t, err, "GetFactor after DeleteFactor")
	wantNotFound(t, s.DeleteFactor(ctx, u.ID, f.ID), "second DeleteFactor")
	wantNotFound(t, s.DeleteFactor(ctx, u.ID, "not-a-uuid"), "DeleteFactor(not a uuid)")
	_, err = s.GetFactor(ctx, "not-a-uuid")
	wantNotFound(t, err, "GetFactor(not a uuid)")

	// Factors go with their user.
	g := createTOTP(t, s, u, "secret-cascade")
	must(t, s.DeleteUser(ctx, u.ID), "DeleteUser")
	_, err = s.GetFactor(ctx, g.ID)
	wantNotFound(t, err, "factor of a deleted user")
}

// testFactorRefusesBadInput: an unknown kind, a TOTP factor without secret, a
// passkey without credential id or a name with a NUL byte store nothing.
func testFactorRefusesBadInput(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "bad-factor@example.com")
	for _, tc := range []struct {
		name string
		f    storage.Factor
	}{
		{"unknown kind", storage.Factor{UserID: u.ID, Kind: "sms", Name: "x", Secret: []byte("s")}},
		{"totp without secret", storage.Factor{UserID: u.ID, Kind: storage.FactorTOTP, Name: "x"}},
		{"passkey without credential", storage.Factor{UserID: u.ID, Kind: storage.FactorWebAuthn, Name: "x"}},
		{"NUL in name", storage.Factor{UserID: u.ID, Kind: storage.FactorTOTP, Name: "a\x00b", Secret: []byte("s")}},
		{"unknown user", storage.Factor{UserID: "5d7f3a0e-1111-4c1e-9a55-000000000000", Kind: storage.FactorTOTP, Name: "x", Secret: []byte("s")}},
	} {
		if _, err := s.CreateFactor(ctx, tc.f); err == nil {
			t.Errorf("CreateFactor(%s) succeeded, want an error", tc.name)
		}
	}
	list, err := s.ListFactors(ctx, u.ID)
	must(t, err, "ListFactors")
	if len(list) != 0 {
		t.Errorf("ListFactors after refused creates = %d, want 0", len(list))
	}
}

// testRecoveryCodesSingleUse: each code is spent once and says how many
// remain; regenerating replaces the old codes; codes are per user.
func testRecoveryCodesSingleUse(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "recovery@example.com")
	other := createUser(t, s, "recovery2@example.com")
	var hashes [][]byte
	for _, c := range []string{"code-a", "code-b", "code-c"} {
		hashes = append(hashes, codeHash(c))
	}
	must(t, s.ReplaceRecoveryCodes(ctx, u.ID, hashes), "ReplaceRecoveryCodes")
	n, err := s.CountRecoveryCodes(ctx, u.ID)
	must(t, err, "CountRecoveryCodes")
	if n != 3 {
		t.Errorf("CountRecoveryCodes = %d, want 3", n)
	}
	_, err = s.UseRecoveryCode(ctx, other.ID, codeHash("code-a"))
	wantNotFound(t, err, "UseRecoveryCode by another user")
	left, err := s.UseRecoveryCode(ctx, u.ID, codeHash("code-a"))
	must(t, err, "UseRecoveryCode")
	if left != 2 {
		t.Errorf("UseRecoveryCode remaining = %d, want 2", left)
	}
	_, err = s.UseRecoveryCode(ctx, u.ID, codeHash("code-a"))
	wantNotFound(t, err, "UseRecoveryCode of a spent code")
	_, err = s.UseRecoveryCode(ctx, u.ID, codeHash("code-x"))
	wantNotFound(t, err, "UseRecoveryCode of an unknown code")
	n, err = s.CountRecoveryCodes(ctx, u.ID)
	must(t, err, "CountRecoveryCodes")
	if n != 2 {
		t.Errorf("CountRecoveryCodes after one use = %d, want 2", n)
	}

	// Duplicates are refused and change nothing.
	err = s.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{codeHash("d"), codeHash("d")})
	if !errors.Is(err, storage.ErrConflict) {
		t.Errorf("ReplaceRecoveryCodes with a duplicate: error %v, want ErrConflict", err)
	}
	left, err = s.UseRecoveryCode(ctx, u.ID, codeHash("code-b"))
	must(t, err, "UseRecoveryCode after a refused replace")
	if left != 1 {
		t.Errorf("remaining = %d, want 1", left)
	}

	must(t, s.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{codeHash("new-1"), codeHash("new-2")}), "ReplaceRecoveryCodes again")
	_, err = s.UseRecoveryCode(ctx, u.ID, codeHash("code-c"))
	wantNotFound(t, err, "UseRecoveryCode of a replaced code")
	left, err = s.UseRecoveryCode(ctx, u.ID, codeHash("new-2"))
	must(t, err, "UseRecoveryCode of a new code")
	if left != 1 {
		t.Errorf("remaining after the new code = %d, want 1", left)
	}
}

// testRecoveryCodeUsedOnceConcurrently: one code spent at once by many
// requests is accepted once.
func testRecoveryCodeUsedOnceConcurrently(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "race-recovery@example.com")
	must(t, s.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{codeHash("one"), codeHash("two")}), "ReplaceRecoveryCodes")
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range n {
		wg.Go(func() {
			_, err := s.UseRecoveryCode(ctx, u.ID, codeHash("one"))
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, storage.ErrNotFound):
				t.Errorf("UseRecoveryCode: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent uses of one code succeeded %d times, want 1", n, wins)
	}
}

// testDeleteFactorsResetsEverything: an operator's reset removes the user's
// factors and recovery codes, and nobody else's.
func testDeleteFactorsResetsEverything(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "reset@example.com")
	other := createUser(t, s, "keep@example.com")
	createTOTP(t, s, u, "s1")
	now := time.Now()
	_, err := s.CreateFactor(ctx, storage.Factor{UserID: u.ID, Kind: storage.FactorWebAuthn, Name: "Key", CredentialID: []byte("c1"), ConfirmedAt: &now})
	must(t, err, "CreateFactor")
	kept := createTOTP(t, s, other, "s2")
	must(t, s.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{codeHash("r1")}), "ReplaceRecoveryCodes")
	must(t, s.ReplaceRecoveryCodes(ctx, other.ID, [][]byte{codeHash("r1")}), "ReplaceRecoveryCodes(other)")

	n, err := s.DeleteFactors(ctx, u.ID)
	must(t, err, "DeleteFactors")
	if n != 2 {
		t.Errorf("DeleteFactors = %d, want 2", n)
	}
	list, err := s.ListFactors(ctx, u.ID)
	must(t, err, "ListFactors")
	if len(list) != 0 {
		t.Errorf("factors after reset = %d, want 0", len(list))
	}
	if c, _ := s.CountRecoveryCodes(ctx, u.ID); c != 0 {
		t.Errorf("recovery codes after reset = %d, want 0", c)
	}
	if _, err := s.GetFactor(ctx, kept.ID); err != nil {
		t.Errorf("another user's factor after reset: %v", err)
	}
	if c, _ := s.CountRecoveryCodes(ctx, other.ID); c != 1 {
		t.Errorf("another user's recovery codes after reset = %d, want 1", c)
	}
}

// testWebAuthnHandleSetOnce: the first handle sticks, a second does not
// replace it, a handle is unique, and UpdateUser leaves it alone.
func testWebAuthnHandleSetOnce(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "handle@example.com")
	h1 := bytes.Repeat([]byte{1}, 64)
	got, err := s.SetWebAuthnHandle(ctx, u.ID, h1)
	must(t, err, "SetWebAuthnHandle")
	if !bytes.Equal(got, h1) {
		t.Errorf("SetWebAuthnHandle = %x, want %x", got, h1)
	}
	got, err = s.SetWebAuthnHandle(ctx, u.ID, bytes.Repeat([]byte{2}, 64))
	must(t, err, "second SetWebAuthnHandle")
	if !bytes.Equal(got, h1) {
		t.Errorf("second SetWebAuthnHandle = %x, want the first handle", got)
	}
	byHandle, err := s.GetUserByWebAuthnHandle(ctx, h1)
	must(t, err, "GetUserByWebAuthnHandle")
	if byHandle.ID != u.ID {
		t.Errorf("GetUserByWebAuthnHandle = %s, want %s", byHandle.ID, u.ID)
	}
	_, err = s.GetUserByWebAuthnHandle(ctx, []byte{3})
	wantNotFound(t, err, "GetUserByWebAuthnHandle of an unknown handle")

	other := createUser(t, s, "handle2@example.com")
	if _, err := s.SetWebAuthnHandle(ctx, other.ID, h1); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("SetWebAuthnHandle with another user's handle: error %v, want ErrConflict", err)
	}
	if _, err := s.SetWebAuthnHandle(ctx, other.ID, nil); err == nil {
		t.Error("SetWebAuthnHandle(nil) succeeded, want an error")
	}

	fresh, err := s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	fresh.WebAuthnHandle = nil
	fresh.Name = "Renamed"
	_, err = s.UpdateUser(ctx, fresh)
	must(t, err, "UpdateUser")
	after, err := s.GetUser(ctx, u.ID)
	must(t, err, "GetUser after UpdateUser")
	if !bytes.Equal(after.WebAuthnHandle, h1) || after.Name != "Renamed" {
		t.Errorf("after UpdateUser: handle %x, name %q; want the handle kept and the new name", after.WebAuthnHandle, after.Name)
	}
}

// testClientMFAPolicyStored: a client's MFA policy is stored, updated and
// read back, empty by default.
func testClientMFAPolicyStored(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	c := newProtoClient(t, s, "plain-client")
	got, err := s.GetClientRecord(ctx, c.ID)
	must(t, err, "GetClientRecord")
	if got.MFAPolicy != "" {
		t.Errorf("default MFAPolicy = %q, want empty", got.MFAPolicy)
	}
	got.MFAPolicy = "required"
	_, err = s.UpdateClient(ctx, got)
	must(t, err, "UpdateClient")
	got, err = s.GetClientRecord(ctx, c.ID)
	must(t, err, "GetClientRecord after update")
	if got.MFAPolicy != "required" {
		t.Errorf("MFAPolicy = %q, want required", got.MFAPolicy)
	}
}
