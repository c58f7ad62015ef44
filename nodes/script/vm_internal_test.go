package script

import (
	"errors"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// An interrupt that lands just as a call ends (the timer fired while the
// script returned) must not stop the next call on that VM: disarm clears
// it, and the pool does not reuse an interrupted VM anyway.
func TestNoStaleInterrupt(t *testing.T) {
	code, err := compileCode("let n = 0; for (let i = 0; i < 1000; i++) n += i; return n;")
	if err != nil {
		t.Fatal(err)
	}
	p := newPool(programs{code: code}, limits{timeout: time.Second, memory: 64 << 20})
	defer p.close()
	v, err := p.newVM()
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	call := func(v *vmState) error {
		res, err := v.fn(goja.Undefined())
		if err == nil && res.ToInteger() != 499500 {
			t.Errorf("result %v", res)
		}
		return err
	}
	// The watchdog fires after the script returned, before disarm.
	reuse, err := v.run(func(v *vmState) error {
		err := call(v)
		v.mu.Lock()
		v.stop(&stopReason{kind: ErrTimeout})
		v.mu.Unlock()
		return err
	})
	if err != nil || reuse {
		t.Fatalf("late interrupt: err %v, reuse %v; want the result and no reuse", err, reuse)
	}
	for i := range 3 {
		if reuse, err := v.run(call); err != nil || !reuse {
			t.Fatalf("call %d after a late interrupt: %v (reuse %v)", i, err, reuse)
		}
	}
}

// The timer of a finished call that fires late finds nothing to stop.
func TestLateTimerTick(t *testing.T) {
	code, err := compileCode("return 1;")
	if err != nil {
		t.Fatal(err)
	}
	p := newPool(programs{code: code}, limits{timeout: time.Millisecond, memory: 64 << 20})
	defer p.close()
	for range 200 {
		if err := p.with(func(v *vmState) error {
			_, err := v.fn(goja.Undefined())
			return err
		}); err != nil && !errors.Is(err, ErrTimeout) {
			t.Fatal(err)
		}
	}
	var v *vmState
	select {
	case v = <-p.idle:
	default: // every VM was interrupted and dropped (a slow machine)
		if v, err = p.newVM(); err != nil {
			t.Fatal(err)
		}
	}
	v.onTimer() // a tick after the call: running is false
	v.mu.Lock()
	stopped := v.stopped
	v.mu.Unlock()
	if stopped != nil {
		t.Fatalf("a tick outside a call stopped the VM: %v", stopped)
	}
	p.idle <- v
}
