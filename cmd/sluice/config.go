package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Config is sluice's configuration: a YAML file (--config / SLUICE_CONFIG),
// SLUICE_* environment variables and flags; flags win over the environment,
// the environment over the file. Every key is listed in settings and in
// docs/configuration.md.
type Config struct {
	HTTP struct {
		Addr            string        `koanf:"addr"`
		ShutdownTimeout time.Duration `koanf:"shutdownTimeout"`
		RequestTimeout  time.Duration `koanf:"requestTimeout"`
	} `koanf:"http"`
	Data struct {
		Dir string `koanf:"dir"`
	} `koanf:"data"`
	MQTT struct {
		Addr string `koanf:"addr"`
	} `koanf:"mqtt"`
	Timeseries struct {
		Backend         string        `koanf:"backend"`
		Retention       time.Duration `koanf:"retention"`
		DownsampleAfter time.Duration `koanf:"downsampleAfter"`
		DownsampleTo    time.Duration `koanf:"downsampleTo"`
		MaintainEvery   time.Duration `koanf:"maintainEvery"`
		Influx          struct {
			URL               string        `koanf:"url"`
			Token             string        `koanf:"token"`
			DatabasePrefix    string        `koanf:"databasePrefix"`
			RetentionPolicy   string        `koanf:"retentionPolicy"`
			RetentionDuration time.Duration `koanf:"retentionDuration"`
		} `koanf:"influx"`
	} `koanf:"timeseries"`
	Records struct {
		Mongo struct {
			URI      string `koanf:"uri"`
			Database string `koanf:"database"`
		} `koanf:"mongo"`
	} `koanf:"records"`
	Admin struct {
		Password string `koanf:"password"`
	} `koanf:"admin"`
	Auth struct {
		SessionTTL  time.Duration `koanf:"sessionTTL"`
		APITokenTTL time.Duration `koanf:"apiTokenTTL"`
	} `koanf:"auth"`
	Engine struct {
		MaxInFlight        int           `koanf:"maxInFlight"`
		Lanes              int           `koanf:"lanes"`
		Workers            int           `koanf:"workers"`
		MessageTimeout     time.Duration `koanf:"messageTimeout"`
		DrainTimeout       time.Duration `koanf:"drainTimeout"`
		TraceSnapshotBytes int           `koanf:"traceSnapshotBytes"`
	} `koanf:"engine"`
	Store struct {
		MaxDeadLetters int `koanf:"maxDeadLetters"`
	} `koanf:"store"`
	Flows struct {
		Examples bool `koanf:"examples"`
	} `koanf:"flows"`
	Log struct {
		Level  string `koanf:"level"`
		Format string `koanf:"format"`
	} `koanf:"log"`
}

// setting is one configuration key: where it comes from and its default.
type setting struct {
	Key     string // in the YAML file, dotted: http.addr
	Env     string // SLUICE_HTTP_ADDR; "" for none
	Flag    string // --http; "" for none
	Default any    // typed: string, int, bool, time.Duration
	Help    string
}

