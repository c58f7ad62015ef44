package script

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/rulego/rulego/api/types"
)

type kind int

const (
	kUndefined kind = iota
	kNull
	kBool
	kNumber
	kString
	kSymbol
	kObject
)

func kindOf(v goja.Value) kind {
	switch v.(type) {
	case *goja.Object:
		return kObject
	case *goja.Symbol:
		return kSymbol
	}
	if v == nil || goja.IsUndefined(v) {
		return kUndefined
	}
	if goja.IsNull(v) {
		return kNull
	}
	switch v.ExportType().Kind() {
	case reflect.Bool:
		return kBool
	case reflect.String:
		return kString
	case reflect.Int64, reflect.Float64:
		return kNumber
	}
	return kObject
}

// typeName names a value's type for error messages: "undefined", "null",
// "boolean", "number", "string", "array", "Uint8Array", "function", "object".
func typeName(v goja.Value) string {
	switch kindOf(v) {
	case kUndefined:
		return "undefined"
	case kNull:
		return "null"
	case kBool:
		return "boolean"
	case kNumber:
		if f := v.ToFloat(); math.IsNaN(f) {
			return "NaN"
		} else if math.IsInf(f, 0) {
			return "Infinity"
		}
		return "number"
	case kString:
		return "string"
	case kSymbol:
		return "symbol"
	}
	o := v.(*goja.Object)
	if _, ok := goja.AssertFunction(o); ok {
		return "function"
	}
	switch o.ExportType() {
	case typeBytes:
		return "Uint8Array"
	case typeArrayBuffer:
		return "ArrayBuffer"
	case typePromise:
		return "Promise"
	}
	switch c := o.ClassName(); c {
	case "Array":
		return "array"
	case "Object":
		return "object"
	default:
		return c
	}
}

// payload turns a message's data into the script's msg: parsed JSON for
// JSON, a Uint8Array for BINARY (base64 in data), the text otherwise.
func (v *vmState) payload(msg types.RuleMsg) (goja.Value, error) {
	switch msg.DataType {
	case types.JSON:
		if msg.Data == "" {
			return goja.Null(), nil
		}
		if len(msg.Data) > maxString {
			return nil, newError(ErrPayload, nil, fmt.Sprintf("a JSON payload of %d bytes exceeds the limit of %d", len(msg.Data), maxString))
		}
		val, err := v.decodeJSON(msg.Data)
		if err != nil {
			return nil, newError(ErrPayload, nil, "payload is not valid JSON: "+err.Error())
		}
		return val, nil
	case types.BINARY:
		b, err := base64.StdEncoding.DecodeString(msg.Data)
		if err != nil {
			return nil, newError(ErrPayload, nil, fmt.Sprintf("BINARY payload is not base64: %v", err))
		}
		return v.newBytes(b), nil
	default:
		return v.rt.ToValue(msg.Data), nil
	}
}

// metadataObject copies a message's metadata into a new JS object.
func (v *vmState) metadataObject(md types.Metadata) *goja.Object {
	o := v.rt.NewObject()
	for k, val := range md {
		_ = o.Set(k, val)
	}
	return o
}

// readMetadata reads a metadata object back: string, number and boolean
// values become strings; null and undefined drop the key.
func readMetadata(o *goja.Object, path string) (types.Metadata, error) {
	md := types.NewMetadata()
	for _, k := range o.Keys() {
		val := o.Get(k)
		switch kindOf(val) {
		case kUndefined, kNull:
		case kString, kNumber, kBool:
			md[k] = val.String()
		default:
			return nil, resultError("%s.%s: want a string, number or boolean, got %s", path, k, typeName(val))
		}
	}
	return md, nil
}

func resultError(format string, args ...any) *Error {
	return newError(ErrResult, nil, fmt.Sprintf(format, args...))
}

var (
	errTooBig = errors.New("too big")
	errHalted = errors.New("stopped by the watchdog")
)

