// Command modbussim is a small Modbus TCP device for trying the Modbus
// connector without hardware (docs/connectors/modbus.md):
//
//	go run ./connectors/modbus/modbussim -listen 127.0.0.1:5020
//
// It answers every unit id from one register table, the boiler of the docs:
// holding 0 is the temperature in tenths of a degree (int16, drifting every
// second), holding 1–2 the pressure in bar (float32, high word first),
// holding 10 a setpoint in tenths of a degree, coil 0 "running", and
// discrete input 0 "door open". Reads and writes of any address work.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	mb "github.com/simonvetter/modbus"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5020", "address to listen on (host:port)")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintf(os.Stderr, "modbussim: %v\n", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &device{}
	d.holding[0] = 215
	p := math.Float32bits(2.25)
	d.holding[1], d.holding[2] = uint16(p>>16), uint16(p)
	d.holding[10] = 200
	d.coils[0] = true

	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + listen, Timeout: 5 * time.Minute, MaxClients: 32,
		Logger: log.New(io.Discard, "", 0)}, d)
	if err != nil {
		return fmt.Errorf("configure server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	slog.Info("modbus device simulator listening", "addr", listen)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for step := 0; ; step++ {
		select {
		case <-ctx.Done():
			if err := srv.Stop(); err != nil {
				return fmt.Errorf("stop server: %w", err)
			}
			return nil
		case <-tick.C:
			d.mu.Lock()
			d.holding[0] = uint16(int16(215 + 10*math.Sin(float64(step)/10)))
			d.mu.Unlock()
		}
	}
}

// device is one register table, shared by every unit id.
type device struct {
	mu       sync.Mutex
	holding  [65536]uint16
	input    [65536]uint16
	coils    [65536]bool
	discrete [65536]bool
}

func (d *device) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if req.IsWrite {
		copy(d.coils[req.Addr:], req.Args)
		slog.Info("coils written", "unit", req.UnitId, "addr", req.Addr, "values", req.Args, "client", req.ClientAddr)
		return nil, nil
	}
	return append([]bool(nil), d.coils[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

func (d *device) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]bool(nil), d.discrete[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

func (d *device) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if req.IsWrite {
		copy(d.holding[req.Addr:], req.Args)
		slog.Info("holding registers written", "unit", req.UnitId, "addr", req.Addr, "values", req.Args, "client", req.ClientAddr)
		return nil, nil
	}
	return append([]uint16(nil), d.holding[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

func (d *device) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]uint16(nil), d.input[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}