// settings lists every configuration key. docs/configuration.md documents
// the same table (a test checks that it names every key).
var settings = []setting{
	{Key: "http.addr", Env: "SLUICE_HTTP_ADDR", Flag: "http", Default: ":8080", Help: "address the HTTP server listens on (host:port; port 0 picks a free one)"},
	{Key: "http.shutdownTimeout", Env: "SLUICE_SHUTDOWN_TIMEOUT", Flag: "shutdown-timeout", Default: 30 * time.Second, Help: "how long a graceful shutdown may take in all: open requests, engine drain, store close"},
	{Key: "http.requestTimeout", Env: "SLUICE_REQUEST_TIMEOUT", Flag: "request-timeout", Default: 60 * time.Second, Help: "longest a request may wait on the engine (inject with ?wait=true, test runs, deploys)"},
	{Key: "mqtt.addr", Env: "SLUICE_MQTT_ADDR", Flag: "mqtt", Default: ":1883", Help: "address of the embedded MQTT broker for devices (host:port); empty turns it off; a port in use is reported and the rest of the server starts"},
	{Key: "timeseries.backend", Env: "SLUICE_TS_BACKEND", Flag: "ts-backend", Default: "embedded", Help: "where telemetry is stored and read: embedded (SQLite in the data directory) or influxdb"},
	{Key: "timeseries.influx.url", Env: "SLUICE_TS_INFLUX_URL", Flag: "ts-influx-url", Default: "", Help: "InfluxDB 1.8 HTTP API with timeseries.backend influxdb, e.g. http://127.0.0.1:8086"},
	{Key: "timeseries.influx.token", Env: "SLUICE_TS_INFLUX_TOKEN", Default: "", Help: "InfluxDB credentials as user:password (empty: no authentication)"},
	{Key: "timeseries.influx.databasePrefix", Env: "SLUICE_TS_INFLUX_DATABASE_PREFIX", Default: "sluice", Help: "each tenant's points go to the database <prefix>_<tenant>, created on first write"},
	{Key: "timeseries.influx.retentionPolicy", Env: "SLUICE_TS_INFLUX_RETENTION_POLICY", Default: "autogen", Help: "retention policy points are written to and read from; another name is created in each tenant database"},
	{Key: "timeseries.influx.retentionDuration", Env: "SLUICE_TS_INFLUX_RETENTION_DURATION", Default: time.Duration(0), Help: "duration of a retention policy Sluice creates (0: infinite; at least 1h)"},
	{Key: "records.mongo.uri", Env: "SLUICE_RECORDS_MONGO_URI", Flag: "records-mongo-uri", Default: "", Help: "MongoDB URI for alarm history and statistics results (empty: the system database)"},
	{Key: "records.mongo.database", Env: "SLUICE_RECORDS_MONGO_DATABASE", Flag: "records-mongo-database", Default: "sluice", Help: "MongoDB database of the records"},
	{Key: "timeseries.retention", Env: "SLUICE_TS_RETENTION", Flag: "ts-retention", Default: time.Duration(0), Help: "drop time-series points older than this; 0 keeps them"},
	{Key: "timeseries.downsampleAfter", Env: "SLUICE_TS_DOWNSAMPLE_AFTER", Flag: "ts-downsample-after", Default: time.Duration(0), Help: "replace raw points older than this by one point per timeseries.downsampleTo; 0 turns downsampling off"},
	{Key: "timeseries.downsampleTo", Env: "SLUICE_TS_DOWNSAMPLE_TO", Flag: "ts-downsample-to", Default: time.Minute, Help: "width of a downsampled point"},
	{Key: "timeseries.maintainEvery", Env: "SLUICE_TS_MAINTAIN_EVERY", Flag: "ts-maintain-every", Default: time.Hour, Help: "how often retention and downsampling run"},
	{Key: "data.dir", Env: "SLUICE_DATA_DIR", Flag: "data", Default: "./data", Help: "data directory: the database sluice.db and the secret key file secret.key"},
	{Key: "admin.password", Env: "SLUICE_ADMIN_PASSWORD", Default: "", Help: "password of the admin user created on first start; empty generates one and prints it once"},
	{Key: "auth.sessionTTL", Env: "SLUICE_SESSION_TTL", Flag: "session-ttl", Default: 12 * time.Hour, Help: "lifetime of a login session token"},
	{Key: "auth.apiTokenTTL", Env: "SLUICE_API_TOKEN_TTL", Flag: "api-token-ttl", Default: 90 * 24 * time.Hour, Help: "lifetime of an API token created without an explicit expiry"},
	{Key: "engine.maxInFlight", Env: "SLUICE_MAX_IN_FLIGHT", Flag: "max-in-flight", Default: 1024, Help: "messages one flow may hold at once; beyond it callers wait or get 503 overloaded"},
	{Key: "engine.lanes", Env: "SLUICE_LANES", Flag: "lanes", Default: 64, Help: "per-device lanes of a flow: messages of one device keep their order, lanes run in parallel"},
	{Key: "engine.workers", Env: "SLUICE_WORKERS", Flag: "workers", Default: 0, Help: "goroutines of the hop worker pool; 0 means 16 × GOMAXPROCS"},
	{Key: "engine.messageTimeout", Env: "SLUICE_MESSAGE_TIMEOUT", Flag: "message-timeout", Default: 30 * time.Second, Help: "a message still in a flow after this is failed (\"timed out in node X\") and dead-lettered"},
	{Key: "engine.drainTimeout", Env: "SLUICE_DRAIN_TIMEOUT", Flag: "drain-timeout", Default: 10 * time.Second, Help: "how long an old version may finish its messages after a redeploy, an undeploy or at shutdown"},
	{Key: "engine.traceSnapshotBytes", Env: "SLUICE_TRACE_SNAPSHOT_BYTES", Flag: "trace-snapshot-bytes", Default: 4096, Help: "payload bytes kept in each trace event; longer payloads are truncated"},
	{Key: "store.maxDeadLetters", Env: "SLUICE_MAX_DEAD_LETTERS", Flag: "max-dead-letters", Default: 10000, Help: "dead letters kept; older ones are removed first"},
	{Key: "flows.examples", Env: "SLUICE_EXAMPLES", Flag: "examples", Default: true, Help: "load the shipped example flows on first start"},
	{Key: "log.level", Env: "SLUICE_LOG_LEVEL", Flag: "log-level", Default: "info", Help: "log level: debug, info, warn or error"},
	{Key: "log.format", Env: "SLUICE_LOG_FORMAT", Flag: "log-format", Default: "text", Help: "log format: text or json (logs go to stderr)"},
}

// Environment variables that are not configuration keys but are read
// elsewhere; they are allowed beside the keys above.
const (
	envConfig    = "SLUICE_CONFIG"     // the config file
	envSecretKey = "SLUICE_SECRET_KEY" // read by the store: base64 of 32 bytes
)

