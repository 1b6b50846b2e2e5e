package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestExplainError(t *testing.T) {
	const connectPrefix = "failed to connect to `user=app database=gatehouse`: "
	for _, tc := range []struct {
		name      string
		err       error
		wantCause string // substring of Cause
		wantFix   string // substring of Fix
	}{
		{"nil", nil, "", ""},
		{"Neon endpoint ID not specified (SNI)",
			errors.New(connectPrefix + "ERROR: Endpoint ID is not specified. Either please upgrade the postgres client library (libpq) for SNI support or pass the endpoint ID (first part of the domain name) as a parameter: '?options=endpoint%3D<endpoint-id>'. See more at https://neon.tech/sni"),
			"did not send the host name (SNI)", "options=endpoint%3D"},
		{"Neon endpoint ID, short form",
			errors.New("ERROR: Endpoint ID is not specified. Either please upgrade the postgres client library (libpq) for SNI support or pass the endpoint ID (first part of the domain name) as a parameter"),
			"SNI", "host name"},
		{"host not found",
			fmt.Errorf(connectPrefix+"hostname resolving error: %w", &net.DNSError{Err: "no such host", Name: "db.gatehouse.invalid", IsNotFound: true}),
			"host not found", "typos"},
		{"DNS server misbehaving",
			errors.New("hostname resolving error: lookup ep-x.neon.tech on 10.0.0.2:53: server misbehaving"),
			"host not found", "check the host"},
		{"connection refused",
			errors.New(connectPrefix + "127.0.0.1:1 (127.0.0.1): dial error: dial tcp 127.0.0.1:1: connect: connection refused"),
			"connection refused", "5432"},
		{"password authentication failed by SQLSTATE",
			fmt.Errorf("failed SASL auth: %w", &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "app"`}),
			"password authentication failed", "percent-encoded"},
		{"password authentication failed by text",
			errors.New(`FATAL: password authentication failed for user "app" (SQLSTATE 28P01)`),
			"password authentication failed", "password"},
		{"TLS not supported by the server",
			errors.New(connectPrefix + "127.0.0.1:5432 (127.0.0.1): tls error: server refused TLS connection"),
			"TLS not supported", "sslmode=disable"},
		{"TLS not supported, libpq wording",
			errors.New("server does not support SSL, but SSL was required"),
			"TLS not supported", "ssl"},
		{"Neon: connection is insecure",
			errors.New(connectPrefix + "ERROR: connection is insecure (try using `sslmode=require`) (SQLSTATE XX000)"),
			"TLS required", "sslmode=verify-full"},
		{"pg_hba refuses a connection without encryption",
			&pgconn.PgError{Severity: "FATAL", Code: "28000", Message: `no pg_hba.conf entry for host "10.1.2.3", user "app", database "gatehouse", no encryption`},
			"TLS required", "sslmode"},
		{"certificate not trusted",
			errors.New("tls error: tls: failed to verify certificate: x509: certificate signed by unknown authority"),
			"certificate could not be verified", "sslrootcert"},
		{"database does not exist by SQLSTATE",
			&pgconn.PgError{Severity: "FATAL", Code: "3D000", Message: `database "gatehous" does not exist`},
			"database does not exist", "CREATE DATABASE"},
		{"database does not exist by text",
			errors.New(`FATAL: database "gatehous" does not exist (SQLSTATE 3D000)`),
			"database does not exist", "database name"},
		{"too many connections",
			&pgconn.PgError{Severity: "FATAL", Code: "53300", Message: "sorry, too many clients already"},
			"no free connections", "max_open_conns"},
		{"database starting up",
			&pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is starting up"},
			"starting up", "connect_retry"},
		{"Neon compute starting",
			errors.New("ERROR: Couldn't connect to compute node: compute is starting"),
			"starting up", "try again"},
		{"timeout while the compute wakes (connect deadline)",
			errors.New(connectPrefix + "ep-x.eu-central-1.aws.neon.tech:5432 (3.4.5.6): dial error: timeout: context deadline exceeded"),
			"timeout", "connect_timeout"},
		{"timeout while the compute wakes (i/o timeout)",
			errors.New("dial tcp 3.4.5.6:5432: i/o timeout"),
			"Neon compute waking", "GATEHOUSE_DATABASE_CONNECT_TIMEOUT"},
		{"context deadline exceeded, wrapped",
			fmt.Errorf("database did not answer within 30s: %w", context.DeadlineExceeded),
			"timeout", "try again"},
		{"network unreachable",
			errors.New("dial tcp [2a05::1]:5432: connect: network is unreachable"),
			"network cannot reach", "5432"},
		{"unknown error keeps its words",
			errors.New("something odd happened"),
			"something odd happened", "server log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := storage.ExplainError(tc.err)
			if tc.err == nil {
				if got != (storage.Explanation{}) {
					t.Errorf("ExplainError(nil) = %+v, want zero", got)
				}
				return
			}
			if !strings.Contains(got.Cause, tc.wantCause) {
				t.Errorf("ExplainError(%q).Cause = %q, want it to contain %q", tc.err, got.Cause, tc.wantCause)
			}
			if !strings.Contains(got.Fix, tc.wantFix) {
				t.Errorf("ExplainError(%q).Fix = %q, want it to contain %q", tc.err, got.Fix, tc.wantFix)
			}
		})
	}
}

// TestExplainErrorRedacts checks that an unrecognised error, whose text becomes the
// cause, never carries a password from a connection string.
func TestExplainErrorRedacts(t *testing.T) {
	const secret = "hunter2-Pw"
	for _, tc := range []struct {
		name     string
		err      error
		wantKeep string // something useful that must survive
	}{
		{"URL userinfo", errors.New("cannot use postgres://app:" + secret + "@db.example.com:5432/gh for this"), "db.example.com"},
		{"URL quoted", errors.New(`odd "postgres://app:` + secret + `@db.example.com/gh" given`), "db.example.com"},
		{"URL in parentheses", errors.New("odd (postgres://app:" + secret + "@db.example.com/gh), stop"), "db.example.com"},
		{"password query parameter", errors.New("odd postgres://db.example.com/gh?user=app&password=" + secret), "db.example.com"},
		{"key=value DSN", errors.New("odd host=db.example.com user=app password=" + secret + " dbname=gh"), "host=db.example.com"},
		{"key=value DSN, quoted password with spaces", errors.New("odd host=db.example.com password='" + secret + " more' dbname=gh"), "host=db.example.com"},
		{"key=value DSN, sslpassword", errors.New("odd host=db.example.com sslpassword=" + secret + " dbname=gh"), "host=db.example.com"},
		{"URL sslpassword", errors.New("odd postgres://db.example.com/gh?sslpassword=" + secret), "db.example.com"},
		{"unparseable URL", errors.New("odd postgres://app:" + secret + "@db.example.com:54x32/gh"), "postgres://"},
		{"password with an unescaped slash", errors.New("odd postgres://app:" + secret + "/x@db.example.com/gh"), "postgres://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := storage.ExplainError(tc.err)
			if strings.Contains(got.Cause+got.Fix, secret) {
				t.Errorf("ExplainError(%q) = %+v, leaks the password", tc.err, got)
			}
			if !strings.Contains(got.Cause, tc.wantKeep) {
				t.Errorf("ExplainError(%q).Cause = %q, want it to keep %q", tc.err, got.Cause, tc.wantKeep)
			}
		})
	}
}

// TestDescribeMasksPassword: storage names connection strings with config's
// masker, so a log line shows a URL exactly as config does, and neither shows a
// password or sslpassword in URL or key=value form.
func TestDescribeMasksPassword(t *testing.T) {
	for _, tc := range []struct {
		name, in string
	}{
		{"URL", "postgres://app:hunter2@h/gh"},
		{"query", "postgres://h/gh?password=hunter2"},
		{"sslpassword query", "postgres://app@h/gh?sslkey=/k.pem&sslpassword=hunter2"},
		{"key=value", "host=h password=hunter2 dbname=gh"},
		{"key=value sslpassword", "host=h sslkey=/k.pem sslpassword=hunter2 dbname=gh"},
		{"key=value quoted", "host=h password='hunter2 and more' dbname=gh"},
		{"unparseable", "postgres://app:hunter2@h:x/gh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := storage.Describe(tc.in)
			if strings.Contains(got, "hunter2") {
				t.Errorf("Describe(%q) = %q, leaks the password", tc.in, got)
			}
			if want := config.MaskURL(tc.in); got != want {
				t.Errorf("Describe(%q) = %q, config.MaskURL = %q: want one masker", tc.in, got, want)
			}
		})
	}
}

// TestConnectionErrorsMasked: a connection string storage cannot parse, or
// whose database it cannot name, is quoted masked in the error.
func TestConnectionErrorsMasked(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"key=value sslpassword", "host=h port=notaport sslpassword=hunter2"},
		{"key=value quoted password", "host=h port=x password='hunter2 secret'"},
		{"unknown scheme", "mysql://app:hunter2@h/gh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := storage.Open(storage.Options{URL: tc.url})
			if err == nil {
				t.Fatalf("Open(%s) succeeded, want an error", storage.Describe(tc.url))
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open error %q shows the password", err)
			}
		})
	}
}
