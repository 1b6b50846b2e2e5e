package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CreateSession stores a browser session. The caller sets TokenHash (SHA-256 of
// the cookie token), UserID and the expiry times; ID and CreatedAt are set here.
func (s *Store) CreateSession(ctx context.Context, bs BrowserSession) (BrowserSession, error) {
	if bs.ID == "" {
		bs.ID = uuid.NewString()
	}
	bs.CreatedAt = time.Now().UTC()
	bs.UserAgent = cleanText(bs.UserAgent) // a header, sent as the client likes
	bs.AuthTime, bs.LastSeenAt = bs.AuthTime.UTC(), bs.LastSeenAt.UTC()
	bs.IdleExpiresAt, bs.ExpiresAt = bs.IdleExpiresAt.UTC(), bs.ExpiresAt.UTC()
	if err := s.write(ctx, func(ctx context.Context) error { return s.conn(ctx).Create(&bs).Error }); err != nil {
		return BrowserSession{}, fmt.Errorf("create session: %w", translate(err))
	}
	return bs, nil
}

// GetSessionByTokenHash returns the session whose cookie token hashes to h and that
// has not expired at now, or ErrNotFound.
func (s *Store) GetSessionByTokenHash(ctx context.Context, h []byte, now time.Time) (BrowserSession, error) {
	var bs BrowserSession
	now = now.UTC()
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Where("token_hash = ? AND expires_at > ? AND idle_expires_at > ?", h, now, now).Take(&bs).Error
	})
	if err != nil {
		return BrowserSession{}, fmt.Errorf("get session: %w", translate(err))
	}
	return bs, nil
}

// sessionWithUser is a session read with its user and whether that user
// has a confirmed authenticator app, for GetSessionWithUser. Like
// sessionWithLink it is no table of its own; HasTOTP is a computed
// column of the read.
type sessionWithUser struct {
	BrowserSession
	HasTOTP bool `gorm:"column:user_has_totp;->"`
}

func (sessionWithUser) TableName() string { return "sessions" }

// userHasTOTP is the select column that says whether the session's user has
// a confirmed TOTP factor: an EXISTS on user_factors' user_id index, in the
// session's own statement. The kind is a constant, written inline so that
// the select needs no arguments (GORM keeps the join's columns only then).
const userHasTOTP = "EXISTS (SELECT 1 FROM user_factors WHERE user_factors.user_id = sessions.user_id" +
	" AND user_factors.kind = '" + FactorTOTP + "' AND user_factors.confirmed_at IS NOT NULL) AS user_has_totp"

// GetSessionWithUser is GetSessionByTokenHash with the session's user loaded
// (bs.User) and bs.UserHasTOTP set, in one indexed query (a join on the
// primary key and an EXISTS on the user's factors), for the callers that
// need both on every request.
func (s *Store) GetSessionWithUser(ctx context.Context, h []byte, now time.Time) (BrowserSession, error) {
	var row sessionWithUser
	now = now.UTC()
	err := s.read(ctx, func(ctx context.Context) error {
		row = sessionWithUser{}
		return s.conn(ctx).Select("sessions.*", userHasTOTP).Joins("User").
			Where("sessions.token_hash = ? AND sessions.expires_at > ? AND sessions.idle_expires_at > ?", h, now, now).
			Take(&row).Error
	})
	if err != nil {
		return BrowserSession{}, fmt.Errorf("get session with user: %w", translate(err))
	}
	if row.User == nil || row.User.ID == "" {
		return BrowserSession{}, fmt.Errorf("get session with user: %w", ErrNotFound)
	}
	bs := row.BrowserSession
	bs.UserHasTOTP = row.HasTOTP
	return bs, nil
}

// TouchSession records activity on the session: it moves LastSeenAt to now and the
// idle expiry to idleExpires (never past the absolute expiry).
func (s *Store) TouchSession(ctx context.Context, id string, now, idleExpires time.Time) error {
	idle := idleExpires.UTC()
	err := s.write(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Model(&BrowserSession{}).Where("id = ?", id).
			Updates(map[string]any{
				"last_seen_at":    now.UTC(),
				"idle_expires_at": gorm.Expr("CASE WHEN ? < expires_at THEN ? ELSE expires_at END", idle, idle),
			}).Error
	})
	if err != nil {
		return fmt.Errorf("touch session %s: %w", id, translate(err))
	}
	return nil
}

