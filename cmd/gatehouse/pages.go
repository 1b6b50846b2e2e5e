package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/metrics"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/internal/outbound"
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
	branding *branding.Service
	sessions *session.Manager
	// templates are the page files (the operator's in front of the built-in).
	templates fs.FS
	// federation signs people in through upstream identity providers.
	federation *federation.Service
	// passkeys are the WebAuthn ceremonies the pages and the API share.
	passkeys *mfa.Passkeys
	// mfa is the second-factor service the pages and the API share.
	mfa *mfa.Service
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

// mailingIdentity is the identity service as the server builds it, for a
// command that must mail a user: its mail goes into the outbox (the running
// server sends it), in the operator's templates, branding and languages.
func mailingIdentity(c config.Config, store *storage.Store, log *slog.Logger) (*identity.Service, error) {
	mailer, err := newMailer(c, log)
	if err != nil {
		return nil, err
	}
	cat, err := loadCatalogue(c, log)
	if err != nil {
		return nil, err
	}
	_, mt, err := templateFiles(c, log)
	if err != nil {
		return nil, err
	}
	brand, err := brandingService(c, store, log)
	if err != nil {
		return nil, err
	}
	ob := outbox.New(store, mailer, outbox.Options{Interval: c.Mail.PollInterval, Log: log})
	return identityService(c, store, ob, mt, brand, cat, log), nil
}

// passwordParams are the argon2id parameters new hashes use.
func passwordParams(c config.Config) identity.Params {
	p := identity.DefaultParams()
	p.MemoryKiB, p.Iterations = c.Passwords.MemoryKiB, c.Passwords.Iterations
	return p
}

