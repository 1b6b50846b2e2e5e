package storage

import (
	"context"
	"strings"
	"sync"

	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// TokenSubject receives the user an access token was issued for, read in the
// same statement as the token. The userinfo endpoint needs both, and fosite
// reads the token inside its introspection, where no user can be asked for:
// the endpoint hands a TokenSubject down in the context (WithTokenSubject) and
// GetAccessTokenSession fills it, so the request costs one round trip, not
// two.
type TokenSubject struct {
	// Read is set once an access token was read with its subject.
	Read bool
	// Subject is the token's subject as stored with it.
	Subject string
	// User is the user whose id is Subject; its ID is "" when there is none
	// (the user was deleted, or the token has no user: client_credentials).
	User User
}

type tokenSubjectKey struct{}

// WithTokenSubject returns ctx asking GetAccessTokenSession to read the
// token's subject into ts along with the token.
func WithTokenSubject(ctx context.Context, ts *TokenSubject) context.Context {
	return context.WithValue(ctx, tokenSubjectKey{}, ts)
}

func tokenSubjectOf(ctx context.Context) *TokenSubject {
	ts, _ := ctx.Value(tokenSubjectKey{}).(*TokenSubject)
	return ts
}

// tokenSubjectRow is an access_tokens row with the columns of its subject's
// users row, prefixed.
type tokenSubjectRow struct {
	Req  requestRow `gorm:"embedded"`
	User User       `gorm:"embedded;embeddedPrefix:subject__"`
}

// subjectSQL returns the statement that reads an access token by signature
// with its subject's user: every column GORM knows of users, so that a column
// added to User is read here too.
func (s *Store) subjectSQL() (string, error) {
	s.subject.once.Do(func() {
		stmt := &gorm.Statement{DB: s.db}
		if err := stmt.Parse(&User{}); err != nil {
			s.subject.err = err
			return
		}
		var cols strings.Builder
		for _, f := range stmt.Schema.Fields {
			if f.DBName == "" {
				continue
			}
			cols.WriteString(", u." + f.DBName + " AS subject__" + f.DBName)
		}
		// users.id is a uuid on PostgreSQL and subjects are text: a subject
		// that is not a UUID (none, or a JWT-bearer assertion's) matches no
		// user instead of failing the cast, and the join stays on the
		// primary key.
		on := "u.id = t.subject"
		if s.dialect == Postgres {
			on = "u.id = CASE WHEN t.subject ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN t.subject::uuid END"
		}
		t := make([]string, 0, 13)
		for _, c := range strings.Split(requestColumns, ", ") {
			t = append(t, "t."+c)
		}
		s.subject.query = "SELECT " + strings.Join(t, ", ") + cols.String() +
			" FROM " + accessTokenTable + " t LEFT JOIN users u ON " + on + " WHERE t.signature = ?"
	})
	return s.subject.query, s.subject.err
}

// takeTokenWithSubject reads the access token with signature into row and its
// subject's user into ts, in one statement; fosite.ErrNotFound when there is
// no such token.
func (s *Store) takeTokenWithSubject(ctx context.Context, signature string, row *requestRow, ts *TokenSubject) error {
	q, err := s.subjectSQL()
	if err != nil {
		return err
	}
	var rows []tokenSubjectRow
	err = s.read(ctx, func(ctx context.Context) error {
		rows = rows[:0]
		return s.conn(ctx).Raw(q, signature).Scan(&rows).Error
	})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fosite.ErrNotFound
	}
	*row = rows[0].Req
	*ts = TokenSubject{Read: true, Subject: row.Subject, User: rows[0].User}
	return nil
}

// subjectState is the Store's once-built statement of takeTokenWithSubject.
type subjectState struct {
	once  sync.Once
	query string
	err   error
}
