package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// The kinds of failure. An *Error unwraps to exactly one of them, so callers
// test with errors.Is(err, outbound.ErrTimeout). They are plain values: none of
// them is, or wraps, a net.Error.
var (
	// ErrNotAllowed: the URL itself is refused before any connection (not
	// https, user information in it, not absolute, http without AllowLoopback).
	ErrNotAllowed = errors.New("URL not allowed")
	// ErrRefused: the address the name resolved to is in a refused range.
	ErrRefused = errors.New("address refused")
	// ErrUnreachable: the name did not resolve, or the connection failed or was
	// cut off.
	ErrUnreachable = errors.New("unreachable")
	// ErrTLS: the TLS handshake failed (certificate not trusted, wrong name, …).
	ErrTLS = errors.New("TLS handshake failed")
	// ErrTimeout: the exchange did not finish within Options.Timeout (or the
	// caller's own deadline).
	ErrTimeout = errors.New("timed out")
	// ErrCanceled: the caller's context was canceled.
	ErrCanceled = errors.New("canceled")
	// ErrTooLarge: the body is longer than Options.MaxBody.
	ErrTooLarge = errors.New("response too large")
	// ErrRedirect: the target answered with a redirect, which is never followed.
	ErrRedirect = errors.New("redirect not followed")
	// ErrStatus: the target answered with a status other than 2xx (Get only).
	ErrStatus = errors.New("unexpected status")
)

// Error is a failed request. Its message is for logs: it names the method, the
// URL without its query (which may carry a secret), the kind and the cause, and
// never a request or response body.
type Error struct {
	// Kind is one of the Err… values above.
	Kind error
	// Method and URL say what was asked; URL has no query, fragment or user
	// information.
	Method, URL string
	// StatusCode is the target's status, for ErrStatus and ErrRedirect.
	StatusCode int
	// Detail is the underlying cause as text (an address and why it is refused,
	// the resolver's or TLS stack's message), for logs.
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Method)
	b.WriteString(" ")
	b.WriteString(e.URL)
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.StatusCode != 0 {
		b.WriteString(" (status ")
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteString(")")
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the Kind only: the cause is kept as text so that no net, syscall
// or io error is reachable through errors.Is or errors.As.
func (e *Error) Unwrap() error { return e.Kind }

// logURL is u without query, fragment and user information.
func logURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

// classify turns a transport error into an *Error of the right kind. parent is
// the caller's context: its end is ErrCanceled (or ErrTimeout for a deadline),
// while the end of the client's own deadline is ErrTimeout.
func classify(parent context.Context, method string, u *url.URL, err error) *Error {
	e := &Error{Method: method, URL: logURL(u)}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the URL, query included
	}
	e.Detail = err.Error()
	var ae *addrError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.As(err, &ae):
		e.Kind, e.Detail = ErrRefused, ae.Error()
	case parent.Err() != nil:
		e.Kind = ErrCanceled
		if errors.Is(parent.Err(), context.DeadlineExceeded) {
			e.Kind = ErrTimeout
		}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		e.Kind = ErrTimeout
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &recordErr), errors.As(err, &alert):
		e.Kind = ErrTLS
	default:
		e.Kind = ErrUnreachable
	}
	return e
}
