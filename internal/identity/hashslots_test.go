package identity

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"golang.org/x/crypto/argon2"
)

// gatedKey stands in for argon2.IDKey: each call says it entered on entered,
// then waits for a token on release, so the test decides when hashes finish.
type gatedKey struct {
	entered        chan struct{}
	release        chan struct{}
	inFlight, most atomic.Int32
}

func newGatedKey(n int) *gatedKey {
	return &gatedKey{entered: make(chan struct{}, n), release: make(chan struct{}, n)}
}

func (g *gatedKey) idKey(_, _ []byte, _, _ uint32, _ uint8, keyLen uint32) []byte {
	n := g.inFlight.Add(1)
	for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
		// another call raised most meanwhile: compare again
	}
	g.entered <- struct{}{}
	<-g.release
	g.inFlight.Add(-1)
	return make([]byte, keyLen)
}

// TestMaxConcurrentHashes starts more hashes and checks than there are slots
// and checks that no more than MaxConcurrentHashes ever run at once.
func TestMaxConcurrentHashes(t *testing.T) {
	const limit, calls = 2, 8
	s := New(nil, Options{Params: Params{MemoryKiB: 64, Iterations: 1}, MaxConcurrentHashes: limit})
	g := newGatedKey(calls)
	s.idKey = g.idKey
	var wg sync.WaitGroup
	started := make(chan struct{}, calls)
	for i := range calls {
		wg.Go(func() {
			started <- struct{}{}
			var err error
			if i%2 == 0 {
				_, err = s.HashPassword("correct horse battery staple")
			} else {
				_, _, err = s.CheckPassword(s.dummyHash, "correct horse battery staple")
			}
			if err != nil {
				t.Errorf("hash %d: %v", i, err)
			}
		})
	}
	for range calls {
		<-started
	}
	for range limit {
		<-g.entered
	}
	// Every caller has started and limit hashes hold the slots; give the
	// others a moment in which a broken limit would let them in too.
	select {
	case <-g.entered:
		t.Errorf("hash %d started while %d were running; want at most %d at once", limit+1, limit, limit)
	case <-time.After(50 * time.Millisecond):
	}
	for range calls {
		g.release <- struct{}{}
	}
	wg.Wait()
	if got := g.most.Load(); got != limit {
		t.Errorf("at most %d hashes ran at once, want %d (MaxConcurrentHashes)", got, limit)
	}
}

// TestHashSlotWaitEndsWithContext checks that a hash queued behind a busy slot
// gives up when its context ends, and that such a sign-in counts no failure.
func TestHashSlotWaitEndsWithContext(t *testing.T) {
	store := storagetest.OpenSQLite(t)
	s := New(store, Options{Params: Params{MemoryKiB: 64, Iterations: 1}, MaxConcurrentHashes: 1, AccountFailures: 1})
	const email, password = "ada@example.com", "correct horse battery staple"
	if _, err := s.CreateUser(t.Context(), SignUpInput{Email: email, Password: password}, true); err != nil {
		t.Fatal(err)
	}
	g := newGatedKey(1)
	s.idKey = g.idKey
	done := make(chan error, 1)
	go func() {
		_, err := s.HashPassword("correct horse battery staple")
		done <- err
	}()
	<-g.entered // the only slot is taken

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.hash(ctx, "another password"); !errors.Is(err, context.Canceled) {
		t.Errorf("hash with an ended context = %v, want context.Canceled", err)
	}
	if _, _, err := s.checkPassword(ctx, s.dummyHash, "another password"); !errors.Is(err, context.Canceled) {
		t.Errorf("checkPassword with an ended context = %v, want context.Canceled", err)
	}
	// Twice: with AccountFailures 1, two counted failures would lock the account.
	for range 2 {
		if _, err := s.Authenticate(ctx, email, "wrong password", ""); !errors.Is(err, context.Canceled) {
			t.Errorf("Authenticate with an ended context = %v, want context.Canceled", err)
		}
	}
	g.release <- struct{}{}
	if err := <-done; err != nil {
		t.Errorf("HashPassword = %v", err)
	}
	s.idKey = argon2.IDKey
	if _, err := s.Authenticate(t.Context(), email, password, ""); err != nil {
		t.Errorf("Authenticate after two abandoned attempts = %v, want the user (no failure counted)", err)
	}
}
