package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/internal/reqlog"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Cross-origin access (the Fetch standard's CORS protocol) for browser apps:
// public clients running in a page on their own origin that call the token,
// userinfo and revocation endpoints with fetch. Only those three endpoints take
// part; the pages and the authorize endpoint are navigated to, never fetched.
//
// A client allows the origins of its http(s) redirect URIs and its
// allowed_cors_origins (storage.Client.CORSOrigins). An actual response is
// readable by an origin the client it is for allows: the client named by the
// request (client_id, or the user of Basic authentication) at token and revoke,
// the access token's client at userinfo. A response that names no client (a
// malformed request, an invalid token) carries only an error, and is readable
// by any origin some client allows, which is also what a preflight, naming no
// client, is answered by. Credentials (cookies) are never allowed: none of these
// endpoints uses them, so there is no Access-Control-Allow-Credentials.

// corsMaxAge is how long a browser may cache a preflight answer, in seconds.
// Chromium caps it at 7200; ten minutes bounds how long a removed origin keeps
// working in an open tab.
const corsMaxAge = "600"

// corsAllowHeaders are the request headers the endpoints read beyond the
// CORS-safelisted ones: the bearer token or Basic credentials, and the body's type.
const corsAllowHeaders = "Authorization, Content-Type"

// corsExposeHeaders lets the page read why a request failed.
const corsExposeHeaders = "WWW-Authenticate, Retry-After"

// Preflight serves OPTIONS on a CORS endpoint whose methods are given: a
// preflight from an origin some client allows is answered with permission for
// those methods and corsAllowHeaders; any other gets no Access-Control headers,
// which the browser takes as a refusal. An OPTIONS without Origin (not a
// preflight) is told the methods in Allow.
func (h *Handler) Preflight(methods ...string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Add("Vary", "Origin")
		hdr.Set("Allow", allow+", OPTIONS")
		origin, method := r.Header.Get("Origin"), r.Header.Get("Access-Control-Request-Method")
		if origin == "" || method == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !slices.Contains(methods, method) {
			h.corsNote(r.Context(), "cors_refused", "method "+method)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		ok, err := h.originAllowedByAnyClient(r.Context(), origin)
		if err != nil {
			h.corsNote(r.Context(), "cors_unavailable", err.Error())
			if storage.IsUnavailable(err) {
				hdr.Set("Retry-After", retryAfterSeconds)
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if !ok {
			h.corsNote(r.Context(), "cors_refused", "origin allowed by no client")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Methods", allow)
		hdr.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		hdr.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	})
}

// CORS lets a browser app read next's responses when the client they are for
// allows the page's origin (see the package's CORS rules above). The decision is
// taken when next writes its response, so that it can use what next learnt:
// the form it parsed, the client it noted (noteCORSClient).
func (h *Handler) CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The answer depends on Origin; a cache must not give one origin's to
		// another (Fetch standard, CORS protocol and HTTP caches).
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		note := &corsClient{}
		r = r.WithContext(context.WithValue(r.Context(), corsClientKey{}, note))
		cw := &corsWriter{ResponseWriter: w}
		cw.decide = func() {
			if h.corsAllows(r, origin, note.id) {
				hdr := w.Header()
				hdr.Set("Access-Control-Allow-Origin", origin)
				hdr.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			}
		}
		next.ServeHTTP(cw, r)
	})
}

// corsClientKey carries a *corsClient in a request's context.
type corsClientKey struct{}

// corsClient is the client a CORS request acts for, when only the handler can
// know it.
type corsClient struct{ id string }

// noteCORSClient tells CORS which client the request acts for, for an endpoint
// whose request does not name it: userinfo, where the access token says. It
// does nothing outside CORS.
func noteCORSClient(ctx context.Context, c fosite.Client) {
	if n, ok := ctx.Value(corsClientKey{}).(*corsClient); ok && c != nil {
		n.id = c.GetID()
	}
}

// corsAllows decides whether origin may read the response to r: by the client the
// handler noted, else the one the request names, else any client.
func (h *Handler) corsAllows(r *http.Request, origin, noted string) bool {
	ctx := r.Context()
	clientID := noted
	if clientID == "" {
		clientID = requestClientID(r)
	}
	if clientID != "" {
		c, err := h.store.CachedClientRecord(ctx, clientID)
		switch {
		case err == nil:
			if slices.Contains(c.CORSOrigins(), origin) {
				return true
			}
			h.corsNote(ctx, "cors_refused", "origin not allowed by the client")
			return false
		case !errors.Is(err, storage.ErrNotFound):
			h.corsNote(ctx, "cors_unavailable", err.Error())
			return false
		}
		// An unknown client gets an error, readable as one naming no client.
	}
	ok, err := h.originAllowedByAnyClient(ctx, origin)
	if err != nil {
		h.corsNote(ctx, "cors_unavailable", err.Error())
		return false
	}
	if !ok {
		h.corsNote(ctx, "cors_refused", "origin allowed by no client")
	}
	return ok
}

// originAllowedByAnyClient reports whether some client allows origin; "null"
// (sandboxed pages, file: URLs) and anything else that is not an origin never
// is, without a database query.
func (h *Handler) originAllowedByAnyClient(ctx context.Context, origin string) (bool, error) {
	return h.store.CORSOriginAllowed(ctx, origin)
}

// requestClientID returns the client a token or revocation request names: the
// user of Basic authentication (form-encoded, RFC 6749 §2.3.1) or client_id in
// the body the handler parsed. A client assertion's client is its sub, but such
// clients are not browser apps.
func requestClientID(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok {
		if id, err := url.QueryUnescape(user); err == nil {
			return id
		}
		return ""
	}
	if r.PostForm != nil {
		return r.PostForm.Get("client_id")
	}
	return ""
}

// corsNote adds why a cross-origin read was refused to the request's log line.
func (h *Handler) corsNote(ctx context.Context, key, value string) {
	h.requestNote(ctx, slog.LevelDebug, "cors", slog.String(key, value))
}

// requestNote attaches attrs to the request's one access-log line
// (internal/reqlog); outside a server (a unit test of one handler) it logs them
// itself, as msg at level.
func (h *Handler) requestNote(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if !reqlog.Add(ctx, attrs...) {
		h.log.LogAttrs(ctx, level, msg, attrs...)
	}
}

// corsWriter runs decide once, just before the response's header is written.
type corsWriter struct {
	http.ResponseWriter
	decide  func()
	decided bool
}

func (w *corsWriter) once() {
	if !w.decided {
		w.decided = true
		w.decide()
	}
}

func (w *corsWriter) WriteHeader(code int) {
	w.once()
	w.ResponseWriter.WriteHeader(code)
}

func (w *corsWriter) Write(b []byte) (int, error) {
	w.once()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *corsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
