package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestUsersMFAReset: `gatehouse users mfa reset` removes a user's factors and
// recovery codes, and nobody else's, and queues the mail that tells the user;
// an unknown user is an error.
func TestUsersMFAReset(t *testing.T) {
	dir := t.TempDir()
	ada := decodeUser(t, usersCLI(t, dir, "a-long-passphrase-1\n", "create", "--email", "ada@example.com", "--password-stdin", "-o", "json"))
	bob := decodeUser(t, usersCLI(t, dir, "a-long-passphrase-2\n", "create", "--email", "bob@example.com", "--password-stdin", "-o", "json"))
	store := openDataDir(t, dir)
	ctx := t.Context()
	now := time.Now()
	for i, u := range []cliUser{ada, bob} {
		if _, err := store.CreateFactor(ctx, storage.Factor{UserID: u.ID, Kind: storage.FactorWebAuthn, Name: "Key", CredentialID: []byte{byte(i + 1)}, ConfirmedAt: &now}); err != nil {
			t.Fatal(err)
		}
		if err := store.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{[]byte("hash-of-a-code")}); err != nil {
			t.Fatal(err)
		}
	}

	var got struct {
		ID             string `json:"id"`
		FactorsRemoved int    `json:"factors_removed"`
	}
	if err := json.Unmarshal([]byte(usersCLI(t, dir, "", "mfa", "reset", "ADA@example.com", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != ada.ID || got.FactorsRemoved != 1 {
		t.Errorf("mfa reset = %+v, want 1 factor of %s", got, ada.ID)
	}
	if fs, _ := store.ListFactors(ctx, ada.ID); len(fs) != 0 {
		t.Errorf("ada still has %d factors", len(fs))
	}
	if n, _ := store.CountRecoveryCodes(ctx, ada.ID); n != 0 {
		t.Errorf("ada still has %d recovery codes", n)
	}
	// Ada is told, through the outbox the server sends (bob is not).
	secret, err := os.ReadFile(filepath.Join(dir, "system.secret"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := storage.Open(storage.Options{URL: "sqlite:" + filepath.Join(dir, "gatehouse.db"), Secrets: []string{strings.TrimSpace(string(secret))}})
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	queued, err := sealed.ListMail(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 1 || queued[0].ToAddress != "ada@example.com" || !strings.Contains(queued[0].TextBody, "An administrator removed") {
		t.Errorf("after ada's reset the outbox holds %d message(s) %+v, want one to ada naming the administrator's reset", len(queued), queued)
	}
	if fs, _ := store.ListFactors(ctx, bob.ID); len(fs) != 1 {
		t.Errorf("bob has %d factors after ada's reset, want 1", len(fs))
	}
	if out := usersCLI(t, dir, "", "mfa", "reset", bob.ID); !strings.Contains(out, "removed 1 second factor") {
		t.Errorf("mfa reset (table) = %q", out)
	}
	if code, _, _ := runUsersCLI(t, dir, "", "mfa", "reset", "nobody@example.com"); code == 0 {
		t.Error("mfa reset of an unknown user exited 0")
	}
}
