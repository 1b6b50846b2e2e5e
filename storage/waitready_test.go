package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// fakeClock is a clock that only moves when the code under test waits.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) wait(_ context.Context, d time.Duration) error {
	c.t = c.t.Add(d)
	return nil
}

// TestWaitReadySpendsItsBudget: database.connect_retry is the retry budget.
// WaitReady used to give up as soon as its next backoff would pass the
// deadline, so connect_retry=5s gave up after 2.7 s; it tries until the budget
// is spent, with its last attempt at the deadline, and never waits past it.
func TestWaitReadySpendsItsBudget(t *testing.T) {
	refused := errors.New("connection refused")
	for _, tc := range []struct {
		name  string
		bound time.Duration
		// answersAt is when the database starts answering, after the start;
		// negative: never.
		answersAt time.Duration
		wantErr   bool
	}{
		{"never answers, 5s", 5 * time.Second, -1, true},
		{"never answers, 30s", 30 * time.Second, -1, true},
		{"answers at the deadline", 5 * time.Second, 5 * time.Second, false},
		{"answers just before the deadline", 5 * time.Second, 4900 * time.Millisecond, false},
		{"answers at once", 5 * time.Second, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := &fakeClock{t: start}
			deadline := start.Add(tc.bound)
			var attempts []time.Time
			attempt := func(context.Context) error {
				attempts = append(attempts, clock.now())
				if tc.answersAt >= 0 && !clock.now().Before(start.Add(tc.answersAt)) {
					return nil
				}
				return refused
			}
			var retries int
			err := storage.RetryUntil(t.Context(), tc.bound, clock.now, clock.wait, attempt, func(int, time.Duration, error) { retries++ })
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("RetryUntil(%s) = %v, want error %v; attempts at %v", tc.bound, err, tc.wantErr, offsets(start, attempts))
			}
			last := attempts[len(attempts)-1]
			if last.After(deadline) {
				t.Errorf("last attempt at +%s, after the %s budget", last.Sub(start), tc.bound)
			}
			if tc.wantErr {
				if !last.Equal(deadline) {
					t.Errorf("last attempt at +%s, want at the deadline +%s (attempts at %v)", last.Sub(start), tc.bound, offsets(start, attempts))
				}
				if !errors.Is(err, refused) || !strings.Contains(err.Error(), tc.bound.String()) {
					t.Errorf("error %q, want the last error and the bound %s", err, tc.bound)
				}
			}
			if retries != len(attempts)-1 {
				t.Errorf("onRetry heard of %d retries, want %d (one per attempt but the last)", retries, len(attempts)-1)
			}
		})
	}
}

func offsets(start time.Time, ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = "+" + t.Sub(start).String()
	}
	return out
}

// TestWaitReadyStopsWithContext: a cancelled start-up stops waiting at once.
func TestWaitReadyStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	clock := &fakeClock{t: time.Unix(0, 0)}
	calls := 0
	err := storage.RetryUntil(ctx, time.Minute, clock.now, clock.wait, func(context.Context) error {
		calls++
		cancel()
		return errors.New("connection refused")
	}, func(int, time.Duration, error) {})
	if err == nil || calls != 1 {
		t.Fatalf("RetryUntil after cancel = %v after %d attempts, want an error after 1", err, calls)
	}
}
