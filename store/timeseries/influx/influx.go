// Package influx is the time-series store on InfluxDB: it implements
// store/timeseries.Store against InfluxDB 1.8 (tested with 1.8.10) through
// github.com/influxdata/influxdb-client-go/v2, whose v2 write and Flux
// query APIs InfluxDB 1.8 serves (the organisation is ignored; a bucket is
// "database/retention-policy").
//
// Layout. Each tenant has a database of its own, "<prefix>_<tenant>"
// (DatabaseName), created on its first write. Points go to the measurement
// "telemetry" with the tags device and signal and one field named after
// the value's kind: num (float), bool (boolean) or str (string), so that
// each kind reads back as itself. A point's own tags (timeseries.Point.Tags)
// are not series tags (a changed tag would make a second series, and a
// replayed point a duplicate): they go, as a JSON object, to the field
// "tags" of the measurement "telemetry_tags", at the time of the point
// that carried them, whenever they change.
//
// Writes use the client's blocking write API: Write returns once InfluxDB
// has the points, and fails while it is unreachable, so that the
// time-series sink in front keeps them in its spool. Query (raw points
// and aggregates) runs InfluxQL on /query, tens of times faster than the
// Flux of InfluxDB 1.8 (v0.65); Latest and the tags of Devices use Flux;
// the database list, database creation and the device list InfluxQL.
//
// Not built: InfluxDB 2's organisation per customer and bucket per device
// group. InfluxDB 2 cannot be built on the machines Sluice is developed
// and tested on, and this package carries no untested code path for it.
package influx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	ts "github.com/sluicehq/sluice/store/timeseries"
)

// Names in the database.
const (
	// Measurement holds the points.
	Measurement = "telemetry"
	// TagsMeasurement holds the points' own tags, per series.
	TagsMeasurement = "telemetry_tags"
	// Tag keys and field names.
	tagDevice = "device"
	tagSignal = "signal"
	fieldNum  = "num"
	fieldBool = "bool"
	fieldStr  = "str"
	fieldTags = "tags"
)

// Defaults.
const (
	DefaultDatabasePrefix  = "sluice"
	DefaultRetentionPolicy = "autogen"
	DefaultBatchSize       = 5000
	DefaultTimeout         = 30 * time.Second
)

// Options configure the store. Zero values take the defaults.
type Options struct {
	// URL of the InfluxDB HTTP API, e.g. http://127.0.0.1:8086.
	URL string
	// Token authenticates: "user:password" for InfluxDB 1.8 with
	// authentication on, or empty.
	Token string
	// DatabasePrefix names the tenants' databases, "<prefix>_<tenant>"
	// (default "sluice"): letters, digits and underscores.
	DatabasePrefix string
	// RetentionPolicy is the policy points are written to and read from
	// (default "autogen", which CREATE DATABASE makes). Another name is
	// created in each tenant's database on its first write, with
	// RetentionDuration, unless it exists (an existing policy is left as
	// it is).
	RetentionPolicy string
	// RetentionDuration is the duration of a RetentionPolicy that Sluice
	// creates (0: infinite; at least 1h otherwise, InfluxDB's minimum).
	// It does not apply to "autogen".
	RetentionDuration time.Duration
	// BatchSize is the most points one HTTP write carries (default 5000);
	// a bigger Write is sent in several.
	BatchSize int
	// Timeout bounds one HTTP request (default 30s).
	Timeout time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) defaults() error {
	if o.DatabasePrefix == "" {
		o.DatabasePrefix = DefaultDatabasePrefix
	}
	if o.RetentionPolicy == "" {
		o.RetentionPolicy = DefaultRetentionPolicy
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		return errors.New("url: want the InfluxDB address, e.g. http://127.0.0.1:8086")
	case err != nil:
		return fmt.Errorf("url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("url %q: want http:// or https://", o.URL)
	case u.Host == "":
		return fmt.Errorf("url %q: no host", o.URL)
	}
	for _, r := range o.DatabasePrefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("database prefix %q: want letters, digits and underscores", o.DatabasePrefix)
		}
	}
	if strings.ContainsAny(o.RetentionPolicy, "\"\\/\n") {
		return fmt.Errorf("retention policy %q: must not contain quotes, backslashes, slashes or newlines", o.RetentionPolicy)
	}
	switch d := o.RetentionDuration; {
	case d < 0:
		return fmt.Errorf("retention duration: must not be negative, got %s", d)
	case d > 0 && d < time.Hour:
		return fmt.Errorf("retention duration: InfluxDB's minimum is 1h, got %s", d)
	}
	return nil
}

