package templates_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gatehouse-id/gatehouse/templates"
)

// TestOverlay: the operator's file wins, a missing one falls back to the
// built-in one, directories list both layers, and names outside the tree are
// refused.
func TestOverlay(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"signin.html": "operator's sign-in", "static/logo.svg": "<svg/>", "mail/verify_email.txt": "operator's mail"} {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fsys, err := templates.Overlay(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(fsys, "signin.html"); err != nil || string(b) != "operator's sign-in" {
		t.Errorf("signin.html = %q, %v; want the operator's", b, err)
	}
	builtin, _ := templates.FS.ReadFile("signup.html")
	if b, err := fs.ReadFile(fsys, "signup.html"); err != nil || string(b) != string(builtin) {
		t.Errorf("signup.html: %v; want the built-in file", err)
	}
	static, err := fs.ReadDir(fsys, "static")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range static {
		names = append(names, e.Name())
	}
	if !slices.Contains(names, "logo.svg") || !slices.Contains(names, "gatehouse.css") || !slices.IsSorted(names) {
		t.Errorf("static/ lists %v; want both layers, sorted", names)
	}
	if m, err := fs.Glob(fsys, "mail/*.txt"); err != nil || !slices.Contains(m, "mail/verify_email.txt") || !slices.Contains(m, "mail/reset_password.txt") {
		t.Errorf("mail/*.txt = %v, %v", m, err)
	}
	for _, bad := range []string{"../etc/passwd", "/signin.html", "static/../../x"} {
		if _, err := fsys.Open(bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	files, err := templates.OperatorFiles(fsys)
	if err != nil || !slices.Equal(files, []string{"mail/verify_email.txt", "signin.html", "static/logo.svg"}) {
		t.Errorf("OperatorFiles = %v, %v", files, err)
	}
	if f, _ := templates.OperatorFiles(templates.FS); f != nil {
		t.Errorf("OperatorFiles(FS) = %v, want none", f)
	}
	if _, err := templates.Overlay(filepath.Join(dir, "signin.html")); err == nil {
		t.Errorf("Overlay of a file: no error")
	}
	if f, err := templates.Overlay(""); err != nil || f != fs.FS(templates.FS) {
		t.Errorf("Overlay(\"\") = %v, %v; want FS", f, err)
	}
}
