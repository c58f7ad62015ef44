package spec

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/robfig/cron/v3"
)

// injectedKeys are the keys RuleGo adds to a node's configuration before it
// calls Init (engine/node.go processVariables, the node pool): Decode ignores
// them unless the spec declares a field of that name.
var injectedKeys = []string{"vars", "secrets", "$initNetResource"}

// varRef matches a ${vars.x} placeholder.
var varRef = regexp.MustCompile(`\$\{\s*vars\.[^}]*\}`)

// cronParser parses cron expressions with a seconds field, as RuleGo's
// schedule endpoint does.
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Check validates a node's configuration against the spec, strictly: a
// missing required field, a value of the wrong type or out of range, and a
// key the spec does not declare are all problems. Problems carry Field (the
// dotted path, e.g. "cases[1].then"), Message and Severity; the caller adds
// the flow and node. raw holds the values of a decoded flow document
// (engine.NormaliseValue): int64, float64, string, bool, map[string]any,
// []any; other Go numbers are accepted too.
func (n *Node) Check(raw map[string]any) Problems {
	c := &checker{}
	cfg := c.object(n.Fields, raw, "")
	return c.finish(n, cfg)
}

// CheckResolved is Check for a configuration whose ${vars.x} placeholders
// have been substituted with the flow's variables, as RuleGo will at init: a
// Vars field's string is converted to the field's type ("5" for an Int field
// is 5) and a placeholder still present names a variable the flow does not
// define, which is an error.
func (n *Node) CheckResolved(raw map[string]any) Problems {
	c := &checker{decode: true}
	cfg := c.object(n.Fields, raw, "")
	return c.finish(n, cfg)
}

