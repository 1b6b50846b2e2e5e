package storagetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresServerOptions shape a throwaway PostgreSQL server.
type PostgresServerOptions struct {
	// Password, when set, is the password of the superuser "postgres", and TCP
	// connections must authenticate with scram-sha-256. Empty means trust.
	Password string
	// TLS turns on ssl with a self-signed certificate for 127.0.0.1 and localhost;
	// RootCertFile names it for sslmode=verify-full.
	TLS bool
}

// PostgresServer is a PostgreSQL cluster of its own, in a temporary directory, on a
// free loopback port. Tests that stop or break the server use it instead of the
// shared TEST_DATABASE_URL server. Build it with StartPostgres.
type PostgresServer struct {
	// RootCertFile is the PEM certificate the server presents (its own CA), set when
	// TLS is on.
	RootCertFile string

	opts    PostgresServerOptions
	bin     string
	dir     string // owned by the server's user
	dataDir string
	logFile string
	port    int
	asUser  *user.User // non-nil when the binaries run through runuser

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// postgresBinDir finds the PostgreSQL server binaries: PG_BIN, else the newest
// /usr/lib/postgresql/*/bin with an initdb.
func postgresBinDir() string {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// StartPostgres initialises and starts a new PostgreSQL cluster, waits until it
// accepts connections, and removes it when t ends. Without the PostgreSQL server
// binaries the test fails when CI is set and is skipped otherwise.
func StartPostgres(t testing.TB, o PostgresServerOptions) *PostgresServer {
	t.Helper()
	bin := postgresBinDir()
	if bin == "" {
		msg := "no PostgreSQL server binaries (initdb, postgres): install the Debian package postgresql, or set PG_BIN"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Not t.TempDir: its parents are private to the test's user, and the server may
	// run as another one.
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &PostgresServer{opts: o, bin: bin, dir: dir, dataDir: filepath.Join(dir, "data"), logFile: filepath.Join(dir, "postgres.log")}
	t.Cleanup(func() {
		s.stop(t)
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		if s.asUser, err = user.Lookup("postgres"); err != nil {
			t.Fatalf("running as root, and there is no user postgres to run the server as: %v", err)
		}
	}
	if err := s.chown(dir); err != nil {
		t.Fatal(err)
	}

	args := []string{"-D", s.dataDir, "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"}
	if o.Password != "" {
		pwFile := filepath.Join(dir, "pwfile")
		if err := os.WriteFile(pwFile, []byte(o.Password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.chown(pwFile); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--pwfile="+pwFile, "--auth-local=trust", "--auth-host=scram-sha-256")
	} else {
		args = append(args, "--auth=trust")
	}
	if out, err := s.command("initdb", args...).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(dir, "pwfile"))
	if o.TLS {
		if err := s.writeCertificate(); err != nil {
			t.Fatalf("TLS certificate: %v", err)
		}
	}
	s.port = freePort(t)
	s.Start(t)
	return s
}

// URL returns the superuser's URL for the database "postgres": sslmode=require
// when TLS is on, sslmode=disable otherwise.
func (s *PostgresServer) URL() string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), Path: "/postgres"}
	if s.opts.Password != "" {
		u.User = url.UserPassword("postgres", s.opts.Password)
	} else {
		u.User = url.User("postgres")
	}
	mode := "disable"
	if s.opts.TLS {
		mode = "require"
	}
	u.RawQuery = "sslmode=" + mode
	return u.String()
}

// Port returns the loopback port the server listens on; it stays the same across
// Stop and Start.
func (s *PostgresServer) Port() int { return s.port }

// Start starts the server (again) on the same port and data directory and waits
// until it accepts connections.
func (s *PostgresServer) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		t.Fatal("StartPostgres: server already running")
	}
	args := []string{"-D", s.dataDir, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + s.dir,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
		"-c", "max_connections=60", "-c", "shared_buffers=16MB",
	}
	if s.opts.TLS {
		args = append(args, "-c", "ssl=on",
			"-c", "ssl_cert_file="+filepath.Join(s.dataDir, "server.crt"),
			"-c", "ssl_key_file="+filepath.Join(s.dataDir, "server.key"))
	}
	logf, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := s.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start postgres: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	if err := s.waitReady(t.Context(), done, 60*time.Second); err != nil {
		t.Fatalf("postgres on port %d: %v\n%s", s.port, err, s.logTail())
	}
}

// Stop shuts the server down (fast mode: sessions end with SQLSTATE 57P01, as in
// a Neon suspend) and waits until it has exited. Start brings it back.
func (s *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	s.stop(t)
}

func (s *PostgresServer) stop(t testing.TB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	out, err := s.command("pg_ctl", "stop", "-D", s.dataDir, "-m", "fast", "-w", "-t", "60").CombinedOutput()
	if err != nil {
		t.Errorf("pg_ctl stop: %v\n%s", err, out)
		s.cmd.Process.Kill()
	}
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		t.Errorf("postgres on port %d did not exit\n%s", s.port, s.logTail())
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// waitReady connects until the server answers (authentication and TLS included),
// the process exits, or the bound passes.
func (s *PostgresServer) waitReady(ctx context.Context, exited <-chan struct{}, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgconn.Connect(attempt, s.URL())
		cancelAttempt()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("exited before accepting connections (last attempt: %v)", last)
		case <-ctx.Done():
			return fmt.Errorf("not ready within %s: %v", bound, last)
		case <-tick.C:
		}
	}
}

// command builds an exec.Cmd for one of the server binaries, through runuser when
// the test runs as root.
func (s *PostgresServer) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.asUser != nil {
		return exec.Command("runuser", append([]string{"-u", s.asUser.Username, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// chown gives path to the server's user when the test runs as root.
func (s *PostgresServer) chown(path string) error {
	if s.asUser == nil {
		return nil
	}
	uid, _ := strconv.Atoi(s.asUser.Uid)
	gid, _ := strconv.Atoi(s.asUser.Gid)
	return os.Chown(path, uid, gid)
}

func (s *PostgresServer) logTail() string {
	b, _ := os.ReadFile(s.logFile)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "--- postgres log ---\n" + string(b)
}

// writeCertificate creates a self-signed certificate for 127.0.0.1 and localhost in
// the data directory, readable by the server's user only.
func (s *PostgresServer) writeCertificate() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "gatehouse test postgres"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	files := []struct {
		path string
		data []byte
	}{
		{filepath.Join(s.dataDir, "server.crt"), certPEM},
		{filepath.Join(s.dataDir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
		{filepath.Join(s.dir, "root.crt"), certPEM},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return err
		}
		if err := s.chown(f.path); err != nil {
			return err
		}
	}
	// The client side reads the root certificate as the test's user.
	if err := os.Chmod(filepath.Join(s.dir, "root.crt"), 0o644); err != nil {
		return err
	}
	s.RootCertFile = filepath.Join(s.dir, "root.crt")
	return nil
}

// freePort returns a loopback TCP port that nothing listened on a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
