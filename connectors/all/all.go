// Package all links every connector into a binary: import it for its side
// effects (each connector package registers its node types in init).
package all

import (
	_ "github.com/sluicehq/sluice/connectors/modbus" // Modbus TCP poller and write node
)
