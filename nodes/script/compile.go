package script

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
	"github.com/dop251/goja/parser"
)

// Program names: they are how script error positions tell the node's code,
// its library and the global library apart.
const (
	fileCode          = "code"
	fileLibrary       = "library"
	fileGlobalLibrary = "scripts/library.js"
)

// A node's code is a function body. It is compiled inside codeHead and
// codeTail; codeHead ends with a newline, so line n of the code is line n+1
// of the program and columns are the same.
const (
	codeHead = "(function (msg, metadata, msgType, dataType) {\n"
	codeTail = "\n})"
)

// SyntaxError is a script that does not compile, with its position in the
// script as the user wrote it (lines and columns count from 1).
type SyntaxError struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("syntax error at line %d:%d: %s", e.Line, e.Column, e.Msg)
}

// compileCode compiles a node's code (a function body) in strict mode. The
// program evaluates to the function.
func compileCode(body string) (*goja.Program, error) {
	src := codeHead + body + codeTail
	prg, err := parser.ParseFile(nil, fileCode, src, 0, parser.WithDisableSourceMaps)
	if err != nil {
		return nil, syntaxError(fileCode, body, err)
	}
	if len(prg.Body) != 1 || !isFunctionExpression(prg.Body[0]) {
		// The code closed the wrapping function ("}); more(); (function () {").
		line, col := 1, 1
		if len(prg.Body) > 0 {
			p := prg.File.Position(int(prg.Body[0].Idx1()) - prg.File.Base())
			line, col = mapCodePosition(body, p.Line, p.Column)
		}
		return nil, &SyntaxError{File: fileCode, Line: line, Column: col,
			Msg: "unbalanced braces: the code is the body of a function and must not close it"}
	}
	p, err := goja.CompileAST(prg, true)
	if err != nil {
		return nil, syntaxError(fileCode, body, err)
	}
	return p, nil
}

func isFunctionExpression(s ast.Statement) bool {
	es, ok := s.(*ast.ExpressionStatement)
	if !ok {
		return false
	}
	_, ok = es.Expression.(*ast.FunctionLiteral)
	return ok
}

// compileLibrary compiles a library: a script run once in every VM before
// the code, whose top-level functions and constants the code can call.
func compileLibrary(name, src string) (*goja.Program, error) {
	prg, err := parser.ParseFile(nil, name, src, 0, parser.WithDisableSourceMaps)
	if err != nil {
		return nil, syntaxError(name, src, err)
	}
	p, err := goja.CompileAST(prg, true)
	if err != nil {
		return nil, syntaxError(name, src, err)
	}
	return p, nil
}

// syntaxError locates a parser or compiler error in the source as written.
func syntaxError(name, src string, err error) error {
	var pos file.Position
	var msg string
	var list parser.ErrorList
	var one *parser.Error
	var cse *goja.CompilerSyntaxError
	var cre *goja.CompilerReferenceError
	switch {
	case errors.As(err, &list) && len(list) > 0:
		pos, msg = list[0].Position, list[0].Message
	case errors.As(err, &one):
		pos, msg = one.Position, one.Message
	case errors.As(err, &cse):
		msg = cse.Message
		if cse.File != nil {
			pos = cse.File.Position(cse.Offset)
		}
	case errors.As(err, &cre):
		msg = cre.Message
		if cre.File != nil {
			pos = cre.File.Position(cre.Offset)
		}
	default:
		return &SyntaxError{File: name, Line: 1, Column: 1, Msg: err.Error()}
	}
	line, col := pos.Line, pos.Column
	if name == fileCode {
		if line > strings.Count(src, "\n")+2 {
			// In the wrapper's closing "})": the code left something open.
			msg = "unexpected end of the code: a brace, bracket or parenthesis is not closed"
		}
		line, col = mapCodePosition(src, line, col)
	}
	if line < 1 {
		line, col = 1, 1
	}
	return &SyntaxError{File: name, Line: line, Column: col, Msg: msg}
}

// mapCodePosition turns a position in the wrapped code program into one in
// the code as written. A position in the wrapper's tail (an unclosed brace
// is reported there) becomes the end of the code's last line.
func mapCodePosition(body string, line, col int) (int, int) {
	line--
	if line < 1 {
		return 1, 1
	}
	lines := strings.Split(body, "\n")
	if line > len(lines) {
		last := lines[len(lines)-1]
		return len(lines), len([]rune(last)) + 1
	}
	return line, col
}