// Decode checks raw like Check, applies the defaults and decodes the result
// into out (a pointer to a struct with json tags) through JSON. Use it in a
// node's Init: RuleGo has already substituted ${vars.x} placeholders, so a
// Vars field's string is converted to the field's type here ("5" to 5 for an
// Int field) and a placeholder left unresolved is an error. The keys RuleGo
// injects into every configuration ("vars", "secrets") are ignored. A failed
// check returns the Problems as the error.
func (n *Node) Decode(raw map[string]any, out any) error {
	in := make(map[string]any, len(raw))
	for k, v := range raw {
		if slices.Contains(injectedKeys, k) && n.field(k) == nil {
			continue
		}
		in[k] = v
	}
	c := &checker{decode: true}
	cfg := c.object(n.Fields, in, "")
	if ps := c.finish(n, cfg); ps.HasErrors() {
		return ps
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("decode %s config: %w", n.Type, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode %s config: %w", n.Type, err)
	}
	return nil
}

// Defaults returns a configuration holding every field's default (nested
// objects included).
func (n *Node) Defaults() map[string]any { return defaultsOf(n.Fields) }

func (n *Node) field(name string) *Field {
	for _, f := range n.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

type checker struct {
	decode bool
	probs  Problems
}

func (c *checker) add(path, format string, args ...any) {
	c.probs = append(c.probs, Problem{Severity: Error, Field: path, Message: fmt.Sprintf(format, args...)})
}

// finish runs the spec's own Validate when every field is well-formed.
func (c *checker) finish(n *Node, cfg map[string]any) Problems {
	if len(c.probs) == 0 && n.Validate != nil {
		for _, p := range n.Validate(cfg) {
			if p.Severity == "" {
				p.Severity = Error
			}
			c.probs = append(c.probs, p)
		}
	}
	return c.probs
}

// object checks the values of raw against fields and returns a copy with
// defaults applied (and, when decoding, values converted).
func (c *checker) object(fields []*Field, raw map[string]any, prefix string) map[string]any {
	out := make(map[string]any, len(raw))
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
		path := join(prefix, f.Name)
		v, present := raw[f.Name]
		if !present || v == nil {
			switch {
			case f.Required:
				c.add(path, "required")
			case f.Default != nil:
				out[f.Name] = deepCopy(f.Default)
			case f.Type == Object:
				if d := defaultsOf(f.Fields); len(d) > 0 {
					out[f.Name] = d
				}
			}
			continue
		}
		out[f.Name] = c.value(f, v, path)
	}
	unknown := make([]string, 0)
	for k := range raw {
		if !slices.Contains(names, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		if s := Suggest(k, names); s != "" {
			c.add(join(prefix, k), "unknown field (did you mean %q?)", s)
		} else {
			c.add(join(prefix, k), "unknown field")
		}
	}
	return out
}

// value checks one present, non-null value and returns it as decoded.
func (c *checker) value(f *Field, v any, path string) any {
	if s, ok := v.(string); ok && varRef.MatchString(s) {
		switch {
		case !f.Vars:
			c.add(path, "${vars.x} placeholders are not allowed in this field")
			return v
		case !c.decode:
			return v // checked after RuleGo substitutes it
		default:
			c.add(path, "variable %s is not defined in the flow", varRef.FindString(s))
			return v
		}
	}
	switch f.Type {
	case String, Secret, Ref, Code:
		s, ok := c.str(f, v, path)
		if ok && s == "" && f.Required {
			c.add(path, "must not be empty")
		}
		return v
	case Enum:
		if s, ok := c.str(f, v, path); ok && !slices.Contains(f.Enum, s) {
			c.add(path, "want one of %s, got %s", quoteAll(f.Enum), describe(v))
		}
		return v
	case Duration:
		s, ok := c.str(f, v, path)
		if !ok {
			return v
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			c.add(path, "not a valid duration: %s", err.Error())
			return v
		}
		c.bounds(f, d.Seconds(), path, func(x float64) string {
			return time.Duration(x * float64(time.Second)).String()
		})
		return v
	case Cron:
		if s, ok := c.str(f, v, path); ok {
			if _, err := cronParser.Parse(s); err != nil {
				c.add(path, "not a valid cron expression: %s", err.Error())
			}
		}
		return v
	case Expression:
		s, ok := c.str(f, v, path)
		if !ok {
			return v
		}
		if strings.TrimSpace(s) == "" {
			if f.Required {
				c.add(path, "must not be empty")
			}
			return v
		}
		if err := CompileExpression(s, f.Predicate); err != nil {
			c.add(path, "%s", err.Error())
		}
		return v
	case Int:
		i, ok := toInt(v)
		if !ok && c.decode && f.Vars {
			i, ok = parseInt(v)
		}
		if !ok {
			c.add(path, "want an integer, got %s", describe(v))
			return v
		}
		c.bounds(f, float64(i), path, formatNum)
		return i
	case Float:
		x, ok := toFloat(v)
		if !ok && c.decode && f.Vars {
			x, ok = parseFloat(v)
		}
		if !ok {
			c.add(path, "want a number, got %s", describe(v))
			return v
		}
		c.bounds(f, x, path, formatNum)
		return x
	case Bool:
		b, ok := v.(bool)
		if s, isStr := v.(string); !ok && isStr && c.decode && f.Vars {
			var err error
			b, err = strconv.ParseBool(s)
			ok = err == nil
		}
		if !ok {
			c.add(path, "want true or false, got %s", describe(v))
			return v
		}
		return b
	case Object:
		m, ok := v.(map[string]any)
		if !ok {
			c.add(path, "want an object, got %s", describe(v))
			return v
		}
		return c.object(f.Fields, m, path)
	case List:
		l, ok := v.([]any)
		if !ok {
			c.add(path, "want a list, got %s", describe(v))
			return v
		}
		c.count(f, len(l), path)
		out := make([]any, len(l))
		for i, item := range l {
			ipath := fmt.Sprintf("%s[%d]", path, i)
			switch {
			case f.Item != nil:
				if item == nil {
					c.add(ipath, "want a value, got null")
					continue
				}
				out[i] = c.value(f.Item, item, ipath)
			default:
				m, ok := item.(map[string]any)
				if !ok {
					c.add(ipath, "want an object, got %s", describe(item))
					out[i] = item
					continue
				}
				out[i] = c.object(f.Fields, m, ipath)
			}
		}
		return out
	case Map:
		m, ok := v.(map[string]any)
		if !ok {
			c.add(path, "want an object, got %s", describe(v))
			return v
		}
		c.count(f, len(m), path)
		item := f.Item
		if item == nil {
			item = &Field{Type: String}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make(map[string]any, len(m))
		for _, k := range keys {
			kpath := join(path, k)
			if k == "" {
				c.add(path, "empty key")
				continue
			}
			if m[k] == nil {
				c.add(kpath, "want a value, got null")
				continue
			}
			out[k] = c.value(item, m[k], kpath)
		}
		return out
	default:
		c.add(path, "spec declares unknown field type %q", f.Type)
		return v
	}
}

func (c *checker) str(f *Field, v any, path string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		c.add(path, "want a string, got %s", describe(v))
	}
	return s, ok
}

func (c *checker) bounds(f *Field, x float64, path string, format func(float64) string) {
	if f.Min != nil && x < *f.Min {
		c.add(path, "must be at least %s", format(*f.Min))
	}
	if f.Max != nil && x > *f.Max {
		c.add(path, "must be at most %s", format(*f.Max))
	}
}

func (c *checker) count(f *Field, n int, path string) {
	if f.Min != nil && float64(n) < *f.Min {
		c.add(path, "must have at least %s", items(*f.Min))
	}
	if f.Max != nil && float64(n) > *f.Max {
		c.add(path, "must have at most %s", items(*f.Max))
	}
}

func items(n float64) string {
	if n == 1 {
		return "1 item"
	}
	return formatNum(n) + " items"
}

// CompileExpression compiles an expr-lang expression the way RuleGo's expr
// nodes do (undefined variables allowed), with the message environment
// typed where RuleGo's is fixed: metadata is a map of strings; msgType,
// type, dataType, id and data are strings, ts an integer. msg is left
// untyped: a payload may be an object, a list or a scalar. predicate
// requires a bool result. The error names the first problem only.
func CompileExpression(s string, predicate bool) error {
	env := map[string]any{
		"metadata": map[string]string{},
		"msgType":  "",
		"type":     "",
		"dataType": "",
		"id":       "",
		"data":     "",
		"ts":       int64(0),
	}
	opts := []expr.Option{expr.Env(env), expr.AllowUndefinedVariables()}
	if predicate {
		opts = append(opts, expr.AsBool())
	}
	if _, err := expr.Compile(s, opts...); err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return fmt.Errorf("does not compile: %s", strings.TrimSpace(msg))
	}
	return nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// describe renders a value for a "got ..." message.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:37] + "..."
		}
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	if f, ok := toFloat(v); ok {
		return formatNum(f)
	}
	return fmt.Sprintf("a %T", v)
}

func formatNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func toInt(v any) (int64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Uint() > math.MaxInt64 {
			return 0, false
		}
		return int64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

func parseInt(v any) (int64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return i, err == nil
}

func parseFloat(v any) (float64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func defaultsOf(fields []*Field) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		switch {
		case f.Default != nil:
			out[f.Name] = deepCopy(f.Default)
		case f.Type == Object:
			if d := defaultsOf(f.Fields); len(d) > 0 {
				out[f.Name] = d
			}
		}
	}
	return out
}

// deepCopy copies maps and slices so that a default is never shared.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	case []string:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = e
		}
		return l
	}
	return v
}
