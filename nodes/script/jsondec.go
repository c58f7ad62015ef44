package script

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// decodeJSON parses a JSON payload straight into JavaScript values, as
// JSON.parse would, at about half the cost of goja's JSON.parse (which goes
// through encoding/json's token API). Strings lone surrogates become U+FFFD.
func (v *vmState) decodeJSON(s string) (goja.Value, error) {
	d := jsonDecoder{rt: v.rt, s: s}
	d.space()
	val, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i < len(d.s) {
		return nil, d.errorf("unexpected %s after the value", d.what())
	}
	return val, nil
}

// maxJSONDepth bounds the nesting of a payload.
const maxJSONDepth = 1000

type jsonDecoder struct {
	rt *goja.Runtime
	s  string
	i  int
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%s at offset %d", fmt.Sprintf(format, args...), d.i)
}

func (d *jsonDecoder) what() string {
	if d.i >= len(d.s) {
		return "end of input"
	}
	r, _ := utf8.DecodeRuneInString(d.s[d.i:])
	return strconv.QuoteRune(r)
}

func (d *jsonDecoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value(depth int) (goja.Value, error) {
	if d.i >= len(d.s) {
		return nil, d.errorf("unexpected end of input")
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return d.rt.ToValue(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case strings.HasPrefix(d.s[d.i:], "true"):
		d.i += 4
		return d.rt.ToValue(true), nil
	case strings.HasPrefix(d.s[d.i:], "false"):
		d.i += 5
		return d.rt.ToValue(false), nil
	case strings.HasPrefix(d.s[d.i:], "null"):
		d.i += 4
		return goja.Null(), nil
	}
	return nil, d.errorf("unexpected %s", d.what())
}

func (d *jsonDecoder) object(depth int) (goja.Value, error) {
	if depth > maxJSONDepth {
		return nil, d.errorf("nested deeper than %d levels", maxJSONDepth)
	}
	d.i++ // {
	o := d.rt.NewObject()
	d.space()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return o, nil
	}
	for {
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, d.errorf("unexpected %s: want a quoted key", d.what())
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, d.errorf("unexpected %s: want ':'", d.what())
		}
		d.i++
		d.space()
		val, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		if k == "__proto__" {
			// An own property, as JSON.parse makes it, not the prototype.
			err = o.DefineDataProperty(k, val, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
		} else {
			err = o.Set(k, val)
		}
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.s) {
			return nil, d.errorf("unexpected end of input: want ',' or '}'")
		}
		switch d.s[d.i] {
		case ',':
			d.i++
			d.space()
		case '}':
			d.i++
			return o, nil
		default:
			return nil, d.errorf("unexpected %s: want ',' or '}'", d.what())
		}
	}
}

func (d *jsonDecoder) array(depth int) (goja.Value, error) {
	if depth > maxJSONDepth {
		return nil, d.errorf("nested deeper than %d levels", maxJSONDepth)
	}
	d.i++ // [
	var items []any
	d.space()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return d.rt.NewArray(), nil
	}
	for {
		val, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		items = append(items, val)
		d.space()
		if d.i >= len(d.s) {
			return nil, d.errorf("unexpected end of input: want ',' or ']'")
		}
		switch d.s[d.i] {
		case ',':
			d.i++
			d.space()
		case ']':
			d.i++
			return d.rt.NewArray(items...), nil
		default:
			return nil, d.errorf("unexpected %s: want ',' or ']'", d.what())
		}
	}
}

// number reads a JSON number: an integer of up to 15 digits becomes an
// integer value, anything else a float.
func (d *jsonDecoder) number() (goja.Value, error) {
	start := d.i
	if d.s[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	intStart := d.i
	n := digits()
	if n == 0 {
		return nil, d.errorf("unexpected %s in a number", d.what())
	}
	if n > 1 && d.s[intStart] == '0' {
		return nil, d.errorf("a number must not start with 0")
	}
	isInt := true
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		isInt = false
		if digits() == 0 {
			return nil, d.errorf("unexpected %s after a decimal point", d.what())
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		isInt = false
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, d.errorf("unexpected %s in an exponent", d.what())
		}
	}
	lit := d.s[start:d.i]
	if isInt && n <= 15 && lit != "-0" {
		i, err := strconv.ParseInt(lit, 10, 64)
		if err == nil {
			return d.rt.ToValue(i), nil
		}
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		// Out of range: JSON.parse gives ±Infinity.
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return nil, d.errorf("invalid number %s", lit)
		}
	}
	return d.rt.ToValue(f), nil
}

// str reads a JSON string; without escapes it is a slice of the payload.
func (d *jsonDecoder) str() (string, error) {
	d.i++ // "
	start := d.i
	for d.i < len(d.s) {
		c := d.s[d.i]
		if c == '"' {
			s := d.s[start:d.i]
			d.i++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", d.errorf("control character %s in a string", strconv.QuoteRune(rune(c)))
		}
		d.i++
	}
	var b strings.Builder
	b.WriteString(d.s[start:d.i])
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return b.String(), nil
		case c < 0x20:
			return "", d.errorf("control character %s in a string", strconv.QuoteRune(rune(c)))
		case c != '\\':
			b.WriteByte(c)
			d.i++
			continue
		}
		d.i++ // backslash
		if d.i >= len(d.s) {
			break
		}
		e := d.s[d.i]
		d.i++
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := unicodeReplacement
				if strings.HasPrefix(d.s[d.i:], `\u`) {
					save := d.i
					d.i += 2
					if lo, ok := d.hex4(); ok {
						if dec := utf16.DecodeRune(r, lo); dec != unicodeReplacement {
							r2 = dec
						} else {
							d.i = save
						}
					} else {
						d.i = save
					}
				}
				r = r2
			}
			b.WriteRune(r)
		default:
			return "", d.errorf("invalid escape \\%c", e)
		}
	}
	return "", d.errorf("unexpected end of input in a string")
}

const unicodeReplacement = '\uFFFD'

func (d *jsonDecoder) hex4() (rune, bool) {
	if d.i+4 > len(d.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(d.s[d.i:d.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	d.i += 4
	return rune(n), true
}
