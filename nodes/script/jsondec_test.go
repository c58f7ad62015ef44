package script

import (
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// FuzzDecodeJSON checks the payload decoder against goja's JSON.parse: both
// refuse an input, or both give values that JSON.stringify writes alike.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"id":"boiler-7","time":1763800000000,"temp":81.5,"state":"on"}`,
		`[1, -0, 0.5, 1e3, -2E-2, 12345678901234567890, 1e400, true, false, null]`,
		`{"a":{"b":[{"c":[]},{}]}, "a":2, "__proto__": {"x": 1}}`,
		`"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \ud800 x"`,
		` 1 `, `01`, `1.`, `.5`, `-`, `[1,]`, `{"a":1,}`, `{a:1}`, `"tab	"`, `tru`, `nul`, `[`, `{"a"`, `"\x"`, `"\u12"`, `1 2`,
		"\"\xff\"",
	} {
		f.Add(s)
	}
	code, err := compileCode("return 1;")
	if err != nil {
		f.Fatal(err)
	}
	p := newPool(programs{code: code}, limits{timeout: time.Second, memory: 64 << 20})
	f.Fuzz(func(t *testing.T, s string) {
		ref := goja.New()
		want, wantErr := ref.RunString("JSON.stringify(JSON.parse(" + quoteJS(s) + "))")
		var got string
		var gotErr error
		err := p.with(func(v *vmState) error {
			val, err := v.decodeJSON(s)
			if err != nil {
				gotErr = err
				return nil
			}
			b, err := v.encodeJSON(val, maxString)
			got = string(b)
			return err
		})
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if wantErr != nil && strings.Contains(wantErr.Error(), "cannot unmarshal number") {
			return // goja refuses 1e400; the decoder gives Infinity, as the standard says
		}
		if (wantErr != nil) != (gotErr != nil) {
			t.Fatalf("%q: JSON.parse error %v, decoder error %v", s, wantErr, gotErr)
		}
		if wantErr == nil && want.String() != got && !lossySurrogates(s) {
			t.Fatalf("%q: JSON.parse gives %s, decoder %s", s, want, got)
		}
	})
}

// quoteJS writes s as a JavaScript string literal.
func quoteJS(s string) string {
	return string(appendString(nil, s))
}

// lossySurrogates reports input whose lone surrogate escapes or invalid
// UTF-8 the decoder turns into U+FFFD where goja keeps them.
func lossySurrogates(s string) bool {
	for i := 0; i+5 < len(s); i++ {
		if s[i] == '\\' && s[i+1] == 'u' && (s[i+2] == 'd' || s[i+2] == 'D') {
			return true
		}
	}
	for _, r := range s {
		if r == 0xFFFD {
			return true
		}
	}
	return false
}
