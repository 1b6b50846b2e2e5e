package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// The kinds of a Factor.
const (
	// FactorTOTP is an authenticator app (RFC 6238).
	FactorTOTP = "totp"
	// FactorWebAuthn is a passkey or security key (WebAuthn).
	FactorWebAuthn = "webauthn"
)

// Factor is one of a user's sign-in credentials besides the password: an
// authenticator app (TOTP) or a passkey (WebAuthn). One table holds both, so that
// "does the user have a second factor" is one query and an operator's reset is
// one delete.
//
// A TOTP factor's secret is sealed at rest (Sealer, bound to the row's id); the
// store seals Secret on create and opens it on read. LastStep is the last accepted
// RFC 6238 time step: UseTOTPStep raises it with a conditional UPDATE, so a code is
// accepted once across every instance. A TOTP factor is pending until
// ConfirmFactor sets ConfirmedAt; passkeys are created confirmed.
type Factor struct {
	ID     string `gorm:"type:uuid;primaryKey"`
	UserID string `gorm:"type:uuid;not null;index:user_factors_user_id_idx"`
	User   *User  `gorm:"constraint:OnDelete:CASCADE"`
	Kind   string `gorm:"not null;check:user_factors_kind,kind IN ('totp', 'webauthn')"`
	// Name is the user's label ("Phone", "YubiKey").
	Name string `gorm:"not null"`
	// Secret is the TOTP secret in the clear; never stored as is.
	Secret       []byte     `gorm:"-"`
	SecretSealed NullBytes  `gorm:"column:secret_sealed"`
	LastStep     int64      `gorm:"not null;default:0"`
	ConfirmedAt  *time.Time `gorm:""`
	// WebAuthn: the credential id (unique), its COSE public key, authenticator
	// model, signature counter and flags.
	CredentialID   []byte `gorm:"uniqueIndex:user_factors_credential_id_key"`
	PublicKey      []byte
	AAGUID         []byte `gorm:"column:aaguid"`
	SignCount      int64  `gorm:"not null;default:0"`
	BackupEligible bool   `gorm:"not null;default:false"`
	BackupState    bool   `gorm:"not null;default:false"`
	UserVerified   bool   `gorm:"not null;default:false"`
	// Transports is a comma-separated list ("internal,hybrid").
	Transports      string     `gorm:"not null;default:''"`
	AttestationType string     `gorm:"not null;default:''"`
	LastUsedAt      *time.Time `gorm:""`
	CreatedAt       time.Time  `gorm:"not null"`
	UpdatedAt       time.Time  `gorm:"not null"`
}

// TableName names the table for what a row is.
func (Factor) TableName() string { return "user_factors" }

// Confirmed reports whether the factor may be used to sign in.
func (f Factor) Confirmed() bool { return f.ConfirmedAt != nil }

// RecoveryCode is one single-use code a user keeps for when their factors are
// lost. Only the SHA-256 of the code is stored; codes are high-entropy, so the
// hash alone cannot be reversed.
type RecoveryCode struct {
	ID        string     `gorm:"type:uuid;primaryKey"`
	UserID    string     `gorm:"type:uuid;not null;index:recovery_codes_user_id_idx;uniqueIndex:recovery_codes_user_code_key,priority:1"`
	User      *User      `gorm:"constraint:OnDelete:CASCADE"`
	CodeHash  []byte     `gorm:"not null;uniqueIndex:recovery_codes_user_code_key,priority:2"`
	UsedAt    *time.Time `gorm:""`
	CreatedAt time.Time  `gorm:"not null"`
}

// factorModels lists the models of factors, after User.
func factorModels() []any { return []any{&Factor{}, &RecoveryCode{}} }

func factorAAD(id string) []byte { return sealAAD("user_factors", id, "secret") }

func (f *Factor) utc() {
	f.ConfirmedAt = utcPtr(f.ConfirmedAt)
	f.LastUsedAt = utcPtr(f.LastUsedAt)
	f.CreatedAt, f.UpdatedAt = f.CreatedAt.UTC(), f.UpdatedAt.UTC()
}

// open fills f.Secret from f.SecretSealed.
func (s *Store) openFactor(f *Factor) error {
	f.utc()
	if len(f.SecretSealed) == 0 {
		return nil
	}
	if s.sealer == nil {
		return ErrNoSecret
	}
	pt, err := s.sealer.Open(f.SecretSealed, factorAAD(f.ID))
	if err != nil {
		return err
	}
	f.Secret = pt
	return nil
}

