// Package designer embeds the browser designer's built files (designer/dist)
// into the sluice binary. Until the designer is built by npm, dist holds a
// committed placeholder page, so `go build` works on a clean clone.
package designer

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Files returns the designer's static files, rooted at dist.
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time: it always exists
	}
	return sub
}
