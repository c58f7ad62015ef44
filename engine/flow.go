package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Flow is a flow document: RuleGo's rule-chain DSL as Sluice stores, validates
// and deploys it. Sources are connector nodes in Metadata.Nodes; RuleGo's
// metadata.endpoints are kept only so that validation can reject them.
type Flow struct {
	RuleChain FlowInfo     `json:"ruleChain"`
	Metadata  FlowMetadata `json:"metadata"`
}

// FlowInfo is the ruleChain header of a flow.
type FlowInfo struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Root           bool           `json:"root,omitempty"`
	DebugMode      bool           `json:"debugMode,omitempty"`
	Disabled       bool           `json:"disabled,omitempty"`
	Configuration  map[string]any `json:"configuration,omitempty"`
	AdditionalInfo map[string]any `json:"additionalInfo,omitempty"`
}

// FlowMetadata holds the nodes and the connections between them.
type FlowMetadata struct {
	FirstNodeIndex       int               `json:"firstNodeIndex,omitempty"`
	Endpoints            []json.RawMessage `json:"endpoints,omitempty"`
	Nodes                []Node            `json:"nodes"`
	Connections          []Connection      `json:"connections"`
	RuleChainConnections []json.RawMessage `json:"ruleChainConnections,omitempty"`
}

// Node is one node of a flow. AdditionalInfo carries the designer's layout
// (x, y) and the node's spec version ("specVersion").
type Node struct {
	ID             string         `json:"id"`
	Type           string         `json:"type"`
	Name           string         `json:"name,omitempty"`
	DebugMode      bool           `json:"debugMode,omitempty"`
	Configuration  map[string]any `json:"configuration,omitempty"`
	AdditionalInfo map[string]any `json:"additionalInfo,omitempty"`
}

// Connection is a directed edge: messages that FromID emits on relation Type
// go to ToID.
type Connection struct {
	FromID string `json:"fromId"`
	ToID   string `json:"toId"`
	Type   string `json:"type"`
	Label  string `json:"label,omitempty"`
}

// ParseFlow decodes a flow document strictly: a key the DSL does not know is
// an error, never silently ignored.
func ParseFlow(data []byte) (*Flow, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var f Flow
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse flow: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse flow: unexpected data after the document")
	}
	normaliseNumbers(&f)
	return &f, nil
}

// Marshal encodes the flow as JSON.
func (f *Flow) Marshal() ([]byte, error) { return json.Marshal(f) }

// Clone returns a deep copy of the flow.
func (f *Flow) Clone() *Flow {
	b, err := f.Marshal()
	if err != nil {
		panic(fmt.Sprintf("clone flow: %v", err)) // a decoded flow always encodes
	}
	c, err := ParseFlow(b)
	if err != nil {
		panic(fmt.Sprintf("clone flow: %v", err))
	}
	return c
}

// NodeByID returns the node with the given id.
func (f *Flow) NodeByID(id string) (*Node, bool) {
	for i := range f.Metadata.Nodes {
		if f.Metadata.Nodes[i].ID == id {
			return &f.Metadata.Nodes[i], true
		}
	}
	return nil, false
}

// normaliseNumbers turns json.Number values into int64 where they are whole
// and float64 otherwise, so configs compare and validate naturally.
func normaliseNumbers(f *Flow) {
	f.RuleChain.Configuration = normaliseMap(f.RuleChain.Configuration)
	f.RuleChain.AdditionalInfo = normaliseMap(f.RuleChain.AdditionalInfo)
	for i := range f.Metadata.Nodes {
		f.Metadata.Nodes[i].Configuration = normaliseMap(f.Metadata.Nodes[i].Configuration)
		f.Metadata.Nodes[i].AdditionalInfo = normaliseMap(f.Metadata.Nodes[i].AdditionalInfo)
	}
}

func normaliseMap(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = NormaliseValue(v)
	}
	return m
}

// NormaliseValue converts json.Number values (recursively) to int64 or float64.
func NormaliseValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if fl, err := x.Float64(); err == nil {
			return fl
		}
		return x.String()
	case map[string]any:
		return normaliseMap(x)
	case []any:
		for i := range x {
			x[i] = NormaliseValue(x[i])
		}
		return x
	}
	return v
}
