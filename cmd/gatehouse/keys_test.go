package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/keys"
)

// keysCLI runs `gatehouse keys …` in-process on the embedded database in dir, with
// an empty environment, and fails the test unless it exits 0.
func keysCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runKeysCLI(t, dir, args...)
	if code != 0 {
		t.Fatalf("gatehouse %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

func runKeysCLI(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	args = append([]string{"keys"}, append(args, "--data-dir", dir)...)
	code = run(ctx, args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func decodeKeys(t *testing.T, out string) []keys.Info {
	t.Helper()
	var infos []keys.Info
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("-o json output does not parse: %v\n%s", err, out)
	}
	return infos
}

func TestKeysRotateAndList(t *testing.T) {
	dir := t.TempDir()

	if got := decodeKeys(t, keysCLI(t, dir, "list", "-o", "json")); len(got) != 0 {
		t.Fatalf("keys list on a new database = %d keys, want 0", len(got))
	}

	// On a database without keys, rotate makes the first ones.
	first := decodeKeys(t, keysCLI(t, dir, "rotate", "-o", "json"))
	if len(first) != 2 || first[0].Alg != keys.RS256 || first[1].Alg != keys.ES256 || !first[0].Signing || !first[1].Signing {
		t.Fatalf("keys rotate (all) = %+v, want a new RS256 and ES256 key, signing at once (no key signed before)", first)
	}
	rotatedAt := time.Now()
	out := keysCLI(t, dir, "rotate", "--alg", "RS256", "--max-token-lifetime", "2h")
	if !strings.Contains(out, "rotated RS256: new key ") || !strings.Contains(out, "published now, signs from ") || strings.Contains(out, "rotated ES256") {
		t.Errorf("keys rotate --alg RS256 printed:\n%s\nwant one RS256 rotation, saying when the new key signs", out)
	}

	list := decodeKeys(t, keysCLI(t, dir, "list", "-o", "json"))
	var rs256 []keys.Info
	for _, k := range list {
		if k.Alg == keys.RS256 {
			rs256 = append(rs256, k)
		}
	}
	if len(rs256) != 2 || len(list) != 3 {
		t.Fatalf("keys list after rotate = %d keys (%d RS256), want 3 with 2 RS256:\n%+v", len(list), len(rs256), list)
	}
	// Newest first: the new key, then the one it replaced.
	active, retired := rs256[0], rs256[1]
	if active.State != "active" || retired.State != "retired" || retired.KID != first[0].KID {
		t.Errorf("RS256 keys = %s %s, %s %s; want the new key active and %s retired",
			active.KID, active.State, retired.KID, retired.State, first[0].KID)
	}
	// The new key signs one refresh interval (10m by default) after the
	// rotation; the old one until then.
	if active.Signing || active.ActivatedAt.Before(rotatedAt.Add(10*time.Minute-time.Second)) || active.ActivatedAt.After(time.Now().Add(10*time.Minute)) {
		t.Errorf("new key %+v, want it published, signing 10m after the rotation", active)
	}
	if !retired.Signing || retired.RetiredAt == nil || !retired.RetiredAt.Equal(active.ActivatedAt) {
		t.Errorf("old key %+v, want it signing until the new key starts at %v", retired, active.ActivatedAt)
	}
	if retired.PublishUntil == nil || !retired.Published ||
		retired.PublishUntil.Sub(*retired.RetiredAt) != 2*time.Hour+10*time.Minute {
		t.Errorf("retired key published until %v (retired %v), want 2h (--max-token-lifetime) + 10m (keys.refresh_interval) later", retired.PublishUntil, retired.RetiredAt)
	}

	table := keysCLI(t, dir, "list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "KID ALG STATE SIGNS CREATED PUBLISHED UNTIL" {
		t.Fatalf("keys list table =\n%s\nwant a header and 3 rows", table)
	}
	for i, want := range []struct{ kid, alg, state, signs string }{
		{active.KID, "RS256", "active", "from"}, {list[1].KID, list[1].Alg, list[1].State, "yes"}, {list[2].KID, list[2].Alg, list[2].State, "yes"},
	} {
		f := strings.Fields(lines[i+1])
		if len(f) < 6 || f[0] != want.kid || f[1] != want.alg || f[2] != want.state || f[3] != want.signs {
			t.Errorf("table row %d = %q, want %s %s %s %s …", i+1, lines[i+1], want.kid, want.alg, want.state, want.signs)
		}
	}
	if !strings.Contains(table, retired.PublishUntil.UTC().Format(time.RFC3339)) {
		t.Errorf("table does not show the retired key's PUBLISHED UNTIL %v:\n%s", retired.PublishUntil, table)
	}
}

func TestKeysRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown alg", []string{"rotate", "--alg", "HS256"}, "--alg"},
		{"bad output", []string{"list", "-o", "yaml"}, "--output"},
		{"zero lifetime", []string{"rotate", "--max-token-lifetime", "0s"}, "--max-token-lifetime"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runKeysCLI(t, dir, c.args...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("gatehouse keys %v = exit %d, %q; want exit 2 naming %s", c.args, code, stderr, c.want)
			}
		})
	}
	if got := decodeKeys(t, keysCLI(t, dir, "list", "-o", "json")); len(got) != 0 {
		t.Errorf("after refused commands, %d keys stored, want 0", len(got))
	}
}
