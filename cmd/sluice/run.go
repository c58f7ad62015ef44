package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/store"
)

func newRunCmd() *cobra.Command {
	var (
		inject []string
		once   bool
	)
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run one flow headless (no server, no store) until interrupted, logging its trace",
		Long: `Run deploys one flow file on an engine of its own, without the server or the
store, and logs every trace event until interrupted (SIGINT, SIGTERM). Dead
letters are logged, state is kept in memory only.

--inject sends messages into the flow once it runs, each a JSON object such as
  {"type":"TELEMETRY","data":{"temperature":21},"metadata":{"deviceId":"boiler-7"}}
and prints each result on stdout; with --once, run exits when they are done
(exit 1 if one failed).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			if once && len(inject) == 0 {
				return errors.New("run: --once needs at least one --inject")
			}
			return runFlow(cmd.Context(), cfg, args[0], inject, once, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addConfigFlags(cmd.Flags(), "engine.maxInFlight", "engine.lanes", "engine.workers", "engine.messageTimeout",
		"engine.drainTimeout", "engine.traceSnapshotBytes", "http.shutdownTimeout", "log.level", "log.format")
	cmd.Flags().StringArrayVar(&inject, "inject", nil, "a message to inject once the flow runs (JSON; repeatable)")
	cmd.Flags().BoolVar(&once, "once", false, "exit when the injected messages are done instead of running until interrupted")
	return cmd
}

// runFlow deploys one flow headless and logs its trace until ctx ends.
func runFlow(ctx context.Context, cfg Config, file string, inject []string, once bool, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	slog.SetDefault(log) // nodes that log use the default logger
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	f, err := engine.ParseFlow(data)
	if err != nil {
		return fmt.Errorf("run %s: %w", file, err)
	}
	msgs := make([]engine.Message, 0, len(inject))
	for i, raw := range inject {
		m, err := parseMessage([]byte(raw))
		if err != nil {
			return fmt.Errorf("run: --inject #%d: %w", i+1, err)
		}
		msgs = append(msgs, m)
	}
	for _, p := range engine.Validate(f, engine.ValidateOptions{}) {
		fmt.Fprintf(stderr, "%s: %s: %s\n", file, p.Severity, p.String())
	}

	opts := engineOptions(cfg, log)
	opts.DeadLetters = logDeadLetters{log: log}
	mgr := engine.NewManager(opts)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
		defer cancel()
		if err := mgr.Shutdown(sctx); err != nil {
			log.Error("shutdown engine", "err", err)
		}
	}()

	id := f.RuleChain.ID
	sub := mgr.Trace().Subscribe(id, 4096)
	defer sub.Close()
	traced := make(chan struct{})
	tctx, stopTrace := context.WithCancel(ctx)
	go func() {
		defer close(traced)
		logTrace(tctx, sub, log)
	}()
	defer func() {
		stopTrace()
		<-traced
	}()

	if err := mgr.Deploy(ctx, store.DefaultTenant, f, 1); err != nil {
		var ps spec.Problems
		if errors.As(err, &ps) {
			// The problems are printed above.
			return exitError{code: 1}
		}
		return fmt.Errorf("run %s: %w", file, err)
	}
	log.Info("flow running", "flow", id, "file", file)

	failed := 0
	enc := json.NewEncoder(stdout)
	for _, m := range msgs {
		res, err := mgr.Submit(ctx, id, m, engine.SubmitOptions{Wait: true})
		if err != nil {
			log.Error("inject", "flow", id, "err", err)
			failed++
			continue
		}
		if res.Status != engine.StatusCompleted {
			failed++
		}
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("run: %w", err)
		}
	}
	if once {
		if failed > 0 {
			return exitError{code: 1}
		}
		return nil
	}
	<-ctx.Done()
	log.Info("stopping", "flow", id)
	return nil
}

// logTrace logs every trace event of a subscription until ctx ends, then
// the events still buffered.
func logTrace(ctx context.Context, sub *engine.Subscription, log *slog.Logger) {
	var reported uint64
	logEvent := func(ev engine.TraceEvent) {
		if d := sub.Dropped(); d > reported {
			log.Warn("trace events dropped", "count", d-reported)
			reported = d
		}
		attrs := []any{"flow", ev.Flow, "msgId", ev.MsgID, "seq", ev.Seq, "node", ev.Node, "dir", ev.Direction}
		if ev.Relation != "" {
			attrs = append(attrs, "relation", ev.Relation)
		}
		if ev.Error != "" {
			attrs = append(attrs, "error", ev.Error)
		}
		if ev.Direction == engine.DirOut {
			attrs = append(attrs, "duration", ev.Duration)
		}
		attrs = append(attrs, "data", ev.Data)
		log.Info("trace", attrs...)
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case ev, ok := <-sub.C():
					if !ok {
						return
					}
					logEvent(ev)
				default:
					return
				}
			}
		case ev, ok := <-sub.C():
			if !ok {
				return
			}
			logEvent(ev)
		}
	}
}

// parseMessage decodes a message for --inject: like the API's, data may be
// a string or any JSON value.
func parseMessage(b []byte) (engine.Message, error) {
	var raw struct {
		ID       string            `json:"id"`
		Type     string            `json:"type"`
		DataType string            `json:"dataType"`
		Data     json.RawMessage   `json:"data"`
		Metadata map[string]string `json:"metadata"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return engine.Message{}, fmt.Errorf("parse message: %w", err)
	}
	if raw.Type == "" {
		return engine.Message{}, errors.New("parse message: type is required (for example \"TELEMETRY\")")
	}
	data := string(raw.Data)
	if len(raw.Data) > 0 && raw.Data[0] == '"' {
		if err := json.Unmarshal(raw.Data, &data); err != nil {
			return engine.Message{}, fmt.Errorf("parse message: data: %w", err)
		}
	}
	dt := raw.DataType
	if dt == "" {
		dt = "JSON"
	}
	return engine.Message{ID: raw.ID, Type: raw.Type, DataType: dt, Data: data, Metadata: raw.Metadata}, nil
}