// addConfigFlags adds the --config flag and one flag per setting that has
// one. Flag defaults are shown in --help, but only flags set on the command
// line override the environment and the file.
func addConfigFlags(fs *pflag.FlagSet, keys ...string) {
	fs.String("config", "", "YAML configuration file (env "+envConfig+")")
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	for _, s := range settings {
		if s.Flag == "" || len(keys) > 0 && !want[s.Key] {
			continue
		}
		help := s.Help
		if s.Env != "" {
			help += " (env " + s.Env + ")"
		}
		switch d := s.Default.(type) {
		case string:
			fs.String(s.Flag, d, help)
		case int:
			fs.Int(s.Flag, d, help)
		case bool:
			fs.Bool(s.Flag, d, help)
		case time.Duration:
			fs.Duration(s.Flag, d, help)
		default:
			panic(fmt.Sprintf("setting %s: unsupported default type %T", s.Key, s.Default))
		}
	}
}

// loadConfig reads defaults, then the file, then SLUICE_* variables, then
// the flags set on the command line. A key the file misspells, or a SLUICE_*
// variable that names no key, is an error, never silently ignored.
func loadConfig(fs *pflag.FlagSet) (Config, error) {
	k := koanf.New(".")
	for _, s := range settings {
		if err := k.Set(s.Key, s.Default); err != nil {
			return Config{}, fmt.Errorf("config: default %s: %w", s.Key, err)
		}
	}

	path, _ := fs.GetString("config")
	if path == "" {
		path = os.Getenv(envConfig)
	}
	if path != "" {
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		known := map[string]bool{}
		for _, s := range settings {
			known[s.Key] = true
		}
		var unknown []string
		for _, key := range fk.Keys() {
			if !known[key] {
				unknown = append(unknown, key)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return Config{}, fmt.Errorf("config file %s: unknown key %s (see docs/configuration.md)", path, strings.Join(unknown, ", "))
		}
		if err := k.Merge(fk); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}

	byEnv := map[string]string{}
	for _, s := range settings {
		if s.Env != "" {
			byEnv[s.Env] = s.Key
		}
	}
	var unknownEnv []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SLUICE_") && byEnv[name] == "" && name != envConfig && name != envSecretKey {
			unknownEnv = append(unknownEnv, name)
		}
	}
	if len(unknownEnv) > 0 {
		sort.Strings(unknownEnv)
		return Config{}, fmt.Errorf("config: unknown environment variable %s (see docs/configuration.md)", strings.Join(unknownEnv, ", "))
	}
	if err := k.Load(env.ProviderWithValue("SLUICE_", ".", func(name, value string) (string, any) {
		return byEnv[name], value // "" skips SLUICE_CONFIG and SLUICE_SECRET_KEY
	}), nil); err != nil {
		return Config{}, fmt.Errorf("config: environment: %w", err)
	}

	byFlag := map[string]string{}
	for _, s := range settings {
		if s.Flag != "" {
			byFlag[s.Flag] = s.Key
		}
	}
	// Without a Koanf to consult, posflag takes only the flags set on the
	// command line.
	if err := k.Load(posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
		key := byFlag[f.Name]
		if key == "" {
			return "", nil
		}
		return key, posflag.FlagVal(fs, f)
	}), nil); err != nil {
		return Config{}, fmt.Errorf("config: flags: %w", err)
	}

	var cfg Config
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := cfg.check(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// check rejects values that cannot work.
func (c Config) check() error {
	var errs []error
	positive := func(key string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive value, got %d", key, v))
		}
	}
	if c.HTTP.Addr == "" {
		errs = append(errs, errors.New("http.addr: must not be empty"))
	}
	if c.Data.Dir == "" {
		errs = append(errs, errors.New("data.dir: must not be empty"))
	}
	positive("http.shutdownTimeout", int64(c.HTTP.ShutdownTimeout))
	positive("http.requestTimeout", int64(c.HTTP.RequestTimeout))
	positive("auth.sessionTTL", int64(c.Auth.SessionTTL))
	positive("auth.apiTokenTTL", int64(c.Auth.APITokenTTL))
	positive("engine.maxInFlight", int64(c.Engine.MaxInFlight))
	positive("engine.lanes", int64(c.Engine.Lanes))
	if c.Engine.Workers < 0 {
		errs = append(errs, fmt.Errorf("engine.workers: want 0 (automatic) or more, got %d", c.Engine.Workers))
	}
	positive("engine.messageTimeout", int64(c.Engine.MessageTimeout))
	positive("engine.drainTimeout", int64(c.Engine.DrainTimeout))
	positive("engine.traceSnapshotBytes", int64(c.Engine.TraceSnapshotBytes))
	positive("store.maxDeadLetters", int64(c.Store.MaxDeadLetters))
	if _, err := parseLevel(c.Log.Level); err != nil {
		errs = append(errs, err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format: want text or json, got %q", c.Log.Format))
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log.level: want debug, info, warn or error, got %q", s)
}

// newLogger returns the logger the config asks for, writing to w.
func newLogger(c Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.Log.Level) // checked by loadConfig
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
