package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgbouncerPath finds the PgBouncer binary: PGBOUNCER, then PATH, then Debian's
// /usr/sbin (not on an ordinary user's PATH).
func pgbouncerPath() string {
	if p := os.Getenv("PGBOUNCER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer"
	}
	return ""
}

// StartPgBouncer starts PgBouncer in transaction pool mode in front of the server
// upstreamURL names, on a free loopback port, and stops it when t ends. It returns
// upstreamURL with PgBouncer's host and port: the same user and database, through
// the pooler. Every database of the upstream server is reachable through it, so
// WithDatabase may point the returned URL at another one.
//
// It is Neon's pooled endpoint, only stricter: a handful of server connections are
// shared by all clients, so a prepared statement or session setting rarely
// reaches the same backend twice. Without PgBouncer the test fails when CI is set
// and is skipped (with instructions) otherwise. Run as root, PgBouncer (which
// refuses root) runs as the user postgres.
func StartPgBouncer(t testing.TB, upstreamURL string) string {
	t.Helper()
	bin := pgbouncerPath()
	if bin == "" {
		msg := "no PgBouncer: install it (apt-get install pgbouncer) or set PGBOUNCER to its path"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	up, err := url.Parse(upstreamURL)
	if err != nil || !strings.HasPrefix(up.Scheme, "postgres") || up.User == nil {
		t.Fatalf("StartPgBouncer: want a postgres://user@host:port/db URL, got %s", storage.Describe(upstreamURL))
	}

	var cred *syscall.Credential
	var owner *user.User
	if os.Geteuid() == 0 {
		if owner, err = user.Lookup("postgres"); err != nil {
			t.Fatalf("running as root, and PgBouncer refuses root; no user postgres to run it as: %v", err)
		}
		uid, _ := strconv.ParseUint(owner.Uid, 10, 32)
		gid, _ := strconv.ParseUint(owner.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parents are private to the test's user, and PgBouncer may
	// run as another one.
	dir, err := os.MkdirTemp("", "gatehouse-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	give := func(path string) {
		t.Helper()
		if cred == nil {
			return
		}
		if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	give(dir)

	// PgBouncer logs in to the server as the connecting user, with the password
	// its auth_file gives for that user.
	password, _ := up.User.Password()
	userlist := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(userlist, fmt.Appendf(nil, "%q %q\n", up.User.Username(), password), 0o600); err != nil {
		t.Fatal(err)
	}
	give(userlist)

	host, port := up.Hostname(), up.Port()
	if port == "" {
		port = "5432"
	}
	serverTLS := "prefer"
	switch up.Query().Get("sslmode") {
	case "disable":
		serverTLS = "disable"
	case "require", "verify-ca", "verify-full":
		serverTLS = "require"
	}

	// Every test has its own database, so its own pool of server connections:
	// server_idle_timeout closes a finished test's within seconds, instead of
	// the default ten minutes in which a package's worth of idle pools reaches
	// PostgreSQL's max_connections while other packages run too.
	//
	// Another process may take the free port before PgBouncer binds it: try again
	// on a new one.
	var last error
	for range 3 {
		p := &pgbouncer{bin: bin, dir: dir, cred: cred}
		listen := freeLoopbackPort(t)
		cfg := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = 3
server_idle_timeout = 2
max_client_conn = 500
server_login_retry = 1
server_tls_sslmode = %s
ignore_startup_parameters = extra_float_digits
admin_users = %s
logfile = %s
`, host, port, listen, userlist, serverTLS, up.User.Username(), filepath.Join(dir, "pgbouncer.log"))
		cfgFile := filepath.Join(dir, "pgbouncer.ini")
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		give(cfgFile)

		pooled := *up
		pooled.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(listen))
		q := pooled.Query()
		q.Set("sslmode", "disable") // PgBouncer has no client-side TLS here
		pooled.RawQuery = q.Encode()

		if last = p.start(cfgFile); last != nil {
			t.Fatalf("start pgbouncer: %v", last)
		}
		if last = p.waitReady(t.Context(), pooled.String(), 30*time.Second); last == nil {
			t.Cleanup(func() { p.stop(t) })
			t.Logf("pgbouncer %s (transaction pool mode) on 127.0.0.1:%d in front of %s", bin, listen, net.JoinHostPort(host, port))
			return pooled.String()
		}
		p.stop(t)
		if !p.exitedEarly() {
			break
		}
	}
	t.Fatalf("pgbouncer did not accept connections: %v\n%s", last, tail(filepath.Join(dir, "pgbouncer.log")))
	return ""
}

// pgbouncer is one PgBouncer process.
type pgbouncer struct {
	bin    string
	dir    string
	cred   *syscall.Credential
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{} // closed when the process has exited

	mu    sync.Mutex
	early bool // exited before it accepted a connection
}

func (p *pgbouncer) start(cfgFile string) error {
	// No -d: it stays in the foreground, so the test owns the process.
	p.cmd = exec.Command(p.bin, cfgFile)
	p.cmd.Dir = p.dir
	p.cmd.Stderr = &p.stderr
	p.cmd.Stdout = &p.stderr
	// Should the test binary die before its cleanup runs (a timeout panic), the
	// kernel stops PgBouncer too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.done = make(chan struct{})
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	return nil
}

// waitReady polls until a query through PgBouncer reaches the server, the process
// exits, or the bound passes.
func (p *pgbouncer) waitReady(ctx context.Context, pooledURL string, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = pingThrough(ctx, pooledURL); last == nil {
			return nil
		}
		select {
		case <-p.done:
			p.mu.Lock()
			p.early = true
			p.mu.Unlock()
			return fmt.Errorf("pgbouncer exited: %v\n%s", last, p.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("not ready within %s: %w", bound, last)
		case <-tick.C:
		}
	}
}

func (p *pgbouncer) exitedEarly() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.early
}

// stop asks PgBouncer to shut down at once (SIGTERM) and waits for it.
func (p *pgbouncer) stop(t testing.TB) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("pgbouncer (pid %d) ignored SIGTERM; killing it", p.cmd.Process.Pid)
		p.cmd.Process.Kill()
		<-p.done
	}
}

// pingThrough connects to pooledURL and runs one query, which makes PgBouncer log
// in to the server.
func pingThrough(ctx context.Context, pooledURL string) error {
	attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(attempt, pooledURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(attempt, "SELECT 1").ReadAll()
	return err
}

// freeLoopbackPort returns a loopback TCP port nothing listened on a moment ago.
func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no log)"
		}
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "--- " + filepath.Base(path) + " ---\n" + string(b)
}
