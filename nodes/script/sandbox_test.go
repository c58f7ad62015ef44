package script_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/script"
)

// A busy loop is stopped at the time limit; it fails its message only, and
// the node's next message runs normally.
func TestBusyLoopInterrupted(t *testing.T) {
	m := newManager(t)
	rec := recorder(t)
	deploy(t, m, scriptFlow("busy", "scriptFilter", map[string]any{
		"code":    "let n = 0;\nif (msg.loop) {\n  while (true) { n++; }\n}\nreturn true;",
		"timeout": "50ms",
	}, types.True))
	for round := range 3 {
		start := time.Now()
		r := submit(t, m, "busy", jsonMsg(`{"loop":true}`, nil))
		if r.Status != engine.StatusFailed {
			t.Fatalf("round %d: status %s, want failed", round, r.Status)
		}
		contains(t, "failure", failure(r), "script timed out after 50ms at line 3:")
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("round %d: the loop ran %v", round, d)
		}
		if r := submit(t, m, "busy", jsonMsg(`{"loop":false}`, nil)); r.Status != engine.StatusCompleted {
			t.Fatalf("round %d: next message: %s %s", round, r.Status, r.Error)
		}
		if got := collect(t, rec, 1)[0]; got.node != "rec-True" {
			t.Fatalf("round %d: next message reached %s", round, got.node)
		}
	}

	// Loops and good messages at once, on other devices: each good one passes.
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop := i%4 == 0
			r := submit(t, m, "busy", jsonMsg(fmt.Sprintf(`{"loop":%t}`, loop), map[string]string{"deviceId": fmt.Sprint("d", i)}))
			if want := map[bool]engine.Status{true: engine.StatusFailed, false: engine.StatusCompleted}[loop]; r.Status != want {
				errs <- fmt.Sprintf("message %d: %s, want %s", i, r.Status, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	collect(t, rec, 24)
}

// Allocations too large for the process are refused before they happen,
// or stopped while they grow; either way the message fails, not the engine.
func TestHugeAllocation(t *testing.T) {
	m := newManager(t)
	cases := []struct {
		name, code, timeout, want string
		memory                    int
	}{
		{"repeat", "return 'x'.repeat(1e9);", "", "memory guard: String.prototype.repeat", 0},
		{"padEnd", "return 'x'.padEnd(1e9);", "", "memory guard: String.prototype.padEnd", 0},
		{"fill a sparse array", "const a = []; a.length = 1e9; return a.fill(0);", "", "memory guard: Array.prototype.fill: 1000000000 elements", 0},
		{"spread a sparse array", "const a = []; a[1e9] = 1; return [...a];", "", "memory guard: Array.prototype[Symbol.iterator]", 0},
		{"Array.from", "return Array.from({length: 1e9});", "", "memory guard: from", 0},
		{"apply", "return Math.max.apply(null, {length: 1e9});", "", "memory guard: apply", 0},
		{"typed array", "return new Float64Array(1e9);", "", "memory guard: new Float64Array: 8000000000 bytes exceed the limit of 16777216", 0},
		{"typed array through constructor", "return new (new Uint8Array(1).constructor)(1e9);", "", "memory guard: new Uint8Array", 0},
		{"ArrayBuffer", "return new ArrayBuffer(1e9);", "", "memory guard: new ArrayBuffer", 0},
		{"split a long string", "return 'x'.repeat(2e6).split('');", "5s", "memory guard: String.prototype.split", 0},
		{"JSON of shared sub-objects", "let a = [1]; for (let i = 0; i < 40; i++) a = [a, a]; return JSON.stringify(a);", "5s", "JSON.stringify: the result exceeds", 0},
		{"doubling a string", "let s = 'x';\nfor (;;) s += s;", "10s", "script stopped by the memory guard at line 2:", 16},
		{"growing an array", "const a = [];\nfor (;;) a.push({n: a.length, s: 'some text'});", "10s", "script stopped by the memory guard at line 2:", 16},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]any{"code": tc.code}
			if tc.timeout != "" {
				cfg["timeout"] = tc.timeout
			}
			if tc.memory != 0 {
				cfg["memoryLimit"] = tc.memory
			}
			id := fmt.Sprintf("alloc-%d", i)
			deploy(t, m, scriptFlow(id, "scriptTransform", cfg))
			r := submit(t, m, id, jsonMsg(`{}`, nil))
			if r.Status != engine.StatusFailed {
				t.Fatalf("status %s, want failed", r.Status)
			}
			contains(t, "failure", failure(r), tc.want)
		})
	}
}

