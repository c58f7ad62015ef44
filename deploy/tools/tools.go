//go:build tools

// Package tools pins the servers the tests build from source, in a module
// of their own so that the main go.mod stays clean: FerretDB, the
// MongoDB-wire server the MongoDB sink and store are tested against
// (deploy/tools/ferretdb.sh builds it).
package tools

import (
	_ "github.com/FerretDB/FerretDB/cmd/ferretdb"
)
