package script

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// watchTick is how often the watchdog of a running call wakes up to check
// the heap. A call that ends sooner never wakes it.
const watchTick = 5 * time.Millisecond

// heapMetric is the Go heap in use: live objects and garbage not yet swept.
const heapMetric = "/memory/classes/heap/objects:bytes"

// limits bound one call of a script.
type limits struct {
	timeout time.Duration
	// memory is how much the Go heap may grow while one call runs.
	memory uint64
}

// programs are what a node's VMs run: compiled once, shared by every VM.
type programs struct {
	global  *Library      // the process's global library, or nil
	library *goja.Program // the node's library, or nil
	code    *goja.Program // evaluates to the node's function
}

// pool holds a node's VMs: at most cap(sem) exist, created on demand; a
// message waits for a free one.
type pool struct {
	progs  programs
	limits limits
	sem    chan struct{}
	idle   chan *vmState
}

func newPool(progs programs, l limits) *pool {
	n := max(runtime.GOMAXPROCS(0), 2)
	return &pool{progs: progs, limits: l, sem: make(chan struct{}, n), idle: make(chan *vmState, n)}
}

// with runs f on a VM, with the watchdog armed for all of f (the call and
// the conversion of its result, which may run getters and toJSON). A VM
// that was interrupted is dropped, not reused.
func (p *pool) with(f func(v *vmState) error) (err error) {
	p.sem <- struct{}{}
	var v *vmState
	var reuse bool
	defer func() {
		switch {
		case v == nil:
		case reuse:
			p.idle <- v
		default:
			v.close()
		}
		<-p.sem
	}()
	select {
	case v = <-p.idle:
	default:
		nv, err := p.newVM()
		if err != nil {
			return err
		}
		v = nv
	}
	reuse, err = v.run(f)
	return err
}

// close drops the idle VMs. Calls still running keep theirs and drop them
// when they end.
func (p *pool) close() {
	for {
		select {
		case v := <-p.idle:
			v.close()
		default:
			return
		}
	}
}

// vmState is one goja runtime set up for a node, with its watchdog.
type vmState struct {
	rt     *goja.Runtime
	fn     goja.Callable // the node's code
	limits limits

	// Originals captured before the guards wrap the built-ins.
	u8       goja.Constructor
	rangeErr goja.Constructor
	typeErr  goja.Constructor

	timer  *time.Timer
	sample []metrics.Sample
	// halt is set with the interrupt, for loops in Go (the bounded JSON
	// encoder) that goja's interrupt does not reach.
	halt atomic.Bool

	mu      sync.Mutex // guards the fields below, shared with the timer
	running bool
	started time.Time
	base    uint64 // heap at the first tick of the call; 0 before it
	stopped *stopReason
}

