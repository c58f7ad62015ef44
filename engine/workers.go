package engine

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/rulego/rulego/api/types"
)

// workerPool runs RuleGo hops on a fixed set of goroutines. When every worker
// is busy, Submit runs the task in the caller's goroutine instead of queueing
// it or failing: a hop that submits another hop can never deadlock the pool,
// and nothing is dropped (RuleGo's own bounded pool drops tasks and hangs
// OnMsgAndWait, RULEGO-NOTES §6.6). The number of goroutines stays bounded by
// the workers plus the callers already running.
type workerPool struct {
	tasks chan func()
	quit  chan struct{}
	log   *slog.Logger
	wg    sync.WaitGroup
	once  sync.Once
}

var _ types.Pool = (*workerPool)(nil)

func newWorkerPool(workers int, log *slog.Logger) *workerPool {
	p := &workerPool{tasks: make(chan func()), quit: make(chan struct{}), log: log}
	p.wg.Add(workers)
	for i := 0; i < workers; i++ {
		go p.work()
	}
	return p
}

// runInline runs a task in the submitter's goroutine; a panic in it stays
// there instead of unwinding into the node that submitted it.
func (p *workerPool) runInline(task func()) {
	defer p.recover()
	task()
}

func (p *workerPool) recover() {
	if r := recover(); r != nil && p.log != nil {
		p.log.Error("engine task panicked", "panic", fmt.Sprint(r))
	}
}

func (p *workerPool) work() {
	defer p.wg.Done()
	for {
		select {
		case task := <-p.tasks:
			p.runInline(task)
		case <-p.quit:
			return
		}
	}
}

// Submit hands the task to an idle worker or runs it in the caller.
func (p *workerPool) Submit(task func()) error {
	select {
	case p.tasks <- task:
	default:
		p.runInline(task)
	}
	return nil
}

// After stop, Submit finds no idle worker and runs every task in its caller.

// Release is a no-op: the pool is shared by every engine of a Manager, which
// stops it itself (stop) after its engines.
func (p *workerPool) Release() {}

func (p *workerPool) stop() {
	p.once.Do(func() {
		close(p.quit)
		p.wg.Wait()
	})
}
