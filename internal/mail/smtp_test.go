package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
)

// resetLink is long enough that quoted-printable must wrap it, and carries the
// characters ('=', '&', '%') that a careless encoder breaks.
const resetLink = "https://id.example.com/reset-password?token=Zm9vYmFyYmF6cXV4cXV1eGZvb2Jhcg-_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789&next=%2Faccount%3Ftab%3Dsecurity"

func resetMessage(to string) mail.Message {
	return mail.Message{
		To:      to,
		Subject: "Réinitialisez votre mot de passe — Gatehouse",
		Text: "Someone asked to reset the password of your Gatehouse account.\n\n" +
			"Open this link within 30 minutes:\n" + resetLink + "\n" +
			".this line starts with a period and must survive dot-stuffing\n" +
			".\n" +
			"If it was not you, ignore this e-mail. Grüße!",
		HTML: `<p>Someone asked to reset the password of your Gatehouse account.</p>` + "\n" +
			`<p><a href="` + strings.ReplaceAll(resetLink, "&", "&amp;") + `">Reset your password</a></p>` + "\n" +
			`.<p>Grüße!</p>`,
	}
}

func newSMTP(t *testing.T, c mail.SMTPConfig) *mail.SMTP {
	t.Helper()
	m, err := mail.NewSMTP(c)
	if err != nil {
		t.Fatalf("NewSMTP(%+v): %v", c, err)
	}
	return m
}

func TestSMTPStartTLSDelivery(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	m := newSMTP(t, srv.Config())
	msg := resetMessage("Ada Lovelace <ada@example.com>")
	before := time.Now().Add(-time.Second)
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.WaitMessages(t, 1)
	if len(got) != 1 {
		t.Fatalf("received %d messages, want 1", len(got))
	}
	r := got[0]
	if r.ParseErr != nil {
		t.Fatalf("received message does not parse: %v\n%s", r.ParseErr, r.Raw)
	}
	if !r.TLS || r.User != mailtest.DefaultUsername {
		t.Errorf("delivered with TLS=%v as %q, want over STARTTLS as %q", r.TLS, r.User, mailtest.DefaultUsername)
	}
	if r.From != "id@gatehouse.test" || len(r.To) != 1 || r.To[0] != "ada@example.com" {
		t.Errorf("envelope from %q to %q, want id@gatehouse.test to ada@example.com", r.From, r.To)
	}

	h := r.Header
	date, err := h.Date()
	if err != nil || date.Before(before) || date.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %q (%v, %v), want now", h.Get("Date"), date, err)
	}
	if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@gatehouse.test>") || len(id) < 20 {
		t.Errorf("Message-ID = %q, want <random@gatehouse.test>", id)
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Gatehouse" || from[0].Address != "id@gatehouse.test" {
		t.Errorf("From = %q (%v), want Gatehouse <id@gatehouse.test>", h.Get("From"), err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Name != "Ada Lovelace" || to[0].Address != "ada@example.com" {
		t.Errorf("To = %q (%v), want Ada Lovelace <ada@example.com>", h.Get("To"), err)
	}
	if raw := h.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Errorf("Subject on the wire = %q, want RFC 2047 Q-encoded", raw)
	}
	if r.Subject != msg.Subject {
		t.Errorf("Subject = %q, want %q", r.Subject, msg.Subject)
	}
	if v := h.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q, want 1.0", v)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
		t.Errorf("Content-Type = %q, want multipart/alternative", ct)
	}

	if len(r.Parts) != 2 {
		t.Fatalf("%d parts, want text and HTML", len(r.Parts))
	}
	for i, want := range []string{"text/plain; charset=utf-8", "text/html; charset=utf-8"} {
		p := r.Parts[i]
		if ct := p.Header.Get("Content-Type"); ct != want {
			t.Errorf("part %d Content-Type = %q, want %q", i, ct, want)
		}
		if cte := p.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Errorf("part %d Content-Transfer-Encoding = %q, want quoted-printable", i, cte)
		}
	}
	if r.Text != msg.Text {
		t.Errorf("text part = %q, want %q", r.Text, msg.Text)
	}
	if r.HTML != msg.HTML {
		t.Errorf("HTML part = %q, want %q", r.HTML, msg.HTML)
	}
	if link := r.Link("https://id.example.com/reset-password"); link != resetLink {
		t.Errorf("link in the text part = %q, want %q", link, resetLink)
	}
	// Lines on the wire stay within RFC 5322's 78 characters.
	for _, line := range strings.Split(string(r.Raw), "\r\n") {
		if len(line) > 78 && !strings.HasPrefix(line, "Subject:") && !strings.HasPrefix(line, "Content-Type:") {
			t.Errorf("line of %d characters on the wire: %q", len(line), line)
		}
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{TLS: mail.TLSImplicit})
	if err := newSMTP(t, srv.Config()).Send(t.Context(), resetMessage("ada@example.com")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := srv.WaitMessages(t, 1)[0]
	if !r.TLS || r.Text != resetMessage("").Text {
		t.Errorf("received TLS=%v text %q; want the message over TLS", r.TLS, r.Text)
	}
}

