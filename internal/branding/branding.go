package branding

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Default values when neither the configuration nor the admin API sets one.
const (
	DefaultProductName  = "Gatehouse"
	DefaultPrimaryColor = "#1d4ed8"
)

// MaxProductName is the longest product name accepted, in characters.
const MaxProductName = 64

// maxURL is the longest logo, favicon or support URL accepted.
const maxURL = 2048

// Settings are branding values, each optional: nil means "not set here". The
// admin API's body and the configuration's defaults are Settings.
type Settings struct {
	// ProductName replaces "Gatehouse" in titles, the header and mail.
	ProductName *string `json:"product_name,omitempty"`
	// LogoURL is shown in the header and in mail: an https URL, or a path on
	// this server such as /static/logo.svg (a file in templates_dir/static).
	// "" shows no logo.
	LogoURL *string `json:"logo_url,omitempty"`
	// FaviconURL is the pages' icon, the same kinds of URL as LogoURL; ""
	// leaves the browser to /favicon.ico.
	FaviconURL *string `json:"favicon_url,omitempty"`
	// PrimaryColor is #rrggbb; every colour drawn from it stays readable.
	PrimaryColor *string `json:"primary_color,omitempty"`
	// SupportURL is where people get help: an https URL or a mailto: address.
	// "" shows no support link.
	SupportURL *string `json:"support_url,omitempty"`
}

// Problem is one invalid setting: its JSON name and what is wrong with it.
type Problem struct{ Field, Message string }

// ValidationError lists every invalid setting.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	var parts []string
	for _, p := range e.Problems {
		parts = append(parts, p.Field+": "+p.Message)
	}
	return "invalid branding: " + strings.Join(parts, "; ")
}

// Validate checks every set field and returns a *ValidationError naming each
// bad one, or nil. It also normalises what it accepts (a colour in lower case).
func (s *Settings) Validate() error {
	var p []Problem
	if s.ProductName != nil {
		if msg := checkProductName(*s.ProductName); msg != "" {
			p = append(p, Problem{"product_name", msg})
		}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"logo_url", s.LogoURL}, {"favicon_url", s.FaviconURL}} {
		if f.v != nil && *f.v != "" {
			if msg := checkImageURL(*f.v); msg != "" {
				p = append(p, Problem{f.name, msg})
			}
		}
	}
	if s.PrimaryColor != nil {
		if _, err := ParseColour(*s.PrimaryColor); err != nil {
			p = append(p, Problem{"primary_color", "want a colour as #rrggbb, such as #1d4ed8"})
		} else {
			lower := strings.ToLower(*s.PrimaryColor)
			s.PrimaryColor = &lower
		}
	}
	if s.SupportURL != nil && *s.SupportURL != "" {
		if msg := checkSupportURL(*s.SupportURL); msg != "" {
			p = append(p, Problem{"support_url", msg})
		}
	}
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

func checkProductName(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "want text in UTF-8"
	case strings.TrimSpace(s) == "":
		return "want a name such as Acme ID"
	case strings.TrimSpace(s) != s:
		return "want no spaces at the start or end"
	case utf8.RuneCountInString(s) > MaxProductName:
		return fmt.Sprintf("want at most %d characters", MaxProductName)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "want no control characters"
	}
	return ""
}

// plainURL reports whether s has nothing a URL in a page or header should not:
// valid UTF-8, no spaces, control characters, quotes, angle brackets or
// backslashes, and a bounded length.
func plainURL(s string) bool {
	return utf8.ValidString(s) && len(s) <= maxURL && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("\"'<>\\`", r)
	})
}

// webURL checks an absolute https URL (http only for a loopback host, for
// development) with a host and no user information.
func webURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Hostname() == "" {
		return "want an https URL such as https://example.com/…"
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return ""
	case "http":
		if loopback(u.Hostname()) {
			return ""
		}
	}
	return "want an https URL such as https://example.com/… (http only for localhost)"
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkImageURL(s string) string {
	if !plainURL(s) {
		return "want a URL without spaces, quotes or control characters, at most 2048 bytes"
	}
	if strings.HasPrefix(s, "/") {
		if strings.HasPrefix(s, "//") {
			return "want an https URL or a path on this server such as /static/logo.svg, not //host/…"
		}
		return ""
	}
	if msg := webURL(s); msg != "" {
		return "want an https URL or a path on this server such as /static/logo.svg"
	}
	return ""
}

