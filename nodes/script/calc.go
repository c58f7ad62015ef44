package script

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
)

// maxCalcOutput bounds the JSON a calculation may return.
const maxCalcOutput = 8 << 20

// CalcOptions configure a Calc.
type CalcOptions struct {
	// Code is the body of function (msg, metadata, msgType, dataType).
	Code string
	// Library is run once per VM before the code (optional).
	Library string
	// Timeout bounds one call (default 100ms).
	Timeout time.Duration
	// MemoryLimit is the memory guard in MiB (default 64).
	MemoryLimit int
}

// Calc is a JavaScript calculation for nodes of other packages (the
// statistics node's derived figures): the script nodes' sandbox, VM pool,
// time limit, memory guard and libraries, called with a JSON value.
// It is safe for concurrent use.
type Calc struct{ c core }

// NewCalc compiles a calculation. A script that does not compile returns an
// error wrapping a *SyntaxError whose File is "code" or "library".
func NewCalc(o CalcOptions) (*Calc, error) {
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = 64
	}
	c := &Calc{}
	err := c.c.init(config{Code: o.Code, Library: o.Library, Timeout: o.Timeout.String(), MemoryLimit: o.MemoryLimit})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CheckCalc compiles code and library and reports the first problem of
// each (nil when it compiles); a library that is a ${vars.x} placeholder is
// not checked.
func CheckCalc(code, library string) (codeErr, libraryErr error) {
	if _, err := compileCode(code); err != nil {
		codeErr = err
	}
	if strings.TrimSpace(library) != "" && !varPlaceholder.MatchString(library) {
		if _, err := compileLibrary(fileLibrary, library); err != nil {
			libraryErr = err
		}
	}
	return codeErr, libraryErr
}

// Run calls the calculation with payload (JSON text) as msg, a copy of
// metadata, msgType and dataType "JSON", and returns what it returned as
// JSON text. res provides the process's global script library on the
// first call (nil: none). Errors are *Error values naming the line and
// column (errors.Is ErrScript, ErrTimeout, ErrMemory, ErrResult,
// ErrPayload).
func (c *Calc) Run(res *engine.Resources, msgType string, payload []byte, metadata map[string]string) ([]byte, error) {
	msg := types.RuleMsg{Type: msgType, DataType: types.JSON, Data: string(payload), Metadata: types.Metadata(metadata)}
	p := c.pool(res)
	if p == nil {
		return nil, errors.New("calc: closed")
	}
	var out []byte
	err := p.with(func(v *vmState) error {
		arg, err := v.payload(msg)
		if err != nil {
			return err
		}
		r, err := v.fn(goja.Undefined(), arg, v.metadataObject(msg.Metadata), v.rt.ToValue(msgType), v.rt.ToValue(string(types.JSON)))
		if err != nil {
			return err
		}
		switch kindOf(r) {
		case kUndefined:
			return resultError("result: want a value, got undefined (is a return missing?)")
		}
		if o, ok := r.(*goja.Object); ok && o.ExportType() == typePromise {
			return resultError("result: a Promise; scripts run synchronously, return the value itself")
		}
		b, err := v.encodeJSON(r, maxCalcOutput)
		if err != nil {
			if errors.Is(err, errTooBig) {
				return resultError("result: the JSON exceeds %d bytes", maxCalcOutput)
			}
			return resultError("result: %s", err.Error())
		}
		if b == nil {
			return resultError("result: want a JSON value, got %s", typeName(r))
		}
		out = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("calc: %w", err)
	}
	return out, nil
}

// pool returns the calculation's VMs, created on the first call.
func (c *Calc) pool(res *engine.Resources) *pool {
	c.c.once.Do(func() {
		var lib *Library
		lib, c.c.release = acquireLibrary(res)
		progs := c.c.progs
		progs.global = lib
		c.c.pool = newPool(progs, c.c.limits)
	})
	return c.c.pool
}

// Close drops the VMs and lets go of the global library.
func (c *Calc) Close() { c.c.destroy() }
