package flows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/engine"
)

// Diff is what changed from one flow version to another.
type Diff struct {
	From int `json:"from"`
	To   int `json:"to"`
	// Changed names the header fields that changed: "name", "root",
	// "debugMode", "disabled", "configuration.x", "additionalInfo.x",
	// "metadata.endpoints", ...
	Changed     []string `json:"changed"`
	Nodes       NodeDiff `json:"nodes"`
	Connections ConnDiff `json:"connections"`
}

// Empty reports whether nothing changed.
func (d Diff) Empty() bool {
	return len(d.Changed) == 0 && len(d.Nodes.Added) == 0 && len(d.Nodes.Removed) == 0 &&
		len(d.Nodes.Changed) == 0 && len(d.Connections.Added) == 0 && len(d.Connections.Removed) == 0
}

// NodeDiff lists the nodes added, removed and changed (matched by id).
type NodeDiff struct {
	Added   []engine.Node `json:"added"`
	Removed []engine.Node `json:"removed"`
	Changed []NodeChange  `json:"changed"`
}

// NodeChange is one node present on both sides with different contents.
type NodeChange struct {
	ID     string        `json:"id"`
	Fields []FieldChange `json:"fields"`
}

// FieldChange is one changed field of a node: "type", "name", "debugMode",
// "configuration.<path>", "position" (the designer's x/y in additionalInfo)
// or "additionalInfo.<key>".
type FieldChange struct {
	Field string `json:"field"`
	From  any    `json:"from"`
	To    any    `json:"to"`
}

// ConnDiff lists the connections added and removed.
type ConnDiff struct {
	Added   []engine.Connection `json:"added"`
	Removed []engine.Connection `json:"removed"`
}

// DiffFlows compares two flows. Nodes are matched by id, connections by
// all their fields; maps inside configurations are compared key by key,
// other values (lists included) as a whole. A nil flow is an empty one.
func DiffFlows(a, b *engine.Flow) Diff {
	if a == nil {
		a = &engine.Flow{}
	}
	if b == nil {
		b = &engine.Flow{}
	}
	return Diff{
		Changed:     diffHeader(a, b),
		Nodes:       diffNodes(a.Metadata.Nodes, b.Metadata.Nodes),
		Connections: diffConnections(a.Metadata.Connections, b.Metadata.Connections),
	}
}

func diffHeader(a, b *engine.Flow) []string {
	ha, hb := a.RuleChain, b.RuleChain
	var fields []FieldChange
	add := func(name string, x, y any) {
		if !sameValue(x, y) {
			fields = append(fields, FieldChange{Field: name})
		}
	}
	add("id", ha.ID, hb.ID)
	add("name", ha.Name, hb.Name)
	add("root", ha.Root, hb.Root)
	add("debugMode", ha.DebugMode, hb.DebugMode)
	add("disabled", ha.Disabled, hb.Disabled)
	diffValue("configuration", asAny(ha.Configuration), asAny(hb.Configuration), &fields)
	diffValue("additionalInfo", asAny(ha.AdditionalInfo), asAny(hb.AdditionalInfo), &fields)
	add("metadata.firstNodeIndex", a.Metadata.FirstNodeIndex, b.Metadata.FirstNodeIndex)
	add("metadata.endpoints", a.Metadata.Endpoints, b.Metadata.Endpoints)
	add("metadata.ruleChainConnections", a.Metadata.RuleChainConnections, b.Metadata.RuleChainConnections)
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Field
	}
	return out
}

// nodeKeys identify nodes for matching: the id, and for a repeated id (a
// draft may have them) the occurrence too.
func nodeKeys(nodes []engine.Node) []string {
	seen := map[string]int{}
	keys := make([]string, len(nodes))
	for i, n := range nodes {
		seen[n.ID]++
		keys[i] = n.ID
		if c := seen[n.ID]; c > 1 {
			keys[i] = fmt.Sprintf("%s\x00%d", n.ID, c)
		}
	}
	return keys
}

