package storage_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestSQLiteConcurrentWrites runs 20 goroutines that each sign a user up and in
// at once on one SQLite store, as concurrent requests do on the embedded default:
// with WAL, a busy timeout and immediate write transactions they wait for each
// other instead of failing with "database is locked".
func TestSQLiteConcurrentWrites(t *testing.T) {
	s := storagetest.OpenSQLite(t)
	ctx := t.Context()
	now := time.Now().UTC()
	const n = 20
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs <- signUpAndIn(ctx, s, i, now)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	users, err := s.ListUsers(ctx, storage.ListUsersOptions{})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if len(users) != n {
		t.Fatalf("ListUsers = %d users, want %d", len(users), n)
	}
	for _, u := range users {
		sessions, err := s.ListUserSessions(ctx, u.ID, now)
		if err != nil || len(sessions) != 2 {
			t.Errorf("ListUserSessions(%s) = %d sessions, %v; want 2", u.Email, len(sessions), err)
		}
		accounts, err := s.ListAccounts(ctx, u.ID)
		if err != nil || len(accounts) != 1 {
			t.Errorf("ListAccounts(%s) = %d, %v; want 1", u.Email, len(accounts), err)
		}
	}
}

// signUpAndIn creates user i and two sessions, reads them back, and records a
// consent in a transaction.
func signUpAndIn(ctx context.Context, s *storage.Store, i int, now time.Time) error {
	u, err := s.CreateUser(ctx, storage.User{Email: fmt.Sprintf("user%02d@example.com", i)})
	if err != nil {
		return fmt.Errorf("user %d: CreateUser: %w", i, err)
	}
	for j := range 2 {
		h := sha256.Sum256(fmt.Appendf(nil, "token-%d-%d", i, j))
		bs, err := s.CreateSession(ctx, storage.BrowserSession{
			TokenHash: h[:], UserID: u.ID, AuthTime: now, LastSeenAt: now,
			IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour),
		})
		if err != nil {
			return fmt.Errorf("user %d: CreateSession: %w", i, err)
		}
		if _, err := s.GetSessionByTokenHash(ctx, h[:], now); err != nil {
			return fmt.Errorf("user %d: GetSessionByTokenHash: %w", i, err)
		}
		if err := s.TouchSession(ctx, bs.ID, now, now.Add(2*time.Hour)); err != nil {
			return fmt.Errorf("user %d: TouchSession: %w", i, err)
		}
	}
	err = s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.GetUser(ctx, u.ID); err != nil {
			return err
		}
		_, err := s.RecordAuthorization(ctx, u.ID, "app", "openid", true, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("user %d: InTx: %w", i, err)
	}
	return nil
}
