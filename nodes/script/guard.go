package script

import (
	"errors"
	"fmt"

	"github.com/dop251/goja"
)

// Limits of the memory guard on built-ins (docs/scripts.md, "Sandbox"). A
// built-in runs in Go and cannot be interrupted, so the guard refuses a call
// whose input or result is above these sizes before it starts, with a
// RangeError the script may catch.
const (
	// maxElements bounds arrays handled by Array.prototype methods (their
	// receiver, and concat's result), Array.from, apply's argument list,
	// split's result and the payload helpers.
	maxElements = 1 << 20
	// maxString bounds strings (UTF-16 units) handled by String.prototype
	// and RegExp.prototype methods, JSON.parse's input and JSON.stringify's
	// output, and results of repeat, padStart and padEnd.
	maxString = 1 << 22
	// maxBytes bounds a new ArrayBuffer or typed array.
	maxBytes = 1 << 24
	// maxCallStack bounds the depth of nested calls.
	maxCallStack = 1000
)

// hardenScript freezes everything reachable from the global object: the
// built-ins, the helpers and what the libraries defined. A call then
// cannot leave state behind for the next message (which may run on another
// VM), nor replace a helper or a guard.
const hardenScript = `(function () {
	'use strict';
	const seen = new Set();
	const descriptor = Reflect.getOwnPropertyDescriptor, ownKeys = Reflect.ownKeys, protoOf = Object.getPrototypeOf,
		freeze = Object.freeze, hasOwn = Object.prototype.hasOwnProperty;
	function walk(o) {
		if ((typeof o !== 'object' && typeof o !== 'function') || o === null || seen.has(o)) return;
		seen.add(o);
		freeze(o);
		walk(protoOf(o));
		// A plain function's own properties are its name and length: only
		// constructors (with a prototype) lead further.
		if (typeof o === 'function' && !hasOwn.call(o, 'prototype')) return;
		const keys = ownKeys(o);
		for (let i = 0; i < keys.length; i++) {
			const d = descriptor(o, keys[i]);
			if (d === undefined) continue;
			if ('value' in d) walk(d.value); else { walk(d.get); walk(d.set); }
		}
	}
	walk(globalThis);
	// Intrinsics no property leads to: iterator and generator prototypes.
	const iterators = [[][Symbol.iterator](), ''[Symbol.iterator](), new Map()[Symbol.iterator](), new Set()[Symbol.iterator](),
		/a/g[Symbol.matchAll](''), (function* () {})()];
	for (let i = 0; i < iterators.length; i++) walk(protoOf(iterators[i]));
	walk(protoOf(function* () {}));
	walk(protoOf(async function () {}));
})`

// ownNamesScript lists the own properties of an object (with methods, only
// the functions), except constructor, prototype, name and length.
const ownNamesScript = `(function (o, methods) {
	return Object.getOwnPropertyNames(o).filter(k => !['constructor', 'prototype', 'name', 'length'].includes(k) &&
		(!methods || typeof o[k] === 'function'));
})`

var (
	hardenProgram   = goja.MustCompile("harden", hardenScript, true)
	ownNamesProgram = goja.MustCompile("ownNames", ownNamesScript, true)
)

// lengthOf is the length of a string or of an (array-like) object.
func lengthOf(val goja.Value) int64 {
	switch kindOf(val) {
	case kString:
		if s, ok := val.(goja.String); ok {
			return int64(s.Length())
		}
		return int64(len(val.String()))
	case kObject:
		if l := val.(*goja.Object).Get("length"); l != nil {
			return l.ToInteger()
		}
	}
	return 0
}

