package storage

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// StringList is a list of strings stored as a JSON array in a text column, the same
// on every dialect.
type StringList []string

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		l = StringList{}
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan implements sql.Scanner.
func (l *StringList) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		*l = nil
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return errors.New("string list: unsupported column type")
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// Has reports whether the list contains s.
func (l StringList) Has(s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Lifespan is a duration stored as integer nanoseconds. It is its own type because
// pgx, in the exec query mode used through a transaction-mode pooler, sends a
// time.Duration as interval text, which a bigint column refuses.
type Lifespan time.Duration

// Value implements driver.Valuer.
func (l Lifespan) Value() (driver.Value, error) { return int64(l), nil }

// Scan implements sql.Scanner.
func (l *Lifespan) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*l = 0
	case int64:
		*l = Lifespan(x)
	case int32:
		*l = Lifespan(x)
	case float64:
		*l = Lifespan(int64(x))
	case []byte:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return fmt.Errorf("lifespan: %w", err)
		}
		*l = Lifespan(n)
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return fmt.Errorf("lifespan: %w", err)
		}
		*l = Lifespan(n)
	default:
		return fmt.Errorf("lifespan: unsupported column type %T", v)
	}
	return nil
}

// Client is a registered application. Its secret is stored only as a keyed hash
// (see Sealer.HashClientSecret).
type Client struct {
	ID                      string     `gorm:"primaryKey"`
	Name                    string     `gorm:"not null;default:''"`
	SecretHash              string     `gorm:"not null;default:''"`
	RedirectURIs            StringList `gorm:"column:redirect_uris;type:text;not null"`
	PostLogoutRedirectURIs  StringList `gorm:"column:post_logout_redirect_uris;type:text;not null"`
	GrantTypes              StringList `gorm:"type:text;not null"`
	ResponseTypes           StringList `gorm:"type:text;not null"`
	ResponseModes           StringList `gorm:"type:text;not null"`
	Scopes                  StringList `gorm:"type:text;not null"`
	Audience                StringList `gorm:"type:text;not null"`
	TokenEndpointAuthMethod string     `gorm:"not null;default:'client_secret_basic'"`
	// TokenEndpointAuthSigningAlg is the alg private_key_jwt assertions must use.
	TokenEndpointAuthSigningAlg string `gorm:"not null;default:''"`
	Public                      bool   `gorm:"not null;default:false"`
	// ApplicationType is "web" or "native"; only native clients get the RFC 8252
	// loopback port exception when redirect URIs are matched.
	ApplicationType string `gorm:"not null;default:'web'"`
	// JWKS is an inline JSON Web Key Set (public keys) for private_key_jwt;
	// JWKSURI points to one instead.
	JWKS    string `gorm:"column:jwks;type:text;not null;default:''"`
	JWKSURI string `gorm:"column:jwks_uri;not null;default:''"`
	// IDTokenSignedResponseAlg is RS256 (default) or ES256.
	IDTokenSignedResponseAlg string `gorm:"column:id_token_signed_response_alg;not null;default:''"`
	// AccessTokenFormat is "opaque", "jwt" (RFC 9068), or "" for the server default.
	AccessTokenFormat string `gorm:"not null;default:''"`
	// Lifespan overrides; zero means the server default.
	AccessTokenLifespan       Lifespan `gorm:"not null;default:0"`
	RefreshTokenLifespan      Lifespan `gorm:"not null;default:0"`
	IDTokenLifespan           Lifespan `gorm:"column:id_token_lifespan;not null;default:0"`
	AuthorizationCodeLifespan Lifespan `gorm:"not null;default:0"`
	// AlwaysIssueRefreshToken issues refresh tokens without offline_access.
	AlwaysIssueRefreshToken bool `gorm:"not null;default:false"`
	// FirstParty clients may skip the consent page.
	FirstParty bool   `gorm:"not null;default:false"`
	ClientURI  string `gorm:"not null;default:''"`
	LogoURI    string `gorm:"not null;default:''"`
	PolicyURI  string `gorm:"not null;default:''"`
	TOSURI     string `gorm:"column:tos_uri;not null;default:''"`
	// AllowedCORSOrigins are origins, besides those of the redirect URIs, whose
	// browser code may call the token, userinfo and revocation endpoints.
	AllowedCORSOrigins StringList `gorm:"column:allowed_cors_origins;type:text;not null;default:'[]'"`
	// ResourceServer lets the client introspect tokens issued to any client
	// (RFC 7662 §4); others introspect only their own.
	ResourceServer bool `gorm:"not null;default:false"`
	// ClaimsInIDToken puts the granted profile and email claims in the ID token
	// as well as userinfo, for relying parties that read only the ID token.
	ClaimsInIDToken bool `gorm:"column:claims_in_id_token;not null;default:false"`
	// RegistrationTokenHash is the keyed hash (Sealer.HashClientSecret) of the
	// RFC 7592 registration access token of a dynamically registered client;
	// empty for a client an operator made, which cannot be managed that way.
	RegistrationTokenHash string `gorm:"not null;default:''"`
	// MFAPolicy says when users of this client need a second factor: "optional",
	// "required", "if_enrolled", or "" to follow the server's setting.
	MFAPolicy string    `gorm:"column:mfa_policy;not null;default:''"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}
