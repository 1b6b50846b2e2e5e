package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// ErrNoSecret means the store was opened without a system secret, so it cannot
// encrypt or decrypt protocol records.
var ErrNoSecret = errors.New("no system secret configured: protocol records are encrypted at rest and need one")

// defaultRecordLifetime bounds a record whose session names no expiry, so the
// sweeper removes it eventually. fosite then checks expiry against its configured
// lifespans, which are far shorter.
const defaultRecordLifetime = 30 * 24 * time.Hour

// neverExpires is the expiry of a refresh token without one (fosite reads a zero
// refresh-token expiry as unlimited).
var neverExpires = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// requestRow is one fosite request as every protocol table stores it.
type requestRow struct {
	Signature         string
	RequestID         string
	RequestedAt       time.Time
	ClientID          string
	Subject           string
	RequestedScopes   StringList
	GrantedScopes     StringList
	RequestedAudience StringList
	GrantedAudience   StringList
	Active            bool
	ExpiresAt         time.Time
	Form              []byte
	Session           []byte
}

// refreshRow is a refresh_tokens row.
type refreshRow struct {
	Req                  requestRow `gorm:"embedded"`
	AccessTokenSignature string
	RotatedAt            *time.Time
}

// parRow is a par_requests row.
type parRow struct {
	Req                  requestRow `gorm:"embedded"`
	ResponseTypes        StringList
	HandledResponseTypes StringList
	RedirectURI          string `gorm:"column:redirect_uri"`
	State                string
	ResponseMode         string
	DefaultResponseMode  string
}