// installGuards wraps the built-ins that allocate or loop in proportion to
// a size the script controls.
func (v *vmState) installGuards() error {
	rt := v.rt
	obj := func(path ...string) *goja.Object {
		o := rt.GlobalObject()
		for _, p := range path {
			o = o.Get(p).ToObject(rt)
		}
		return o
	}
	tooMany := func(what string, n, limit int64, unit string) {
		if n > limit {
			panic(v.rangeError("memory guard: %s: %d %s exceed the limit of %d", what, n, unit, limit))
		}
	}

	// Array.prototype: every method, by the length of its receiver.
	arrayProto := obj("Array", "prototype")
	names, err := v.ownNames(arrayProto, true)
	if err != nil {
		return err
	}
	for _, name := range names {
		what := "Array.prototype." + name
		check := func(c goja.FunctionCall) { tooMany(what, lengthOf(c.This), maxElements, "elements") }
		if name == "concat" {
			check = func(c goja.FunctionCall) {
				n := lengthOf(c.This)
				for _, a := range c.Arguments {
					if o, ok := a.(*goja.Object); ok && o.ClassName() == "Array" {
						n += lengthOf(a)
					} else {
						n++
					}
				}
				tooMany(what, n, maxElements, "elements")
			}
		}
		if err := v.wrap(arrayProto, name, nil, check); err != nil {
			return err
		}
	}
	if err := v.wrap(arrayProto, "", goja.SymIterator, func(c goja.FunctionCall) {
		tooMany("Array.prototype[Symbol.iterator]", lengthOf(c.This), maxElements, "elements")
	}); err != nil {
		return err
	}
	argN := func(what string, i int) func(goja.FunctionCall) {
		return func(c goja.FunctionCall) { tooMany(what, lengthOf(c.Argument(i)), maxElements, "elements") }
	}
	for _, w := range []struct {
		o    *goja.Object
		name string
		arg  int
	}{
		{obj("Array"), "from", 0},
		{obj("Function", "prototype"), "apply", 1},
		{obj("Reflect"), "apply", 2},
		{obj("Reflect"), "construct", 1},
	} {
		if err := v.wrap(w.o, w.name, nil, argN(w.name, w.arg)); err != nil {
			return err
		}
	}

	// String.prototype: every method, by the length of its receiver; the
	// ones that build long strings or many pieces by their result.
	stringProto := obj("String", "prototype")
	if names, err = v.ownNames(stringProto, true); err != nil {
		return err
	}
	for _, name := range names {
		what := "String.prototype." + name
		check := func(c goja.FunctionCall) { tooMany(what, lengthOf(c.This), maxString, "characters") }
		switch name {
		case "repeat":
			check = func(c goja.FunctionCall) {
				n := lengthOf(c.This)
				count := c.Argument(0).ToFloat()
				if n > 0 && count > float64(maxString) {
					count = float64(maxString) + 1
				}
				tooMany(what, n*int64(count), maxString, "characters")
			}
		case "padStart", "padEnd":
			check = func(c goja.FunctionCall) {
				tooMany(what, max(lengthOf(c.This), c.Argument(0).ToInteger()), maxString, "characters")
			}
		case "split":
			check = func(c goja.FunctionCall) {
				if lim := c.Argument(1); kindOf(lim) == kNumber && lim.ToInteger() >= 0 && lim.ToInteger() <= maxElements {
					tooMany(what, lengthOf(c.This), maxString, "characters")
					return
				}
				tooMany(what+" (without a limit up to "+fmt.Sprint(maxElements)+")", lengthOf(c.This), maxElements, "characters")
			}
		}
		if err := v.wrap(stringProto, name, nil, check); err != nil {
			return err
		}
	}
	if err := v.wrap(stringProto, "", goja.SymIterator, func(c goja.FunctionCall) {
		tooMany("String.prototype[Symbol.iterator]", lengthOf(c.This), maxElements, "characters")
	}); err != nil {
		return err
	}

	// RegExp.prototype: by the length of the string searched.
	regexpProto := obj("RegExp", "prototype")
	for _, name := range []string{"exec", "test"} {
		if err := v.wrap(regexpProto, name, nil, argStringLimit(tooMany, "RegExp.prototype."+name, maxString)); err != nil {
			return err
		}
	}
	for _, s := range []struct {
		sym   *goja.Symbol
		name  string
		limit int64
	}{
		{goja.SymMatch, "match", maxString}, {goja.SymMatchAll, "matchAll", maxString},
		{goja.SymReplace, "replace", maxString}, {goja.SymSearch, "search", maxString},
		{goja.SymSplit, "split", maxElements},
	} {
		if err := v.wrap(regexpProto, "", s.sym, argStringLimit(tooMany, "RegExp.prototype[Symbol."+s.name+"]", s.limit)); err != nil {
			return err
		}
	}

	// JSON: parse by its input; stringify through the bounded encoder.
	jsonObj := obj("JSON")
	if err := v.wrap(jsonObj, "parse", nil, argStringLimit(tooMany, "JSON.parse", maxString)); err != nil {
		return err
	}
	stringify, _ := goja.AssertFunction(jsonObj.Get("stringify"))
	if err := jsonObj.DefineDataProperty("stringify", rt.ToValue(func(c goja.FunctionCall) goja.Value {
		b, err := v.encodeJSON(c.Argument(0), maxString)
		if err != nil {
			panic(v.rangeError("memory guard: JSON.stringify: %s", encodeProblem(err)))
		}
		if kindOf(c.Argument(1)) == kUndefined && kindOf(c.Argument(2)) == kUndefined {
			if b == nil {
				return goja.Undefined()
			}
			return rt.ToValue(string(b))
		}
		r, err := stringify(c.This, c.Arguments...) // a replacer or an indent: the bounded pass above was the check
		if err != nil {
			panic(err)
		}
		return r
	}), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return err
	}

	// Typed arrays and ArrayBuffer: by the bytes they would allocate.
	for _, name := range []string{"ArrayBuffer", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
		"Int32Array", "Uint32Array", "Float32Array", "Float64Array"} {
		if err := v.guardConstructor(name, tooMany); err != nil {
			return fmt.Errorf("guard %s: %w", name, err)
		}
	}
	return nil
}

