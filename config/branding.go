package config

import (
	"fmt"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// problems checks the branding keys the way internal/branding checks what the
// admin API sets (TestBrandingRulesAgree in cmd/gatehouse keeps the two in
// step), naming each bad key.
func (b Branding) problems() []string {
	var p []string
	name := b.ProductName
	switch {
	case strings.TrimSpace(name) == "" || strings.TrimSpace(name) != name || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		p = append(p, fmt.Sprintf("branding.product_name: want a name such as Acme ID, without spaces at the ends or control characters, got %q", name))
	case utf8.RuneCountInString(name) > 64:
		p = append(p, "branding.product_name: want at most 64 characters")
	}
	for _, k := range []struct{ key, val string }{{"branding.logo_url", b.LogoURL}, {"branding.favicon_url", b.FaviconURL}} {
		if k.val == "" {
			continue
		}
		if !plainURL(k.val) || strings.HasPrefix(k.val, "//") || !strings.HasPrefix(k.val, "/") && !webURL(k.val) {
			p = append(p, fmt.Sprintf("%s: want an https URL or a path on this server such as /static/logo.svg, got %q", k.key, k.val))
		}
	}
	if !hexColour.MatchString(b.PrimaryColor) {
		p = append(p, fmt.Sprintf("branding.primary_color: want a colour as #rrggbb such as #1d4ed8, got %q", b.PrimaryColor))
	}
	if s := b.SupportURL; s != "" {
		ok := plainURL(s)
		if ok {
			if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
				addr, _, _ := strings.Cut(s[7:], "?")
				if unescaped, err := url.PathUnescape(addr); err == nil {
					addr = unescaped
				}
				a, err := netmail.ParseAddress(addr)
				ok = err == nil && a.Address == addr
			} else {
				ok = webURL(s)
			}
		}
		if !ok {
			p = append(p, fmt.Sprintf("branding.support_url: want an https URL or a mailto: address such as mailto:help@example.com, got %q", s))
		}
	}
	return p
}

// plainURL: valid UTF-8 of at most 2048 bytes without spaces, control
// characters, quotes, angle brackets or backslashes.
func plainURL(s string) bool {
	return utf8.ValidString(s) && len(s) <= 2048 && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("\"'<>\\`", r)
	})
}

// webURL: an absolute https URL with a host and no user information (http for
// a loopback host).
func webURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Hostname() == "" {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return true
	case "http":
		return isLoopbackHost(u.Hostname())
	}
	return false
}