// CreateFactor stores f, setting ID (when empty) and the timestamps, and sealing
// f.Secret. Kind must be FactorTOTP or FactorWebAuthn; a TOTP factor needs a
// secret, a passkey a credential id. A credential id already stored gets
// ErrConflict.
func (s *Store) CreateFactor(ctx context.Context, f Factor) (Factor, error) {
	if f.ID == "" {
		f.ID = uuid.NewString()
	}
	if uuid.Validate(f.UserID) != nil {
		return Factor{}, fmt.Errorf("create factor: %w", ErrNotFound)
	}
	if !validKey(f.Name) || !validKey(f.Transports) || !validKey(f.AttestationType) {
		return Factor{}, errors.New("create factor: name, transports and attestation type must be text")
	}
	switch f.Kind {
	case FactorTOTP:
		if len(f.Secret) == 0 {
			return Factor{}, errors.New("create factor: a TOTP factor needs a secret")
		}
	case FactorWebAuthn:
		if len(f.CredentialID) == 0 {
			return Factor{}, errors.New("create factor: a passkey needs a credential id")
		}
	default:
		return Factor{}, fmt.Errorf("create factor: unknown kind %q", f.Kind)
	}
	f.SecretSealed = nil
	if len(f.Secret) > 0 {
		if s.sealer == nil {
			return Factor{}, fmt.Errorf("create factor: %w", ErrNoSecret)
		}
		f.SecretSealed = s.sealer.Seal(f.Secret, factorAAD(f.ID))
	}
	now := keyTime(time.Now())
	f.CreatedAt, f.UpdatedAt = now, now
	f.ConfirmedAt = keyTimePtr(f.ConfirmedAt)
	f.LastUsedAt = keyTimePtr(f.LastUsedAt)
	f.User = nil
	// Absent byte strings are left to the column's NULL (the SQLite driver would
	// store an empty one, and two empty credential ids collide).
	var omit []string
	for col, v := range map[string]NullBytes{"secret_sealed": f.SecretSealed, "credential_id": f.CredentialID, "public_key": f.PublicKey, "aaguid": f.AAGUID} {
		if len(v) == 0 {
			omit = append(omit, col)
		}
	}
	err := s.write(ctx, func(ctx context.Context) error {
		q := s.conn(ctx)
		if len(omit) > 0 {
			q = q.Omit(omit...)
		}
		return q.Create(&f).Error
	})
	if err != nil {
		return Factor{}, fmt.Errorf("create factor: %w", translate(err))
	}
	return f, nil
}

// ListFactors returns the user's factors, confirmed or not, oldest first.
func (s *Store) ListFactors(ctx context.Context, userID string) ([]Factor, error) {
	if uuid.Validate(userID) != nil {
		return nil, nil
	}
	var out []Factor
	err := s.read(ctx, func(ctx context.Context) error {
		out = out[:0]
		return s.conn(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&out).Error
	})
	if err != nil {
		return nil, fmt.Errorf("list factors: %w", translate(err))
	}
	for i := range out {
		if err := s.openFactor(&out[i]); err != nil {
			return nil, fmt.Errorf("list factors: factor %s: %w", out[i].ID, err)
		}
	}
	return out, nil
}

// GetFactor returns the factor id, or ErrNotFound.
func (s *Store) GetFactor(ctx context.Context, id string) (Factor, error) {
	return s.getFactor(ctx, "id = ?", id)
}

// GetFactorByCredentialID returns the passkey with the WebAuthn credential id, or
// ErrNotFound.
func (s *Store) GetFactorByCredentialID(ctx context.Context, credentialID []byte) (Factor, error) {
	if len(credentialID) == 0 {
		return Factor{}, fmt.Errorf("get factor by credential id: %w", ErrNotFound)
	}
	return s.getFactor(ctx, "credential_id = ?", credentialID)
}

func (s *Store) getFactor(ctx context.Context, where string, arg any) (Factor, error) {
	if id, ok := arg.(string); ok && uuid.Validate(id) != nil {
		return Factor{}, fmt.Errorf("get factor: %w", ErrNotFound)
	}
	var f Factor
	err := s.read(ctx, func(ctx context.Context) error { return s.conn(ctx).Where(where, arg).Take(&f).Error })
	if err != nil {
		return Factor{}, fmt.Errorf("get factor: %w", translate(err))
	}
	if err := s.openFactor(&f); err != nil {
		return Factor{}, fmt.Errorf("get factor %s: %w", f.ID, err)
	}
	return f, nil
}

