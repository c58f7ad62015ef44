package main

import (
	"io/fs"

	"github.com/sluicehq/sluice/designer"
)

// designerFS is the designer's static files served at /.
func designerFS() fs.FS { return designer.Files() }
