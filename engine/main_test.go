package engine_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every Manager the tests start is shut down: no goroutine may outlive them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
