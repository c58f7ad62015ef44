package script

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/dop251/goja"
)

// Kinds of script failure; a message's error wraps one of them.
var (
	// ErrScript is an exception the script threw (or a built-in threw in it).
	ErrScript = errors.New("script error")
	// ErrTimeout is a script stopped at its time limit.
	ErrTimeout = errors.New("script timed out")
	// ErrMemory is a script stopped by the memory guard.
	ErrMemory = errors.New("script stopped by the memory guard")
	// ErrResult is a script whose result has the wrong shape.
	ErrResult = errors.New("script result")
	// ErrPayload is a message whose payload cannot be given to the script.
	ErrPayload = errors.New("payload")
)

// Error is a failed script run: what happened, where in the script (Line
// and Column are 0 when unknown), and the kind (errors.Is with ErrScript,
// ErrTimeout, ErrMemory, ErrResult or ErrPayload).
type Error struct {
	Kind   error
	File   string
	Line   int
	Column int
	msg    string
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the kind.
func (e *Error) Unwrap() error { return e.Kind }

// stopReason is the value a VM is interrupted with.
type stopReason struct {
	kind error
	text string
}

// frameLine matches a frame of goja's stack trace that lies in one of the
// node's scripts: "\tat code:3:7(12)" or "\tat fn (library:2:5(4))".
var frameLine = regexp.MustCompile(`^\tat (?:.*\()?(code|library|scripts/library\.js):(\d+):(\d+)\(\d+\)\)?$`)

type position struct {
	file      string
	line, col int
}

// positions are the script frames of a goja stack trace, innermost first,
// with code lines mapped back to the code as written.
func positions(trace string) []position {
	var out []position
	for _, l := range strings.Split(trace, "\n") {
		m := frameLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		if m[1] == fileCode {
			line--
			if line < 1 {
				line, col = 1, 1
			}
		}
		out = append(out, position{file: m[1], line: line, col: col})
	}
	return out
}

// where renders the innermost script position: " at line 3:7",
// " in library at line 2:5 (called from line 4:1)".
func where(ps []position) string {
	if len(ps) == 0 {
		return ""
	}
	p := ps[0]
	s := fmt.Sprintf(" at line %d:%d", p.line, p.col)
	if p.file == fileCode {
		return s
	}
	s = " in " + p.file + s
	for _, q := range ps[1:] {
		if q.file == fileCode {
			s += fmt.Sprintf(" (called from line %d:%d)", q.line, q.col)
			break
		}
	}
	return s
}

func newError(kind error, ps []position, msg string) *Error {
	e := &Error{Kind: kind, msg: msg}
	if len(ps) > 0 {
		e.File, e.Line, e.Column = ps[0].file, ps[0].line, ps[0].col
	}
	return e
}

// scriptError turns what goja returned into an *Error. It runs while the
// watchdog is armed: describing a thrown object may call its getters.
func (v *vmState) scriptError(err error) error {
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	var ex *goja.Exception
	switch {
	case errors.As(err, &ie):
		r, _ := ie.Value().(*stopReason)
		return v.stopError(r, positions(ie.String()))
	case errors.As(err, &so):
		ps := positions(so.String())
		return newError(ErrScript, ps, fmt.Sprintf("script error%s: RangeError: maximum call stack size exceeded (%d calls)", where(ps), maxCallStack))
	case errors.As(err, &ex):
		ps := positions(ex.String())
		return newError(ErrScript, ps, fmt.Sprintf("script error%s: %s", where(ps), v.describeThrown(ex.Value())))
	}
	return newError(ErrScript, nil, "script error: "+err.Error())
}

// stopError reports a call the watchdog stopped at ps.
func (v *vmState) stopError(r *stopReason, ps []position) error {
	if r == nil {
		r = &stopReason{kind: ErrTimeout}
	}
	if r.kind == ErrTimeout {
		return newError(ErrTimeout, ps, fmt.Sprintf("script timed out after %s%s", v.limits.timeout, where(ps)))
	}
	return newError(r.kind, ps, fmt.Sprintf("script stopped by the memory guard%s: %s", where(ps), r.text))
}

// describeThrown renders a thrown value: "TypeError: x is not a function",
// or the value itself. Reading an object may run its getters (the watchdog
// is armed); a failure to read it is reported as such.
func (v *vmState) describeThrown(val goja.Value) (s string) {
	obj, ok := val.(*goja.Object)
	if !ok {
		if val == nil {
			return "undefined"
		}
		return truncate(val.String())
	}
	defer func() {
		if r := recover(); r != nil {
			s = "(a thrown " + obj.ClassName() + " that could not be read)"
		}
	}()
	if obj.ClassName() == "Error" {
		name, msg := obj.Get("name"), obj.Get("message")
		n, m := "Error", ""
		if name != nil && !goja.IsUndefined(name) {
			n = name.String()
		}
		if msg != nil && !goja.IsUndefined(msg) {
			m = msg.String()
		}
		if m == "" {
			return truncate(n)
		}
		return truncate(n + ": " + m)
	}
	if b, err := v.encodeJSON(val, 200); err == nil {
		return "uncaught " + string(b)
	}
	return "uncaught " + obj.ClassName()
}

func truncate(s string) string {
	const max = 500
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
