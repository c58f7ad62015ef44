// Package designer embeds the browser designer's built files (designer/dist,
// written by `npm run build`) into the sluice binary. On a clean clone,
// before the first npm build, dist holds only .gitkeep: the binary then
// serves a committed placeholder page, so `go build` always works.
package designer

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

//go:embed placeholder
var placeholder embed.FS

// Files returns the designer's static files: the built designer when it was
// built before `go build`, else the placeholder page.
func Files() fs.FS {
	root := "dist"
	if !Built() {
		root = "placeholder"
	}
	src := fs.FS(dist)
	if root == "placeholder" {
		src = placeholder
	}
	sub, err := fs.Sub(src, root)
	if err != nil {
		panic(err) // both trees are embedded at build time: they exist
	}
	return sub
}

// Built reports whether the binary holds the built designer.
func Built() bool {
	_, err := fs.Stat(dist, "dist/index.html")
	return err == nil
}
