package builtin

import (
	"sync"
	"testing"

	"github.com/rulego/rulego/api/types"
	rgengine "github.com/rulego/rulego/engine"

	"github.com/sluicehq/sluice/engine/spec"
)

// TestRunOnRuleGo runs a chain of the registered nodes on a RuleGo engine
// whose registry holds exactly the registered prototypes, as Sluice's engine
// builds it, and checks where messages end.
func TestRunOnRuleGo(t *testing.T) {
	reg := &rgengine.RuleComponentRegistry{}
	for _, r := range spec.All() {
		if err := reg.Register(r.Proto); err != nil {
			t.Fatal(err)
		}
	}
	dsl := `{
	  "ruleChain": {"id": "run-test", "root": true, "configuration": {"vars": {"unit": "C"}}},
	  "metadata": {
	    "nodes": [
	      {"id": "sw", "type": "switch", "configuration": {"cases": [{"case": "msg.temperature > 50", "then": "Hot"}]}},
	      {"id": "tf", "type": "exprTransform", "configuration": {"mapping": {"temp": "msg.temperature", "device": "metadata.deviceId"}}},
	      {"id": "md", "type": "metadataTransform", "configuration": {"mapping": {"alarm": "msg.temp > 50"}}},
	      {"id": "log", "type": "log", "configuration": {"message": "hot ${msg.temp} ${vars.unit}", "level": "debug"}}
	    ],
	    "connections": [
	      {"fromId": "sw", "toId": "tf", "type": "Hot"},
	      {"fromId": "tf", "toId": "md", "type": "Success"},
	      {"fromId": "md", "toId": "log", "type": "Success"}
	    ]
	  }
	}`
	cfg := rgengine.NewConfig(types.WithComponentsRegistry(reg))
	eng, err := rgengine.NewPool().New("run-test", []byte(dsl), types.WithConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Stop)

	type end struct {
		node, relation, data string
		meta                 map[string]string
		err                  error
	}
	run := func(payload string) []end {
		var mu sync.Mutex
		var ends []end
		msg := types.NewMsg(0, "TELEMETRY", types.JSON, types.Metadata{"deviceId": "b1"}, payload)
		eng.OnMsgAndWait(msg, types.WithOnEnd(func(ctx types.RuleContext, m types.RuleMsg, err error, rel string) {
			mu.Lock()
			defer mu.Unlock()
			ends = append(ends, end{ctx.GetSelfId(), rel, m.Data, m.Metadata.Values(), err})
		}))
		return ends
	}

	hot := run(`{"temperature": 71}`)
	if len(hot) != 1 || hot[0].node != "log" || hot[0].relation != types.Success || hot[0].err != nil {
		t.Fatalf("hot message ended %+v", hot)
	}
	if hot[0].meta["alarm"] != "true" || hot[0].data != `{"device":"b1","temp":71}` {
		t.Errorf("hot message %q %v", hot[0].data, hot[0].meta)
	}
	cold := run(`{"temperature": 10}`)
	if len(cold) != 1 || cold[0].node != "sw" || cold[0].relation != relDefault {
		t.Fatalf("cold message ended %+v", cold)
	}
}
