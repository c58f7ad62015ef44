package engine_test

import (
	"testing"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func init() {
	for typ, kind := range map[string]string{"test/tcpsrc": "tcpListen", "test/udpsrc": "udpListen"} {
		spec.Register(&spec.Node{Type: typ, Category: "connectors", Summary: "a listener", Source: true,
			Fields:    []*spec.Field{{Name: "listen", Type: spec.String, Help: "address", Exclusive: kind}},
			Relations: spec.Relations{Fixed: []string{types.Success}}}, engine.SourceNode{NodeType: typ})
	}
}

func TestListenClaimsCompareAddresses(t *testing.T) {
	listener := func(id, typ, addr string) *engine.Flow {
		f := chain(id, typ)
		f.Metadata.Nodes[0].Configuration = map[string]any{"listen": addr}
		return f
	}
	for _, tc := range []struct {
		name      string
		a, b      *engine.Flow
		conflicts bool
	}{
		{"wildcard and all addresses", listener("a", "test/tcpsrc", ":7000"), listener("b", "test/tcpsrc", "0.0.0.0:7000"), true},
		{"wildcard and one address", listener("a", "test/tcpsrc", ":7000"), listener("b", "test/tcpsrc", "127.0.0.1:7000"), true},
		{"two addresses", listener("a", "test/tcpsrc", "127.0.0.1:7000"), listener("b", "test/tcpsrc", "127.0.0.2:7000"), false},
		{"two ports", listener("a", "test/tcpsrc", ":7000"), listener("b", "test/tcpsrc", ":7001"), false},
		{"TCP and UDP on one port", listener("a", "test/tcpsrc", ":5683"), listener("b", "test/udpsrc", ":5683"), false},
		{"UDP twice", listener("a", "test/udpsrc", ":5683"), listener("b", "test/udpsrc", "[::]:5683"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := engine.Validate(tc.b, engine.ValidateOptions{Others: []*engine.Flow{tc.a}})
			if got := ps.HasErrors(); got != tc.conflicts {
				t.Fatalf("conflict = %v, want %v: %v", got, tc.conflicts, ps)
			}
		})
	}
}
