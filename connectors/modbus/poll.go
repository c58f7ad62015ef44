package modbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

type pollConfig struct {
	Devices   []deviceConfig    `json:"devices"`
	Registers []registerConfig  `json:"registers"`
	MaxGap    int               `json:"maxGap"`
	RetryMin  spec.JSONDuration `json:"retryMin"`
	RetryMax  spec.JSONDuration `json:"retryMax"`
}

type deviceConfig struct {
	DeviceID     string            `json:"deviceId"`
	Host         string            `json:"host"`
	Port         int               `json:"port"`
	UnitID       int               `json:"unitId"`
	PollInterval spec.JSONDuration `json:"pollInterval"`
	Timeout      spec.JSONDuration `json:"timeout"`
}

type registerConfig struct {
	Signal    string  `json:"signal"`
	Area      string  `json:"area"`
	Address   int     `json:"address"`
	Type      string  `json:"type"`
	WordOrder string  `json:"wordOrder"`
	ByteOrder string  `json:"byteOrder"`
	Scale     float64 `json:"scale"`
	Offset    float64 `json:"offset"`
}

func (r registerConfig) format() Format {
	return Format{Type: Type(r.Type), WordOrder: Order(r.WordOrder), ByteOrder: Order(r.ByteOrder), Scale: r.Scale, Offset: r.Offset}
}

// poller is the runtime of a modbusPoll node: one goroutine per device,
// owned by the poller and stopped by Stop.
type poller struct {
	sc      engine.SourceContext
	cfg     pollConfig
	formats []Format
	blocks  []block
	devices []*device
	libLog  *log.Logger

	cancel   context.CancelFunc
	wg       sync.WaitGroup // device goroutines
	inflight sync.WaitGroup // messages submitted and not finished
	stopOnce sync.Once

	messages, bytes, errors atomic.Uint64

	mu        sync.Mutex // guards the fields below and each device's status
	state     engine.SourceState
	since     time.Time
	lastError string
	connected int64
}

// device is one polled device; up, pending and failing are guarded by
// poller.mu.
type device struct {
	cfg     deviceConfig
	addr    string // host:port
	unit    string
	meta    map[string]string // metadata shared by all of its messages (copied per message)
	up      bool              // its last poll succeeded
	failing string            // the error of its last poll, "" when it answered
}

var _ engine.Source = (*poller)(nil)

func newPoller(sc engine.SourceContext, raw map[string]any) (engine.Source, error) {
	var cfg pollConfig
	if err := pollSpec.Decode(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", PollType, err)
	}
	if sc.Logger == nil {
		sc.Logger = slog.Default()
	}
	p := &poller{sc: sc, cfg: cfg, state: engine.StateRetrying, since: time.Now()}
	p.libLog = log.New(slogWriter{sc.Logger}, "", 0)
	spans := make([]span, len(cfg.Registers))
	for i, r := range cfg.Registers {
		p.formats = append(p.formats, r.format())
		w := Type(r.Type).Registers()
		if Area(r.Area).bits() {
			w = 1
		}
		spans[i] = span{area: Area(r.Area), addr: r.Address, width: w}
	}
	p.blocks = planReads(spans, cfg.MaxGap)
	for _, dc := range cfg.Devices {
		d := &device{cfg: dc, addr: net.JoinHostPort(dc.Host, strconv.Itoa(dc.Port)), unit: strconv.Itoa(dc.UnitID)}
		d.meta = map[string]string{
			"connector":         PollType,
			"tenant":            sc.Tenant,
			engine.MetaDeviceID: dc.DeviceID,
			"unitId":            d.unit,
			"remoteAddr":        d.addr,
		}
		p.devices = append(p.devices, d)
	}
	return p, nil
}

// Start implements engine.Source: it starts one goroutine per device and
// returns. A device that does not answer is retried, never a start error.
func (p *poller) Start(ctx context.Context) error {
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	for _, d := range p.devices {
		p.wg.Add(1)
		go p.run(run, d)
	}
	return nil
}

// Stop implements engine.Source: it stops polling, closes the connections
// and waits (up to ctx) for the messages it submitted to finish.
func (p *poller) Stop(ctx context.Context) error {
	var err error
	p.stopOnce.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
		if err = waitCtx(ctx, &p.wg); err != nil {
			err = fmt.Errorf("%s: stop: devices still polling: %w", PollType, err)
			return
		}
		if err = waitCtx(ctx, &p.inflight); err != nil {
			err = fmt.Errorf("%s: stop: messages still in flight: %w", PollType, err)
		}
		p.mu.Lock()
		p.state, p.since = engine.StateStopped, time.Now()
		p.mu.Unlock()
	})
	return err
}

