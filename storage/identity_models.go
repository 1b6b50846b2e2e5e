package storage

import "time"

// The purposes of a UserToken.
const (
	// TokenVerifyEmail proves that the person controls the user's e-mail address.
	TokenVerifyEmail = "verify_email"
	// TokenResetPassword lets the person set a new password without the old one.
	TokenResetPassword = "reset_password"
	// TokenLinkAccount proves the account before an upstream identity is
	// linked to it (internal/federation); BrowserHash binds it to the pending
	// link of the browser that asked.
	TokenLinkAccount = "link_account"
)

// UserToken is a single-use token mailed to a user: an e-mail verification or a
// password reset. Only the SHA-256 of the token is stored, so a database leak
// does not leak usable links. UsedAt set means the token was spent.
type UserToken struct {
	ID        string    `gorm:"type:uuid;primaryKey"`
	UserID    string    `gorm:"type:uuid;not null;index:user_tokens_user_purpose_idx,priority:1"`
	User      *User     `gorm:"constraint:OnDelete:CASCADE"`
	Purpose   string    `gorm:"not null;index:user_tokens_user_purpose_idx,priority:2;check:user_tokens_purpose,purpose IN ('verify_email', 'reset_password', 'link_account')"`
	TokenHash []byte    `gorm:"not null;uniqueIndex:user_tokens_token_hash_key"`
	ExpiresAt time.Time `gorm:"not null;index:user_tokens_expires_at_idx"`
	UsedAt    *time.Time
	CreatedAt time.Time `gorm:"not null"`
	// BrowserHash, on a verification token mailed at sign-up, is the SHA-256 of
	// the ticket the signing-up browser keeps in a cookie: opening the link in
	// that browser may sign the person in.
	BrowserHash []byte
}

// SignInThrottle counts failed sign-ins for one key ("account:<user id>",
// "ip:<address>", …) within a window that starts at the first failure.
// LockedUntil, when in the future, refuses sign-in for the key. The row lives in
// the database so that every instance sees the same counts.
type SignInThrottle struct {
	Key             string     `gorm:"primaryKey"`
	Failures        int        `gorm:"not null;default:0"`
	WindowStartedAt time.Time  `gorm:"not null;index:sign_in_throttle_window_started_at_idx"`
	LockedUntil     *time.Time `gorm:""`
	UpdatedAt       time.Time  `gorm:"not null"`
}

// TableName names the table for what a row is.
func (SignInThrottle) TableName() string { return "sign_in_throttle" }

// identityModels lists the models of users' tokens and sign-in throttling.
func identityModels() []any {
	return []any{&UserToken{}, &SignInThrottle{}}
}
