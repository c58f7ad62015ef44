package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// Resource keys a process Provides to sink nodes (engine.Resources).
const (
	// DataDirKey: the data directory (a string); spools live under
	// <data.dir>/spool.
	DataDirKey = "data.dir"
	// RegistryKey: the *Registry that sinks report their status to.
	RegistryKey = "sink.registry"
)

// CloseTimeout bounds the last write of a sink whose last node instance
// goes (undeploy, shutdown); what it cannot write stays in the spool.
const CloseTimeout = 5 * time.Second

// Config is the batching part of a sink node's configuration: embed it in
// the node's config struct and add Fields() to the node's spec.
type Config struct {
	BatchSize     int               `json:"batchSize"`
	FlushInterval spec.JSONDuration `json:"flushInterval"`
	QueueSize     int               `json:"queueSize"`
	WhenFull      string            `json:"whenFull"`
	SpoolMaxMB    int               `json:"spoolMaxMB"`
	SpoolDir      string            `json:"spoolDir"`
}

// Fields are the spec fields of Config.
func Fields() []*spec.Field {
	return []*spec.Field{
		{Name: "batchSize", Type: spec.Int, Default: 500, Min: spec.Num(1), Max: spec.Num(100000),
			Help: "Most points one write carries; a full batch is written at once."},
		{Name: "flushInterval", Type: spec.Duration, Default: "1s", Min: spec.Num(0.001), Max: spec.Num(3600),
			Help: "Longest a point waits for its batch to fill before it is written."},
		{Name: "queueSize", Type: spec.Int, Default: 10000, Min: spec.Num(1), Max: spec.Num(10000000), Advanced: true,
			Help: "Points held in memory. Beyond them, points wait in the spool on disk only and are read back when their turn comes."},
		{Name: "whenFull", Type: spec.Enum, Enum: []string{string(Wait), string(Fail)}, Default: string(Wait),
			Help: "When the spool is full (the target has been down for long): `wait` holds the message until there is room (up to the message timeout, then Failure); `fail` sends it on Failure at once. Points are never dropped silently."},
		{Name: "spoolMaxMB", Type: spec.Int, Default: 256, Min: spec.Num(1), Max: spec.Num(1 << 20),
			Help: "Size bound of the spool on disk, in MiB: the points accepted and not yet written."},
		{Name: "spoolDir", Type: spec.String, Default: "", Advanced: true, Example: "/var/lib/sluice/spool",
			Help: "Directory for the spool; each node's spool is a folder under it named by tenant, flow and node. Empty: `<data.dir>/spool`."},
	}
}

// Options turns the config into batcher options (without SpoolDir).
func (c Config) Options(name string, log *slog.Logger) Options {
	return Options{
		Name: name, Logger: log,
		BatchSize: c.BatchSize, Interval: c.FlushInterval.D(), QueueSize: c.QueueSize,
		WhenFull: WhenFull(c.WhenFull), SpoolMaxBytes: int64(c.SpoolMaxMB) << 20,
	}
}

// Ref names a sink node of a deployed flow.
type Ref struct {
	Tenant, Flow, Node string
	// Sink is the node type ("timeseriesSink").
	Sink string
}

// RefOf is the Ref of node nodeID (of type sink) in env's flow.
func RefOf(env *engine.Env, nodeID, sink string) Ref {
	return Ref{Tenant: env.Tenant, Flow: env.FlowID, Node: nodeID, Sink: sink}
}

func (r Ref) String() string { return r.Flow + "/" + r.Node }

func (r Ref) key() string { return "sink.batch/" + r.Tenant + "/" + r.Flow + "/" + r.Node }

// SpoolDir is the spool directory of ref under base:
// base/<tenant>/<flow>/<node>, each part escaped so that it is one plain
// folder name.
func (r Ref) SpoolDir(base string) string {
	return filepath.Join(base, pathPart(r.Tenant), pathPart(r.Flow), pathPart(r.Node))
}

// pathPart escapes s into a folder name: letters, digits, '-' and '_'
// stay; every other byte becomes %XX (so "." and ".." cannot occur).
func pathPart(s string) string {
	if s == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// DataDir returns the data directory the process provides.
func DataDir(res *engine.Resources) (string, error) {
	dir, err := engine.Provided[string](res, DataDirKey, "the data directory")
	if err == nil && dir == "" {
		err = fmt.Errorf("the data directory (%s) is empty", DataDirKey)
	}
	return dir, err
}

// SpoolBase is the directory the spools of sink nodes go under: the
// node's spoolDir when set, else <data.dir>/spool.
func SpoolBase(res *engine.Resources, configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	dir, err := DataDir(res)
	if err != nil {
		return "", fmt.Errorf("no spool directory: %w; set spoolDir", err)
	}
	return filepath.Join(dir, "spool"), nil
}

// Acquire returns the batcher of the sink node ref, opening it with open
// when no version of the node's flow holds it yet. The versions of a flow
// (a redeploy drains the old one while the new one runs) share it, so
// that one spool has one writer and keeps its order; each version calls
// Acquire and, in Destroy, the release function. The last release closes
// the batcher (up to CloseTimeout). Every acquire applies retune (the
// config of the version acquiring) to the shared batcher. open runs under
// the resources' lock: it must not use res (look up what it needs first).
func Acquire[T any](res *engine.Resources, ref Ref, retune Options, open func() (*Batcher[T], error)) (*Batcher[T], func() error, error) {
	if res == nil {
		return nil, nil, errors.New("no engine resources: the sink runs only inside a Sluice engine")
	}
	reg := registryOf(res)
	opened := false
	v, release, err := res.Acquire(ref.key(), func() (any, func() error, error) {
		b, err := open()
		if err != nil {
			return nil, nil, err
		}
		opened = true
		unregister := func() {}
		if reg != nil {
			unregister = reg.Add(ref.Flow, ref.Node, ref.Sink, b)
		}
		return b, func() error {
			unregister()
			ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
			defer cancel()
			return b.Close(ctx)
		}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	b, ok := v.(*Batcher[T])
	if !ok {
		_ = release() // not ours to keep
		return nil, nil, fmt.Errorf("sink %s: resource %q holds %T", ref, ref.key(), v)
	}
	if !opened {
		b.Retune(retune)
	}
	return b, release, nil
}

// registryOf returns the process's sink registry, or nil.
func registryOf(res *engine.Resources) *Registry {
	reg, _ := engine.Provided[*Registry](res, RegistryKey, "the sink registry")
	return reg
}
