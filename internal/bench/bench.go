package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"
)

// Options configure a run.
type Options struct {
	// URL is the issuer (public base URL) of the deployment under test.
	URL string
	// AdminURL and AdminToken reach the admin API, through which the run creates
	// (and afterwards deletes) its client and user.
	AdminURL, AdminToken string
	Concurrency          int
	Duration, Warmup     time.Duration
	// PID is the server's process id on this machine (0: not measured).
	PID int
	// IDTokenAlg is the id_token_signed_response_alg of the authorization-code
	// scenario's client (RS256 or ES256); empty means the server's default.
	IDTokenAlg string
	// HTTP is the client; nil means one tuned for many connections to one host.
	HTTP *http.Client
}

// Result is what a run measured, after the warm-up.
type Result struct {
	Scenario    string           `json:"scenario"`
	Concurrency int              `json:"concurrency"`
	Seconds     float64          `json:"seconds"`
	Requests    int64            `json:"requests"`
	Errors      map[string]int64 `json:"errors"`
	// Unfinished counts the operations still waiting for an answer when the
	// run ended: they are neither requests nor errors, and a run where nothing
	// completes shows them here instead of as "0 req/s, 0 errors".
	Unfinished int64   `json:"unfinished"`
	PerSecond  float64 `json:"per_second"`
	P50        Millis  `json:"p50_ms"`
	P90        Millis  `json:"p90_ms"`
	P99        Millis  `json:"p99_ms"`
	Max        Millis  `json:"max_ms"`
	// ServerCPUSeconds and ServerCPUPerRequest are measured from /proc when a PID is
	// given. PeakRSSBytes is the largest resident set (VmRSS) sampled while the
	// scenario was measured; LifetimePeakRSSBytes is the process's peak since it
	// started (VmHWM), which includes earlier scenarios and set-up.
	ServerCPUSeconds     float64 `json:"server_cpu_seconds,omitempty"`
	ServerCPUPerRequest  Millis  `json:"server_cpu_ms_per_request,omitempty"`
	PeakRSSBytes         int64   `json:"server_peak_rss_bytes,omitempty"`
	LifetimePeakRSSBytes int64   `json:"server_lifetime_peak_rss_bytes,omitempty"`
}

// Millis is a duration written as fractional milliseconds.
type Millis float64

func millis(d time.Duration) Millis { return Millis(float64(d.Microseconds()) / 1000) }

// scenario is one kind of load. setup runs once; op runs in a loop on each
// worker and returns "" on success or the kind of error.
type scenario interface {
	setup(ctx context.Context, e *env) error
	// worker returns the operation one worker repeats (its own state in the closure).
	worker(ctx context.Context, e *env, id int) (func(ctx context.Context) string, error)
	cleanup(ctx context.Context, e *env)
}

// Scenarios lists the scenario names Run accepts.
func Scenarios() []string {
	return []string{"client-credentials", "client-credentials-jwt", "introspection", "discovery", "authorization-code", "first-sign-in", "api-sign-in", "get-session"}
}

func newScenario(name string) (scenario, error) {
	switch name {
	case "client-credentials":
		return &clientCredentials{}, nil
	case "client-credentials-jwt":
		return &clientCredentials{jwt: true}, nil
	case "introspection":
		return &introspection{}, nil
	case "discovery":
		return &discovery{}, nil
	case "authorization-code":
		return &authorizationCode{}, nil
	case "first-sign-in":
		return &firstSignIn{}, nil
	case "api-sign-in":
		return &apiSignIn{}, nil
	case "get-session":
		return &getSession{}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (want one of %v)", name, Scenarios())
}

// Run runs one scenario and returns what it measured.
func Run(ctx context.Context, name string, o Options) (Result, error) {
	sc, err := newScenario(name)
	if err != nil {
		return Result{}, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.HTTP == nil {
		o.HTTP = newHTTPClient(o.Concurrency)
	}
	e := &env{o: o}
	if err := sc.setup(ctx, e); err != nil {
		return Result{}, fmt.Errorf("setup %s: %w", name, err)
	}
	defer sc.cleanup(context.WithoutCancel(ctx), e)

	ops := make([]func(context.Context) string, o.Concurrency)
	for i := range ops {
		if ops[i], err = sc.worker(ctx, e, i); err != nil {
			return Result{}, fmt.Errorf("prepare worker %d: %w", i, err)
		}
	}
	if o.Warmup > 0 {
		drive(ctx, ops, o.Warmup, false)
	}
	before, err := readProc(o.PID)
	if err != nil {
		return Result{}, err
	}
	stopSampling, peakRSS := sampleRSS(o.PID)
	start := time.Now()
	lat, errs, unfinished := drive(ctx, ops, o.Duration, true)
	elapsed := time.Since(start)
	stopSampling()
	after, err := readProc(o.PID)
	if err != nil {
		return Result{}, err
	}
	r := summarize(name, o.Concurrency, elapsed, lat, errs)
	r.Unfinished = unfinished
	if o.PID > 0 {
		r.ServerCPUSeconds = after.cpuSeconds - before.cpuSeconds
		if r.Requests > 0 {
			r.ServerCPUPerRequest = Millis(r.ServerCPUSeconds * 1000 / float64(r.Requests))
		}
		r.PeakRSSBytes = max(peakRSS(), after.rss)
		// The kernel's RSS counters are per-CPU approximations: a sample may
		// exceed the VmHWM read a moment later by a few pages.
		r.LifetimePeakRSSBytes = max(after.peakRSS, r.PeakRSSBytes)
	}
	return r, ctx.Err()
}

// drive runs every worker's op in a loop for d and returns the latencies of
// successful operations, the count of each error kind, and how many
// operations the end of the run cut off before they had an answer.
func drive(ctx context.Context, ops []func(context.Context) string, d time.Duration, record bool) ([]time.Duration, map[string]int64, int64) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	errs := map[string]int64{}
	var unfinished int64
	var wg sync.WaitGroup
	for _, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			mine := map[string]int64{}
			var cut int64
			for ctx.Err() == nil {
				t0 := time.Now()
				kind := op(ctx)
				if ctx.Err() != nil && kind != "" {
					cut++ // cut off by the end of the run, not a server error
					break
				}
				if kind != "" {
					mine[kind]++
					continue
				}
				if record {
					lat = append(lat, time.Since(t0))
				}
			}
			mu.Lock()
			all = append(all, lat...)
			for k, v := range mine {
				errs[k] += v
			}
			unfinished += cut
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, errs, unfinished
}

func summarize(name string, concurrency int, elapsed time.Duration, lat []time.Duration, errs map[string]int64) Result {
	slices.Sort(lat)
	var failed int64
	for _, n := range errs {
		failed += n
	}
	r := Result{Scenario: name, Concurrency: concurrency, Seconds: elapsed.Seconds(), Requests: int64(len(lat)) + failed, Errors: errs}
	if elapsed > 0 {
		r.PerSecond = float64(len(lat)) / elapsed.Seconds()
	}
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		i := sort.Search(len(lat), func(i int) bool { return float64(i+1)/float64(len(lat)) >= p })
		return lat[min(i, len(lat)-1)]
	}
	r.P50, r.P90, r.P99 = millis(pct(0.50)), millis(pct(0.90)), millis(pct(0.99))
	if len(lat) > 0 {
		r.Max = millis(lat[len(lat)-1])
	}
	return r
}

// errKind names an error for the error table.
func errKind(err error) string {
	var ue interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ue) && ue.Timeout():
		return "timeout"
	case err != nil:
		return "transport"
	}
	return ""
}