// ConfirmFactor marks the user's pending factor id confirmed. For a TOTP factor
// step is the time step of the first valid code, recorded as used; the update
// applies only while the factor is pending and step is newer than LastStep, so two
// concurrent confirmations succeed once. A factor that is not the user's, not
// pending or whose step was already used gets ErrNotFound.
func (s *Store) ConfirmFactor(ctx context.Context, userID, id string, step int64) error {
	if uuid.Validate(userID) != nil || uuid.Validate(id) != nil {
		return fmt.Errorf("confirm factor: %w", ErrNotFound)
	}
	now := keyTime(time.Now())
	n, err := s.updateRows(ctx, s.factorQuery("user_id = ? AND id = ? AND confirmed_at IS NULL AND last_step < ?", userID, id, step),
		map[string]any{"confirmed_at": now, "last_step": step, "updated_at": now})
	if err != nil {
		return fmt.Errorf("confirm factor: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("confirm factor %s: %w", id, ErrNotFound)
	}
	return nil
}

// UseTOTPStep records that a code of time step step was accepted for the
// confirmed TOTP factor id. It reports false when a code of that step or a later
// one was already accepted (a replay), atomically across instances.
func (s *Store) UseTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	if uuid.Validate(id) != nil {
		return false, fmt.Errorf("use totp step: %w", ErrNotFound)
	}
	now := keyTime(time.Now())
	n, err := s.updateRows(ctx, s.factorQuery("id = ? AND kind = ? AND confirmed_at IS NOT NULL AND last_step < ?", id, FactorTOTP, step),
		map[string]any{"last_step": step, "last_used_at": now, "updated_at": now})
	if err != nil {
		return false, fmt.Errorf("use totp step: %w", err)
	}
	return n == 1, nil
}

// UpdateFactorSignCount records a passkey assertion: the authenticator's
// signature counter, its backup state and the time of use. A counter that does
// not go up (unless it stays zero: authenticators without a counter always send
// zero) is refused atomically and reported as false, the sign of a cloned
// authenticator.
func (s *Store) UpdateFactorSignCount(ctx context.Context, id string, counter int64, backupState bool, usedAt time.Time) (bool, error) {
	if uuid.Validate(id) != nil {
		return false, fmt.Errorf("update factor sign count: %w", ErrNotFound)
	}
	n, err := s.updateRows(ctx, s.factorQuery("id = ? AND kind = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))", id, FactorWebAuthn, counter, counter),
		map[string]any{"sign_count": counter, "backup_state": backupState, "last_used_at": keyTime(usedAt), "updated_at": keyTime(time.Now())})
	if err != nil {
		return false, fmt.Errorf("update factor sign count: %w", err)
	}
	return n == 1, nil
}

// RenameFactor changes the label of the user's factor id; ErrNotFound when the
// user has no such factor.
func (s *Store) RenameFactor(ctx context.Context, userID, id, name string) error {
	if uuid.Validate(userID) != nil || uuid.Validate(id) != nil {
		return fmt.Errorf("rename factor: %w", ErrNotFound)
	}
	if !validKey(name) {
		return errors.New("rename factor: the name must be text")
	}
	n, err := s.updateRows(ctx, s.factorQuery("user_id = ? AND id = ?", userID, id),
		map[string]any{"name": name, "updated_at": keyTime(time.Now())})
	if err != nil {
		return fmt.Errorf("rename factor: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("rename factor %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteFactor removes the user's factor id; ErrNotFound when the user has no
// such factor (another user's factor is not theirs to remove).
func (s *Store) DeleteFactor(ctx context.Context, userID, id string) error {
	if uuid.Validate(userID) != nil || uuid.Validate(id) != nil {
		return fmt.Errorf("delete factor: %w", ErrNotFound)
	}
	var rows int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("user_id = ? AND id = ?", userID, id).Delete(&Factor{})
		rows = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("delete factor: %w", translate(err))
	}
	if rows == 0 {
		return fmt.Errorf("delete factor %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteFactors removes every factor and recovery code of the user in one
// transaction (an operator's reset) and returns how many factors went.
func (s *Store) DeleteFactors(ctx context.Context, userID string) (int, error) {
	if uuid.Validate(userID) != nil {
		return 0, fmt.Errorf("delete factors: %w", ErrNotFound)
	}
	var rows int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("user_id = ?", userID).Delete(&Factor{})
		if res.Error != nil {
			return res.Error
		}
		rows = res.RowsAffected
		return s.conn(ctx).Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error
	})
	if err != nil {
		return 0, fmt.Errorf("delete factors: %w", translate(err))
	}
	return int(rows), nil
}

// ReplaceRecoveryCodes stores hashes as the user's recovery codes, deleting the
// old ones in the same transaction. Duplicate hashes get ErrConflict and change
// nothing.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	if uuid.Validate(userID) != nil {
		return fmt.Errorf("replace recovery codes: %w", ErrNotFound)
	}
	now := keyTime(time.Now())
	rows := make([]RecoveryCode, 0, len(hashes))
	for _, h := range hashes {
		if len(h) == 0 {
			return errors.New("replace recovery codes: empty hash")
		}
		rows = append(rows, RecoveryCode{ID: uuid.NewString(), UserID: userID, CodeHash: h, CreatedAt: now})
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		return s.conn(ctx).Create(&rows).Error
	})
	if err != nil {
		return fmt.Errorf("replace recovery codes: %w", translate(err))
	}
	return nil
}

