// Package all links every connector into a binary: import it for its side
// effects (each connector package registers its node types in init).
package all

import (
	_ "github.com/sluicehq/sluice/connectors/coap"     // CoAP in and notify
	_ "github.com/sluicehq/sluice/connectors/http"     // HTTP in
	_ "github.com/sluicehq/sluice/connectors/modbus"   // Modbus TCP poller and write node
	_ "github.com/sluicehq/sluice/connectors/mqtt"     // MQTT in and out
	_ "github.com/sluicehq/sluice/connectors/schedule" // cron trigger
	_ "github.com/sluicehq/sluice/connectors/tcp"      // raw TCP in
	_ "github.com/sluicehq/sluice/connectors/ws"       // WebSocket in and push
)
