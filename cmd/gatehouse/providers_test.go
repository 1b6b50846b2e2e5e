package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/federation"
)

func runProvidersCLI(t *testing.T, dir, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	args = append([]string{"providers"}, append(args, "--data-dir", dir)...)
	code = run(ctx, args, func(string) string { return "" }, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func providersList(t *testing.T, dir string) []federation.ProviderView {
	t.Helper()
	code, out, errOut := runProvidersCLI(t, dir, "", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("providers list: exit %d\n%s%s", code, out, errOut)
	}
	var list []federation.ProviderView
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("providers list -o json does not parse: %v\n%s", err, out)
	}
	return list
}

// TestProvidersCLI: add (the secret from standard input, never printed),
// list, refusals with every problem named and nothing stored, remove.
func TestProvidersCLI(t *testing.T) {
	dir := t.TempDir()
	if got := providersList(t, dir); len(got) != 0 {
		t.Fatalf("list on a new database = %+v", got)
	}
	const secret = "cli-secret-never-printed"
	code, out, errOut := runProvidersCLI(t, dir, secret+"\n", "add", "--id", "corp", "--provider-issuer", "https://login.corp.example",
		"--client-id", "gatehouse", "--client-secret-stdin", "--name", "Corp SSO", "--allowed-domain", "corp.example", "--claim", "email=mail")
	if code != 0 || !strings.Contains(out, "http://localhost:8080/signin/callback/corp") {
		t.Fatalf("providers add: exit %d\n%s%s", code, out, errOut)
	}
	list := providersList(t, dir)
	if len(list) != 1 || list[0].ID != "corp" || list[0].Name != "Corp SSO" || !list[0].ClientSecretSet || list[0].Claims.Email != "mail" ||
		list[0].Source != federation.SourceAdmin {
		t.Errorf("list after add = %+v", list)
	}
	_, table, _ := runProvidersCLI(t, dir, "", "list")
	if !strings.Contains(table, "corp") || !strings.Contains(table, "Corp SSO") {
		t.Errorf("table:\n%s", table)
	}

	code, out, errOut = runProvidersCLI(t, dir, "", "add", "--id", "x", "--provider-issuer", "https://x.example", "--client-id", "c")
	if code != 2 || !strings.Contains(errOut, "--client-secret-stdin") {
		t.Errorf("add without --client-secret-stdin: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runProvidersCLI(t, dir, "s\n", "add", "--id", "Bad", "--kind", "myspace", "--style", "neon", "--client-secret-stdin")
	if code != 2 {
		t.Errorf("add with bad flags: exit %d, want 2\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"id ", "kind ", "style ", "client_id "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("add with bad flags said %q, want it to name %s", errOut, want)
		}
	}
	code, _, _ = runProvidersCLI(t, dir, "other\n", "add", "--id", "corp", "--provider-issuer", "https://x.example", "--client-id", "c", "--client-secret-stdin")
	if code == 0 {
		t.Error("adding corp twice succeeded")
	}
	if got := providersList(t, dir); len(got) != 1 {
		t.Errorf("refused adds stored something: %+v", got)
	}

	code, out, errOut = runProvidersCLI(t, dir, "", "remove", "corp")
	if code != 0 {
		t.Fatalf("providers remove: exit %d\n%s%s", code, out, errOut)
	}
	if got := providersList(t, dir); len(got) != 0 {
		t.Errorf("list after remove = %+v", got)
	}
	if code, _, _ := runProvidersCLI(t, dir, "", "remove", "corp"); code == 0 {
		t.Error("removing a missing provider succeeded")
	}
	for _, s := range []string{out, errOut, table} {
		if strings.Contains(s, secret) {
			t.Errorf("the secret was printed: %s", s)
		}
	}
}

// TestServeProvidersThroughAdmin: a provider added through the running
// server's admin API shows on the sign-in page at once, and goes once
// removed, without a restart.
func TestServeProvidersThroughAdmin(t *testing.T) {
	token := strings.Repeat("p", 40)
	s := startServe(t, map[string]string{"GATEHOUSE_ADMIN_TOKENS": token}, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
	if _, body := waitFor(t, s, "/signin", 10*time.Second, statusIs(http.StatusOK)); strings.Contains(string(body), "/signin/with/acme") {
		t.Fatalf("/signin offers acme before it was added")
	}
	admin := func(method, path, body string) (int, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(t.Context(), method, s.admin+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := admin(http.MethodPost, "/admin/providers", `{"id":"acme","name":"Acme SSO","issuer":"https://login.acme.example","client_id":"gatehouse","client_secret":"never-shown"}`)
	if code != http.StatusCreated || strings.Contains(body, "never-shown") || !strings.Contains(body, `"client_secret_set":true`) {
		t.Fatalf("POST /admin/providers = %d %s", code, body)
	}
	if _, page := waitFor(t, s, "/signin", 10*time.Second, statusIs(http.StatusOK)); !strings.Contains(string(page), "/signin/with/acme") || !strings.Contains(string(page), "Acme SSO") {
		t.Errorf("/signin after the provider was added lacks its button:\n%s", page)
	}
	if code, body := admin(http.MethodDelete, "/admin/providers/acme", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE /admin/providers/acme = %d %s", code, body)
	}
	if _, page := waitFor(t, s, "/signin", 10*time.Second, statusIs(http.StatusOK)); strings.Contains(string(page), "/signin/with/acme") {
		t.Errorf("/signin still offers the removed provider")
	}
}
