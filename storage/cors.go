package storage

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm/clause"
)

// clientCORSOriginTable indexes the origins each client allows (Client.CORSOrigins),
// so that a CORS preflight, which names no client, is answered with one indexed
// lookup however many clients there are.
const clientCORSOriginTable = "client_cors_origins"

// clientCORSOriginModel is one row of the index: origin allowed by client.
type clientCORSOriginModel struct {
	Origin   string  `gorm:"primaryKey"`
	ClientID string  `gorm:"primaryKey;index:client_cors_origins_client_id_idx"`
	Client   *Client `gorm:"constraint:OnDelete:CASCADE"`
}

func (clientCORSOriginModel) TableName() string { return clientCORSOriginTable }

// Origin returns the Web origin (RFC 6454 §6.2) of an absolute http or https
// URL as a browser sends it in the Origin header: scheme and host in lower case,
// the port only when it is not the scheme's default. ok is false for any other
// URL, and for one with user information.
func Origin(raw string) (origin string, ok bool) {
	if !utf8.ValidString(raw) {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return "", false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		return scheme + "://" + host, true
	}
	return scheme + "://" + host + ":" + port, true
}

// CORSOrigins returns the origins whose browser code may call the token,
// userinfo and revocation endpoints as this client: those of its http and https
// redirect URIs, and its AllowedCORSOrigins, each once.
func (c Client) CORSOrigins() []string {
	var out []string
	add := func(raw string) {
		if o, ok := Origin(raw); ok && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	for _, u := range c.RedirectURIs {
		add(u)
	}
	for _, o := range c.AllowedCORSOrigins {
		add(o)
	}
	return out
}

// CORSOriginAllowed reports whether some client allows origin (an Origin header
// value, compared exactly). A value that is not an origin as Origin returns it
// (such as "null", or one with a path or invalid UTF-8) is allowed by none and
// never reaches the database.
func (s *Store) CORSOriginAllowed(ctx context.Context, origin string) (bool, error) {
	if o, ok := Origin(origin); !ok || o != origin {
		return false, nil
	}
	var n int64
	err := s.read(ctx, func(ctx context.Context) error {
		n = 0
		return s.conn(ctx).Table(clientCORSOriginTable).Select("1").Where("origin = ?", origin).Limit(1).Scan(&n).Error
	})
	if err != nil {
		return false, fmt.Errorf("look up CORS origin: %w", translate(err))
	}
	return n == 1, nil
}

// indexCORSOrigins replaces the client's rows of the origin index; it runs in the
// transaction that writes the client.
func (s *Store) indexCORSOrigins(ctx context.Context, c Client) error {
	if err := s.conn(ctx).Exec("DELETE FROM "+clientCORSOriginTable+" WHERE client_id = ?", c.ID).Error; err != nil {
		return err
	}
	origins := c.CORSOrigins()
	if len(origins) == 0 {
		return nil
	}
	rows := make([]clientCORSOriginModel, len(origins))
	for i, o := range origins {
		rows[i] = clientCORSOriginModel{Origin: o, ClientID: c.ID}
	}
	return s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Omit("Client").Create(&rows).Error
}
