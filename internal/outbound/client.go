package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Defaults for Options.
const (
	// DefaultTimeout bounds a whole exchange: resolving, connecting, TLS,
	// sending, waiting and reading the body.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxBody bounds a response body; a JWK Set or a discovery document is
	// a few KiB.
	DefaultMaxBody = 256 << 10
	// maxHeaderBytes bounds the response headers.
	maxHeaderBytes = 64 << 10
)

// Options configure a Client. The zero value is the production setting.
type Options struct {
	// AllowLoopback lets requests reach loopback addresses (127.0.0.0/8, ::1),
	// and plain http to a loopback host (localhost, 127.0.0.1, [::1]). For
	// development and tests only; every other refused range stays refused.
	AllowLoopback bool
	// Timeout bounds each exchange as a whole; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxBody bounds each response body in bytes; 0 means DefaultMaxBody.
	MaxBody int64
	// RootCAs are the certificate authorities trusted for https; nil means the
	// system's. Tests set the test server's.
	RootCAs *x509.CertPool
	// UserAgent is sent with every request; empty means "Gatehouse".
	UserAgent string
}

// Client sends requests under the package's rules. Build it with New; it is
// safe for concurrent use.
type Client struct {
	opts Options
	hc   *http.Client
}

// New returns a Client with the given options.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.UserAgent == "" {
		o.UserAgent = "Gatehouse"
	}
	c := &Client{opts: o}
	dialer := &net.Dialer{Timeout: o.Timeout, Control: c.checkDial}
	transport := &http.Transport{
		// Never a proxy, whatever HTTP(S)_PROXY says: a proxy would dial the
		// target itself, past the address check below.
		Proxy:       nil,
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs:    o.RootCAs,
			MinVersion: tls.VersionTLS12,
		},
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
		// One connection per request: a connection is checked when it is
		// dialled, and nothing to an outside host is kept open.
		DisableKeepAlives: true,
		// The body cap then counts the bytes as they arrive, and no compressed
		// body can expand behind it.
		DisableCompression: true,
	}
	c.hc = &http.Client{
		Transport: transport,
		// Redirects are answered to the caller, never followed: a redirect is
		// how a permitted URL hands the request to a refused one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// AllowsLoopback reports whether the client may reach loopback addresses, so
// that the code accepting URLs (client registration) can apply the same rule.
func (c *Client) AllowsLoopback() bool { return c.opts.AllowLoopback }

// Response is a completed exchange: its status, headers and the whole body
// (at most Options.MaxBody bytes).
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Get fetches rawURL. Only a 2xx answer is a Response; a redirect is ErrRedirect
// and any other status ErrStatus (the body is not read then).
func (c *Client) Get(ctx context.Context, rawURL string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, &Error{Kind: ErrNotAllowed, Method: http.MethodGet, URL: "(unparsable URL)", Detail: "the URL cannot be parsed"}
	}
	resp, err := c.do(req, true)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Do sends req once, under the client's rules and within its deadline, and
// returns the answer whatever its status (a 3xx is returned, not followed), so
// that protocol callers can read an error body. req's context bounds it as well.
func (c *Client) Do(req *http.Request) (*Response, error) {
	return c.do(req, false)
}

func (c *Client) do(req *http.Request, only2xx bool) (*Response, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if err := c.checkURL(req.URL); err != nil {
		return nil, &Error{Kind: ErrNotAllowed, Method: method, URL: logURL(req.URL), Detail: err.Error()}
	}
	parent := req.Context()
	ctx, cancel := context.WithTimeout(parent, c.opts.Timeout)
	defer cancel()
	req = req.Clone(ctx)
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, classify(parent, method, req.URL, err)
	}
	defer resp.Body.Close()
	fail := func(kind error) *Error {
		return &Error{Kind: kind, Method: method, URL: logURL(req.URL), StatusCode: resp.StatusCode}
	}
	if only2xx {
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			return nil, fail(ErrRedirect)
		case resp.StatusCode < 200 || resp.StatusCode >= 300:
			return nil, fail(ErrStatus)
		}
	}
	if resp.ContentLength > c.opts.MaxBody {
		e := fail(ErrTooLarge)
		e.Detail = fmt.Sprintf("Content-Length %d is over the limit of %d bytes", resp.ContentLength, c.opts.MaxBody)
		return nil, e
	}
	// One byte more than allowed tells an over-size body from one exactly at
	// the limit; reading stops there either way.
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxBody+1))
	if err != nil {
		return nil, classify(parent, method, req.URL, err)
	}
	if int64(len(body)) > c.opts.MaxBody {
		e := fail(ErrTooLarge)
		e.Detail = fmt.Sprintf("the body is over the limit of %d bytes", c.opts.MaxBody)
		return nil, e
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// checkURL applies the rules that need no connection: an absolute https URL
// with a host and no user information; http only to a loopback host when
// loopback is allowed.
func (c *Client) checkURL(u *url.URL) error {
	switch {
	case u == nil || !u.IsAbs() || u.Host == "":
		return errors.New("the URL must be absolute, with a host")
	case u.User != nil:
		return errors.New("the URL must not contain user information")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && c.opts.AllowLoopback && isLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return errors.New("plain http is not allowed; use https")
	}
	return fmt.Errorf("scheme %q is not allowed; use https", u.Scheme)
}

// checkDial is the dialer's Control hook: it runs for every address the dialer
// tries, after DNS resolution and before the connection is made, so what is
// checked is exactly what is dialled.
func (c *Client) checkDial(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return &addrError{reason: "not a TCP address (" + network + ")"}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &addrError{reason: "not an IP address"}
	}
	return CheckAddr(ap.Addr(), c.opts.AllowLoopback)
}

// isLoopbackHost reports whether host names the loopback interface literally:
// "localhost" or a loopback IP. It only decides whether plain http may be used;
// the address dialled is checked separately.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// HTTPClient returns an *http.Client whose every request goes through c, under
// the same rules (https only, checked addresses, no redirects followed, one
// deadline, bounded body), for libraries that take an http.Client: go-oidc and
// x/oauth2 get it through their context (oidc.ClientContext,
// context.WithValue(ctx, oauth2.HTTPClient, …)).
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{
		Transport: roundTripper{c},
		// The transport answers redirects without following them; the
		// http.Client must not follow them either.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// roundTripper adapts Client.Do to http.RoundTripper: the answer's body is the
// one Do read whole (within MaxBody).
type roundTripper struct{ c *Client }

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	// RoundTrip must not modify req nor leave its body open.
	if req.Body != nil {
		defer req.Body.Close()
	}
	resp, err := t.c.Do(req)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode)),
		StatusCode:    resp.StatusCode,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        resp.Header,
		Body:          io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)),
		Request:       req,
	}, nil
}
