package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errKeysNoSealer refuses to handle signing keys without system secrets: private
// keys are never stored or read in clear.
var errKeysNoSealer = errors.New("no system secret configured: signing keys are stored only encrypted")

// signingKeyAAD binds a sealed private key to its row, so it cannot be copied to
// another kid.
func signingKeyAAD(kid string) []byte { return []byte("signing_keys:" + kid) }

// prepareSigningKey fills defaults, seals private and normalises times to UTC.
func (s *Store) prepareSigningKey(k SigningKey, private []byte) (SigningKey, error) {
	if s.sealer == nil {
		return SigningKey{}, errKeysNoSealer
	}
	if k.KID == "" || k.Alg == "" || len(private) == 0 || k.PublicJWK == "" {
		return SigningKey{}, errors.New("kid, alg, private key and public JWK are required")
	}
	if k.Use == "" {
		k.Use = "sig"
	}
	if k.State == "" {
		k.State = SigningKeyActive
	}
	now := time.Now().UTC()
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now
	}
	if k.ActivatedAt.IsZero() {
		k.ActivatedAt = k.CreatedAt
	}
	k.CreatedAt = keyTime(k.CreatedAt)
	k.ActivatedAt = keyTime(k.ActivatedAt)
	k.RetiredAt = keyTimePtr(k.RetiredAt)
	k.PublishUntil = keyTimePtr(k.PublishUntil)
	k.PrivateKey = s.sealer.Seal(private, signingKeyAAD(k.KID))
	return k, nil
}

// utc returns t in UTC at the microsecond precision PostgreSQL keeps, so a value
// reads back equal on every dialect.
func keyTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func keyTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := keyTime(*t)
	return &v
}

// CreateSigningKey stores k with its private key (PKCS #8 DER), which it seals with
// the system secret; k.PrivateKey is ignored. Use defaults to "sig", State to
// active, CreatedAt to now and ActivatedAt to CreatedAt. It returns ErrConflict when
// the kid exists or when k is active and another active key has the same alg, and
// an error when the store has no system secret.
func (s *Store) CreateSigningKey(ctx context.Context, k SigningKey, private []byte) error {
	row, err := s.prepareSigningKey(k, private)
	if err != nil {
		return fmt.Errorf("create signing key %s: %w", k.KID, err)
	}
	if err := s.write(ctx, func(ctx context.Context) error { return s.conn(ctx).Create(&row).Error }); err != nil {
		return fmt.Errorf("create signing key %s: %w", k.KID, translate(err))
	}
	return nil
}

// ListSigningKeys returns every signing key, newest first. PrivateKey holds the
// sealed bytes; use GetSigningKeyPrivate for the key itself.
func (s *Store) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	var out []SigningKey
	err := s.read(ctx, func(ctx context.Context) error {
		out = out[:0]
		return s.conn(ctx).Order("created_at DESC").Order("activated_at DESC").Order("kid").Find(&out).Error
	})
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", translate(err))
	}
	return out, nil
}

// GetSigningKeyPrivate returns the unsealed PKCS #8 DER private key of kid. It
// returns ErrNotFound for an unknown kid, an error without system secrets, and
// ErrUnsealable when no configured secret opens it.
func (s *Store) GetSigningKeyPrivate(ctx context.Context, kid string) ([]byte, error) {
	if s.sealer == nil {
		return nil, fmt.Errorf("get signing key %s: %w", kid, errKeysNoSealer)
	}
	var k SigningKey
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Select("kid", "private_key").Where("kid = ?", kid).Take(&k).Error
	})
	if err != nil {
		return nil, fmt.Errorf("get signing key %s: %w", kid, translate(err))
	}
	private, err := s.sealer.Open(k.PrivateKey, signingKeyAAD(k.KID))
	if err != nil {
		return nil, fmt.Errorf("get signing key %s: %w", kid, err)
	}
	return private, nil
}

// RotateSigningKey stores newKey as the active key of its alg and, in the same
// transaction, retires the previous active key of that alg (RetiredAt =
// newKey.ActivatedAt, PublishUntil = publishUntil). Concurrent rotations of one alg
// run one after the other, so each retires the key the previous one made and
// exactly one key per alg stays active. Once committed, it wakes the watchers of
// TopicSigningKeys on every instance that listens.
func (s *Store) RotateSigningKey(ctx context.Context, newKey SigningKey, private []byte, publishUntil time.Time) error {
	newKey.State = SigningKeyActive
	newKey.RetiredAt, newKey.PublishUntil = nil, nil
	row, err := s.prepareSigningKey(newKey, private)
	if err != nil {
		return fmt.Errorf("rotate signing key %s: %w", newKey.Alg, err)
	}
	err = s.InTx(ctx, func(ctx context.Context) error {
		// SQLite transactions begin IMMEDIATE and so already run one at a time. On
		// PostgreSQL, a rotation waiting on another's row lock would find no active
		// key left once it commits and then collide with the new one on the unique
		// index; this lock makes the second rotation start after the first commits.
		// It conflicts only with writers of this table; readers go on.
		if s.dialect == Postgres {
			if err := s.conn(ctx).Exec("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE").Error; err != nil {
				return err
			}
		}
		err := s.conn(ctx).Model(&SigningKey{}).
			Where("alg = ? AND state = ?", row.Alg, SigningKeyActive).
			Updates(map[string]any{
				"state":         SigningKeyRetired,
				"retired_at":    row.ActivatedAt,
				"publish_until": keyTime(publishUntil),
			}).Error
		if err != nil {
			return err
		}
		if err := s.conn(ctx).Create(&row).Error; err != nil {
			return err
		}
		if s.dialect == Postgres {
			// Delivered at commit: every listening instance reloads its keys.
			notify, args := s.notifySQL(TopicSigningKeys)
			if err := s.conn(ctx).Exec(notify, args...).Error; err != nil {
				return err
			}
		}
		s.announced(ctx, TopicSigningKeys)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rotate signing key %s: %w", newKey.Alg, translate(err))
	}
	return nil
}

// DeleteUnpublishedSigningKeys deletes the retired keys whose PublishUntil is not
// after now, and returns how many it deleted. Active keys are never deleted.
func (s *Store) DeleteUnpublishedSigningKeys(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).
			Where("state = ? AND publish_until IS NOT NULL AND publish_until <= ?", SigningKeyRetired, keyTime(now)).
			Delete(&SigningKey{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("delete unpublished signing keys: %w", translate(err))
	}
	return n, nil
}
