package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestBetterAuthClient runs Better Auth's own client library (npm
// better-auth 1.7.25, createAuthClient({ baseURL })) in Node against `gatehouse
// serve`: sign-up, e-mail verification with the mailed token, a wrong and a
// right sign-in, get-session, change-password, two sessions listed and one
// revoked, revoke-other-sessions, password reset by mail, sign-out
// (testdata/js/betterauth-client.mjs, in bearer mode). Node must be installed;
// in CI its absence is a failure.
func TestBetterAuthClient(t *testing.T) {
	node := betterAuthNode(t)
	want := []string{"sign-up", "verify-email", "sign-in wrong password", "sign-in", "get-session", "change-password",
		"list-sessions", "revoke-session", "revoke-other-sessions", "reset-password", "sign-out"}
	eachBetterAuthDatabase(t, func(t *testing.T, dbEnv map[string]string) {
		betterAuthClient(t, node, "betterauth-client.mjs", dbEnv, want)
	})
}

// TestBetterAuthTwoFactor runs Better Auth's client with its twoFactorClient
// plugin against `gatehouse serve`, in bearer mode: enable an authenticator
// app (the TOTP codes computed in Node from the totpURI it gets) and confirm
// it, sign out, sign in (twoFactorRedirect, onTwoFactorRedirect called, no
// session), a wrong code, the right one (the session), a replayed one, a
// backup code and a spent one, send-otp refused, new backup codes, and
// disable; session.data.user.twoFactorEnabled is false before the app is
// confirmed, true after, false again after disable
// (testdata/js/betterauth-twofactor.mjs).
func TestBetterAuthTwoFactor(t *testing.T) {
	node := betterAuthNode(t)
	want := []string{"sign-in", "2fa off before enable", "enable wrong password", "enable", "get-totp-uri", "confirm app", "two-factor redirect",
		"wrong code", "verify-totp", "replayed code", "verify-backup-code", "spent backup code", "no pending sign-in",
		"send-otp", "generate-backup-codes", "disable wrong password", "disable", "2fa off after disable"}
	eachBetterAuthDatabase(t, func(t *testing.T, dbEnv map[string]string) {
		betterAuthClient(t, node, "betterauth-twofactor.mjs", dbEnv, want)
	})
}

// eachBetterAuthDatabase runs test with `gatehouse serve` on SQLite (nil
// dbEnv) and on PostgreSQL.
func eachBetterAuthDatabase(t *testing.T, test func(t *testing.T, dbEnv map[string]string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		test(t, map[string]string{"DATABASE_URL": storagetest.NewPostgresDatabase(t), "GATEHOUSE_SECRETS_SYSTEM": storagetest.TestSecret})
	})
}

// betterAuthClient runs the Node script against `gatehouse serve` and wants
// exactly the steps want done, in order.
func betterAuthClient(t *testing.T, node, script string, dbEnv map[string]string, want []string) {
	smtp := mailtest.NewServer(t, mailtest.Options{TLS: mail.TLSNone})
	port := freePort(t)
	issuer := "http://127.0.0.1:" + port
	env := smtpEnv(smtp.Config())
	env["GATEHOUSE_ISSUER"] = issuer
	env["GATEHOUSE_MAIL_POLL_INTERVAL"] = "1s"
	for k, v := range dbEnv {
		env[k] = v
	}
	srv := startServe(t, env, "--addr", "127.0.0.1:"+port, "--data-dir", t.TempDir(), "--migrate")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.log)
		}
	})
	waitReady(t, issuer)

	// The mail reader: the token of the newest message to ?to= whose link
	// has ?path=, each link handed out once; it waits for the mail to come.
	var mu sync.Mutex
	served := map[string]bool{}
	reader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to, path := r.URL.Query().Get("to"), r.URL.Query().Get("path")
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			msgs := smtp.Messages()
			for i := len(msgs) - 1; i >= 0; i-- {
				link := msgs[i].Link(issuer + path + "?token=")
				if link == "" || !slices.Contains(msgs[i].To, to) {
					continue
				}
				mu.Lock()
				fresh := !served[link]
				served[link] = true
				mu.Unlock()
				if fresh {
					u, _ := url.Parse(link)
					w.Write([]byte(u.Query().Get("token")))
					return
				}
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		http.Error(w, "no new mail to "+to+" with a "+path+" link", http.StatusNotFound)
	}))
	t.Cleanup(reader.Close)

	cmd := exec.CommandContext(t.Context(), node, script)
	cmd.Dir = spaDir
	cmd.Env = append(os.Environ(), "GATEHOUSE_URL="+issuer, "MAIL_URL="+reader.URL)
	out, err := cmd.CombinedOutput()
	var steps []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var s struct {
			Step string `json:"step"`
			OK   bool   `json:"ok"`
		}
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.OK {
			steps = append(steps, s.Step)
		}
	}
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, out)
	}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps done %q, want %q\n%s", steps, want, out)
	}
}
