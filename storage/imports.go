package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ImportedUser maps a user of another system to the Gatehouse user it became
// (gatehouse import): Source names the system ("better-auth"), ExternalID is
// the user's id there. Applications that stored the old ids translate them
// through it. A row goes with its user.
type ImportedUser struct {
	Source     string    `gorm:"primaryKey"`
	ExternalID string    `gorm:"primaryKey"`
	UserID     string    `gorm:"type:uuid;not null;index:imported_users_user_id_idx"`
	User       *User     `gorm:"constraint:OnDelete:CASCADE"`
	CreatedAt  time.Time `gorm:"not null"`
}

// ExternalIdentity is a user's account at an upstream identity provider
// (GitHub, Google, …): Provider names it as the source system did ("github"),
// AccountID is the provider's id of the account. One account belongs to one
// user. Source says where the row came from ("better-auth" for an import).
type ExternalIdentity struct {
	ID        string `gorm:"type:uuid;primaryKey"`
	UserID    string `gorm:"type:uuid;not null;index:external_identities_user_id_idx"`
	User      *User  `gorm:"constraint:OnDelete:CASCADE"`
	Provider  string `gorm:"not null;uniqueIndex:external_identities_provider_account_key,priority:1"`
	AccountID string `gorm:"not null;uniqueIndex:external_identities_provider_account_key,priority:2"`
	Source    string `gorm:"not null;default:''"`
	// Email is the address the provider gave at the last sign-in (empty for
	// an imported row not used yet).
	Email string `gorm:"not null;default:''"`
	// LastSignInAt is when the identity last signed the user in; nil for
	// never.
	LastSignInAt *time.Time `gorm:""`
	// LastACR is the authentication context class the provider's ID token
	// named (acr) at the last sign-in; "" when it named none.
	LastACR string `gorm:"column:last_acr;not null;default:''"`
	// SealedTokens holds the upstream tokens, sealed with the system secret
	// and bound to ID, when the operator keeps them (SetExternalIdentityTokens,
	// ExternalIdentityTokens); nil otherwise. Never read it directly.
	SealedTokens []byte    `gorm:"column:sealed_tokens"`
	CreatedAt    time.Time `gorm:"not null"`
	UpdatedAt    time.Time `gorm:"not null"`
}

// TableName names the table in the plural, as the migration does.
func (ExternalIdentity) TableName() string { return "external_identities" }

// importModels lists the models of imports, after User.
func importModels() []any { return []any{&ImportedUser{}, &ExternalIdentity{}} }

// CreateImportedUser stores u and its mapping link in one transaction. It sets
// u.ID when empty, normalises the e-mail, keeps u's CreatedAt and UpdatedAt
// (the source's; zero means now) in UTC, and fills link.UserID and
// link.CreatedAt. A taken e-mail, user id or (source, external id) gets
// ErrConflict and nothing is stored.
func (s *Store) CreateImportedUser(ctx context.Context, u User, link ImportedUser) (User, error) {
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	if !validKey(link.Source) || !validKey(link.ExternalID) || link.Source == "" || link.ExternalID == "" {
		return User{}, fmt.Errorf("create imported user: source and external id must be non-empty text")
	}
	u.Email = NormalizeEmail(u.Email)
	u.LockedUntil = utcPtr(u.LockedUntil)
	now := time.Now().UTC()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.CreatedAt, u.UpdatedAt = keyTime(u.CreatedAt), keyTime(u.UpdatedAt)
	link.UserID, link.CreatedAt = u.ID, keyTime(now)
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Omit("webauthn_handle").Create(&u).Error; err != nil {
			return err
		}
		return s.conn(ctx).Create(&link).Error
	})
	if err != nil {
		return User{}, fmt.Errorf("create imported user: %w", translate(err))
	}
	return u, nil
}

// GetImportedUser returns the mapping of source's user externalID, or
// ErrNotFound.
func (s *Store) GetImportedUser(ctx context.Context, source, externalID string) (ImportedUser, error) {
	if !validKey(source) || !validKey(externalID) {
		return ImportedUser{}, fmt.Errorf("get imported user: %w", ErrNotFound)
	}
	var m ImportedUser
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Where("source = ? AND external_id = ?", source, externalID).Take(&m).Error
	})
	if err != nil {
		return ImportedUser{}, fmt.Errorf("get imported user %s/%s: %w", source, externalID, translate(err))
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return m, nil
}

// CreateExternalIdentity stores e, setting ID (when empty) and the timestamps.
// An account of the provider that is already stored gets ErrConflict.
func (s *Store) CreateExternalIdentity(ctx context.Context, e ExternalIdentity) (ExternalIdentity, error) {
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if !validKey(e.Provider) || !validKey(e.AccountID) || !validKey(e.Source) || e.Provider == "" || e.AccountID == "" {
		return ExternalIdentity{}, fmt.Errorf("create external identity: provider and account id must be non-empty text")
	}
	now := keyTime(time.Now())
	e.CreatedAt, e.UpdatedAt, e.LastSignInAt, e.SealedTokens = now, now, keyTimePtr(e.LastSignInAt), nil
	if err := s.write(ctx, func(ctx context.Context) error { return s.conn(ctx).Create(&e).Error }); err != nil {
		return ExternalIdentity{}, fmt.Errorf("create external identity: %w", translate(err))
	}
	return e, nil
}

// GetExternalIdentity returns the provider's account accountID, or ErrNotFound.
func (s *Store) GetExternalIdentity(ctx context.Context, provider, accountID string) (ExternalIdentity, error) {
	if !validKey(provider) || !validKey(accountID) {
		return ExternalIdentity{}, fmt.Errorf("get external identity: %w", ErrNotFound)
	}
	var e ExternalIdentity
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Where("provider = ? AND account_id = ?", provider, accountID).Take(&e).Error
	})
	if err != nil {
		return ExternalIdentity{}, fmt.Errorf("get external identity: %w", translate(err))
	}
	e.CreatedAt, e.UpdatedAt, e.LastSignInAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC(), utcPtr(e.LastSignInAt)
	return e, nil
}

// ListExternalIdentities returns the user's upstream accounts, by provider and
// account id.
func (s *Store) ListExternalIdentities(ctx context.Context, userID string) ([]ExternalIdentity, error) {
	if uuid.Validate(userID) != nil {
		return nil, nil
	}
	var out []ExternalIdentity
	err := s.read(ctx, func(ctx context.Context) error {
		out = out[:0]
		return s.conn(ctx).Where("user_id = ?", userID).Order("provider, account_id").Find(&out).Error
	})
	if err != nil {
		return nil, fmt.Errorf("list external identities: %w", translate(err))
	}
	for i := range out {
		out[i].CreatedAt, out[i].UpdatedAt, out[i].LastSignInAt = out[i].CreatedAt.UTC(), out[i].UpdatedAt.UTC(), utcPtr(out[i].LastSignInAt)
	}
	return out, nil
}