// guardConstructor replaces the global constructor name (ArrayBuffer or a
// typed array) with a Go constructor that checks the bytes a call would
// allocate, then builds the object with the original. The replacement has
// the original's prototype object (instanceof holds), static properties and
// [[Prototype]] (from and of); the prototype's constructor points to it, so
// x.constructor cannot reach the original either.
func (v *vmState) guardConstructor(name string, tooMany func(string, int64, int64, string)) error {
	rt := v.rt
	c, ok := rt.Get(name).(*goja.Object)
	if !ok {
		return nil
	}
	orig, ok := goja.AssertConstructor(c)
	if !ok {
		return errors.New("not a constructor")
	}
	size := int64(1)
	if b := c.Get("BYTES_PER_ELEMENT"); b != nil {
		size = b.ToInteger()
	}
	proto, ok := c.Get("prototype").(*goja.Object)
	if !ok {
		return errors.New("no prototype")
	}
	var w *goja.Object
	w = rt.ToValue(func(call goja.ConstructorCall) *goja.Object {
		var n int64
		if len(call.Arguments) > 0 {
			switch a := call.Arguments[0]; kindOf(a) {
			case kNumber:
				n = a.ToInteger()
			case kObject:
				if a.(*goja.Object).ExportType() != typeArrayBuffer { // a view of a buffer allocates nothing
					n = lengthOf(a)
				}
			}
		}
		tooMany("new "+name, n*size, maxBytes, "bytes")
		nt := call.NewTarget
		if nt == w {
			nt = nil
		}
		o, err := orig(nt, call.Arguments...)
		if err != nil {
			panic(err)
		}
		return o
	}).(*goja.Object)
	if err := w.DefineDataProperty("prototype", proto, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE); err != nil {
		return err
	}
	if err := w.DefineDataProperty("name", rt.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return err
	}
	if err := w.SetPrototype(c.Prototype()); err != nil {
		return err
	}
	statics, err := v.ownNames(c, false)
	if err != nil {
		return err
	}
	for _, k := range statics {
		if err := w.DefineDataProperty(k, c.Get(k), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE); err != nil {
			return err
		}
	}
	if err := proto.DefineDataProperty("constructor", w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return err
	}
	return rt.GlobalObject().DefineDataProperty(name, w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

func argStringLimit(tooMany func(string, int64, int64, string), what string, limit int64) func(goja.FunctionCall) {
	return func(c goja.FunctionCall) {
		if a := c.Argument(0); kindOf(a) == kString {
			tooMany(what, lengthOf(a), limit, "characters")
		}
	}
}

func encodeProblem(err error) string {
	if err == errTooBig {
		return fmt.Sprintf("the result exceeds %d characters", maxString)
	}
	return err.Error()
}

// ownNames lists the own string-keyed properties of o (with methods, only
// those that are functions), except constructor, prototype, name, length.
func (v *vmState) ownNames(o *goja.Object, methods bool) ([]string, error) {
	fn, err := v.rt.RunProgram(ownNamesProgram)
	if err != nil {
		return nil, err
	}
	f, _ := goja.AssertFunction(fn)
	r, err := f(goja.Undefined(), o, v.rt.ToValue(methods))
	if err != nil {
		return nil, err
	}
	var names []string
	if err := v.rt.ExportTo(r, &names); err != nil {
		return nil, err
	}
	return names, nil
}

// wrap replaces the method name (or sym) of o with a Go function that runs
// check, then the original.
func (v *vmState) wrap(o *goja.Object, name string, sym *goja.Symbol, check func(goja.FunctionCall)) error {
	var cur goja.Value
	if sym != nil {
		cur = o.GetSymbol(sym)
	} else {
		cur = o.Get(name)
	}
	orig, ok := goja.AssertFunction(cur)
	if !ok {
		return nil
	}
	w := v.rt.ToValue(func(c goja.FunctionCall) goja.Value {
		check(c)
		r, err := orig(c.This, c.Arguments...)
		if err != nil {
			panic(err) // rethrown: a JS exception keeps its stack, an interrupt stays uncatchable
		}
		return r
	})
	if sym != nil {
		return o.DefineDataPropertySymbol(sym, w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	return o.DefineDataProperty(name, w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

// harden freezes the global object and everything reachable from it.
func (v *vmState) harden() error {
	f, err := v.rt.RunProgram(hardenProgram)
	if err != nil {
		return err
	}
	fn, _ := goja.AssertFunction(f)
	_, err = fn(goja.Undefined())
	return err
}
