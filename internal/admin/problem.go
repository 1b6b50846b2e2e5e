package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/reqlog"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Problem is an RFC 7807 problem details object, the body of every error.
type Problem struct {
	// Type names the kind of problem: a URN such as
	// urn:gatehouse:problem:validation (RFC 7807 §3.1).
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	// Detail says what went wrong with this request, in a sentence.
	Detail string `json:"detail,omitempty"`
	// Instance is the path of the request.
	Instance string `json:"instance,omitempty"`
	// Errors names every invalid field of the request body or query.
	Errors []FieldError `json:"errors,omitempty"`
	// RequestID is the X-Request-Id of the request, to find its log lines.
	RequestID string `json:"request_id,omitempty"`
}

// FieldError is one invalid field: its JSON name (with an index for list items,
// "redirect_uris[1]") and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// problemKind is one row of the table of problems this API answers with.
type problemKind struct {
	name   string
	title  string
	status int
}

// The problems, with their statuses: the one table errors map onto.
var (
	problemInvalidRequest = problemKind{"invalid-request", "The request is malformed", http.StatusBadRequest}
	problemValidation     = problemKind{"validation", "The request has invalid fields", http.StatusBadRequest}
	problemUnauthorized   = problemKind{"unauthorized", "An admin token is required", http.StatusUnauthorized}
	problemNotFound       = problemKind{"not-found", "Not found", http.StatusNotFound}
	problemMethod         = problemKind{"method-not-allowed", "Method not allowed", http.StatusMethodNotAllowed}
	problemConflict       = problemKind{"conflict", "Conflict with the current state", http.StatusConflict}
	problemTooLarge       = problemKind{"too-large", "The request body is too large", http.StatusRequestEntityTooLarge}
	problemMediaType      = problemKind{"unsupported-media-type", "The body must be JSON", http.StatusUnsupportedMediaType}
	problemInternal       = problemKind{"internal", "Internal error", http.StatusInternalServerError}
	problemNotConfigured  = problemKind{"not-configured", "The admin API is not configured", http.StatusServiceUnavailable}
	problemUnavailable    = problemKind{"unavailable", "The database is unavailable", http.StatusServiceUnavailable}
)

// retryAfterSeconds is the Retry-After of a 503 while the database cannot serve
// (RFC 9110 §10.2.3): a restart, a failover or a Neon compute waking takes a
// few seconds.
const retryAfterSeconds = "2"

// problem writes a problem of kind k.
func (a *API) problem(w http.ResponseWriter, r *http.Request, k problemKind, detail string, fields []FieldError) {
	p := Problem{
		Type: "urn:gatehouse:problem:" + k.name, Title: k.title, Status: k.status, Detail: detail,
		Instance: r.URL.Path, Errors: fields, RequestID: requestIDOf(r.Context()),
	}
	b, _ := json.Marshal(p) // a Problem always encodes
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(k.status)
	w.Write(append(b, '\n'))
}

// error answers err: the one place a service error becomes a response. Detail of
// a server error is logged here, once, and the caller sees only the request id.
func (a *API) error(w http.ResponseWriter, r *http.Request, err error) {
	var ve *clients.ValidationError
	var pe *identity.PasswordError
	var fe *identity.ProfileError
	var be *bodyError
	var bve *branding.ValidationError
	var fve *federation.ValidationError
	switch {
	case errors.As(err, &be):
		a.problem(w, r, be.kind, be.detail, be.fields)
	case errors.As(err, &ve):
		fields := make([]FieldError, 0, len(ve.Problems))
		for _, p := range ve.Problems {
			fields = append(fields, FieldError{Field: p.Field, Message: p.Message})
		}
		a.problem(w, r, problemValidation, fmt.Sprintf("%d invalid field(s); see errors.", len(fields)), fields)
	case errors.As(err, &bve):
		fields := make([]FieldError, 0, len(bve.Problems))
		for _, p := range bve.Problems {
			fields = append(fields, FieldError{Field: p.Field, Message: p.Message})
		}
		a.problem(w, r, problemValidation, fmt.Sprintf("%d invalid field(s); see errors.", len(fields)), fields)
	case errors.As(err, &fve):
		fields := make([]FieldError, 0, len(fve.Problems))
		for _, p := range fve.Problems {
			fields = append(fields, FieldError{Field: p.Field, Message: p.Message})
		}
		a.problem(w, r, problemValidation, fmt.Sprintf("%d invalid field(s); see errors.", len(fields)), fields)
	case errors.Is(err, federation.ErrConfigured):
		a.problem(w, r, problemConflict, "The configuration file defines a provider with this id; change it there, or give this one another id.", nil)
	case errors.Is(err, federation.ErrNotSetUp):
		a.problem(w, r, problemNotConfigured, "Sign-in through upstream providers is not set up on this server.", nil)
	case errors.As(err, &pe):
		a.problem(w, r, problemValidation, "The password was refused.", []FieldError{{Field: "password", Message: pe.Reason}})
	case errors.As(err, &fe):
		a.problem(w, r, problemValidation, "A profile field was refused.", []FieldError{{Field: fe.Field, Message: fe.Reason}})
	case errors.Is(err, identity.ErrInvalidEmail):
		a.problem(w, r, problemValidation, "The e-mail address was refused.", []FieldError{{Field: "email", Message: "not an e-mail address Gatehouse accepts"}})
	case errors.Is(err, keys.ErrUnsupportedAlg):
		a.problem(w, r, problemValidation, "The algorithm was refused.", []FieldError{{Field: "alg", Message: "want RS256, ES256, EdDSA or all"}})
	case errors.Is(err, identity.ErrEmailTaken):
		a.problem(w, r, problemConflict, "Another user has this e-mail address.", nil)
	case errors.Is(err, clients.ErrNoSecret):
		a.problem(w, r, problemConflict, "This client authenticates without a secret (none or private_key_jwt), so it has none to rotate.", nil)
	case errors.Is(err, storage.ErrConflict):
		a.problem(w, r, problemConflict, "The resource exists already.", nil)
	case errors.Is(err, storage.ErrNotFound):
		a.problem(w, r, problemNotFound, "No such resource.", nil)
	case storage.IsUnavailable(err):
		// An outage, not a bug: the client should try again shortly.
		a.logFailure(r, err)
		w.Header().Set("Retry-After", retryAfterSeconds)
		a.problem(w, r, problemUnavailable, "The database cannot serve the request right now; try again in a moment.", nil)
	default:
		a.logFailure(r, err)
		a.problem(w, r, problemInternal, "The request failed; the log has the details under its request id.", nil)
	}
}