// ListUserSessions returns the user's unexpired sessions, newest first.
func (s *Store) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]BrowserSession, error) {
	var out []BrowserSession
	err := s.read(ctx, func(ctx context.Context) error {
		out = out[:0]
		return s.conn(ctx).Where("user_id = ? AND expires_at > ?", userID, now.UTC()).Order("created_at DESC").Find(&out).Error
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %s: %w", userID, translate(err))
	}
	return out, nil
}

// DeleteSession ends one session. Ending a session that is already gone is not an
// error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.write(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Where("id = ?", id).Delete(&BrowserSession{}).Error
	}); err != nil {
		return fmt.Errorf("delete session %s: %w", id, translate(err))
	}
	return nil
}

// DeleteUserSessions ends every session of the user and returns how many ended.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int64, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("user_id = ?", userID).Delete(&BrowserSession{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %s: %w", userID, translate(err))
	}
	return n, nil
}

// DeleteOtherUserSessions ends every session of the user but keepID (the browser
// that asked, after a password change) and returns how many ended. A keepID
// that names no session (such as "") keeps none.
func (s *Store) DeleteOtherUserSessions(ctx context.Context, userID, keepID string) (int64, error) {
	if uuid.Validate(keepID) != nil {
		return s.DeleteUserSessions(ctx, userID)
	}
	var n int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("user_id = ? AND id <> ?", userID, keepID).Delete(&BrowserSession{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("delete other sessions of user %s: %w", userID, translate(err))
	}
	return n, nil
}

// DeleteExpiredSessions removes up to limit sessions expired at now and returns
// how many it removed; call it until it returns less than limit.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int64, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context) error {
		sub := s.conn(ctx).Model(&BrowserSession{}).Select("id").
			Where("expires_at <= ? OR idle_expires_at <= ?", now.UTC(), now.UTC()).Limit(limit)
		res := s.conn(ctx).Where("id IN (?)", sub).Delete(&BrowserSession{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", translate(err))
	}
	return n, nil
}

// sessionWithLink is a session read with its user and that user's link to
// one client, for GetSessionForClient. It is not a table of its own: the
// relation Link exists only for the join.
type sessionWithLink struct {
	BrowserSession
	// Link is the account joined on (user_id, client_id): nil when the user
	// has none with the client.
	Link *Account `gorm:"foreignKey:UserID;references:UserID"`
}

func (sessionWithLink) TableName() string { return "sessions" }

// GetSessionForClient is GetSessionWithUser with the user's link to clientID
// (nil when there is none), read in the same statement: the session's row
// joined to its user on the primary key and to the link on its unique
// (user_id, client_id) key. An authorization needs all three before it can
// issue a code; on a distant database one round trip each would set its
// latency.
func (s *Store) GetSessionForClient(ctx context.Context, h []byte, now time.Time, clientID string) (BrowserSession, *Account, error) {
	var row sessionWithLink
	now = now.UTC()
	err := s.read(ctx, func(ctx context.Context) error {
		row = sessionWithLink{}
		// The link's client is named with its alias, so the join stays
		// unambiguous whatever columns the other tables gain.
		link := s.db.Where(clause.Eq{Column: clause.Column{Table: "Link", Name: "client_id"}, Value: clientID})
		return s.conn(ctx).Joins("User").Joins("Link", link).
			Where("sessions.token_hash = ? AND sessions.expires_at > ? AND sessions.idle_expires_at > ?", h, now, now).
			Take(&row).Error
	})
	if err != nil {
		return BrowserSession{}, nil, fmt.Errorf("get session for client %s: %w", clientID, translate(err))
	}
	if row.User == nil || row.User.ID == "" {
		return BrowserSession{}, nil, fmt.Errorf("get session for client %s: %w", clientID, ErrNotFound)
	}
	if row.Link != nil && row.Link.ID == "" {
		row.Link = nil // no link: GORM may still hand an empty one
	}
	return row.BrowserSession, row.Link, nil
}
