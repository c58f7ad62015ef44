package mqtt

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// Resource keys under which `sluice serve` provides the embedded broker (see
// Broker.Provide): its client URL (a string such as "tcp://127.0.0.1:1883")
// and the credentials Sluice's own clients use on it
// (a func(tenant string) (username, password string)).
const (
	ResourceEmbeddedAddr        = "mqtt.embedded.addr"
	ResourceEmbeddedCredentials = "mqtt.embedded.credentials"
)

// Embedded is the broker value that names the embedded broker.
const Embedded = "embedded"

// connConfig is what makes an MQTT connection: nodes whose connConfig (and
// tenant) are equal share one client.
type connConfig struct {
	Broker         string            `json:"broker"`
	ClientID       string            `json:"clientId"`
	Username       string            `json:"username"`
	Password       string            `json:"password"`
	CleanSession   bool              `json:"cleanSession"`
	TLS            tlsConfig         `json:"tls"`
	KeepAlive      spec.JSONDuration `json:"keepAlive"`
	ConnectTimeout spec.JSONDuration `json:"connectTimeout"`
	RetryMin       spec.JSONDuration `json:"retryMin"`
	RetryMax       spec.JSONDuration `json:"retryMax"`
}

type tlsConfig struct {
	CA                 string `json:"ca"`
	Cert               string `json:"cert"`
	Key                string `json:"key"`
	ServerName         string `json:"serverName"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify"`
}

func (t tlsConfig) set() bool {
	return t.CA != "" || t.Cert != "" || t.Key != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// connFields are the connection fields of mqttIn and mqttOut.
func connFields() []*spec.Field {
	return []*spec.Field{
		{Name: "broker", Type: spec.String, Required: true,
			Help: "Broker URL: `tcp://host:1883`, `ssl://host:8883` (TLS), `ws://host/mqtt` or `wss://...`; several URLs separated by commas are tried in turn. " +
				"`embedded` is the broker that `sluice serve` runs (address set with SLUICE_MQTT_ADDR).",
			Example: "tcp://broker.example.com:1883"},
		{Name: "clientId", Label: "Client id", Type: spec.String, Default: "", Exclusive: "mqttClientId",
			Help: "MQTT client id. Set it (and turn cleanSession off) for a persistent session that keeps QoS 1/2 messages while Sluice is away; " +
				"a node with its own client id gets its own connection. Empty: nodes with the same broker and credentials share one connection with a stable generated id.",
			Example: "sluice-boiler-room"},
		{Name: "username", Type: spec.String, Default: "", Help: "User name for the broker; empty connects without one.", Example: "sluice"},
		{Name: "password", Type: spec.Secret, Default: "", Help: "Password for the broker (stored encrypted)."},
		{Name: "cleanSession", Type: spec.Bool, Default: true,
			Help: "Start a fresh session at each connect. Turn it off, with a clientId, so that the broker keeps the subscriptions and the unacknowledged QoS 1/2 messages across reconnects and restarts (at-least-once)."},
		{Name: "tls", Label: "TLS", Type: spec.Object, Advanced: true,
			Help: "TLS settings; TLS is used for ssl://, tls://, mqtts:// and wss:// URLs, or when any of these is set.",
			Fields: []*spec.Field{
				{Name: "ca", Label: "CA file", Type: spec.String, Default: "", Help: "PEM file of the CA that signed the broker's certificate; empty uses the system roots.", Example: "/etc/sluice/ca.pem"},
				{Name: "cert", Label: "Client certificate", Type: spec.String, Default: "", Help: "PEM file of the client certificate, for brokers that require one (with key).", Example: "/etc/sluice/client.pem"},
				{Name: "key", Label: "Client key", Type: spec.String, Default: "", Help: "PEM file of the client certificate's private key.", Example: "/etc/sluice/client.key"},
				{Name: "serverName", Type: spec.String, Default: "", Help: "Server name to verify instead of the URL's host."},
				{Name: "insecureSkipVerify", Type: spec.Bool, Default: false, Help: "Accept any server certificate. For tests only: it allows a man in the middle."},
			}},
		{Name: "keepAlive", Type: spec.Duration, Default: "30s", Min: spec.Num(0), Advanced: true,
			Help: "Interval of MQTT keep-alive pings; a broker that does not answer within it is treated as gone. 0 turns pings off."},
		{Name: "connectTimeout", Type: spec.Duration, Default: "10s", Min: spec.Num(0.1), Advanced: true, Help: "How long a connection attempt may take."},
		{Name: "retryMin", Type: spec.Duration, Default: "1s", Min: spec.Num(0.01), Advanced: true,
			Help: "First wait before reconnecting after a failed or lost connection (and before a redelivery reconnect); it doubles at each failure up to retryMax."},
		{Name: "retryMax", Type: spec.Duration, Default: "30s", Min: spec.Num(0.01), Advanced: true, Help: "Longest wait between reconnect attempts."},
	}
}

// validateConn checks what single connection fields cannot express.
func validateConn(cfg map[string]any) spec.Problems {
	var ps spec.Problems
	if b, _ := cfg["broker"].(string); b != "" && !strings.Contains(b, "${") {
		if _, err := parseBrokers(b); err != nil {
			ps = append(ps, spec.Problem{Field: "broker", Message: err.Error()})
		}
	}
	clean, _ := cfg["cleanSession"].(bool)
	if id, _ := cfg["clientId"].(string); !clean && id == "" {
		ps = append(ps, spec.Problem{Field: "clientId", Message: "required when cleanSession is off: a persistent session needs a stable client id"})
	}
	if t, ok := cfg["tls"].(map[string]any); ok {
		cert, _ := t["cert"].(string)
		key, _ := t["key"].(string)
		if (cert == "") != (key == "") {
			ps = append(ps, spec.Problem{Field: "tls", Message: "cert and key go together: set both or neither"})
		}
	}
	if lo, hi := durationOf(cfg["retryMin"]), durationOf(cfg["retryMax"]); lo > 0 && hi > 0 && lo > hi {
		ps = append(ps, spec.Problem{Field: "retryMax", Message: fmt.Sprintf("must be at least retryMin (%s)", lo)})
	}
	return ps
}

func durationOf(v any) time.Duration {
	s, _ := v.(string)
	d, _ := time.ParseDuration(s)
	return d
}

var brokerSchemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "mqtt+ssl", "tcps", "ws", "wss"}

