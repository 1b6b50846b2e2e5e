package identity

import (
	"errors"
	"sync"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"golang.org/x/crypto/argon2"
)

// keyCounter stands in for argon2.IDKey and records the cost parameters of
// each call, so a test can see that two answers cost the same hashing.
type keyCounter struct {
	mu    sync.Mutex
	calls []Params
}

func (k *keyCounter) idKey(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	k.mu.Lock()
	k.calls = append(k.calls, Params{MemoryKiB: memory, Iterations: time, Parallelism: threads, KeyLen: keyLen})
	k.mu.Unlock()
	return argon2.IDKey(pw, salt, time, memory, threads, keyLen)
}

// take returns the calls since the last take.
func (k *keyCounter) take() []Params {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.calls
	k.calls = nil
	return c
}

// TestUnknownAddressesCostTheSame: a sign-in with an unknown address hashes
// exactly as one with a known address does (once, with the same parameters),
// locked or not, and a sign-up with a taken address exactly as one with a new
// address: nothing in the work done tells which addresses are registered.
func TestUnknownAddressesCostTheSame(t *testing.T) {
	store := storagetest.OpenSQLite(t)
	p := Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	s := New(store, Options{Params: p, AccountFailures: 2, IPFailures: 100})
	k := &keyCounter{}
	s.idKey = k.idKey
	ctx := t.Context()
	if _, err := s.CreateUser(ctx, SignUpInput{Email: "known@example.com", Password: "right-password-1"}, true); err != nil {
		t.Fatal(err)
	}
	k.take()

	want := []Params{{MemoryKiB: 64, Iterations: 1, Parallelism: 1, KeyLen: 32}}
	same := func(what string, got []Params, want []Params) {
		t.Helper()
		if len(got) != len(want) || (len(got) == 1 && got[0] != want[0]) {
			t.Errorf("%s: argon2id calls %+v, want %+v", what, got, want)
		}
	}
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		for i := range 2 {
			if _, err := s.Authenticate(ctx, email, "wrong-password", "192.0.2.1"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Authenticate(%s) %d: %v", email, i, err)
			}
			same("wrong password for "+email, k.take(), want)
		}
		// The failure past the limit is checked, then locks; once locked,
		// both are refused before any hashing.
		for _, cost := range [][]Params{want, nil} {
			var te *ThrottledError
			if _, err := s.Authenticate(ctx, email, "wrong-password", "192.0.2.1"); !errors.As(err, &te) {
				t.Fatalf("Authenticate(%s) past the limit: %v", email, err)
			}
			same("past the limit, "+email, k.take(), cost)
		}
	}
	if _, err := s.Authenticate(ctx, "known@example.com", "right-password-1", "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	same("right password", k.take(), want)

	for _, email := range []string{"new@example.com", "known@example.com"} {
		ticket, err := s.SignUp(ctx, SignUpInput{Email: email, Password: "sign-up-password"}, "192.0.2.3")
		if err != nil || len(ticket) != 43 {
			t.Fatalf("SignUp(%s) = %q, %v", email, ticket, err)
		}
		same("sign-up with "+email, k.take(), want)
	}
}
