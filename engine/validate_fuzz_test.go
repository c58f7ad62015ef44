package engine_test

import (
	"testing"

	"github.com/sluicehq/sluice/engine"
)

// FuzzParseAndValidate feeds flow documents to ParseFlow and Validate: any
// input may be rejected, none may panic. Seeds: valid flows and flows with
// every kind of problem; more seeds live in testdata/fuzz.
func FuzzParseAndValidate(f *testing.F) {
	seeds := []string{
		doc("f1", `[`+logA+`,`+logB+`]`, `[`+a2b+`]`),
		doc("f1", `[{"id":"a","type":"switch","configuration":{"cases":[{"case":"msg.t > 50","then":"Hot"},{"case":"msg.t >","then":1}]}},`+logB+`]`,
			`[{"fromId":"a","toId":"b","type":"Hot"},{"fromId":"a","toId":"b","type":"Cold"}]`),
		doc("f1", `[{"id":"a","type":"flow","configuration":{"targetId":"f1","extend":true}},{"id":"a","type":"nope"}]`,
			`[{"fromId":"a","toId":"a","type":"X"},{"fromId":"q","toId":"a","type":""}]`, `md:"firstNodeIndex":7`),
		doc("bad id!", `[]`, `[]`, `md:"endpoints":[{"id":"e"}]`, `md:"ruleChainConnections":[{}]`),
		doc("f1", `[{"id":"a","type":"delay","configuration":{"periodInSeconds":"${vars.p}","maxPendingMsgs":1.5}}]`, `[]`,
			`rc:"configuration":{"vars":{"p":[1]}}`),
		doc("f1", `[{"id":"s","type":"test/vsource","configuration":{"listen":{"a":null}}},{"id":"r","type":"restApiCall","configuration":{"headers":{"a":1},"restEndpointUrlPattern":"%zz"}}]`,
			`[{"fromId":"s","toId":"r","type":"Success"},{"fromId":"r","toId":"s","type":"Failure"}]`, `rc:"additionalInfo":{"allowCycles":"yes"}`),
		doc("f1", `[{"id":"m","type":"metadataTransform","configuration":{"mapping":{"":"msg","x":null,"y":"1e999"}}},{"id":"j","type":"join","configuration":{"timeout":1e300}}]`, `[]`,
			`md:"firstNodeIndex":-1`),
		`{"ruleChain":{"id":"x"},"metadata":{"nodes":null,"connections":null}}`,
		`{"ruleChain":{},"metadata":{}}`,
		`{}`,
		`[]`,
		`{"ruleChain":{"id":"x","unknown":1}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	others := []*engine.Flow{parse(f, doc("other", `[{"id":"src","type":"test/vsource","configuration":{"listen":":9000"}}]`, `[]`))}
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := engine.ParseFlow(data)
		if err != nil {
			return
		}
		for _, p := range engine.Validate(fl, engine.ValidateOptions{Others: others, FlowExists: func(id string) bool { return id == "other" }}) {
			if p.Message == "" || (p.Severity != "error" && p.Severity != "warning") {
				t.Fatalf("malformed problem %+v", p)
			}
		}
	})
}