func TestSMTPTextOnly(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	msg := mail.Message{To: "ada@example.com", Subject: "Plain", Text: "Open " + resetLink + "\n"}
	if err := newSMTP(t, srv.Config()).Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := srv.WaitMessages(t, 1)[0]
	if ct := r.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || r.ParseErr != nil {
		t.Errorf("Content-Type = %q (parse error %v), want text/plain; charset=utf-8", ct, r.ParseErr)
	}
	if r.Subject != "Plain" || r.Link("https://") != resetLink {
		t.Errorf("subject %q, link %q; want Plain and %q", r.Subject, r.Link("https://"), resetLink)
	}
}

func TestSMTPRefusesClearTextWithoutSTARTTLS(t *testing.T) {
	// The server offers no STARTTLS (as a downgrading attacker would make it).
	srv := mailtest.NewServer(t, mailtest.Options{TLS: mail.TLSNone})
	c := srv.Config()
	c.TLS = mail.TLSStartTLS
	err := newSMTP(t, c).Send(t.Context(), resetMessage("ada@example.com"))
	if !errors.Is(err, mail.ErrNoSTARTTLS) {
		t.Errorf("Send to a server without STARTTLS: error %v, want mail.ErrNoSTARTTLS", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages, want none", n)
	}
}

func TestSMTPClearTextOnLoopback(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{TLS: mail.TLSNone})
	if err := newSMTP(t, srv.Config()).Send(t.Context(), resetMessage("ada@example.com")); err != nil {
		t.Fatalf("Send with TLS none to a loopback relay: %v", err)
	}
	if r := srv.WaitMessages(t, 1)[0]; r.TLS {
		t.Errorf("received over TLS, want in clear")
	}
}

func TestSMTPWrongPassword(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	c := srv.Config()
	c.Password = "wrong"
	err := newSMTP(t, c).Send(t.Context(), resetMessage("ada@example.com"))
	if err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Errorf("Send with a wrong password: error %v, want an AUTH error", err)
	}
	if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "token=") {
		t.Errorf("error %q carries the password or the body", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages, want none", n)
	}
}

func TestSMTPVerifiesCertificate(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	c := srv.Config()
	c.RootCAs = nil // the system roots do not know the test certificate
	err := newSMTP(t, c).Send(t.Context(), resetMessage("ada@example.com"))
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("Send to an untrusted certificate: error %v, want a STARTTLS failure", err)
	}
	c.InsecureSkipVerify = true
	if err := newSMTP(t, c).Send(t.Context(), resetMessage("ada@example.com")); err != nil {
		t.Errorf("Send with InsecureSkipVerify: %v", err)
	}
}

func TestSMTPServerDown(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := newSMTP(t, srv.Config()).Send(ctx, resetMessage("ada@example.com"))
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("Send to a stopped server: error %v, want a connection error", err)
	}
	srv.Start()
	if err := newSMTP(t, srv.Config()).Send(ctx, resetMessage("ada@example.com")); err != nil {
		t.Errorf("Send after the server is back: %v", err)
	}
}