// identityService builds the user service on the store, sending through ob
// the mail of mt, branded by brand, in the languages of cat.
func identityService(c config.Config, store *storage.Store, ob *outbox.Outbox, mt *identity.MailTemplates, brand *branding.Service, cat *i18n.Catalogue, log *slog.Logger) *identity.Service {
	return identity.New(store, identity.Options{
		BaseURL: c.Issuer, Mail: outboxSender{ob}, Log: log, MailTemplates: mt, Branding: brand, Catalogue: cat,
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

// brandingService builds the branding service: the configuration's branding,
// overridden by what the admin API stored, kept in memory like the clients.
func brandingService(c config.Config, store *storage.Store, log *slog.Logger) (*branding.Service, error) {
	b := c.Branding
	svc, err := branding.New(store, branding.Options{
		Defaults: branding.Settings{ProductName: &b.ProductName, LogoURL: &b.LogoURL, FaviconURL: &b.FaviconURL, PrimaryColor: &b.PrimaryColor, SupportURL: &b.SupportURL},
		TTL:      c.Database.ClientCacheTTL,
		Log:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("branding: %w", err)
	}
	return svc, nil
}

// templateFiles returns the templates (the operator's templates_dir in front
// of the built-in files) and the parsed mail. It fails when a file the
// operator gave does not parse, and warns about files that nothing uses (a
// misspelt name would otherwise change nothing, silently).
func templateFiles(c config.Config, log *slog.Logger) (fs.FS, *identity.MailTemplates, error) {
	tmpl, err := templates.Overlay(c.TemplatesDir)
	if err != nil {
		return nil, nil, err
	}
	mt, err := identity.ParseMailTemplates(tmpl)
	if err != nil {
		return nil, nil, fmt.Errorf("templates_dir %s: %w", c.TemplatesDir, err)
	}
	files, err := templates.OperatorFiles(tmpl)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		if strings.HasPrefix(f, "static/") {
			continue
		}
		if _, err := fs.Stat(templates.FS, f); err != nil {
			log.Warn("templates_dir holds a file Gatehouse does not use", "file", f, "hint", "files replace built-in ones of the same name (signin.html, mail/reset_password.txt …); new files belong in static/")
		}
	}
	if len(files) > 0 {
		log.Info("templates_dir in use", "dir", c.TemplatesDir, "files", len(files))
	}
	return tmpl, mt, nil
}

func newPeople(c config.Config, store *storage.Store, log *slog.Logger, mtr *metrics.Metrics, cat *i18n.Catalogue, fetch *outbound.Client) (*people, error) {
	mailer, err := newMailer(c, log)
	if err != nil {
		return nil, err
	}
	ob := outbox.New(store, mailer, outbox.Options{Interval: c.Mail.PollInterval, Log: log})
	tmpl, mt, err := templateFiles(c, log)
	if err != nil {
		return nil, err
	}
	if err := mt.Check(cat); err != nil {
		return nil, fmt.Errorf("templates_dir %s: %w", c.TemplatesDir, err)
	}
	brand, err := brandingService(c, store, log)
	if err != nil {
		return nil, err
	}
	ids := identityService(c, store, ob, mt, brand, cat, log)
	secure := strings.HasPrefix(c.Issuer, "https://")
	sessions := session.New(store, session.Options{Secure: secure, IdleTimeout: c.Sessions.IdleTimeout, AbsoluteTimeout: c.Sessions.AbsoluteTimeout})
	csrfKey, err := hkdf.Key(sha256.New, []byte(c.Secrets.System[0]), nil, "gatehouse csrf v1", 32)
	if err != nil {
		return nil, err
	}
	fed, err := federationService(c, store, ids, fetch, log)
	if err != nil {
		return nil, err
	}
	factors, err := mfaService(c, store, ids, log)
	if err != nil {
		return nil, err
	}
	passkeys, err := newPasskeys(c, store, ids, log)
	if err != nil {
		return nil, err
	}
	deps := web.Deps{Templates: tmpl, Branding: brand, Store: store, Identity: ids, Sessions: sessions, CSRFKey: csrfKey, Issuer: c.Issuer, Metrics: mtr, Log: log, Catalogue: cat, MFA: factors, Federation: fed}
	if passkeys != nil {
		deps.Passkeys = passkeys
	}
	pages, err := web.New(deps)
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	return &people{outbox: ob, identity: ids, pages: pages, branding: brand, sessions: sessions, templates: tmpl, federation: fed, mfa: factors, passkeys: passkeys}, nil
}

// mfaService builds the second-factor service: the configured policy, the
// sign-in throttle of ids, and ids to mail the user when a factor changes.
func mfaService(c config.Config, store *storage.Store, ids *identity.Service, log *slog.Logger) (*mfa.Service, error) {
	issuer := c.MFA.Issuer
	if issuer == "" {
		issuer = c.Branding.ProductName
	}
	policy, err := mfa.ParsePolicy(c.MFA.Policy)
	if err != nil {
		return nil, fmt.Errorf("mfa.policy: %w", err)
	}
	svc, err := mfa.New(mfa.Options{Store: store, Issuer: issuer, Throttle: ids, Notifier: ids, Policy: policy, Log: log})
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// newPasskeys builds the passkey (WebAuthn) ceremonies: the relying party is
// the issuer's host, and a ceremony's state is sealed with the system secret
// so that any instance can finish it. An issuer whose host is an IP address
// cannot have passkeys (WebAuthn wants a domain): nil, and a warning. ids
// mails the user when a passkey is added or removed.
func newPasskeys(c config.Config, store *storage.Store, ids *identity.Service, log *slog.Logger) (*mfa.Passkeys, error) {
	sealer, err := storage.NewSealer(c.Secrets.System)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	pk, err := mfa.NewPasskeys(store, mfa.PasskeyOptions{Issuer: c.Issuer, DisplayName: c.Branding.ProductName, Sealer: sealer, Notifier: ids})
	if errors.Is(err, mfa.ErrNoRelyingParty) {
		log.Warn("passkeys off", "issuer", c.Issuer, "reason", err.Error())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pk, nil
}

// federationService builds sign-in through the upstream providers: the
// configured ones and those added through the admin API (kept in memory like
// the clients); every upstream request goes through fetch.
func federationService(c config.Config, store *storage.Store, ids *identity.Service, fetch *outbound.Client, log *slog.Logger) (*federation.Service, error) {
	var ps []federation.ProviderConfig
	for _, p := range c.Federation.Providers {
		ps = append(ps, federation.ProviderConfig{
			ID: p.ID, Kind: p.Kind, Name: p.Name, Style: p.Style, LogoURL: p.LogoURL, Issuer: p.Issuer, Tenant: p.Tenant,
			ClientID: p.ClientID, ClientSecret: p.ClientSecret, Scopes: p.Scopes,
			Claims: federation.ClaimMapping{Subject: p.Claims.Subject, Email: p.Claims.Email, EmailVerified: p.Claims.EmailVerified,
				Name: p.Claims.Name, Picture: p.Claims.Picture},
			AllowedDomains: p.AllowedDomains, LinkOnly: p.LinkOnly, TrustMFA: p.TrustMFA, StoreTokens: p.StoreTokens,
			AuthURL: p.AuthURL, TokenURL: p.TokenURL, APIURL: p.APIURL,
		})
	}
	fed, err := federation.New(federation.Options{
		Providers: ps, Issuer: c.Issuer, Store: store, Users: ids, Outbound: fetch, Sealer: store.Sealer(), Log: log,
		TTL: c.Database.ClientCacheTTL,
	})
	if err != nil {
		return nil, err
	}
	return fed, nil
}