// waitCtx waits for wg, or until ctx ends.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Status implements engine.Source: connected when every device answered
// its last poll, retrying otherwise; lastError names the devices that do not
// answer now, or else holds the last error seen.
func (p *poller) Status() engine.SourceStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := engine.SourceStatus{
		State:       p.state,
		Connections: p.connected,
		Messages:    p.messages.Load(),
		Bytes:       p.bytes.Load(),
		Errors:      p.errors.Load(),
		LastError:   p.lastError,
		Since:       p.since,
	}
	var failing []string
	for _, d := range p.devices {
		if d.failing != "" {
			failing = append(failing, d.failing)
		}
	}
	if len(failing) > 0 && p.state != engine.StateStopped {
		st.LastError = strings.Join(failing, "; ")
	}
	return st
}

// report records the outcome of one poll of d (err nil: it answered).
func (p *poller) report(d *device, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == engine.StateStopped {
		return
	}
	switch {
	case err != nil:
		p.errors.Add(1)
		if d.failing == "" {
			p.sc.Logger.Warn("modbus device does not answer", "deviceId", d.cfg.DeviceID, "remoteAddr", d.addr, "error", err)
		}
		d.up, d.failing = false, err.Error()
		p.lastError = d.failing
	case d.failing != "":
		p.sc.Logger.Info("modbus device answers again", "deviceId", d.cfg.DeviceID, "remoteAddr", d.addr)
		fallthrough
	default:
		d.up, d.failing = true, ""
	}
	state := engine.StateConnected
	for _, x := range p.devices {
		if !x.up {
			state = engine.StateRetrying
			break
		}
	}
	if state != p.state {
		p.state, p.since = state, time.Now()
	}
}

// noteError counts an error that is not the device's (the flow refused a
// message).
func (p *poller) noteError(err error) {
	p.errors.Add(1)
	p.mu.Lock()
	p.lastError = err.Error()
	p.mu.Unlock()
}

func (p *poller) addConnection(n int64) {
	p.mu.Lock()
	p.connected += n
	p.mu.Unlock()
}

// run polls one device until ctx ends.
func (p *poller) run(ctx context.Context, d *device) {
	defer p.wg.Done()
	var client *mb.ModbusClient
	defer func() {
		if client != nil {
			_ = client.Close() // stopping: nothing to report to
			p.addConnection(-1)
		}
	}()
	retry := p.cfg.RetryMin.D()
	fail := func(err error) bool {
		p.report(d, err)
		p.sc.Logger.Debug("modbus device did not answer", "deviceId", d.cfg.DeviceID, "remoteAddr", d.addr, "retryIn", retry, "error", err)
		ok := sleep(ctx, jitter(retry))
		retry = min(retry*2, p.cfg.RetryMax.D())
		return ok
	}
	for ctx.Err() == nil {
		if client == nil {
			c, err := p.open(d)
			if err != nil {
				if !fail(err) {
					return
				}
				continue
			}
			client = c
			p.addConnection(1)
		}
		start := time.Now()
		msg, n, err := p.poll(client, d, start)
		if err != nil {
			if !isException(err) { // the connection is in doubt: open a new one
				_ = client.Close() // it failed already; the poll error says why
				client = nil
				p.addConnection(-1)
			}
			if !fail(err) {
				return
			}
			continue
		}
		retry = p.cfg.RetryMin.D()
		p.report(d, nil)
		p.bytes.Add(uint64(n))
		if err := p.submit(ctx, msg); err != nil {
			if ctx.Err() != nil {
				return
			}
			err = fmt.Errorf("device %q: submit: %w", d.cfg.DeviceID, err)
			p.sc.Logger.Warn("modbus telemetry refused by the flow", "deviceId", d.cfg.DeviceID, "error", err)
			p.noteError(err)
			if !sleep(ctx, jitter(retry)) {
				return
			}
			continue
		}
		if !sleep(ctx, time.Until(start.Add(d.cfg.PollInterval.D()))) {
			return
		}
	}
}

// open connects to a device.
func (p *poller) open(d *device) (*mb.ModbusClient, error) {
	c, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + d.addr, Timeout: d.cfg.Timeout.D(), Logger: p.libLog})
	if err != nil {
		return nil, fmt.Errorf("device %q (%s): configure client: %w", d.cfg.DeviceID, d.addr, err)
	}
	if err := c.Open(); err != nil {
		return nil, fmt.Errorf("device %q (%s): connect: %w", d.cfg.DeviceID, d.addr, err)
	}
	if err := c.SetUnitId(uint8(d.cfg.UnitID)); err != nil {
		_ = c.Close() // the error that matters is SetUnitId's
		return nil, fmt.Errorf("device %q (%s): unit id %d: %w", d.cfg.DeviceID, d.addr, d.cfg.UnitID, err)
	}
	return c, nil
}

