// Package script provides the JavaScript nodes: scriptParse turns raw
// payloads into unified telemetry, scriptTransform rewrites messages,
// scriptFilter and scriptSwitch route them. They run on goja in a sandbox
// of Sluice's own (not RuleGo's JS nodes, which expose the engine context,
// RULEGO-NOTES §6.9): a script sees its message and a few pure helpers, and
// nothing of the process. docs/scripts.md is the user's guide.
package script

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// maxOutput bounds the payload of one message a script node emits.
const maxOutput = 1 << 20

// scriptsHelp is the shared part of every script node's reference.
const scriptsHelp = "The code is the body of a JavaScript function (strict mode) called with `msg` (the payload: parsed JSON for dataType JSON, " +
	"a `Uint8Array` for BINARY, else the text), `metadata` (a copy of the message's metadata), `msgType` and `dataType`. " +
	"Helpers for binary payloads (`hexToBytes`, `base64ToBytes`, `readUint16BE`, `readFloat32LE`, `bits`, ...) and `now()` are globals; " +
	"nothing else of the process is reachable. Each call has a time limit (`timeout`) and a memory guard; a script that throws, " +
	"runs too long or allocates too much sends its message to `Failure` with the line and column. See docs/scripts.md."

// config holds the fields every script node has.
type config struct {
	Code        string `json:"code"`
	Library     string `json:"library"`
	Timeout     string `json:"timeout"`
	MemoryLimit int    `json:"memoryLimit"`
}

// fields returns the common fields, the code field first.
func fields(codeHelp, codeExample string) []*spec.Field {
	return []*spec.Field{
		{Name: "code", Type: spec.Code, Language: "javascript", Required: true, Help: codeHelp, Example: codeExample},
		{Name: "library", Type: spec.Code, Language: "javascript", Default: "", Vars: true, Advanced: true,
			Help: "JavaScript run before the code, once per VM: functions and constants the code can call. " +
				"To share one library between a flow's script nodes, keep it in a flow variable and set this field to `${vars.name}`. " +
				"The process's global library (data directory `scripts/library.js`) runs before it."},
		{Name: "timeout", Type: spec.Duration, Default: "100ms", Min: spec.Num(0.001), Max: spec.Num(10),
			Help: "Time limit of one call: a script still running then is stopped and its message goes to `Failure`."},
		{Name: "memoryLimit", Type: spec.Int, Default: 64, Min: spec.Num(1), Max: spec.Num(4096), Advanced: true,
			Help: "Memory guard, in MiB: a call during which the process heap grows by more than this is stopped (checked every 5ms of a call)."},
	}
}

// varPlaceholder matches a ${vars.x} placeholder: a library given as one
// is compiled once the flow's variables are substituted.
var varPlaceholder = regexp.MustCompile(`\$\{\s*vars\.`)

// validate compiles the code and library, so that `sluice validate` and
// the API report a script that does not compile, with its line and column.
func validate(cfg map[string]any) spec.Problems {
	var ps spec.Problems
	if code, ok := cfg["code"].(string); ok {
		if _, err := compileCode(code); err != nil {
			ps = append(ps, spec.Problem{Field: "code", Message: err.Error()})
		}
	}
	if lib, ok := cfg["library"].(string); ok && !varPlaceholder.MatchString(lib) {
		if _, err := compileLibrary(fileLibrary, lib); err != nil {
			ps = append(ps, spec.Problem{Field: "library", Message: err.Error()})
		}
	}
	return ps
}

// core is what every script node shares: the compiled scripts, the limits
// and, from the first message on, the pool of VMs.
type core struct {
	progs  programs
	limits limits

	once    sync.Once
	pool    *pool
	release func() error
}

// init compiles the scripts of a decoded config.
func (c *core) init(cfg config) error {
	code, err := compileCode(cfg.Code)
	if err != nil {
		return fmt.Errorf("code: %w", err)
	}
	c.progs.code = code
	if strings.TrimSpace(cfg.Library) != "" {
		if c.progs.library, err = compileLibrary(fileLibrary, cfg.Library); err != nil {
			return fmt.Errorf("library: %w", err)
		}
	}
	d, err := time.ParseDuration(cfg.Timeout)
	if err != nil || d <= 0 {
		return fmt.Errorf("timeout: not a positive duration: %q", cfg.Timeout)
	}
	c.limits = limits{timeout: d, memory: uint64(cfg.MemoryLimit) << 20}
	return nil
}

// vms returns the node's pool, creating it on the first message: the
// global library comes from the engine's resources, which only a message's
// environment carries.
func (c *core) vms(ctx types.RuleContext) *pool {
	c.once.Do(func() {
		var res *engine.Resources
		if env := engine.EnvOf(ctx); env != nil {
			res = env.Resources
		}
		var lib *Library
		lib, c.release = acquireLibrary(res)
		progs := c.progs
		progs.global = lib
		c.pool = newPool(progs, c.limits)
	})
	return c.pool
}

func (c *core) destroy() {
	c.once.Do(func() {}) // no pool after this
	if c.pool != nil {
		c.pool.close()
	}
	if c.release != nil {
		_ = c.release()
	}
}

// call runs the node's function on msg and hands the result to convert,
// all under the watchdog.
func (c *core) call(ctx types.RuleContext, msg types.RuleMsg, convert func(v *vmState, res goja.Value, md *goja.Object) error) error {
	return c.vms(ctx).with(func(v *vmState) error {
		payload, err := v.payload(msg)
		if err != nil {
			return err
		}
		md := v.metadataObject(msg.Metadata)
		res, err := v.fn(goja.Undefined(), payload, md, v.rt.ToValue(msg.Type), v.rt.ToValue(string(msg.DataType)))
		if err != nil {
			return err
		}
		if o, ok := res.(*goja.Object); ok && o.ExportType() == typePromise {
			return resultError("result: a Promise; scripts run synchronously, return the value itself")
		}
		return convert(v, res, md)
	})
}

// tellEach answers with several messages through the engine's
// engine.MultiTeller; outside a Sluice engine (no such context) it tells the
// messages one by one, which is only safe for a single message.
func tellEach(ctx types.RuleContext, msgs []types.RuleMsg, relations []string) {
	if mt, ok := ctx.(engine.MultiTeller); ok {
		mt.TellEach(msgs, relations)
		return
	}
	for i, m := range msgs {
		ctx.TellNext(m, relations[i])
	}
}