func checkSupportURL(s string) string {
	if !plainURL(s) {
		return "want a URL without spaces, quotes or control characters, at most 2048 bytes"
	}
	if rest, ok := cutPrefixFold(s, "mailto:"); ok {
		addr, _, _ := strings.Cut(rest, "?")
		if unescaped, err := url.PathUnescape(addr); err == nil {
			addr = unescaped
		}
		if a, err := netmail.ParseAddress(addr); err != nil || a.Address != addr {
			return "want mailto: followed by one address, such as mailto:help@example.com"
		}
		return ""
	}
	if msg := webURL(s); msg != "" {
		return "want an https URL or a mailto: address, such as mailto:help@example.com"
	}
	return ""
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// Brand is the branding in force: every value resolved (admin API, then
// configuration, then the defaults) and the palettes drawn from the colour.
type Brand struct {
	ProductName  string
	LogoURL      string
	FaviconURL   string
	PrimaryColor string
	SupportURL   string
	// Light and Dark are the colours drawn from PrimaryColor.
	Light, Dark Palette
	version     string
}

// SupportIsMail reports whether SupportURL is a mailto: address.
func (b Brand) SupportIsMail() bool {
	_, ok := cutPrefixFold(b.SupportURL, "mailto:")
	return ok
}

// AbsoluteURL resolves a LogoURL or FaviconURL that is a path on this server
// against base (the issuer), for mail, which has no base of its own.
func AbsoluteURL(base, u string) string {
	if strings.HasPrefix(u, "/") {
		return strings.TrimRight(base, "/") + u
	}
	return u
}

// resolve lays over onto base, field by field, and draws the palettes. base
// must be complete (every field set) and valid.
func resolve(base Settings, over storage.Branding) Brand {
	pick := func(b *string, o *string) string {
		if o != nil {
			return *o
		}
		return *b
	}
	b := Brand{
		ProductName:  pick(base.ProductName, over.ProductName),
		LogoURL:      pick(base.LogoURL, over.LogoURL),
		FaviconURL:   pick(base.FaviconURL, over.FaviconURL),
		PrimaryColor: pick(base.PrimaryColor, over.PrimaryColor),
		SupportURL:   pick(base.SupportURL, over.SupportURL),
	}
	c, err := ParseColour(b.PrimaryColor)
	if err != nil { // a row written past the service; the configured colour holds
		b.PrimaryColor = *base.PrimaryColor
		c, _ = ParseColour(b.PrimaryColor)
	}
	b.Light, b.Dark = Derive(c)
	b.version = stylesheetVersion(b.Stylesheet())
	return b
}

// Defaults returns the branding used when nothing is configured.
func Defaults() Brand {
	d := complete(Settings{})
	return resolve(d, storage.Branding{})
}

// complete fills every unset field of s with the built-in default.
func complete(s Settings) Settings {
	or := func(v *string, def string) *string {
		if v != nil {
			return v
		}
		return &def
	}
	return Settings{
		ProductName: or(s.ProductName, DefaultProductName), LogoURL: or(s.LogoURL, ""), FaviconURL: or(s.FaviconURL, ""),
		PrimaryColor: or(s.PrimaryColor, DefaultPrimaryColor), SupportURL: or(s.SupportURL, ""),
	}
}

// store is what the Service needs of *storage.Store.
type store interface {
	GetBranding(ctx context.Context) (storage.Branding, error)
	PutBranding(ctx context.Context, b storage.Branding, now time.Time) (storage.Branding, error)
	Watch(topic storage.Topic) (<-chan struct{}, func())
	Listening() bool
}

// Options configure New.
type Options struct {
	// Defaults are the configured values (branding.*); unset fields take the
	// built-in defaults.
	Defaults Settings
	// TTL bounds how long the branding is kept in memory while no change can be
	// heard (SQLite written by another process, PostgreSQL without a listener):
	// database.client_cache_ttl. 0 reads it for every use.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives what the service logs; nil discards it.
	Log *slog.Logger
}

// Service resolves the branding in force and changes it. Build it with New;
// it is safe for concurrent use.
type Service struct {
	store    store
	defaults Settings
	ttl      time.Duration
	now      func() time.Time
	log      *slog.Logger

	watchOnce sync.Once
	wake      <-chan struct{}
	stopWatch func()

	mu sync.Mutex
	// cached is the last branding read, valid while ok; gen counts
	// invalidations, so that a read that raced a change is not kept.
	cached   Brand
	ok       bool
	loadedAt time.Time
	gen      uint64
	// lastGood is what Current answers while the database cannot; until
	// retryAt, after a failed read, it answers that without asking.
	lastGood Brand
	retryAt  time.Time
}

// readTimeout bounds one read of the branding, and failBackoff is how long
// Current answers from memory after a failed read: a page shown during an
// outage (the error page, often) must not wait on the database once more.
const (
	readTimeout = 2 * time.Second
	failBackoff = 5 * time.Second
)

// New returns the service on st. It refuses invalid configured defaults.
func New(st store, o Options) (*Service, error) {
	d := o.Defaults
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{store: st, defaults: complete(d), ttl: o.TTL, now: o.Now, log: o.Log}
	s.lastGood = resolve(s.defaults, storage.Branding{})
	return s, nil
}

// Close stops watching for changes.
func (s *Service) Close() {
	s.watchOnce.Do(func() {}) // no watch from now on
	if s.stopWatch != nil {
		s.stopWatch()
	}
}

// Current returns the branding in force. It is kept in memory: until a change
// is announced (by this instance or, on PostgreSQL with a listener, any other)
// while changes can be heard, otherwise for the TTL. When the database cannot
// answer it returns the last branding it read (or the configured one) with the
// error, so a page can still be shown, and for a few seconds after that
// answers the same from memory without asking again.
func (s *Service) Current(ctx context.Context) (Brand, error) {
	s.watchOnce.Do(func() { s.wake, s.stopWatch = s.store.Watch(storage.TopicBranding) })
	s.mu.Lock()
	if s.wake != nil {
		select {
		case <-s.wake:
			s.ok = false
			s.gen++
		default:
		}
	}
	if s.ok && (s.store.Listening() || s.now().Sub(s.loadedAt) < s.ttl) {
		b := s.cached
		s.mu.Unlock()
		return b, nil
	}
	if s.now().Before(s.retryAt) {
		b := s.lastGood
		s.mu.Unlock()
		return b, nil
	}
	gen := s.gen
	s.mu.Unlock()

	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	row, err := s.store.GetBranding(rctx)
	cancel()
	if err != nil {
		s.mu.Lock()
		b := s.lastGood
		if ctx.Err() == nil { // the database failed, not the caller
			s.retryAt = s.now().Add(failBackoff)
		}
		s.mu.Unlock()
		return b, fmt.Errorf("branding: %w", err)
	}
	b := resolve(s.defaults, row)
	s.mu.Lock()
	s.lastGood, s.retryAt = b, time.Time{}
	if s.gen == gen && (s.ttl > 0 || s.store.Listening()) {
		s.cached, s.ok, s.loadedAt = b, true, s.now()
	}
	s.mu.Unlock()
	return b, nil
}

// invalidate drops the cached branding (after this instance changed it).
func (s *Service) invalidate() {
	s.mu.Lock()
	s.ok = false
	s.retryAt = time.Time{}
	s.gen++
	s.mu.Unlock()
}

// View is the branding as the admin API shows it: the values in force, the
// text colour drawn for the primary colour, and what the admin API set (the
// rest comes from the configuration).
type View struct {
	ProductName    string `json:"product_name"`
	LogoURL        string `json:"logo_url"`
	FaviconURL     string `json:"favicon_url"`
	PrimaryColor   string `json:"primary_color"`
	SupportURL     string `json:"support_url"`
	OnPrimaryColor string `json:"on_primary_color"`
	// Overrides are the values set through the admin API; they win over the
	// configuration.
	Overrides Settings `json:"overrides"`
	// UpdatedAt is when the admin API last changed the branding.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

func viewOf(defaults Settings, row storage.Branding) View {
	b := resolve(defaults, row)
	v := View{
		ProductName: b.ProductName, LogoURL: b.LogoURL, FaviconURL: b.FaviconURL, PrimaryColor: b.PrimaryColor,
		SupportURL: b.SupportURL, OnPrimaryColor: b.Light.OnPrimary,
		Overrides: Settings{ProductName: row.ProductName, LogoURL: row.LogoURL, FaviconURL: row.FaviconURL, PrimaryColor: row.PrimaryColor, SupportURL: row.SupportURL},
	}
	if !row.UpdatedAt.IsZero() {
		t := row.UpdatedAt
		v.UpdatedAt = &t
	}
	return v
}

// Get returns the branding as stored now (not the cached one).
func (s *Service) Get(ctx context.Context) (View, error) {
	row, err := s.store.GetBranding(ctx)
	if err != nil {
		return View{}, fmt.Errorf("get branding: %w", err)
	}
	return viewOf(s.defaults, row), nil
}

// Set replaces what the admin API set with set: its set fields win over the
// configuration, its unset ones fall back to it. It returns a
// *ValidationError for invalid fields. Every instance sees the change at once
// where changes can be heard, otherwise within the TTL.
func (s *Service) Set(ctx context.Context, set Settings) (View, error) {
	if err := set.Validate(); err != nil {
		return View{}, err
	}
	row, err := s.store.PutBranding(ctx, storage.Branding{
		ProductName: set.ProductName, LogoURL: set.LogoURL, FaviconURL: set.FaviconURL,
		PrimaryColor: set.PrimaryColor, SupportURL: set.SupportURL,
	}, s.now())
	if err != nil {
		return View{}, fmt.Errorf("set branding: %w", err)
	}
	s.invalidate()
	s.log.InfoContext(ctx, "branding changed")
	return viewOf(s.defaults, row), nil
}

// Reset drops everything the admin API set: the configuration applies again.
func (s *Service) Reset(ctx context.Context) (View, error) {
	return s.Set(ctx, Settings{})
}
