package script_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/script"
)

func TestCalcRunsOverJSON(t *testing.T) {
	c, err := script.NewCalc(script.CalcOptions{
		Code:    "return msg.groups.map(g => Object.assign(g, {double: twice(g.avg), job: metadata.job, t: msgType + '/' + dataType}));",
		Library: "function twice(x) { return 2 * x; }",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	out, err := c.Run(nil, "STATS", []byte(`{"groups":[{"avg":1.5},{"avg":-2}]}`), map[string]string{"job": "daily"})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"avg":1.5,"double":3,"job":"daily","t":"STATS/JSON"},{"avg":-2,"double":-4,"job":"daily","t":"STATS/JSON"}]`
	if string(out) != want {
		t.Fatalf("got %s\nwant %s", out, want)
	}
}

func TestCalcGlobalLibrary(t *testing.T) {
	lib, err := script.NewLibrary("function kwh(wh) { return wh / 1000; }")
	if err != nil {
		t.Fatal(err)
	}
	res := engine.NewResources()
	lib.Provide(res)
	c, err := script.NewCalc(script.CalcOptions{Code: "return kwh(msg);"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	out, err := c.Run(res, "STATS", []byte(`2500`), nil)
	if err != nil || string(out) != "2.5" {
		t.Fatalf("got %s, %v", out, err)
	}
}

func TestCalcErrors(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		kind       error
		want       string
		line       int
	}{
		{"throw", "const x = 1;\nthrow new Error('no ' + x);", script.ErrScript, "script error at line 2:7: Error: no 1", 2},
		{"type error", "\n\nreturn msg.nope.deeper;", script.ErrScript, "at line 3:", 3},
		{"undefined", "msg.x = 1;", script.ErrResult, "got undefined (is a return missing?)", 0},
		{"function", "return function () {};", script.ErrResult, "want a JSON value, got function", 0},
		{"busy loop", "for (;;) {}", script.ErrTimeout, "script timed out after 50ms at line 1:", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := script.NewCalc(script.CalcOptions{Code: tc.code, Timeout: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			_, err = c.Run(nil, "STATS", []byte(`{}`), nil)
			var se *script.Error
			if !errors.Is(err, tc.kind) || !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) || se.Line != tc.line {
				t.Fatalf("got %v (%+v), want %v containing %q at line %d", err, se, tc.kind, tc.want, tc.line)
			}
			if !strings.HasPrefix(err.Error(), "calc: ") {
				t.Errorf("error %q does not say it is the calc", err)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			// The pool still serves after a failure (an interrupted VM is
			// replaced): the same failure again, not a hang.
			if _, err2 := c.Run(nil, "STATS", []byte(`{}`), nil); !errors.Is(err2, tc.kind) {
				t.Fatalf("second run: %v", err2)
			}
		})
	}
}

func TestCalcSyntax(t *testing.T) {
	_, err := script.NewCalc(script.CalcOptions{Code: "return (1 +;"})
	var se *script.SyntaxError
	if !errors.As(err, &se) || se.File != "code" || se.Line != 1 {
		t.Fatalf("got %v", err)
	}
	codeErr, libErr := script.CheckCalc("return 1;", "function (")
	if codeErr != nil || !errors.As(libErr, &se) || se.File != "library" {
		t.Fatalf("check: %v, %v", codeErr, libErr)
	}
	if c, l := script.CheckCalc("return msg;", "${vars.lib}"); c != nil || l != nil {
		t.Fatalf("check with a placeholder library: %v, %v", c, l)
	}
}

func TestCalcClosed(t *testing.T) {
	c, err := script.NewCalc(script.CalcOptions{Code: "return 1;"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.Run(nil, "STATS", []byte(`1`), nil); err == nil {
		t.Fatal("a closed calc ran")
	}
}