func TestScriptErrorPosition(t *testing.T) {
	m := newManager(t)
	cases := []struct {
		name, code, library, want string
	}{
		{"exception", "const a = 1;\nconst b = null;\nreturn b.c;", "", "script error at line 3:10: TypeError: Cannot read property 'c' of undefined"},
		{"thrown Error", "\n\n  throw new RangeError('out of range: ' + msg.v);", "", "script error at line 3:9: RangeError: out of range: 7"},
		{"thrown string", "throw 'boom';", "", "script error at line 1:1: boom"},
		{"thrown object", "throw {code: 42};", "", `script error at line 1:1: uncaught {"code":42}`},
		{"helper misuse", "return readUint16BE(msg, 0);", "", "script error at line 1:20: TypeError: readUint16BE: want a Uint8Array, an ArrayBuffer or an array of bytes, got object"},
		{"undeclared variable", "total = msg.v;\nreturn msg;", "", "script error at line 1:13: ReferenceError: total is not defined"},
		{"in the library", "\nreturn half({});", "function half(x) {\n  return x.value.n / 2;\n}", "script error in library at line 2:18 (called from line 2:12): TypeError: Cannot read property 'n' of undefined"},
		{"stack overflow", "function f(n) { return f(n + 1); }\nreturn f(0);", "", "script error at line 1:25: RangeError: maximum call stack size exceeded (1000 calls)"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("pos-%d", i)
			deploy(t, m, scriptFlow(id, "scriptTransform", map[string]any{"code": tc.code, "library": tc.library}))
			r := submit(t, m, id, jsonMsg(`{"v":7}`, nil))
			if got := failure(r); got != tc.want {
				t.Errorf("failure\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// The script sees its arguments, the standard built-ins and the helpers:
// nothing of the engine, the process or Go.
func TestNoAccessBeyondTheSandbox(t *testing.T) {
	m := newManager(t)
	rec := recorder(t)
	deploy(t, m, scriptFlow("reach", "scriptTransform", map[string]any{"code": `
		const probe = {};
		for (const name of ['$ctx', 'ctx', 'require', 'process', 'module', 'exports', 'console', 'global', 'Go', 'os', 'fetch', 'setTimeout', 'secrets', 'vars', 'engine']) {
			probe[name] = typeof globalThis[name];
		}
		probe.this = typeof this;
		probe.functionThis = Function('return typeof this.process')();
		probe.globals = Object.getOwnPropertyNames(globalThis);
		probe.helperIsPlain = Object.getPrototypeOf(hexToBytes) === Function.prototype && Object.getOwnPropertyNames(hexToBytes).join();
		probe.sourceMap = eval('//# sourceMappingURL=/nonexistent/secret.map\n40 + 2');
		return probe;
	`}, types.Success))
	r := submit(t, m, "reach", jsonMsg(`{}`, nil))
	if r.Status != engine.StatusCompleted {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	var probe map[string]any
	if err := json.Unmarshal([]byte(collect(t, rec, 1)[0].msg.Data), &probe); err != nil {
		t.Fatal(err)
	}
	for name, v := range probe {
		switch name {
		case "globals":
			bare, err := goja.New().RunString("Object.getOwnPropertyNames(globalThis)")
			if err != nil {
				t.Fatal(err)
			}
			std := bare.Export().([]any)
			for _, g := range v.([]any) {
				if !slices.Contains(std, g) && !slices.Contains(helperNames, g.(string)) {
					t.Errorf("global %q is neither standard JavaScript nor a helper", g)
				}
			}
		case "helperIsPlain":
			if v != "length,name" {
				t.Errorf("helper's own properties: %v", v)
			}
		case "sourceMap":
			if v != 42.0 {
				t.Errorf("eval with a sourceMappingURL: %v", v)
			}
		default:
			if v != "undefined" {
				t.Errorf("%s is %v, want undefined", name, v)
			}
		}
	}
}

var helperNames = []string{
	"hexToBytes", "bytesToHex", "base64ToBytes", "bytesToBase64", "bytesToString", "stringToBytes",
	"readUint8", "readInt8", "readUint16BE", "readUint16LE", "readInt16BE", "readInt16LE",
	"readUint24BE", "readUint24LE", "readInt24BE", "readInt24LE", "readUint32BE", "readUint32LE",
	"readInt32BE", "readInt32LE", "readFloat32BE", "readFloat32LE", "readFloat64BE", "readFloat64LE",
	"bits", "bit", "readBits", "now",
}

// A call cannot leave state for the next message: globals, built-ins,
// helpers and libraries are frozen.
func TestNoStateBetweenMessages(t *testing.T) {
	m := newManager(t)
	cases := []struct{ name, code, library, want string }{
		{"new global", "globalThis.count = 1; return msg;", "", "TypeError: Cannot add property count, object is not extensible"},
		{"built-in prototype", "Array.prototype.sum = function () {}; return msg;", "", "TypeError: Cannot add property sum, object is not extensible"},
		{"replace a helper", "readUint8 = () => 0; return msg;", "", "TypeError"},
		{"library variable", "return {n: next()};", "var n = 0;\nfunction next() { return ++n; }", "TypeError"},
		{"iterator prototype", "Object.getPrototypeOf([][Symbol.iterator]()).next = null; return msg;", "", "TypeError"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("state-%d", i)
			deploy(t, m, scriptFlow(id, "scriptTransform", map[string]any{"code": tc.code, "library": tc.library}))
			contains(t, "failure", failure(submit(t, m, id, jsonMsg(`{}`, nil))), tc.want)
		})
	}
}

// Functions defined once: in the node's library, in a flow variable shared
// by several nodes, and in the process's global library.
func TestLibraries(t *testing.T) {
	m := newManager(t)
	rec := recorder(t)
	lib, err := script.NewLibrary("function celsius(f) {\n  return (f - 32) * 5 / 9;\n}\nconst SITE = 'north';")
	if err != nil {
		t.Fatal(err)
	}
	lib.Provide(m.Resources())

	f := scriptFlow("libs", "scriptTransform", map[string]any{
		"code":    "return {c: celsius(msg.f), r: round1(celsius(msg.f)), site: SITE};",
		"library": "${vars.lib}",
	}, types.Success)
	f.RuleChain.Configuration = map[string]any{"vars": map[string]any{"lib": "function round1(x) { return Math.round(x * 10) / 10; }"}}
	deploy(t, m, f)
	if r := submit(t, m, "libs", jsonMsg(`{"f":100}`, nil)); r.Status != engine.StatusCompleted {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	if got, want := collect(t, rec, 1)[0].msg.Data, `{"c":37.77777777777778,"r":37.8,"site":"north"}`; got != want {
		t.Errorf("payload %s, want %s", got, want)
	}

	if _, err := script.NewLibrary("function (x) {}"); err == nil {
		t.Error("a global library that does not compile was accepted")
	} else {
		var se *script.SyntaxError
		if !errors.As(err, &se) || se.Line != 1 || se.Column != 10 {
			t.Errorf("error %v (%#v), want a syntax error at line 1:10", err, se)
		}
	}
	if lib, err := script.LoadLibrary(t.TempDir()); lib != nil || err != nil {
		t.Errorf("no library file: %v %v", lib, err)
	}
}

// A global library that throws when it runs fails the messages of every
// script node, saying where; nothing else.
func TestGlobalLibraryThatThrows(t *testing.T) {
	m := newManager(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scripts", "library.js"), []byte("const LIMITS = {};\nLIMITS.max.value = 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lib, err := script.LoadLibrary(dir)
	if err != nil || lib == nil {
		t.Fatalf("load: %v %v", lib, err)
	}
	lib.Provide(m.Resources())
	deploy(t, m, scriptFlow("glib", "scriptFilter", map[string]any{"code": "return true;"}))
	for range 2 {
		r := submit(t, m, "glib", jsonMsg(`{}`, nil))
		contains(t, "failure", failure(r), "global library scripts/library.js: script error in scripts/library.js at line 2:")
	}
}

// Many messages at once on one node share its bounded pool of VMs.
func TestConcurrentMessages(t *testing.T) {
	m := newManager(t)
	rec := recorder(t)
	deploy(t, m, scriptFlow("many", "scriptParse", map[string]any{
		"code": "return {deviceId: msg.id, signals: {n: msg.n}};",
	}, types.Success))
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := submit(t, m, "many", jsonMsg(fmt.Sprintf(`{"id":"d%d","n":%d}`, i%50, i), nil))
			if r.Status != engine.StatusCompleted {
				t.Errorf("message %d: %s %s", i, r.Status, r.Error)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, g := range collect(t, rec, n) {
		var tel telemetry
		if err := json.Unmarshal([]byte(g.msg.Data), &tel); err != nil {
			t.Fatal(err)
		}
		seen[fmt.Sprint(tel.Signals["n"])] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct messages, want %d", len(seen), n)
	}
}
