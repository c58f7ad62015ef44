package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/store"
)

// statePrefix is the KV key prefix of the engine's persisted state.
const statePrefix = "state/"

// kvPersister writes the engine's state through to the store's KV table so
// that it survives a restart.
type kvPersister struct{ kv store.KVRepo }

var _ engine.StatePersister = kvPersister{}

func (p kvPersister) Load(ctx context.Context) (map[string]engine.StateEntry, error) {
	kvs, err := p.kv.KVList(ctx, statePrefix)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	out := make(map[string]engine.StateEntry, len(kvs))
	for _, kv := range kvs {
		out[strings.TrimPrefix(kv.Key, statePrefix)] = engine.StateEntry{Value: kv.Value, ExpiresAt: kv.ExpiresAt}
	}
	return out, nil
}

func (p kvPersister) Put(ctx context.Context, key string, e engine.StateEntry) error {
	if err := p.kv.KVPut(ctx, store.KV{Key: statePrefix + key, Value: e.Value, ExpiresAt: e.ExpiresAt}); err != nil {
		return fmt.Errorf("persist state %q: %w", key, err)
	}
	return nil
}

func (p kvPersister) Remove(ctx context.Context, key string) error {
	if err := p.kv.KVDelete(ctx, statePrefix+key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("remove state %q: %w", key, err)
	}
	return nil
}

// logDeadLetters only logs (sluice run keeps no store); the engine already
// logs each dead letter, so this adds the payload.
type logDeadLetters struct{ log *slog.Logger }

func (l logDeadLetters) DeadLetter(_ context.Context, d engine.DeadLetter) {
	l.log.Warn("dead letter", "flow", d.FlowID, "node", d.NodeID, "msgId", d.Msg.ID, "data", d.Msg.Data, "error", d.Error, "path", strings.Join(d.Path, ">"))
}

// engineOptions are the engine's options from the config.
func engineOptions(cfg Config, log *slog.Logger) engine.Options {
	return engine.Options{
		Logger:         log,
		MaxInFlight:    cfg.Engine.MaxInFlight,
		Lanes:          cfg.Engine.Lanes,
		Workers:        cfg.Engine.Workers,
		MessageTimeout: cfg.Engine.MessageTimeout,
		DrainTimeout:   cfg.Engine.DrainTimeout,
		SnapshotBytes:  cfg.Engine.TraceSnapshotBytes,
	}
}
