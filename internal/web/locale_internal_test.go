package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/gatehouse-id/gatehouse/templates"
)

// localeFixture is Pages on a real SQLite store whose statements are counted,
// with error.html replaced by errorPage, and a signed-in user who saved es.
type localeFixture struct {
	p          *Pages
	statements atomic.Int64
	cookie     *http.Cookie
	logs       *bytes.Buffer
}

func newLocaleFixture(t *testing.T, errorPage string) *localeFixture {
	t.Helper()
	f := &localeFixture{logs: &bytes.Buffer{}}
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "pages.db")
	storagetest.OpenURL(t, dbURL, storage.PoolerNone) // migrates
	store, err := storage.Open(storage.Options{URL: dbURL, Secrets: []string{storagetest.TestSecret},
		OnStatement: func(context.Context, storage.Statement) { f.statements.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	u, err := store.CreateUser(t.Context(), storage.User{Email: "ana@example.com", EmailVerified: true, Locale: "es"})
	if err != nil {
		t.Fatal(err)
	}
	sessions := session.New(store, session.Options{})
	rec := httptest.NewRecorder()
	if _, err := sessions.Issue(rec, httptest.NewRequest(http.MethodGet, "/", nil), u.ID, []string{"pwd"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.cookie = rec.Result().Cookies()[0]

	fsys := fstest.MapFS{}
	fs.WalkDir(templates.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(templates.FS, path)
			fsys[path] = &fstest.MapFile{Data: b}
		}
		return nil
	})
	if errorPage != "" {
		fsys["error.html"] = &fstest.MapFile{Data: []byte(errorPage)}
	}
	key := sha256.Sum256([]byte("csrf"))
	f.p, err = New(Deps{Templates: fsys, Store: store, Identity: identity.New(store, identity.Options{}), Sessions: sessions,
		CSRFKey: key[:], Issuer: "http://127.0.0.1", Log: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// request is a signed-in GET in acceptLanguage, with the language choice the
// page routes give it (Pages.CSRF).
func (f *localeFixture) request(acceptLanguage string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/account", nil)
	r.AddCookie(f.cookie)
	r.Header.Set("Accept-Language", acceptLanguage)
	return f.p.withLocale(r, "")
}

// TestLayoutT: templates translate with {{.T}} and {{$.T}}, arguments included,
// into the page's language, escaped like any other text.
func TestLayoutT(t *testing.T) {
	f := newLocaleFixture(t, `{{define "content"}}<p id="a">{{.T "scope.other" "Scope" .RequestID}}</p>`+
		`{{with .Heading}}<p id="b">{{$.T "scope.email"}}</p>{{end}}{{end}}`)
	w := httptest.NewRecorder()
	w.Header().Set("X-Request-Id", `<b>billing</b>`)
	f.p.ErrorPage(w, f.request("de"), http.StatusNotFound, "error.no_page")
	body := w.Body.String()
	for _, want := range []string{`<html lang="es">`, "Acceso: &lt;b&gt;billing&lt;/b&gt;", "Ver su dirección de correo electrónico"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if _, err := (Layout{}).T("scope.email"); err == nil {
		t.Error("T of a Layout without a localizer: want an error")
	}
}

// TestLayoutTMissingArgument: a message whose argument the template forgot
// does not render as a blank or half sentence: the page fails, visibly.
func TestLayoutTMissingArgument(t *testing.T) {
	f := newLocaleFixture(t, `{{define "content"}}<p>{{.T "scope.other"}}</p>{{end}}`)
	w := httptest.NewRecorder()
	f.p.ErrorPage(w, f.request("de"), http.StatusNotFound, "error.go_back")
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "internal error") {
		t.Errorf("status %d, body %q; want 500 and a plain error", w.Code, w.Body.String())
	}
	if !strings.Contains(f.logs.String(), "scope.other") {
		t.Errorf("the log does not name the message:\n%s", f.logs)
	}
}

// TestFailurePageReadsNoDatabase: the error page of a server failure is in the
// request's language without the saved locale's database read; other pages
// read it.
func TestFailurePageReadsNoDatabase(t *testing.T) {
	f := newLocaleFixture(t, "")
	before := f.statements.Load()
	w := httptest.NewRecorder()
	f.p.ErrorPage(w, f.request("fr"), http.StatusServiceUnavailable, "error.page_unavailable")
	if n := f.statements.Load() - before; n != 0 {
		t.Errorf("503 error page sent %d statements, want 0", n)
	}
	if !strings.Contains(w.Body.String(), `<html lang="fr">`) {
		t.Errorf("503 error page not in Accept-Language's French:\n%s", w.Body.String())
	}
	w = httptest.NewRecorder()
	f.p.ErrorPage(w, f.request("fr"), http.StatusNotFound, "error.no_page")
	if !strings.Contains(w.Body.String(), `<html lang="es">`) {
		t.Errorf("404 error page not in the saved locale:\n%s", w.Body.String())
	}
	// Once the request's language is chosen, a failure page keeps it.
	r := f.request("fr")
	f.p.localizer(r)
	w = httptest.NewRecorder()
	f.p.ErrorPage(w, r, http.StatusServiceUnavailable, "error.page_unavailable")
	if !strings.Contains(w.Body.String(), `<html lang="es">`) {
		t.Errorf("503 after the choice: not in the chosen language:\n%s", w.Body.String())
	}
}
