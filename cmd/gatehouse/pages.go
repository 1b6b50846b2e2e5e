package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/metrics"
	"github.com/gatehouse-id/gatehouse/internal/outbox"
	"github.com/gatehouse-id/gatehouse/internal/session"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// people is everything the sign-in and account pages need, built from the
// configuration.
type people struct {
	outbox   *outbox.Outbox
	identity *identity.Service
	pages    *web.Pages
}

// newMailer returns the SMTP mailer, or the development mailer that logs each
// message when no SMTP host is configured.
func newMailer(c config.Config, log *slog.Logger) (mail.Mailer, error) {
	if c.Mail.SMTPHost == "" {
		log.Warn("no SMTP host configured: e-mails (with their links) are written to this log; set mail.smtp_host for real delivery")
		return mail.NewDev(log), nil
	}
	m, err := mail.NewSMTP(mail.SMTPConfig{
		Host: c.Mail.SMTPHost, Port: c.Mail.SMTPPort, Username: c.Mail.SMTPUsername, Password: c.Mail.SMTPPassword,
		From: c.Mail.From, TLS: c.Mail.SMTPTLS,
	})
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return m, nil
}

// outboxSender lets identity send through the outbox, so a message is stored
// before it is sent and an SMTP outage loses nothing.
type outboxSender struct{ o *outbox.Outbox }

func (s outboxSender) Send(ctx context.Context, m identity.Mail) error {
	return s.o.Enqueue(ctx, mail.Message{To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML})
}

// passwordParams are the argon2id parameters new hashes use.
func passwordParams(c config.Config) identity.Params {
	p := identity.DefaultParams()
	p.MemoryKiB, p.Iterations = c.Passwords.MemoryKiB, c.Passwords.Iterations
	return p
}

// identityService builds the user service on the store, sending through ob.
func identityService(c config.Config, store *storage.Store, ob *outbox.Outbox, log *slog.Logger) *identity.Service {
	return identity.New(store, identity.Options{
		BaseURL: c.Issuer, Mail: outboxSender{ob}, Log: log,
		MaxConcurrentHashes: c.Passwords.MaxConcurrentHashes, Params: passwordParams(c),
		MailPerAddress: c.RateLimits.MailPerAddress, MailPerIP: c.RateLimits.MailPerIP, SignUpsPerIP: c.RateLimits.SignUpsPerIP,
	})
}

// loadCatalogue loads the built-in messages and those of locales_dir, and
// logs what the operator's languages lack.
func loadCatalogue(c config.Config, log *slog.Logger) (*i18n.Catalogue, error) {
	var dir fs.FS
	if c.LocalesDir != "" {
		dir = os.DirFS(c.LocalesDir)
	}
	cat, err := i18n.Load(i18n.Options{Dir: dir, Log: log})
	if err != nil {
		if c.LocalesDir == "" {
			return nil, fmt.Errorf("messages: %w", err)
		}
		return nil, fmt.Errorf("locales_dir %s: %w", c.LocalesDir, err)
	}
	for _, w := range cat.Warnings() {
		log.Warn("locales", "locales_dir", c.LocalesDir, "warning", w)
	}
	return cat, nil
}

func newPeople(c config.Config, store *storage.Store, log *slog.Logger, mtr *metrics.Metrics, cat *i18n.Catalogue) (*people, error) {
	mailer, err := newMailer(c, log)
	if err != nil {
		return nil, err
	}
	ob := outbox.New(store, mailer, outbox.Options{Interval: c.Mail.PollInterval, Log: log})
	ids := identityService(c, store, ob, log)
	secure := strings.HasPrefix(c.Issuer, "https://")
	sessions := session.New(store, session.Options{Secure: secure, IdleTimeout: c.Sessions.IdleTimeout, AbsoluteTimeout: c.Sessions.AbsoluteTimeout})
	var tmpl fs.FS = templates.FS
	if c.TemplatesDir != "" {
		tmpl = os.DirFS(c.TemplatesDir)
	}
	csrfKey, err := hkdf.Key(sha256.New, []byte(c.Secrets.System[0]), nil, "gatehouse csrf v1", 32)
	if err != nil {
		return nil, err
	}
	pages, err := web.New(web.Deps{Templates: tmpl, Store: store, Identity: ids, Sessions: sessions, CSRFKey: csrfKey, Issuer: c.Issuer, Metrics: mtr, Log: log, Catalogue: cat})
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	return &people{outbox: ob, identity: ids, pages: pages}, nil
}
