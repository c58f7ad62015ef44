package script

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dop251/goja"

	"github.com/sluicehq/sluice/engine"
)

// LibraryKey is the engine.Resources key under which the process provides
// its global script library (a *Library). Script nodes run it in every VM
// before their own library and code; without it they run without one.
const LibraryKey = "script.library"

// LibraryFile is where the global library lives, relative to the data
// directory.
const LibraryFile = fileGlobalLibrary

// Library is the process's global script library: JavaScript whose
// top-level functions and constants every script node can call.
type Library struct {
	prg *goja.Program
}

// NewLibrary compiles a global library. A syntax error is a *SyntaxError
// with the line and column in src.
func NewLibrary(src string) (*Library, error) {
	p, err := compileLibrary(fileGlobalLibrary, src)
	if err != nil {
		return nil, fmt.Errorf("script library %s: %w", fileGlobalLibrary, err)
	}
	return &Library{prg: p}, nil
}

// LoadLibrary reads and compiles dataDir/scripts/library.js. It returns
// nil and no error when the file does not exist.
func LoadLibrary(dataDir string) (*Library, error) {
	path := filepath.Join(dataDir, filepath.FromSlash(LibraryFile))
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("script library: %w", err)
	}
	return NewLibrary(string(b))
}

// Provide makes the library available to the script nodes of every flow
// the engine runs. A nil library provides nothing.
func (l *Library) Provide(r *engine.Resources) {
	if l != nil {
		r.Provide(LibraryKey, l)
	}
}

var errNoLibrary = errors.New("no global script library")

// acquireLibrary returns the process's global library, or nil when none is
// provided, and its release function.
func acquireLibrary(r *engine.Resources) (*Library, func() error) {
	if r == nil {
		return nil, func() error { return nil }
	}
	v, release, err := r.Acquire(LibraryKey, func() (any, func() error, error) { return nil, nil, errNoLibrary })
	if err != nil {
		return nil, func() error { return nil }
	}
	lib, _ := v.(*Library)
	return lib, release
}
