package schedule

import (
	"time"

	"github.com/sluicehq/sluice/engine"
)

// NextActivations is nextActivations, for the tests.
var NextActivations = nextActivations

// NewFirer builds a schedule source and returns a function that fires one
// activation through it, for the benchmark.
func NewFirer(sc engine.SourceContext, raw map[string]any) (engine.Source, func(scheduled time.Time), error) {
	src, err := newSource(sc, raw)
	if err != nil {
		return nil, nil, err
	}
	s := src.(*source)
	return s, func(scheduled time.Time) { s.fire(scheduled, time.Time{}, true) }, nil
}
