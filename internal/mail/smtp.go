package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// The transport security modes of SMTPConfig.TLS.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS (RFC 3207) and
	// refuses to go on without it. The default; port 587.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (RFC 8314); port 465.
	TLSImplicit = "tls"
	// TLSNone sends in clear; allowed only to a loopback host (a local relay).
	TLSNone = "none"
)

// defaultTimeout bounds one delivery when SMTPConfig.Timeout is zero.
const defaultTimeout = 30 * time.Second

// ErrNoSTARTTLS means the server did not offer STARTTLS, which the configuration
// requires: the message was not sent in clear.
var ErrNoSTARTTLS = errors.New("smtp server does not offer STARTTLS")

// SMTPConfig configures SMTP.
type SMTPConfig struct {
	// Host is the submission server's name; it is also the name its certificate
	// must carry.
	Host string
	// Port defaults to 587 for TLSStartTLS, 465 for TLSImplicit and 25 for TLSNone.
	Port int
	// Username, when set, authenticates with AUTH PLAIN (only ever over TLS, or to
	// a loopback host).
	Username string
	Password string
	// From is the sender, as an RFC 5322 address: "Gatehouse <id@example.com>".
	From string
	// TLS is TLSStartTLS (the default, when empty), TLSImplicit or TLSNone.
	TLS string
	// Timeout bounds one delivery, from dialling to QUIT; zero means 30 seconds.
	Timeout time.Duration
	// InsecureSkipVerify skips certificate verification. For tests only.
	InsecureSkipVerify bool
	// RootCAs verifies the server's certificate; nil means the system roots.
	RootCAs *x509.CertPool
}

// SMTP delivers mail through an SMTP submission server. Each Send opens its own
// connection, so it is safe for concurrent use. Build it with NewSMTP.
type SMTP struct {
	cfg  SMTPConfig
	addr string
	from *netmail.Address
	now  func() time.Time
}

// NewSMTP checks c, reporting every problem at once, and returns a mailer for it.
func NewSMTP(c SMTPConfig) (*SMTP, error) {
	var errs []error
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	switch c.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		errs = append(errs, fmt.Errorf("smtp tls: want %q, %q or %q, got %q", TLSStartTLS, TLSImplicit, TLSNone, c.TLS))
	}
	if c.Host == "" || strings.ContainsAny(c.Host, "/:@ \r\n") && net.ParseIP(c.Host) == nil {
		errs = append(errs, fmt.Errorf("smtp host: want a host name or IP address, got %q", c.Host))
	} else if c.TLS == TLSNone && !isLoopback(c.Host) {
		errs = append(errs, fmt.Errorf("smtp tls: %q sends mail and passwords in clear; it is allowed only to a loopback host, not %q", TLSNone, c.Host))
	}
	if c.Port == 0 {
		c.Port = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}[c.TLS]
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("smtp port: want 1 to 65535, got %d", c.Port))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, errors.New("smtp password: set without a username"))
	}
	if strings.ContainsAny(c.Username+c.Password, "\x00") {
		errs = append(errs, errors.New("smtp username, password: must not contain NUL"))
	}
	from, err := netmail.ParseAddress(c.From)
	if err != nil {
		errs = append(errs, fmt.Errorf("smtp from: want an address like \"Gatehouse <id@example.com>\", got %q: %w", c.From, err))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("smtp timeout: must not be negative, got %s", c.Timeout))
	} else if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &SMTP{cfg: c, addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), from: from, now: time.Now}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers m: it connects, secures the connection as configured (refusing to
// go on in clear when STARTTLS is required but not offered), authenticates, and
// hands the message over. It gives up when ctx ends or the timeout passes.
// Errors name the step and never contain the message body.
func (s *SMTP) Send(ctx context.Context, m Message) (err error) {
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("send mail: recipient: %w", err)
	}
	if m.Text == "" {
		return errors.New("send mail: empty text body")
	}
	msg, err := s.compose(to, m)
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	defer func() {
		// A deadline or cancellation surfaces as an i/o error; say why.
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
	}()

	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("send mail: connect to %s: %w", s.addr, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	// Cancelling ctx aborts whatever exchange is under way.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return fmt.Errorf("send mail: greeting from %s: %w", s.addr, err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("send mail: EHLO: %w", err)
	}
	if s.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("send mail: %s: %w; refusing to send in clear", s.addr, ErrNoSTARTTLS)
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return fmt.Errorf("send mail: STARTTLS: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("send mail: %s does not offer AUTH, but a username is configured", s.addr)
		}
		// net/smtp's PLAIN refuses to send the password unless the connection is
		// encrypted or to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return fmt.Errorf("send mail: AUTH PLAIN as %s: %w", s.cfg.Username, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("send mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("send mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("send mail: DATA: %w", err)
	}
	// The data writer dot-stuffs lines that start with a period (RFC 5321 §4.5.2).
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("send mail: write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("send mail: end of data: %w", err)
	}
	// The server has accepted the message; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{}
	if s.cfg.TLS == TLSImplicit {
		td := &tls.Dialer{NetDialer: d, Config: s.tlsConfig()}
		return td.DialContext(ctx, "tcp", s.addr)
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

func (s *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName:         s.cfg.Host,
		RootCAs:            s.cfg.RootCAs,
		InsecureSkipVerify: s.cfg.InsecureSkipVerify,
		MinVersion:         tls.VersionTLS12,
	}
}

// compose renders m as an RFC 5322 message with CRLF line endings: a
// multipart/alternative of text and HTML (text alone when HTML is empty), each
// part UTF-8 in quoted-printable, which keeps lines short and long links intact.
func (s *SMTP) compose(to *netmail.Address, m Message) ([]byte, error) {
	var id [16]byte
	rand.Read(id[:])
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]

	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("Date", s.now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	header("From", s.from.String())
	header("To", to.String())
	// Q-encoding also turns any CR or LF into an encoded word, so a subject
	// cannot add headers.
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies, please

	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	// RFC 2046 §5.1.4: the last alternative is the preferred one.
	for _, part := range []struct{ ctype, content string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.content); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// writeQP writes text quoted-printable with CRLF line breaks.
func writeQP(w io.Writer, text string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(text)); err != nil {
		return err
	}
	return qp.Close()
}
