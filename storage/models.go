package storage

import (
	"time"
)

// User is a person who can sign in. Email is stored normalised (trimmed, lower
// case) and is unique.
type User struct {
	ID            string `gorm:"type:uuid;primaryKey"`
	Email         string `gorm:"not null;uniqueIndex:users_email_key;check:users_email_lower,email = lower(email)"`
	EmailVerified bool   `gorm:"not null;default:false"`
	// PasswordHash is an argon2id PHC string; empty means no password is set.
	PasswordHash string `gorm:"not null;default:''"`
	Name         string `gorm:"not null;default:''"`
	GivenName    string `gorm:"not null;default:''"`
	FamilyName   string `gorm:"not null;default:''"`
	Picture      string `gorm:"not null;default:''"`
	Locale       string `gorm:"not null;default:''"`
	Disabled     bool   `gorm:"not null;default:false"`
	// FailedSignIns counts consecutive failed sign-ins; LockedUntil, when in the
	// future, refuses sign-in.
	FailedSignIns int        `gorm:"not null;default:0"`
	LockedUntil   *time.Time `gorm:""`
	// WebAuthnHandle is the user handle passkeys store (random bytes, never the
	// e-mail), set once by Store.SetWebAuthnHandle; UpdateUser leaves it alone.
	WebAuthnHandle NullBytes `gorm:"column:webauthn_handle;uniqueIndex:users_webauthn_handle_key"`
	CreatedAt      time.Time `gorm:"not null"`
	UpdatedAt      time.Time `gorm:"not null"`
}

// BrowserSession is a signed-in browser. The cookie holds a random token; only its
// SHA-256 is stored, so a database leak does not leak sessions.
type BrowserSession struct {
	ID        string    `gorm:"type:uuid;primaryKey"`
	TokenHash []byte    `gorm:"not null;uniqueIndex:sessions_token_hash_key"`
	UserID    string    `gorm:"type:uuid;not null;index:sessions_user_id_idx"`
	User      *User     `gorm:"constraint:OnDelete:CASCADE"`
	AuthTime  time.Time `gorm:"not null"`
	// AMR lists the authentication methods used, space-separated (RFC 8176 values).
	AMR           string    `gorm:"column:amr;not null;default:''"`
	LastSeenAt    time.Time `gorm:"not null"`
	IdleExpiresAt time.Time `gorm:"not null;index:sessions_idle_expires_at_idx"`
	ExpiresAt     time.Time `gorm:"not null;index:sessions_expires_at_idx"`
	IP            string    `gorm:"column:ip;not null;default:''"`
	UserAgent     string    `gorm:"not null;default:''"`
	CreatedAt     time.Time `gorm:"not null"`
	// UserHasTOTP reports whether the user has a confirmed authenticator app
	// (a TOTP factor). No column: only GetSessionWithUser sets it, read in
	// the same statement; every other read leaves it false.
	UserHasTOTP bool `gorm:"-"`
}

// TableName keeps the table named for what it is.
func (BrowserSession) TableName() string { return "sessions" }

// Account links a user to a client application: what the user granted it, whether
// the consent is remembered, and when the link was used. RevokedAt set means the
// user disconnected the application.
type Account struct {
	ID       string `gorm:"type:uuid;primaryKey"`
	UserID   string `gorm:"type:uuid;not null;uniqueIndex:accounts_user_client_key,priority:1"`
	User     *User  `gorm:"constraint:OnDelete:CASCADE"`
	ClientID string `gorm:"not null;uniqueIndex:accounts_user_client_key,priority:2;index:accounts_client_id_idx"`
	// GrantedScopes is space-separated, as OAuth writes scopes.
	GrantedScopes     string     `gorm:"not null;default:''"`
	ConsentRemembered bool       `gorm:"not null;default:false"`
	FirstAuthorizedAt time.Time  `gorm:"not null"`
	LastAuthorizedAt  time.Time  `gorm:"not null"`
	RevokedAt         *time.Time `gorm:""`
	CreatedAt         time.Time  `gorm:"not null"`
	UpdatedAt         time.Time  `gorm:"not null"`
}

// models lists every GORM model, in dependency order, for AutoMigrate.
func models() []any {
	m := []any{&User{}, &BrowserSession{}, &Account{}}
	m = append(m, protocolModels()...)
	m = append(m, keyModels()...)
	m = append(m, identityModels()...)
	m = append(m, outboxModels()...)
	m = append(m, brandingModels()...)
	m = append(m, importModels()...)
	m = append(m, factorModels()...)
	m = append(m, providerModels()...)
	return m
}