// jsonEncoder writes a JS value as JSON with JSON.stringify's rules (toJSON,
// undefined and functions left out of objects and null in arrays, NaN and
// Infinity as null), but bounded: it stops as soon as the output passes
// limit bytes, an array is longer than maxElements or nesting is deeper
// than maxDepth — a structure that shares sub-objects cannot blow up.
type jsonEncoder struct {
	v     *vmState
	buf   []byte
	limit int
	stack []*goja.Object
	steps int
}

const maxDepth = 200

// encodeJSON encodes val; ok is false for a value JSON cannot hold at the
// top level (undefined, a function, a symbol).
func (v *vmState) encodeJSON(val goja.Value, limit int) ([]byte, error) {
	e := jsonEncoder{v: v, limit: limit}
	ok, err := e.value(val, "")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	return e.buf, nil
}

func (e *jsonEncoder) check() error {
	if len(e.buf) > e.limit {
		return errTooBig
	}
	return nil
}

// value writes val; it returns false, writing nothing, for values that
// JSON leaves out.
func (e *jsonEncoder) value(val goja.Value, key string) (bool, error) {
	if e.steps++; e.steps%256 == 0 && e.v.halt.Load() {
		return false, errHalted
	}
	if o, ok := val.(*goja.Object); ok {
		if tj, ok := goja.AssertFunction(o.Get("toJSON")); ok {
			r, err := tj(o, e.v.rt.ToValue(key))
			if err != nil {
				panic(err) // a JS exception: try() reports it
			}
			val = r
		}
	}
	switch kindOf(val) {
	case kUndefined, kSymbol:
		return false, nil
	case kNull:
		e.buf = append(e.buf, "null"...)
	case kBool:
		e.buf = strconv.AppendBool(e.buf, val.ToBoolean())
	case kNumber:
		e.buf = appendNumber(e.buf, val)
	case kString:
		e.buf = appendString(e.buf, val.String())
	case kObject:
		o := val.(*goja.Object)
		if _, ok := goja.AssertFunction(o); ok {
			return false, nil
		}
		switch o.ClassName() {
		case "Number":
			return e.value(o.ToNumber(), key)
		case "String":
			return e.value(o.ToString(), key)
		case "Boolean":
			return e.value(e.v.rt.ToValue(o.Export()), key)
		}
		if slices.Contains(e.stack, o) {
			panic(e.v.typeError("converting circular structure to JSON"))
		}
		if len(e.stack) >= maxDepth {
			return false, fmt.Errorf("nested deeper than %d levels", maxDepth)
		}
		e.stack = append(e.stack, o)
		var err error
		if o.ClassName() == "Array" {
			err = e.array(o)
		} else {
			err = e.object(o)
		}
		e.stack = e.stack[:len(e.stack)-1]
		if err != nil {
			return false, err
		}
	}
	return true, e.check()
}

func (e *jsonEncoder) array(o *goja.Object) error {
	n := o.Get("length").ToInteger()
	if n > maxElements {
		return fmt.Errorf("an array of %d elements exceeds the limit of %d", n, maxElements)
	}
	e.buf = append(e.buf, '[')
	for i := int64(0); i < n; i++ {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		k := strconv.FormatInt(i, 10)
		ok, err := e.value(o.Get(k), k)
		if err != nil {
			return err
		}
		if !ok {
			e.buf = append(e.buf, "null"...)
		}
		if err := e.check(); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, ']')
	return nil
}

func (e *jsonEncoder) object(o *goja.Object) error {
	e.buf = append(e.buf, '{')
	first := true
	for _, k := range o.Keys() {
		mark := len(e.buf)
		if !first {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, k)
		e.buf = append(e.buf, ':')
		ok, err := e.value(o.Get(k), k)
		if err != nil {
			return err
		}
		if !ok {
			e.buf = e.buf[:mark]
			continue
		}
		first = false
	}
	e.buf = append(e.buf, '}')
	return nil
}

// appendNumber writes a number as JavaScript prints it; NaN and Infinity
// become null, as in JSON.stringify.
func appendNumber(b []byte, v goja.Value) []byte {
	if v.ExportType().Kind() == reflect.Int64 {
		return strconv.AppendInt(b, v.ToInteger(), 10)
	}
	f := v.ToFloat()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return append(b, v.String()...)
}

// appendString writes s as a JSON string, escaping what JSON.stringify does.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
