package coap_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/coap"
	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
)

func TestMain(m *testing.M) { conntest.Main(m) }

const tenant = "acme"

// wait is how long a test waits for what must happen.
const wait = 5 * time.Second

var registry = conntest.Devices{Tokens: map[string]engine.Device{
	"tok-boiler": {ID: "boiler-7", Tenant: tenant, Name: "boiler 7"},
	"tok-pump":   {ID: "pump-2", Tenant: tenant, Name: "pump 2"},
	"tok-other":  {ID: "intruder", Tenant: "globex", Name: "another tenant's device"},
}}

func newManager(t testing.TB, o engine.Options) *engine.Manager {
	t.Helper()
	o.Devices = registry
	return conntest.NewManager(t, o)
}

// ingestFlow is a coapIn node with cfg, then a node of type then.
func ingestFlow(id string, cfg map[string]any, then string) *engine.Flow {
	return conntest.Flow(id, coap.NodeType, cfg, then)
}

type result struct {
	out, errOut string
	err         error
}

// client runs coap-client-notls (Debian's libcoap3-bin: the device) with
// args and returns what it printed.
func client(t testing.TB, args ...string) result {
	t.Helper()
	bin := conntest.Need(t, "coap-client-notls", "apt-get install -y libcoap3-bin")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return result{out: out.String(), errOut: errOut.String(), err: err}
}
