package metrics

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-id/gatehouse/storage"
)

// The sign-in outcomes SignIn counts; any other value is counted as "other".
const (
	SignInSuccess   = "success"
	SignInFailure   = "failure"
	SignInThrottled = "throttled"
)

// RouteUnmatched is the route label of a request that matched no route.
const RouteUnmatched = "unmatched"

// knownGrantTypes bound the grant_type label; anything else is "other".
var knownGrantTypes = []string{
	"authorization_code",
	"refresh_token",
	"client_credentials",
	"urn:ietf:params:oauth:grant-type:jwt-bearer",
	"urn:ietf:params:oauth:grant-type:device_code",
	"urn:ietf:params:oauth:grant-type:token-exchange",
}

// knownMethods bound the method label: a client may send any token as its method.
var knownMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace,
}

// Options configure New.
type Options struct {
	// Store, when set, adds the database pool and migration version metrics.
	Store *storage.Store
	// Version is the build's version, the version label of gatehouse_build_info.
	Version string
	// MigrationTimeout bounds the read of the migration version at scrape time;
	// zero means 2 seconds.
	MigrationTimeout time.Duration
	// Log receives errors of the /metrics handler; nil discards them.
	Log *slog.Logger
}

// Metrics holds Gatehouse's metrics in a registry of its own. Build it with New;
// it is safe for concurrent use. A nil *Metrics records nothing, so a caller
// without metrics may hold one.
type Metrics struct {
	reg      *prometheus.Registry
	log      *slog.Logger
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	signIns  *prometheus.CounterVec
}

// New registers every metric in a new registry and returns it.
func New(o Options) *Metrics {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MigrationTimeout <= 0 {
		o.MigrationTimeout = 2 * time.Second
	}
	if o.Version == "" {
		o.Version = "unknown"
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: o.Log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests served on the public listener, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request on the public listener, by route template and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokens_issued_total",
			Help: "Successful token endpoint responses, by grant type.",
		}, []string{"grant_type"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_sign_ins_total",
			Help: "Password sign-in attempts by outcome: success, failure (wrong credentials, disabled account) or throttled.",
		}, []string{"outcome"}),
	}
	// Known label values start at zero, so rate() sees the first event.
	for _, g := range []string{"authorization_code", "refresh_token", "client_credentials"} {
		m.tokens.WithLabelValues(g)
	}
	for _, o := range []string{SignInSuccess, SignInFailure, SignInThrottled} {
		m.signIns.WithLabelValues(o)
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "gatehouse_build_info",
		Help:        "Always 1; its labels name the running build.",
		ConstLabels: prometheus.Labels{"version": o.Version, "go_version": runtime.Version()},
	})
	buildInfo.Set(1)
	m.reg.MustRegister(
		m.requests, m.duration, m.tokens, m.signIns, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if o.Store != nil {
		m.reg.MustRegister(newPoolCollector(o.Store.DB()), newMigrationCollector(o.Store, o.MigrationTimeout))
	}
	return m
}

// Handler serves the metrics in the Prometheus exposition format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
}

// Gatherer returns the registry, for tests and for serving it another way.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// ObserveRequest counts one served request and its latency. route must be a
// route template (or RouteUnmatched), never a raw path: every distinct value
// is a new time series.
func (m *Metrics) ObserveRequest(route, method string, status int, elapsed time.Duration) {
	if m == nil {
		return
	}
	if !slices.Contains(knownMethods, method) {
		method = "OTHER"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

// TokenIssued counts one successful token response for grantType.
func (m *Metrics) TokenIssued(grantType string) {
	if m == nil {
		return
	}
	if !slices.Contains(knownGrantTypes, grantType) {
		grantType = "other"
	}
	m.tokens.WithLabelValues(grantType).Inc()
}

// SignIn counts one password sign-in attempt by its outcome: SignInSuccess,
// SignInFailure or SignInThrottled.
func (m *Metrics) SignIn(outcome string) {
	if m == nil {
		return
	}
	switch outcome {
	case SignInSuccess, SignInFailure, SignInThrottled:
	default:
		outcome = "other"
	}
	m.signIns.WithLabelValues(outcome).Inc()
}

// poolCollector reads the database pool's statistics at scrape time.
type poolCollector struct {
	db          *sql.DB
	conns       *prometheus.Desc
	maxOpen     *prometheus.Desc
	waitCount   *prometheus.Desc
	waitSeconds *prometheus.Desc
}

func newPoolCollector(db *sql.DB) *poolCollector {
	return &poolCollector{
		db:          db,
		conns:       prometheus.NewDesc("gatehouse_db_connections", "Connections in the database pool, by state (in_use, idle).", []string{"state"}, nil),
		maxOpen:     prometheus.NewDesc("gatehouse_db_connections_max", "The pool's limit on open connections (0: none).", nil, nil),
		waitCount:   prometheus.NewDesc("gatehouse_db_wait_count_total", "Times a query waited for a free connection in the pool.", nil, nil),
		waitSeconds: prometheus.NewDesc("gatehouse_db_wait_seconds_total", "Total time queries waited for a free connection in the pool.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.maxOpen
	ch <- c.waitCount
	ch <- c.waitSeconds
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.db.Stats()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.InUse), "in_use")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.Idle), "idle")
	ch <- prometheus.MustNewConstMetric(c.maxOpen, prometheus.GaugeValue, float64(s.MaxOpenConnections))
	ch <- prometheus.MustNewConstMetric(c.waitCount, prometheus.CounterValue, float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(c.waitSeconds, prometheus.CounterValue, s.WaitDuration.Seconds())
}

// schemaReader is what the migration collector needs from the store.
type schemaReader interface {
	Dialect() storage.Dialect
	PendingMigrations(ctx context.Context) ([]int64, error)
}

// migrationCollector reads the schema's migration version at scrape time, so it
// follows a migration applied by another instance or by `gatehouse migrate up`.
type migrationCollector struct {
	store   schemaReader
	timeout time.Duration
	desc    *prometheus.Desc
}

func newMigrationCollector(s schemaReader, timeout time.Duration) *migrationCollector {
	return &migrationCollector{store: s, timeout: timeout, desc: prometheus.NewDesc("gatehouse_migration_version",
		"The highest applied schema migration among those this binary knows; 0 when none is applied or the database did not answer.", nil, nil)}
}

// Describe implements prometheus.Collector.
func (c *migrationCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *migrationCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	v, err := appliedVersion(ctx, c.store)
	if err != nil {
		v = 0
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v))
}

// appliedVersion returns the highest embedded migration version that is not
// pending. It reads without the migration lock, so a scrape never waits for a
// migration in progress nor takes a lock through a transaction-mode pooler.
func appliedVersion(ctx context.Context, s schemaReader) (int64, error) {
	known, err := storage.KnownVersions(s.Dialect())
	if err != nil {
		return 0, err
	}
	pending, err := s.PendingMigrations(ctx)
	if err != nil {
		return 0, err
	}
	var v int64
	for _, k := range known {
		if k > v && !slices.Contains(pending, k) {
			v = k
		}
	}
	return v, nil
}
