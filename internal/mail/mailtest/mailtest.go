// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) in the
// test process, on a loopback port with a certificate made for the test, and
// keeps every message it receives, parsed, so that a test can read a link out of
// a verification or reset e-mail. Import it only from _test.go files.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gatehouse-id/gatehouse/internal/mail"
)

// The credentials NewServer uses when Options leaves them empty.
const (
	DefaultUsername = "gatehouse"
	DefaultPassword = "test-smtp-password"
)

// From is the sender Config sets.
const From = "Gatehouse <id@gatehouse.test>"

// waitTimeout bounds WaitMessages.
const waitTimeout = 15 * time.Second

// Options configure NewServer.
type Options struct {
	// TLS is mail.TLSStartTLS (the default: STARTTLS offered, AUTH only after
	// it), mail.TLSImplicit (TLS from the first byte) or mail.TLSNone (no TLS at
	// all, STARTTLS not offered, AUTH allowed in clear).
	TLS string
	// Username and Password are the one account AUTH PLAIN accepts; mail is
	// refused without it. Empty means DefaultUsername and DefaultPassword.
	Username, Password string
}

// Received is one message the server accepted.
type Received struct {
	From string   // the envelope sender (MAIL FROM)
	To   []string // the envelope recipients (RCPT TO)
	TLS  bool     // whether the connection was encrypted when the message came
	User string   // who authenticated
	Raw  []byte   // the message as sent, dot-stuffing undone

	// Header is the parsed message header, and Subject its decoded subject.
	Header  netmail.Header
	Subject string
	// Parts are the body parts (one for a single-part message), decoded.
	Parts []Part
	// Text and HTML are the decoded text/plain and text/html parts, if any.
	Text, HTML string
	// ParseErr is why the message could not be parsed, if it could not.
	ParseErr error
}

// Part is one MIME body part with its raw header and decoded content.
type Part struct {
	Header textproto.MIMEHeader
	Body   string
}

var linkPattern = regexp.MustCompile(`https?://[^\s"'<>]+`)

// Link returns the first URL in the text part that starts with prefix, or "".
func (r Received) Link(prefix string) string {
	for _, l := range linkPattern.FindAllString(r.Text, -1) {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// Server is an SMTP server for one test. Build it with NewServer; it stops when
// the test ends.
type Server struct {
	t     testing.TB
	opts  Options
	addr  string
	pool  *x509.CertPool
	tlsOK *tls.Config

	mu       sync.Mutex
	srv      *smtp.Server
	ln       net.Listener
	received []Received
	notify   chan struct{} // closed and replaced whenever a message arrives
}

// NewServer starts a server on a free loopback port.
func NewServer(t testing.TB, o Options) *Server {
	t.Helper()
	if o.TLS == "" {
		o.TLS = mail.TLSStartTLS
	}
	if o.Username == "" && o.Password == "" {
		o.Username, o.Password = DefaultUsername, DefaultPassword
	}
	cert, pool := selfSigned(t)
	s := &Server{t: t, opts: o, pool: pool, notify: make(chan struct{}),
		tlsOK: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// Config returns a mail.SMTPConfig that delivers to this server, trusting its
// certificate.
func (s *Server) Config() mail.SMTPConfig {
	host, port, _ := net.SplitHostPort(s.addr)
	var p int
	fmt.Sscan(port, &p)
	return mail.SMTPConfig{
		Host: host, Port: p, Username: s.opts.Username, Password: s.opts.Password,
		From: From, TLS: s.opts.TLS, Timeout: 10 * time.Second, RootCAs: s.pool,
	}
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Stop closes the listener and every connection: the SMTP server is down.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// The listener too: Serve may not have registered it with srv yet.
		ln.Close()
		srv.Close()
	}
}

// Start listens again on the same address after Stop.
func (s *Server) Start() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("mailtest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: s, conn: c}, nil
	}))
	srv.Domain = "mailtest.localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 1 << 20
	switch s.opts.TLS {
	case mail.TLSStartTLS:
		srv.TLSConfig = s.tlsOK
	case mail.TLSImplicit:
		ln = tls.NewListener(ln, s.tlsOK)
	case mail.TLSNone:
		srv.AllowInsecureAuth = true
	}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go srv.Serve(ln)
}

// Messages returns every message received so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// WaitMessages waits until at least n messages have arrived, failing the test
// after 15 seconds, and returns them all.
func (s *Server) WaitMessages(t testing.TB, n int) []Received {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		got, ch := len(s.received), s.notify
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("mailtest: %d messages after %s, want %d", got, waitTimeout, n)
			return nil
		}
	}
}

func (s *Server) add(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, r)
	close(s.notify)
	s.notify = make(chan struct{})
}

// session is one SMTP connection's state.
type session struct {
	server *Server
	conn   *smtp.Conn
	user   string
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.server.opts.Username || password != ss.server.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	rec := Received{From: ss.from, To: ss.to, TLS: isTLS, User: ss.user, Raw: raw}
	rec.ParseErr = parse(&rec)
	ss.server.add(rec)
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// parse fills r's parsed fields from r.Raw.
func parse(r *Received) error {
	m, err := netmail.ReadMessage(bytes.NewReader(r.Raw))
	if err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	r.Header = m.Header
	if r.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return fmt.Errorf("decode subject: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("content type: %w", err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		h := textproto.MIMEHeader{
			"Content-Type":              {m.Header.Get("Content-Type")},
			"Content-Transfer-Encoding": {m.Header.Get("Content-Transfer-Encoding")},
		}
		return addPart(r, h, m.Body)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("next part: %w", err)
		}
		if err := addPart(r, p.Header, p); err != nil {
			return err
		}
	}
}

func addPart(r *Received, h textproto.MIMEHeader, body io.Reader) error {
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "", "7bit", "8bit":
	default:
		return fmt.Errorf("unexpected transfer encoding %q", h.Get("Content-Transfer-Encoding"))
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("read part: %w", err)
	}
	content := strings.ReplaceAll(string(b), "\r\n", "\n")
	r.Parts = append(r.Parts, Part{Header: h, Body: content})
	mediaType, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	switch mediaType {
	case "text/plain":
		r.Text = content
	case "text/html":
		r.HTML = content
	}
	return nil
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost, and a pool
// that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("mailtest: key: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
