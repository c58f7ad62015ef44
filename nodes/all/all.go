// Package all links every processing node family into a binary: import it
// for its side effects (each node package registers its types in init).
package all

import (
	_ "github.com/sluicehq/sluice/nodes/alarm"           // threshold and joint alarms
	_ "github.com/sluicehq/sluice/nodes/script"          // script parse, transform, filter, switch
	_ "github.com/sluicehq/sluice/nodes/sink/mongo"      // MongoDB sink
	_ "github.com/sluicehq/sluice/nodes/sink/redis"      // Redis sink
	_ "github.com/sluicehq/sluice/nodes/sink/sql"        // PostgreSQL / MySQL sink
	_ "github.com/sluicehq/sluice/nodes/sink/timeseries" // time-series sink
	_ "github.com/sluicehq/sluice/nodes/stats"           // cron statistics
)