// Store is the time-series store on InfluxDB 1.8.
type Store struct {
	opts   Options
	log    *slog.Logger
	base   *url.URL
	client influxdb2.Client
	http   *http.Client

	mu     sync.Mutex
	closed bool
	// ready: databases created (with their retention policy) by this
	// store; exists: databases known to exist.
	ready  map[string]bool
	exists map[string]bool
	// writers: a blocking write API per database.
	writers map[string]api.WriteAPIBlocking
	// tags: the tags last written per series, so that a set is written
	// again only when it changes (or a day later, see Write).
	tags map[seriesKey]tagsEntry
	// create serialises database creation.
	create sync.Mutex
}

var _ ts.Store = (*Store)(nil)

type seriesKey struct{ db, device, signal string }

type tagsEntry struct {
	json string
	ts   int64
}

// Open checks the options and prepares the client. It does not need the
// server: a store opened while InfluxDB is down fails its writes until it
// is back (the sink spools them). Open pings the server once and logs a
// warning when it does not answer.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.defaults(); err != nil {
		return nil, fmt.Errorf("open influxdb store: %w", err)
	}
	base, err := url.Parse(strings.TrimSuffix(opts.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("open influxdb store: url: %w", err)
	}
	// One HTTP client, with a transport of its own (Close closes its
	// connections), for the client library and for InfluxQL.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	hc := &http.Client{Timeout: opts.Timeout, Transport: tr}
	copts := influxdb2.DefaultOptions().
		SetHTTPClient(hc).
		SetPrecision(time.Millisecond).
		SetLogLevel(0). // errors come back to the caller; the client logs nothing
		SetBatchSize(uint(opts.BatchSize))
	s := &Store{
		opts:    opts,
		log:     opts.Logger.With("store", "influxdb"),
		base:    base,
		client:  influxdb2.NewClientWithOptions(base.String(), opts.Token, copts),
		http:    hc,
		ready:   map[string]bool{},
		exists:  map[string]bool{},
		writers: map[string]api.WriteAPIBlocking{},
		tags:    map[seriesKey]tagsEntry{},
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if v, err := s.ping(pctx); err != nil {
		s.log.Warn("influxdb does not answer yet: writes fail (and sinks spool) until it does", "url", base.Redacted(), "err", err)
	} else {
		s.log.Info("influxdb store", "url", base.Redacted(), "version", v, "databasePrefix", opts.DatabasePrefix, "retentionPolicy", opts.RetentionPolicy)
	}
	return s, nil
}

// Close releases the client. Calls after Close fail with ts.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.client.Close()
	s.http.CloseIdleConnections()
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Ping checks that InfluxDB answers (GET /ping). /healthz can report it.
func (s *Store) Ping(ctx context.Context) error {
	if s.isClosed() {
		return fmt.Errorf("influxdb ping: %w", ts.ErrClosed)
	}
	if _, err := s.ping(ctx); err != nil {
		return fmt.Errorf("influxdb ping: %w", err)
	}
	return nil
}

// ping returns the server's version.
func (s *Store) ping(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base.JoinPath("ping").String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // to reuse the connection
	if resp.StatusCode != http.StatusNoContent {
		return "", fmt.Errorf("%s answers %s", s.base.Redacted(), resp.Status)
	}
	return resp.Header.Get("X-Influxdb-Version"), nil
}

// DatabaseName is the database of tenant: prefix, an underscore, and the
// tenant with every byte other than an ASCII letter or digit written as
// "_" and two hex digits ("acme" → "sluice_acme", "acme-eu" →
// "sluice_acme_2deu"; the empty tenant → "sluice_"). Different tenants
// never share a database.
func DatabaseName(prefix, tenant string) string {
	var b strings.Builder
	b.Grow(len(prefix) + 1 + len(tenant))
	b.WriteString(prefix)
	b.WriteByte('_')
	const hex = "0123456789abcdef"
	for i := 0; i < len(tenant); i++ {
		c := tenant[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func (s *Store) database(tenant string) string { return DatabaseName(s.opts.DatabasePrefix, tenant) }

func (s *Store) bucket(db string) string { return db + "/" + s.opts.RetentionPolicy }

// ensureDatabase creates db (and the retention policy) once per store.
func (s *Store) ensureDatabase(ctx context.Context, db string) error {
	s.mu.Lock()
	ok := s.ready[db]
	s.mu.Unlock()
	if ok {
		return nil
	}
	s.create.Lock()
	defer s.create.Unlock()
	s.mu.Lock()
	ok = s.ready[db]
	s.mu.Unlock()
	if ok {
		return nil
	}
	// CREATE DATABASE is a no-op for a database that exists.
	if _, err := s.influxQL(ctx, "", "CREATE DATABASE "+quoteIdent(db)); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	if rp := s.opts.RetentionPolicy; rp != DefaultRetentionPolicy {
		dur := "INF"
		if s.opts.RetentionDuration > 0 {
			dur = fmt.Sprintf("%dm", int64(s.opts.RetentionDuration/time.Minute))
		}
		_, err := s.influxQL(ctx, "", fmt.Sprintf("CREATE RETENTION POLICY %s ON %s DURATION %s REPLICATION 1", quoteIdent(rp), quoteIdent(db), dur))
		if err != nil && !strings.Contains(err.Error(), "retention policy already exists") {
			return fmt.Errorf("create retention policy %s on %s: %w", rp, db, err)
		}
	}
	s.mu.Lock()
	s.ready[db], s.exists[db] = true, true
	s.mu.Unlock()
	s.log.Info("created the tenant's database", "database", db, "retentionPolicy", s.opts.RetentionPolicy)
	return nil
}

// forget drops what the store knows of db (it was dropped behind its back).
func (s *Store) forget(db string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ready, db)
	delete(s.exists, db)
	for k := range s.tags {
		if k.db == db {
			delete(s.tags, k)
		}
	}
}

// databaseExists says whether db exists; a tenant without one has no
// points. Existence is cached, absence is not.
func (s *Store) databaseExists(ctx context.Context, db string) (bool, error) {
	s.mu.Lock()
	ok := s.exists[db]
	s.mu.Unlock()
	if ok {
		return true, nil
	}
	res, err := s.influxQL(ctx, "", "SHOW DATABASES")
	if err != nil {
		return false, fmt.Errorf("list databases: %w", err)
	}
	for _, ser := range res {
		for _, row := range ser.Values {
			if len(row) > 0 && row[0] == db {
				s.mu.Lock()
				s.exists[db] = true
				s.mu.Unlock()
				return true, nil
			}
		}
	}
	return false, nil
}

// authorize sets the request's credentials from the token.
func (s *Store) authorize(req *http.Request) {
	if user, pass, ok := strings.Cut(s.opts.Token, ":"); ok {
		req.SetBasicAuth(user, pass)
	} else if s.opts.Token != "" {
		req.Header.Set("Authorization", "Token "+s.opts.Token)
	}
}

// InfluxQL's escapes in quoted identifiers and string literals: \\, \n
// and the quote (as github.com/influxdata/influxql quotes them). A
// carriage return or a NUL cannot be written at all (see expressible).
var (
	identEscaper    = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	qlStringEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `'`, `\'`)
)

// quoteIdent quotes an InfluxQL identifier.
func quoteIdent(s string) string { return `"` + identEscaper.Replace(s) + `"` }

// quoteString quotes an InfluxQL string literal.
func quoteString(s string) string { return `'` + qlStringEscaper.Replace(s) + `'` }

// qlSeries is one series of an InfluxQL answer.
type qlSeries struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// influxQL runs one InfluxQL statement on /query (POST, so that it may
// change things) and returns the series of its answer.
func (s *Store) influxQL(ctx context.Context, db, q string) ([]qlSeries, error) {
	form := url.Values{"q": {q}}
	if db != "" {
		form.Set("db", db)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base.JoinPath("query").String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	s.authorize(req)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	var out struct {
		Results []struct {
			Series []qlSeries `json:"series"`
			Error  string     `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%s: %.200q", resp.Status, body)
	}
	switch {
	case out.Error != "":
		return nil, fmt.Errorf("%s: %s", resp.Status, out.Error)
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("%s: %.200q", resp.Status, body)
	case len(out.Results) == 0:
		return nil, nil
	case out.Results[0].Error != "":
		return nil, errors.New(out.Results[0].Error)
	}
	return out.Results[0].Series, nil
}