// telemetry is the unified telemetry shape (DESIGN.md, Messages).
type telemetry struct {
	DeviceID string         `json:"deviceId"`
	Ts       int64          `json:"ts"`
	Signals  map[string]any `json:"signals"`
}

// poll reads every block from d and returns its telemetry message and the
// number of data bytes read.
func (p *poller) poll(c *mb.ModbusClient, d *device, at time.Time) (engine.Message, int, error) {
	signals := make(map[string]any, len(p.formats))
	n := 0
	for _, b := range p.blocks {
		switch b.area {
		case Holding, Input:
			kind := mb.HOLDING_REGISTER
			if b.area == Input {
				kind = mb.INPUT_REGISTER
			}
			regs, err := c.ReadRegisters(uint16(b.start), uint16(b.count), kind)
			if err != nil {
				return engine.Message{}, 0, readError(d, b, err)
			}
			n += 2 * len(regs)
			for _, i := range b.items {
				r := p.cfg.Registers[i]
				off := r.Address - b.start
				v, err := Decode(regs[off:off+p.formats[i].Type.Registers()], p.formats[i])
				if err != nil { // the plan covers every register: a bug, not a device error
					return engine.Message{}, 0, fmt.Errorf("device %q: signal %q: %w", d.cfg.DeviceID, r.Signal, err)
				}
				signals[r.Signal] = v
			}
		default:
			var bits []bool
			var err error
			if b.area == Coil {
				bits, err = c.ReadCoils(uint16(b.start), uint16(b.count))
			} else {
				bits, err = c.ReadDiscreteInputs(uint16(b.start), uint16(b.count))
			}
			if err != nil {
				return engine.Message{}, 0, readError(d, b, err)
			}
			n += (len(bits) + 7) / 8
			for _, i := range b.items {
				signals[p.cfg.Registers[i].Signal] = DecodeBit(bits[p.cfg.Registers[i].Address-b.start])
			}
		}
	}
	ts := at.UnixMilli()
	data, err := json.Marshal(telemetry{DeviceID: d.cfg.DeviceID, Ts: ts, Signals: signals})
	if err != nil { // Decode returns only JSON-safe values
		return engine.Message{}, 0, fmt.Errorf("device %q: encode telemetry: %w", d.cfg.DeviceID, err)
	}
	md := make(map[string]string, len(d.meta)+1)
	for k, v := range d.meta {
		md[k] = v
	}
	md["receivedAt"] = time.Now().UTC().Format(time.RFC3339Nano)
	return engine.Message{Ts: ts, Type: "TELEMETRY", DataType: "JSON", Data: string(data), Metadata: md}, n, nil
}

func readError(d *device, b block, err error) error {
	what := map[Area]string{Holding: "holding registers", Input: "input registers", Coil: "coils", Discrete: "discrete inputs"}[b.area]
	return fmt.Errorf("device %q (%s, unit %d): read %s %d-%d: %w", d.cfg.DeviceID, d.addr, d.cfg.UnitID, what, b.start, b.start+b.count-1, err)
}

// isException reports whether err is a Modbus exception answered by the
// device: the connection is sound, the request was refused.
func isException(err error) bool {
	var e mb.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e {
	case mb.ErrIllegalFunction, mb.ErrIllegalDataAddress, mb.ErrIllegalDataValue, mb.ErrServerDeviceFailure,
		mb.ErrAcknowledge, mb.ErrServerDeviceBusy, mb.ErrMemoryParityError, mb.ErrGWPathUnavailable, mb.ErrGWTargetFailedToRespond:
		return true
	}
	return false
}

// submit hands a message to the flow, waiting for room when the flow is
// full (a poller never drops a reading; its next poll just comes later).
func (p *poller) submit(ctx context.Context, msg engine.Message) error {
	p.inflight.Add(1)
	_, err := p.sc.In.Submit(ctx, msg, engine.SubmitOptions{Done: func(engine.Result) { p.inflight.Done() }})
	if err != nil {
		p.inflight.Done()
		return err
	}
	p.messages.Add(1)
	return nil
}

// sleep waits for d or until ctx ends; it reports whether to go on.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jitter spreads retries of many devices: d ± 10%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - d/10 + rand.N(d/5+1)
}

// slogWriter turns the Modbus library's log lines into debug records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(b []byte) (int, error) {
	w.l.Debug(strings.TrimSpace(string(b)), "component", "modbus")
	return len(b), nil
}