// newVM builds a runtime for the pool's programs: helpers, guards, the
// global library, the node's library, then the code, and freezes the
// globals so that no call leaves state for the next.
func (p *pool) newVM() (*vmState, error) {
	rt := goja.New()
	rt.SetParserOptions(parser.WithDisableSourceMaps) // eval and Function must not read files
	rt.SetMaxCallStackSize(maxCallStack)
	v := &vmState{rt: rt, limits: p.limits, sample: []metrics.Sample{{Name: heapMetric}}}
	v.timer = time.AfterFunc(time.Hour, v.onTimer)
	v.timer.Stop()
	var ok bool
	for name, dst := range map[string]*goja.Constructor{"Uint8Array": &v.u8, "RangeError": &v.rangeErr, "TypeError": &v.typeErr} {
		if *dst, ok = goja.AssertConstructor(rt.Get(name)); !ok {
			return nil, fmt.Errorf("script runtime: %s is missing", name)
		}
	}
	if err := v.installHelpers(); err != nil {
		return nil, fmt.Errorf("script runtime: %w", err)
	}
	if err := v.installGuards(); err != nil {
		return nil, fmt.Errorf("script runtime: %w", err)
	}
	load := func(what string, prg *goja.Program) error {
		_, err := v.run(func(v *vmState) error {
			_, err := v.rt.RunProgram(prg)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if p.progs.global != nil {
		if err := load("global library "+fileGlobalLibrary, p.progs.global.prg); err != nil {
			return nil, err
		}
	}
	if p.progs.library != nil {
		if err := load("library", p.progs.library); err != nil {
			return nil, err
		}
	}
	if err := v.harden(); err != nil {
		return nil, fmt.Errorf("script runtime: %w", err)
	}
	fv, err := rt.RunProgram(p.progs.code)
	if err != nil {
		return nil, fmt.Errorf("code: %w", err)
	}
	if v.fn, ok = goja.AssertFunction(fv); !ok {
		return nil, errors.New("code: does not compile to a function")
	}
	return v, nil
}

func (v *vmState) close() { v.timer.Stop() }

// run calls f with the watchdog armed and turns what goja raised into an
// *Error. reuse is false when the VM was interrupted: its stack may still
// hold what the runaway script allocated.
func (v *vmState) run(f func(v *vmState) error) (reuse bool, err error) {
	v.arm()
	err = v.try(f)
	var ie *goja.InterruptedError
	if v.halt.Load() && err != nil && !errors.As(err, &ie) {
		// Stopped inside Go code (the JSON encoder), which then failed
		// on its own: the stop is the cause.
		v.mu.Lock()
		r := v.stopped
		v.mu.Unlock()
		err = v.stopError(r, nil)
	} else if err != nil && !isOurs(err) {
		err = v.scriptError(err)
	}
	return !v.disarm(), err
}

// isOurs reports errors the node built itself (result checks), which need
// no translation.
func isOurs(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// try runs f, turning the JavaScript exceptions that goja raises as panics
// (from Object.Get running a getter, say) into errors.
func (v *vmState) try(f func(v *vmState) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && isJSError(e) {
				err = e
				return
			}
			panic(r)
		}
	}()
	return f(v)
}

func isJSError(err error) bool {
	var ex *goja.Exception
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	return errors.As(err, &ex) || errors.As(err, &ie) || errors.As(err, &so)
}

func (v *vmState) arm() {
	v.mu.Lock()
	v.running, v.started, v.base, v.stopped = true, time.Now(), 0, nil
	v.halt.Store(false)
	v.mu.Unlock()
	v.timer.Reset(min(v.limits.timeout, watchTick))
}

// disarm ends the watched section and reports whether the VM was
// interrupted. Once running is false no Interrupt can come, so clearing the
// flag here leaves no stale interrupt for the next call.
func (v *vmState) disarm() (interrupted bool) {
	v.mu.Lock()
	v.running = false
	interrupted = v.stopped != nil
	v.mu.Unlock()
	v.timer.Stop()
	v.rt.ClearInterrupt()
	return interrupted
}

// onTimer is the watchdog: it interrupts a call past its time limit, or
// one during which the heap grew by more than the memory limit, and
// otherwise re-arms itself. A tick left over from a finished call finds
// running false, or measures the next call from that call's start.
func (v *vmState) onTimer() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.running || v.stopped != nil {
		return
	}
	elapsed := time.Since(v.started)
	if elapsed >= v.limits.timeout {
		v.stop(&stopReason{kind: ErrTimeout})
		return
	}
	metrics.Read(v.sample)
	var heap uint64
	if v.sample[0].Value.Kind() == metrics.KindUint64 {
		heap = v.sample[0].Value.Uint64()
	}
	switch {
	case v.base == 0:
		v.base = heap
	case heap > v.base && heap-v.base > v.limits.memory:
		v.stop(&stopReason{kind: ErrMemory, text: fmt.Sprintf("the heap grew by %d MiB while the script ran (limit %d MiB)",
			(heap-v.base)>>20, v.limits.memory>>20)})
		return
	}
	v.timer.Reset(min(v.limits.timeout-elapsed, watchTick))
}

// stop interrupts the running call; v.mu is held.
func (v *vmState) stop(r *stopReason) {
	v.stopped = r
	v.halt.Store(true)
	v.rt.Interrupt(r)
}