func diffNodes(as, bs []engine.Node) NodeDiff {
	nd := NodeDiff{Added: []engine.Node{}, Removed: []engine.Node{}, Changed: []NodeChange{}}
	aKeys, bKeys := nodeKeys(as), nodeKeys(bs)
	inA := make(map[string]int, len(as))
	for i, k := range aKeys {
		inA[k] = i
	}
	inB := make(map[string]bool, len(bs))
	for _, k := range bKeys {
		inB[k] = true
	}
	for i, k := range aKeys {
		if !inB[k] {
			nd.Removed = append(nd.Removed, as[i])
		}
	}
	for i, k := range bKeys {
		j, ok := inA[k]
		if !ok {
			nd.Added = append(nd.Added, bs[i])
			continue
		}
		if fields := diffNode(&as[j], &bs[i]); len(fields) > 0 {
			nd.Changed = append(nd.Changed, NodeChange{ID: bs[i].ID, Fields: fields})
		}
	}
	return nd
}

func diffNode(a, b *engine.Node) []FieldChange {
	var fields []FieldChange
	add := func(name string, x, y any) {
		if !sameValue(x, y) {
			fields = append(fields, FieldChange{Field: name, From: x, To: y})
		}
	}
	add("type", a.Type, b.Type)
	add("name", a.Name, b.Name)
	add("debugMode", a.DebugMode, b.DebugMode)
	diffValue("configuration", asAny(a.Configuration), asAny(b.Configuration), &fields)
	posA, restA := splitPosition(a.AdditionalInfo)
	posB, restB := splitPosition(b.AdditionalInfo)
	add("position", posA, posB)
	diffValue("additionalInfo", asAny(restA), asAny(restB), &fields)
	sortFields(fields)
	return fields
}

// splitPosition separates the keys of a node's additionalInfo that place it
// on the canvas from the rest; their changes are reported together as the
// field "position". The position is nil when the node has none.
func splitPosition(info map[string]any) (pos, rest map[string]any) {
	rest = map[string]any{}
	for k, v := range info {
		rest[k] = v
	}
	for _, k := range [...]string{"x", "y", "layoutX", "layoutY"} {
		if v, ok := info[k]; ok {
			if pos == nil {
				pos = map[string]any{}
			}
			pos[k] = v
			delete(rest, k)
		}
	}
	return pos, rest
}

// fieldRank orders a node's field changes: header fields, configuration,
// position, then the rest of additionalInfo.
func fieldRank(field string) int {
	switch {
	case field == "type":
		return 0
	case field == "name":
		return 1
	case field == "debugMode":
		return 2
	case field == "configuration" || strings.HasPrefix(field, "configuration."):
		return 3
	case field == "position":
		return 4
	default:
		return 5
	}
}

func sortFields(fields []FieldChange) {
	sort.SliceStable(fields, func(i, j int) bool {
		ri, rj := fieldRank(fields[i].Field), fieldRank(fields[j].Field)
		if ri != rj {
			return ri < rj
		}
		return fields[i].Field < fields[j].Field
	})
}

// diffValue appends the changes between x and y at path: maps key by key,
// anything else as a whole.
func diffValue(path string, x, y any, out *[]FieldChange) {
	mx, okx := x.(map[string]any)
	my, oky := y.(map[string]any)
	if okx && oky {
		keys := map[string]bool{}
		for k := range mx {
			keys[k] = true
		}
		for k := range my {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			diffValue(path+"."+k, mx[k], my[k], out)
		}
		return
	}
	if !sameValue(x, y) {
		*out = append(*out, FieldChange{Field: path, From: x, To: y})
	}
}

// asAny turns a nil map into an empty one so that a flow without a
// configuration compares key by key with one that has it.
func asAny(m map[string]any) any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// sameValue compares two values by their JSON encoding, so that 1, int64(1)
// and 1.0 are the same and map order does not matter.
func sameValue(x, y any) bool {
	bx, errx := json.Marshal(x)
	by, erry := json.Marshal(y)
	if errx != nil || erry != nil {
		return false
	}
	return bytes.Equal(bx, by)
}

func diffConnections(as, bs []engine.Connection) ConnDiff {
	cd := ConnDiff{Added: []engine.Connection{}, Removed: []engine.Connection{}}
	count := map[engine.Connection]int{}
	for _, c := range as {
		count[c]++
	}
	for _, c := range bs {
		if count[c] > 0 {
			count[c]--
			continue
		}
		cd.Added = append(cd.Added, c)
	}
	for _, c := range as { // what b did not use up, in a's order
		if count[c] > 0 {
			count[c]--
			cd.Removed = append(cd.Removed, c)
		}
	}
	return cd
}

// sortNodeChanges orders node changes by their node's index in order.
func sortNodeChanges(changes []NodeChange, order map[string]int) {
	sort.SliceStable(changes, func(i, j int) bool { return order[changes[i].ID] < order[changes[j].ID] })
}