// parseBrokers splits and checks the broker field.
func parseBrokers(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if b == Embedded {
			out = append(out, b)
			continue
		}
		u, err := url.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("%q is not a valid URL: %w", b, err)
		}
		if !slices.Contains(brokerSchemes, u.Scheme) || u.Host == "" {
			return nil, fmt.Errorf("%q: want a URL such as tcp://host:1883 (schemes %s) or %q", b, strings.Join(brokerSchemes, ", "), Embedded)
		}
		out = append(out, b)
	}
	switch {
	case len(out) == 0:
		return nil, errors.New("want a broker URL such as tcp://host:1883, or embedded")
	case len(out) > 1 && slices.Contains(out, Embedded):
		return nil, fmt.Errorf("%q cannot be combined with other brokers", Embedded)
	}
	return out, nil
}

// dialConfig is a connConfig resolved for one tenant: the embedded broker
// replaced by its address and credentials, TLS files loaded.
type dialConfig struct {
	tenant   string
	brokers  []string
	clientID string
	// sharedID is true when the client id was generated (the connection may
	// be shared by several nodes).
	sharedID   bool
	username   string
	password   string
	clean      bool
	tls        *tls.Config
	keepAlive  time.Duration
	connectTO  time.Duration
	retryMin   time.Duration
	retryMax   time.Duration
	key        string // the resource key: equal keys share a client
	embedded   bool
	brokerText string // for messages: the broker as configured
}