func TestSMTPCancelled(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := newSMTP(t, srv.Config()).Send(ctx, resetMessage("ada@example.com"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context: error %v, want context.Canceled", err)
	}
}

func TestSMTPHeaderInjection(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	m := newSMTP(t, srv.Config())
	msg := resetMessage("ada@example.com")
	msg.Subject = "Hello\r\nBcc: mallory@example.com"
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := srv.WaitMessages(t, 1)[0]
	if bcc := r.Header.Get("Bcc"); bcc != "" || len(r.To) != 1 {
		t.Errorf("a subject with CRLF added Bcc %q, recipients %v", bcc, r.To)
	}
	for _, to := range []string{"ada@example.com\r\nBcc: mallory@example.com", "not an address", ""} {
		bad := resetMessage(to)
		if err := m.Send(t.Context(), bad); err == nil {
			t.Errorf("Send to %q: no error", to)
		}
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server received %d messages, want only the first", n)
	}
}

func TestNewSMTPValidates(t *testing.T) {
	good := mail.SMTPConfig{Host: "smtp.example.com", Username: "u", Password: "p", From: "Gatehouse <id@example.com>"}
	if _, err := mail.NewSMTP(good); err != nil {
		t.Fatalf("NewSMTP(%+v): %v", good, err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *mail.SMTPConfig)
		want []string // every one must be named in the error
	}{
		{"no host", func(c *mail.SMTPConfig) { c.Host = "" }, []string{"smtp host"}},
		{"URL as host", func(c *mail.SMTPConfig) { c.Host = "smtp://smtp.example.com" }, []string{"smtp host"}},
		{"unknown TLS mode", func(c *mail.SMTPConfig) { c.TLS = "ssl" }, []string{"smtp tls"}},
		{"clear text to a remote host", func(c *mail.SMTPConfig) { c.TLS = mail.TLSNone }, []string{"smtp tls", "loopback"}},
		{"port out of range", func(c *mail.SMTPConfig) { c.Port = 70000 }, []string{"smtp port"}},
		{"password without username", func(c *mail.SMTPConfig) { c.Username = "" }, []string{"smtp password"}},
		{"no sender", func(c *mail.SMTPConfig) { c.From = "" }, []string{"smtp from"}},
		{"negative timeout", func(c *mail.SMTPConfig) { c.Timeout = -time.Second }, []string{"smtp timeout"}},
		{"every problem at once", func(c *mail.SMTPConfig) { c.TLS, c.From, c.Port = "ssl", "nobody", -1 }, []string{"smtp tls", "smtp from", "smtp port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			_, err := mail.NewSMTP(c)
			if err == nil {
				t.Fatalf("NewSMTP(%+v): no error", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewSMTP(%+v) = %q, want it to name %q", c, err, w)
				}
			}
		})
	}
	for _, host := range []string{"127.0.0.1", "localhost", "::1"} {
		c := good
		c.Host, c.TLS = host, mail.TLSNone
		if _, err := mail.NewSMTP(c); err != nil {
			t.Errorf("NewSMTP with TLS none to %s: %v", host, err)
		}
	}
}

func TestDevLogsMessageAndLink(t *testing.T) {
	var buf bytes.Buffer
	d := mail.NewDev(slog.New(slog.NewJSONHandler(&buf, nil)))
	msg := resetMessage("ada@example.com")
	if err := d.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var rec struct {
		Level, Msg, To, Subject, Text string
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if rec.Level != "INFO" || rec.To != msg.To || rec.Subject != msg.Subject || !strings.Contains(rec.Text, resetLink) {
		t.Errorf("logged %+v, want to, subject and the text with the link at INFO", rec)
	}
	if got := d.Messages(); len(got) != 1 || got[0] != msg {
		t.Errorf("Messages() = %+v, want the one message", got)
	}
	for range 150 {
		d.Send(t.Context(), mail.Message{To: "b@example.com"})
	}
	if n := len(d.Messages()); n != 100 {
		t.Errorf("Messages() after 151 sends holds %d, want the last 100", n)
	}
}

func TestMessageLogValueHidesBodies(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("queued", "mail", resetMessage("ada@example.com"))
	if out := buf.String(); strings.Contains(out, "token=") || strings.Contains(out, "Someone asked") || !strings.Contains(out, "ada@example.com") {
		t.Errorf("logged message = %s, want the recipient and subject only", out)
	}
}

// The sender address is parsed the way net/mail parses it.
func TestSMTPFromDisplayName(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	c := srv.Config()
	c.From = `"Gatehouse Sécurité" <security@gatehouse.test>`
	if err := newSMTP(t, c).Send(t.Context(), resetMessage("ada@example.com")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := srv.WaitMessages(t, 1)[0]
	from, err := (&netmail.AddressParser{}).Parse(r.Header.Get("From"))
	if err != nil || from.Name != "Gatehouse Sécurité" || r.From != "security@gatehouse.test" {
		t.Errorf("From = %q (%v), envelope %q; want the encoded display name and the bare address", r.Header.Get("From"), err, r.From)
	}
}