// logFailure puts the cause of a failed request on the request's one access
// line, or, outside the server (a test of one handler), on a line of its own.
func (a *API) logFailure(r *http.Request, err error) {
	if !reqlog.Add(r.Context(), slog.String("error", err.Error())) {
		a.log.ErrorContext(r.Context(), "admin request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
}

// bodyError is a request body or query that could not be read as asked.
type bodyError struct {
	kind   problemKind
	detail string
	fields []FieldError
}

func (e *bodyError) Error() string { return e.detail }

func invalid(detail string, fields ...FieldError) error {
	return &bodyError{kind: problemValidation, detail: detail, fields: fields}
}

// decode reads the body, one JSON object, into v (a pointer to a struct). It
// refuses members v does not have, naming each of them, and names a field whose
// value has the wrong type.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &bodyError{kind: problemMediaType, detail: "Send the body as Content-Type: application/json."}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return &bodyError{kind: problemTooLarge, detail: fmt.Sprintf("The body must be at most %d bytes.", me.Limit)}
		}
		return &bodyError{kind: problemInvalidRequest, detail: "The body could not be read."}
	}
	// First every unknown top-level member, so the caller learns of all of them.
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return &bodyError{kind: problemInvalidRequest, detail: "The body must be one JSON object."}
	}
	known := jsonFields(reflect.TypeOf(v).Elem())
	var unknown []FieldError
	for name := range members {
		if !slices.Contains(known, name) {
			unknown = append(unknown, FieldError{Field: name, Message: "unknown field"})
		}
	}
	if len(unknown) > 0 {
		slices.SortFunc(unknown, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
		return invalid(fmt.Sprintf("%d unknown field(s); see errors.", len(unknown)), unknown...)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields() // members of nested objects
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

// decodeError names the field a JSON decoding error is about.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return invalid("A field has the wrong type.", FieldError{Field: te.Field, Message: "want a JSON " + jsonKind(te.Type)})
	case errors.As(err, &se):
		return &bodyError{kind: problemInvalidRequest, detail: fmt.Sprintf("The body is not valid JSON (at byte %d).", se.Offset)}
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return invalid("1 unknown field; see errors.", FieldError{Field: name, Message: "unknown field"})
	}
	// A type's own UnmarshalJSON (scope, lifespans) says which field it reads.
	field, message, _ := strings.Cut(msg, ": ")
	if message == "" {
		field, message = "", msg
	}
	return invalid("A field has an invalid value.", FieldError{Field: field, Message: message})
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "number"
}

// jsonFields lists the JSON member names of struct type t, embedded structs
// included.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// writeJSON writes v with status; nothing an admin response holds may be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"title":"Internal error","status":500}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// paging reads ?limit= and ?after=; a bad limit is a named field error.
func paging(r *http.Request, max int) (limit int, after string, err error) {
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, convErr := strconv.Atoi(s)
		if convErr != nil || n < 1 || n > max {
			return 0, "", invalid("The query has an invalid parameter.", FieldError{Field: "limit", Message: fmt.Sprintf("want a whole number from 1 to %d, got %q", max, s)})
		}
		limit = n
	}
	return limit, q.Get("after"), nil
}