// resolve turns a connection config into what a client needs. res is where
// the embedded broker's address is provided (nil outside an engine).
func (c connConfig) resolve(tenant string, res *engine.Resources) (dialConfig, error) {
	brokers, err := parseBrokers(c.Broker)
	if err != nil {
		return dialConfig{}, fmt.Errorf("broker: %w", err)
	}
	d := dialConfig{
		tenant: tenant, brokers: brokers, clientID: c.ClientID, username: c.Username, password: c.Password,
		clean: c.CleanSession, keepAlive: c.KeepAlive.D(), connectTO: c.ConnectTimeout.D(),
		retryMin: c.RetryMin.D(), retryMax: c.RetryMax.D(), brokerText: c.Broker,
	}
	if d.retryMin <= 0 {
		d.retryMin = time.Second
	}
	if d.retryMax < d.retryMin {
		d.retryMax = d.retryMin
	}
	if d.connectTO <= 0 {
		d.connectTO = 10 * time.Second
	}
	if brokers[0] == Embedded {
		d.embedded = true
		addr, creds, err := embeddedAccess(res)
		if err != nil {
			return dialConfig{}, err
		}
		d.brokers = []string{addr}
		if d.username == "" && creds != nil {
			d.username, d.password = creds(tenant)
		}
	}
	needTLS := c.TLS.set()
	for _, b := range d.brokers {
		if u, err := url.Parse(b); err == nil && slices.Contains([]string{"ssl", "tls", "mqtts", "mqtt+ssl", "tcps", "wss"}, u.Scheme) {
			needTLS = true
		}
	}
	if needTLS {
		if d.tls, err = c.TLS.load(); err != nil {
			return dialConfig{}, fmt.Errorf("tls: %w", err)
		}
	}
	sum := sha256.Sum256([]byte(d.password))
	k, _ := json.Marshal(struct {
		Tenant, ClientID, Username, Password string
		Brokers                              []string
		Clean                                bool
		TLS                                  tlsConfig
		KeepAlive, ConnectTO, RetryMin, Max  time.Duration
	}{tenant, c.ClientID, d.username, hex.EncodeToString(sum[:]), d.brokers, d.clean, c.TLS, d.keepAlive, d.connectTO, d.retryMin, d.retryMax})
	d.key = "mqtt.client/" + string(k)
	if d.clientID == "" {
		// Stable, not random: the same Sluice host and settings give the same
		// id. MQTT 3.1.1 servers must accept ids of up to 23 characters.
		host, _ := os.Hostname()
		h := sha256.Sum256([]byte(host + "\x00" + string(k)))
		d.clientID = "sluice-" + hex.EncodeToString(h[:8])
		d.sharedID = true
	}
	return d, nil
}

// embeddedAccess returns the embedded broker's client URL and credentials.
func embeddedAccess(res *engine.Resources) (string, func(string) (string, string), error) {
	errOff := errors.New(`broker "embedded": the embedded MQTT broker is not running in this process ` +
		`(sluice serve starts it unless SLUICE_MQTT_ADDR / --mqtt is empty; if its port was taken, see the server log)`)
	if res == nil {
		return "", nil, errOff
	}
	v, release, err := res.Acquire(ResourceEmbeddedAddr, func() (any, func() error, error) { return nil, nil, errOff })
	if err != nil {
		return "", nil, err
	}
	defer release()
	addr, ok := v.(string)
	if !ok || addr == "" {
		return "", nil, errOff
	}
	var creds func(string) (string, string)
	if v, release, err := res.Acquire(ResourceEmbeddedCredentials, func() (any, func() error, error) {
		return nil, nil, errors.New("not provided")
	}); err == nil {
		creds, _ = v.(func(string) (string, string))
		_ = release()
	}
	return addr, creds, nil
}

// load builds the TLS client config from the files.
func (t tlsConfig) load() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // off by default, the user's explicit choice
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca: %s holds no PEM certificate", t.CA)
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" || t.Key != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
