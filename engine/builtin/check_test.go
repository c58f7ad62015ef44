package builtin

import (
	"slices"
	"testing"

	"github.com/sluicehq/sluice/engine/spec"
)

// TestChecks covers the checks the built-in specs add beyond their fields.
func TestChecks(t *testing.T) {
	tests := []struct {
		typ  string
		cfg  map[string]any
		want []string
	}{
		{"switch", map[string]any{"cases": []any{map[string]any{"case": "msg.t >", "then": "Hot"}}},
			[]string{`field "cases[0].case": does not compile: unexpected token EOF (1:7)`}},
		{"switch", map[string]any{"cases": []any{}}, []string{`field "cases": must have at least 1 item`}},
		{"exprFilter", map[string]any{"expr": "msg.temperature"}, nil},
		{"exprFilter", map[string]any{"expr": `upper(msg.name)`}, []string{`field "expr": does not compile: expected bool, but got string`}},
		{"exprFilter", map[string]any{}, []string{`field "expr": required`}},
		{"fieldFilter", map[string]any{}, []string{`field "dataNames": set dataNames, metadataNames or both`}},
		{"fieldFilter", map[string]any{"checkAllKeys": true, "dataNames": "a"},
			[]string{`field "checkAllKeys": needs both dataNames and metadataNames: with one of them empty every message goes to False`}},
		{"fieldFilter", map[string]any{"dataNames": "a, b"}, []string{`field "dataNames": names must not have spaces around the commas`}},
		{"exprTransform", map[string]any{}, []string{`field "expr": set expr or mapping`}},
		{"exprTransform", map[string]any{"expr": "msg", "mapping": map[string]any{"a": "msg.a"}}, []string{`field "mapping": ignored: expr is set`}},
		{"exprTransform", map[string]any{"mapping": map[string]any{"a": "msg.a +"}}, []string{`field "mapping.a": does not compile: unexpected token EOF (1:7)`}},
		{"metadataTransform", map[string]any{"mapping": map[string]any{}}, []string{`field "mapping": must have at least 1 item`}},
		{"restApiCall", map[string]any{"restEndpointUrlPattern": "localhost:8080/x"},
			[]string{`field "restEndpointUrlPattern": want an http:// or https:// URL with a host`}},
		{"restApiCall", map[string]any{"restEndpointUrlPattern": "http://${metadata.host}/x", "requestMethod": "get"},
			[]string{`field "requestMethod": want one of "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", got "get"`}},
		{"restApiCall", map[string]any{"restEndpointUrlPattern": "http://h/x", "enableProxy": true},
			[]string{`field "proxyHost": required when enableProxy is set without useSystemProxyProperties`}},
		{"delay", map[string]any{"periodInSeconds": "${vars.delay}"}, nil},
		{"delay", map[string]any{"maxPendingMsgs": int64(0)}, []string{`field "maxPendingMsgs": must be at least 1`}},
		{"join", map[string]any{}, []string{`field "timeout": required`}},
		{"join", map[string]any{"timeout": int64(0)}, []string{`field "timeout": must be at least 1`}},
		{"flow", map[string]any{"targetId": ""}, []string{`field "targetId": must not be empty`}},
		{"log", map[string]any{"level": "fatal"}, []string{`field "level": want one of "debug", "info", "warn", "error", got "fatal"`}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			r, ok := spec.Lookup(tt.typ)
			if !ok {
				t.Fatalf("%s not registered", tt.typ)
			}
			var got []string
			for _, p := range r.Spec.Check(tt.cfg) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRelations(t *testing.T) {
	tests := []struct {
		typ     string
		cfg     map[string]any
		want    []string
		dynamic bool
	}{
		{"switch", map[string]any{"cases": []any{map[string]any{"case": "true", "then": "A"}, map[string]any{"case": "false", "then": "B"}}},
			[]string{"A", "B", "Default", "Failure"}, false},
		{"msgTypeSwitch", nil, []string{"Default"}, true},
		{"exprFilter", nil, []string{"True", "False", "Failure"}, false},
		{"fork", nil, []string{"Success"}, false},
		{"flow", map[string]any{"targetId": "x"}, []string{"Success", "Failure"}, false},
		{"flow", map[string]any{"targetId": "x", "extend": true}, []string{"Success", "Failure"}, true},
		{"log", nil, []string{"Success"}, false},
	}
	for _, tt := range tests {
		r, _ := spec.Lookup(tt.typ)
		got, dynamic := r.Spec.RelationsFor(tt.cfg)
		if !slices.Equal(got, tt.want) || dynamic != tt.dynamic {
			t.Errorf("%s: got %q %v, want %q %v", tt.typ, got, dynamic, tt.want, tt.dynamic)
		}
	}
}