// hashKey is the key of a record fosite names by a secret (an authorization code)
// or by a string of unbounded length (a request_uri).
func hashKey(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// sealAAD binds a sealed column to its table, row and column, so a sealed value
// cannot be moved elsewhere.
func sealAAD(table, key, column string) []byte {
	return []byte(table + ":" + key + ":" + column)
}

// encodeRequest turns r into a row of table under key. The session's expiry for
// tokenType becomes expires_at.
func (s *Store) encodeRequest(table, key string, r fosite.Requester, tokenType fosite.TokenType) (requestRow, error) {
	if s.sealer == nil {
		return requestRow{}, ErrNoSecret
	}
	if r.GetClient() == nil {
		return requestRow{}, errors.New("request has no client")
	}
	form, err := json.Marshal(r.GetRequestForm())
	if err != nil {
		return requestRow{}, fmt.Errorf("encode request form: %w", err)
	}
	sess := r.GetSession()
	session, err := json.Marshal(sess)
	if err != nil {
		return requestRow{}, fmt.Errorf("encode session: %w", err)
	}
	requestedAt := r.GetRequestedAt().UTC()
	if requestedAt.IsZero() {
		requestedAt = time.Now().UTC()
	}
	row := requestRow{
		Signature:         key,
		RequestID:         r.GetID(),
		RequestedAt:       requestedAt,
		ClientID:          r.GetClient().GetID(),
		RequestedScopes:   StringList(r.GetRequestedScopes()),
		GrantedScopes:     StringList(r.GetGrantedScopes()),
		RequestedAudience: StringList(r.GetRequestedAudience()),
		GrantedAudience:   StringList(r.GetGrantedAudience()),
		Active:            true,
		Form:              s.sealer.Seal(form, sealAAD(table, key, "form")),
		Session:           s.sealer.Seal(session, sealAAD(table, key, "session")),
	}
	if sess != nil {
		row.Subject = sess.GetSubject()
		row.ExpiresAt = sess.GetExpiresAt(tokenType).UTC()
	}
	if row.ExpiresAt.IsZero() {
		if tokenType == fosite.RefreshToken {
			row.ExpiresAt = neverExpires
		} else {
			row.ExpiresAt = time.Now().UTC().Add(defaultRecordLifetime)
		}
	}
	return row, nil
}

// decodeRequest rebuilds the request stored in row of table, decoding the session
// into session (or, when nil, into a new one from Options.NewSession).
func (s *Store) decodeRequest(ctx context.Context, table string, row *requestRow, session fosite.Session) (*fosite.Request, error) {
	if s.sealer == nil {
		return nil, ErrNoSecret
	}
	if session == nil {
		session = s.newSession()
	}
	rawSession, err := s.sealer.Open(row.Session, sealAAD(table, row.Signature, "session"))
	if err != nil {
		return nil, fmt.Errorf("decrypt session: %w", err)
	}
	if err := json.Unmarshal(rawSession, session); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	rawForm, err := s.sealer.Open(row.Form, sealAAD(table, row.Signature, "form"))
	if err != nil {
		return nil, fmt.Errorf("decrypt request form: %w", err)
	}
	form := url.Values{}
	if err := json.Unmarshal(rawForm, &form); err != nil {
		return nil, fmt.Errorf("decode request form: %w", err)
	}
	if form == nil {
		form = url.Values{}
	}
	client, err := s.GetClient(ctx, row.ClientID)
	if err != nil {
		return nil, err
	}
	return &fosite.Request{
		ID:                row.RequestID,
		RequestedAt:       row.RequestedAt.UTC(),
		Client:            client,
		RequestedScope:    fosite.Arguments(row.RequestedScopes),
		GrantedScope:      fosite.Arguments(row.GrantedScopes),
		RequestedAudience: fosite.Arguments(row.RequestedAudience),
		GrantedAudience:   fosite.Arguments(row.GrantedAudience),
		Form:              form,
		Session:           session,
	}, nil
}

// createRequest inserts r into table under key.
func (s *Store) createRequest(ctx context.Context, table, key string, r fosite.Requester, tokenType fosite.TokenType) error {
	row, err := s.encodeRequest(table, key, r, tokenType)
	if err != nil {
		return err
	}
	if t := pgTxOf(ctx); t != nil {
		s.used(ctx)
		return s.write(ctx, func(context.Context) error { t.queue(insertOp(table, row)); return nil })
	}
	if table == accessTokenTable && !inTx(ctx) {
		s.accessTokensOnce.Do(func() { s.accessTokens = newRowBatcher(s, accessTokenTable) })
		if s.accessTokens != nil {
			return s.accessTokens.insert(ctx, row)
		}
	}
	return s.write(ctx, func(ctx context.Context) error { return s.insertRequestRows(ctx, table, row) })
}

// param is the placeholder of the n-th (from 1) argument of a statement written
// out in SQL: $n on PostgreSQL, ? on SQLite.
func (s *Store) param(n int) string {
	if s.dialect == SQLite {
		return "?"
	}
	return "$" + strconv.Itoa(n)
}

// insertRequestRows inserts rows into table in one statement, written out in SQL
// for the same reason as takeRequestRow.
func (s *Store) insertRequestRows(ctx context.Context, table string, rows ...requestRow) error {
	var q strings.Builder
	q.Grow(len(table) + len(requestColumns) + 64*len(rows))
	q.WriteString("INSERT INTO " + table + " (" + requestColumns + ") VALUES ")
	args := make([]any, 0, 13*len(rows))
	for i, r := range rows {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('(')
		for c := range 13 {
			if c > 0 {
				q.WriteByte(',')
			}
			q.WriteString(s.param(len(args) + c + 1))
		}
		q.WriteByte(')')
		args = append(args, r.Signature, r.RequestID, r.RequestedAt, r.ClientID, r.Subject,
			r.RequestedScopes, r.GrantedScopes, r.RequestedAudience, r.GrantedAudience,
			r.Active, r.ExpiresAt, r.Form, r.Session)
	}
	_, err := s.sqlConn(ctx).ExecContext(ctx, q.String(), args...)
	if t, ok := s.db.Dialector.(gorm.ErrorTranslator); ok && err != nil {
		// As GORM would: a taken signature becomes gorm.ErrDuplicatedKey, which
		// translate reports as ErrConflict.
		err = t.Translate(err)
	}
	return err
}

// requestColumns are requestRow's columns, in the order scanRequestRow reads them.
const requestColumns = "signature, request_id, requested_at, client_id, subject, requested_scopes, granted_scopes, requested_audience, granted_audience, active, expires_at, form, session"

// takeRequestRow reads the row of table with key, or returns fosite.ErrNotFound.
// It is takeRow for the tables every token request reads, written out in SQL:
// GORM's reflection cost more than the query on the token and introspection
// endpoints.
func (s *Store) takeRequestRow(ctx context.Context, table, key string, row *requestRow) error {
	if t := pgTxOf(ctx); t != nil {
		m, err := s.pipelinedRow(ctx, t, table, key, false)
		if err != nil {
			return err
		}
		*row = m.row
		return nil
	}
	if ts := tokenSubjectOf(ctx); ts != nil && table == accessTokenTable {
		return s.takeTokenWithSubject(ctx, key, row, ts)
	}
	q := "SELECT " + requestColumns + " FROM " + table + " WHERE signature = " + s.param(1)
	err := s.read(ctx, func(ctx context.Context) error {
		return s.sqlConn(ctx).QueryRowContext(ctx, q, key).Scan(
			&row.Signature, &row.RequestID, &row.RequestedAt, &row.ClientID, &row.Subject,
			&row.RequestedScopes, &row.GrantedScopes, &row.RequestedAudience, &row.GrantedAudience,
			&row.Active, &row.ExpiresAt, &row.Form, &row.Session)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return fosite.ErrNotFound
	}
	return err
}

// takeRow reads the row of table with key into dst, or returns fosite.ErrNotFound.
func (s *Store) takeRow(ctx context.Context, table, key string, dst any) error {
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Table(table).Where("signature = ?", key).Take(dst).Error
	})
	if errors.Is(translate(err), ErrNotFound) {
		return fosite.ErrNotFound
	}
	return err
}

// getRequest reads and decodes the row of table with key; inactive rows are
// returned as they are, for the caller to judge.
func (s *Store) getRequest(ctx context.Context, table, key string, session fosite.Session) (*fosite.Request, bool, error) {
	var row requestRow
	if err := s.takeRequestRow(ctx, table, key, &row); err != nil {
		return nil, false, err
	}
	req, err := s.decodeRequest(ctx, table, &row, session)
	if err != nil {
		return nil, false, err
	}
	return req, row.Active, nil
}

// deleteRow removes the row of table with key; a missing row is not an error.
func (s *Store) deleteRow(ctx context.Context, table, key string) error {
	if t := pgTxOf(ctx); t != nil {
		s.used(ctx)
		return s.write(ctx, func(context.Context) error {
			t.queue(pgOp{sql: "DELETE FROM " + table + " WHERE signature = $1", args: []any{key}})
			t.remember(table, key, nil)
			return nil
		})
	}
	return s.write(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Exec("DELETE FROM "+table+" WHERE signature = ?", key).Error
	})
}
