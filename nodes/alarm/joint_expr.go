package alarm

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// jointRef is one signal of one device that a joint expression reads.
type jointRef struct {
	dev, signal string
}

// key is the ref's name in the node's state and in the ALARM payload's
// signals: "device.signal".
func (r jointRef) key() string { return r.dev + "." + r.signal }

// jointExprEnv is the typed environment of a joint expression: dev(id) is
// the device's latest (fresh) values by signal name.
type jointExprEnv struct {
	Dev func(string) map[string]any `expr:"dev"`
}

// jointExpr is a compiled joint expression and the signals it reads.
type jointExpr struct {
	src  string
	prog *vm.Program
	refs []jointRef
}

// devCollector finds the dev("id").signal reads of an expression.
type devCollector struct {
	refs map[jointRef]bool
	used map[*ast.CallNode]bool // dev() calls read by a member access
	all  []*ast.CallNode
	err  error
}

func (c *devCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "dev" {
			c.all = append(c.all, n)
		}
	case *ast.MemberNode:
		call, ok := n.Node.(*ast.CallNode)
		if !ok {
			return
		}
		if id, ok := call.Callee.(*ast.IdentifierNode); !ok || id.Value != "dev" {
			return
		}
		c.used[call] = true
		dev, ok := devArg(call)
		if !ok {
			c.fail(`dev() takes one device id as a quoted string, as in dev("boiler-7")`)
			return
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok || prop.Value == "" {
			c.fail(fmt.Sprintf("dev(%q): read a signal by its name, as in dev(%q).temperature", dev, dev))
			return
		}
		c.refs[jointRef{dev: dev, signal: prop.Value}] = true
	}
}

func (c *devCollector) fail(msg string) {
	if c.err == nil {
		c.err = errors.New(msg)
	}
}

func devArg(call *ast.CallNode) (string, bool) {
	if len(call.Arguments) != 1 {
		return "", false
	}
	s, ok := call.Arguments[0].(*ast.StringNode)
	if !ok || s.Value == "" {
		return "", false
	}
	return s.Value, true
}

// compileJointExpr parses src, collects its dev("id").signal reads and
// compiles it against the typed environment as a predicate.
func compileJointExpr(src string) (*jointExpr, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("must not be empty")
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("does not compile: %s", firstLine(err))
	}
	c := &devCollector{refs: map[jointRef]bool{}, used: map[*ast.CallNode]bool{}}
	ast.Walk(&tree.Node, c)
	for _, call := range c.all {
		if !c.used[call] {
			if dev, ok := devArg(call); ok {
				c.fail(fmt.Sprintf("dev(%q): read a signal by its name, as in dev(%q).temperature", dev, dev))
			} else {
				c.fail(`dev() takes one device id as a quoted string, as in dev("boiler-7")`)
			}
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	if len(c.refs) == 0 {
		return nil, errors.New(`reads no signal: use dev("device-id").signal`)
	}
	prog, err := expr.Compile(src, expr.Env(jointExprEnv{}), expr.AsBool())
	if err != nil {
		return nil, fmt.Errorf("does not compile: %s", firstLine(err))
	}
	e := &jointExpr{src: src, prog: prog}
	for r := range c.refs {
		e.refs = append(e.refs, r)
	}
	sort.Slice(e.refs, func(i, j int) bool {
		if e.refs[i].dev != e.refs[j].dev {
			return e.refs[i].dev < e.refs[j].dev
		}
		return e.refs[i].signal < e.refs[j].signal
	})
	return e, nil
}

func firstLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSpace(msg)
}

// jointView is what an expression is evaluated against: the latest values
// of the referenced signals at device time now.
type jointView struct {
	sig     map[string]*sigState // by jointRef.key()
	now     int64
	maxAge  int64 // ms; 0: values never go stale
	missing Truth // the truth when a read value is missing or stale
}

// fresh reports whether the value of key is known and not stale.
func (v *jointView) fresh(key string) bool {
	st := v.sig[key]
	if st == nil || st.Ts == 0 || st.Kind == kindNone {
		return false
	}
	return v.maxAge <= 0 || v.now-st.Ts <= v.maxAge
}

// eval evaluates e: the missing truth when one of its values is missing or
// stale, Unknown (and the error) when the expression fails at run time (a
// string compared with a number, say), never a panic.
func (e *jointExpr) eval(v *jointView) (t Truth, err error) {
	vals := make(map[string]map[string]any, 2)
	for _, r := range e.refs {
		k := r.key()
		if !v.fresh(k) {
			return v.missing, nil
		}
		m := vals[r.dev]
		if m == nil {
			m = map[string]any{}
			vals[r.dev] = m
		}
		m[r.signal] = v.sig[k].value()
	}
	defer func() {
		if p := recover(); p != nil {
			t, err = Unknown, fmt.Errorf("expression panicked: %v", p)
		}
	}()
	out, err := expr.Run(e.prog, jointExprEnv{Dev: func(id string) map[string]any { return vals[id] }})
	if err != nil {
		return Unknown, fmt.Errorf("evaluate %q: %s", e.src, firstLine(err))
	}
	b, ok := out.(bool)
	if !ok {
		return Unknown, fmt.Errorf("evaluate %q: want true or false, got %T", e.src, out)
	}
	return truthOf(b), nil
}

// due is the next device time after now at which a value e reads goes
// stale (0: none).
func (e *jointExpr) due(v *jointView) int64 {
	if v.maxAge <= 0 {
		return 0
	}
	var due int64
	for _, r := range e.refs {
		st := v.sig[r.key()]
		if st == nil || st.Ts == 0 {
			continue
		}
		if t := st.Ts + v.maxAge + 1; t > v.now && (due == 0 || t < due) {
			due = t
		}
	}
	return due
}