// UseRecoveryCode spends the user's unused recovery code with hash and returns
// how many unused codes remain. A code is spent once, atomically across
// instances: an unknown, used or another user's code gets ErrNotFound.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) (int, error) {
	if uuid.Validate(userID) != nil || len(hash) == 0 {
		return 0, fmt.Errorf("use recovery code: %w", ErrNotFound)
	}
	var remaining int64
	var spent bool
	err := s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, hash).
			Update("used_at", keyTime(time.Now()))
		if res.Error != nil {
			return res.Error
		}
		spent = res.RowsAffected == 1
		return s.conn(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&remaining).Error
	})
	if err != nil {
		return 0, fmt.Errorf("use recovery code: %w", translate(err))
	}
	if !spent {
		return int(remaining), fmt.Errorf("use recovery code: %w", ErrNotFound)
	}
	return int(remaining), nil
}

// CountRecoveryCodes returns how many unused recovery codes the user has.
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	if uuid.Validate(userID) != nil {
		return 0, nil
	}
	var n int64
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error
	})
	if err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", translate(err))
	}
	return int(n), nil
}

// SetWebAuthnHandle gives the user the WebAuthn user handle (the random bytes an
// authenticator stores instead of the e-mail) when they have none yet, and
// returns the handle the user has afterwards: the one given, or the one set
// before. A handle another user has gets ErrConflict.
func (s *Store) SetWebAuthnHandle(ctx context.Context, userID string, handle []byte) ([]byte, error) {
	if uuid.Validate(userID) != nil {
		return nil, fmt.Errorf("set webauthn handle: %w", ErrNotFound)
	}
	if len(handle) == 0 || len(handle) > 64 {
		return nil, errors.New("set webauthn handle: a handle is 1 to 64 bytes")
	}
	var u User
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Model(&User{}).Where("id = ? AND webauthn_handle IS NULL", userID).
			Update("webauthn_handle", handle).Error; err != nil {
			return err
		}
		return s.conn(ctx).Select("id", "webauthn_handle").Where("id = ?", userID).Take(&u).Error
	})
	if err != nil {
		return nil, fmt.Errorf("set webauthn handle: %w", translate(err))
	}
	return []byte(u.WebAuthnHandle), nil
}

// GetUserByWebAuthnHandle returns the user with the WebAuthn user handle, or
// ErrNotFound.
func (s *Store) GetUserByWebAuthnHandle(ctx context.Context, handle []byte) (User, error) {
	if len(handle) == 0 {
		return User{}, fmt.Errorf("get user by webauthn handle: %w", ErrNotFound)
	}
	var u User
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Where("webauthn_handle = ?", handle).Take(&u).Error
	})
	if err != nil {
		return User{}, fmt.Errorf("get user by webauthn handle: %w", translate(err))
	}
	return u, nil
}

func (s *Store) factorQuery(where string, args ...any) func(ctx context.Context) *gorm.DB {
	return func(ctx context.Context) *gorm.DB { return s.conn(ctx).Model(&Factor{}).Where(where, args...) }
}

// updateRows runs one conditional UPDATE and returns the rows it changed.
func (s *Store) updateRows(ctx context.Context, q func(ctx context.Context) *gorm.DB, set map[string]any) (int64, error) {
	var rows int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := q(ctx).Updates(set)
		rows = res.RowsAffected
		return res.Error
	})
	return rows, translate(err)
}

// NullBytes is a byte string stored as NULL when empty, so that a unique column
// holds any number of absent values (an empty byte string would collide).
type NullBytes []byte

// GormDataType keeps the column a byte string in every dialect.
func (NullBytes) GormDataType() string { return "bytes" }

// Value stores an empty value as NULL.
func (b NullBytes) Value() (driver.Value, error) {
	if len(b) == 0 {
		return nil, nil
	}
	return []byte(b), nil
}

// Scan reads a byte string or NULL.
func (b *NullBytes) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = append(NullBytes(nil), v...)
	case string:
		*b = NullBytes(v)
	default:
		return fmt.Errorf("null bytes: unsupported column type %T", v)
	}
	return nil
}
