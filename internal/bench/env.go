package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// env is what a run shares between setup, workers and cleanup.
type env struct {
	o        Options
	clientID string
	secret   string
	userID   string
	email    string
	password string
}

func newHTTPClient(concurrency int) *http.Client {
	t := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency * 2,
		MaxIdleConnsPerHost: concurrency * 2,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Transport: t, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// admin calls the admin API with a JSON body and decodes the JSON answer into out.
func (e *env) admin(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(e.o.AdminURL, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.o.AdminToken)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.o.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("admin %s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("admin %s %s: %w", method, path, err)
		}
	}
	return nil
}

// createClient registers the run's client through the admin API.
func (e *env) createClient(ctx context.Context, spec map[string]any) error {
	spec["client_name"] = "gatehouse bench " + randomHex(3)
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := e.admin(ctx, http.MethodPost, "/admin/clients", spec, &c); err != nil {
		return err
	}
	e.clientID, e.secret = c.ID, c.Secret
	return nil
}

// createUser registers the run's user through the admin API.
func (e *env) createUser(ctx context.Context) error {
	e.email = "bench-" + randomHex(6) + "@example.com"
	e.password = "bench " + randomHex(12)
	var u struct {
		ID string `json:"id"`
	}
	if err := e.admin(ctx, http.MethodPost, "/admin/users", map[string]any{"email": e.email, "password": e.password, "email_verified": true, "name": "Bench User"}, &u); err != nil {
		return err
	}
	e.userID = u.ID
	return nil
}

func (e *env) deleteAll(ctx context.Context) {
	if e.clientID != "" {
		_ = e.admin(ctx, http.MethodDelete, "/admin/clients/"+e.clientID, nil, nil)
	}
	if e.userID != "" {
		_ = e.admin(ctx, http.MethodDelete, "/admin/users/"+e.userID, nil, nil)
	}
}

// procStats is what /proc says of the server process.
type procStats struct {
	cpuSeconds float64
	rss        int64 // VmRSS
	peakRSS    int64 // VmHWM
}

// sampleRSS reads the resident set of process pid every 50 ms until stop is
// called; peak then returns the largest value seen (0 without a pid).
func sampleRSS(pid int) (stop func(), peak func() int64) {
	if pid <= 0 {
		return func() {}, func() int64 { return 0 }
	}
	var (
		most int64
		done = make(chan struct{})
		over = make(chan struct{})
	)
	go func() {
		defer close(over)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if s, err := readProc(pid); err == nil {
				most = max(most, s.rss)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-over }, func() int64 { return most }
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func readProc(pid int) (procStats, error) {
	if pid <= 0 {
		return procStats{}, nil
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStats{}, fmt.Errorf("read server process %d: %w", pid, err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return procStats{}, fmt.Errorf("read server process %d: short stat", pid)
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	var s procStats
	s.cpuSeconds = (utime + stime) / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStats{}, fmt.Errorf("read server process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			s.peakRSS = kb * 1024
		}
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			s.rss = kb * 1024
		}
	}
	return s, nil
}
