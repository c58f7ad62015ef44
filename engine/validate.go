package engine

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/engine/spec"
)

// ValidateOptions gives Validate what it needs beyond the flow itself.
type ValidateOptions struct {
	// Others are the other deployed flows, for the conflict check (a node
	// claiming the same ingest path, port or MQTT client id). A flow with the
	// same id as the one validated is its running version and is skipped.
	Others []*Flow
	// FlowExists reports whether a flow id can be the target of a flow
	// reference. nil means flow references are not checked.
	FlowExists func(id string) bool
}

// flowIDPattern is what a flow id may look like.
var flowIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// varPlaceholder matches ${vars.name} as RuleGo substitutes it.
var varPlaceholder = regexp.MustCompile(`\$\{\s*vars\.([^}.\s]+)\s*\}`)

// Validate checks a flow before anything runs, like a compiler: its header,
// every node's type and configuration, the connections, references to other
// flows, conflicts with the other deployed flows, cycles and unreachable
// nodes. The problems come in a fixed order: header, nodes (in document
// order), connections, conflicts, cycles, unreachable nodes. Only
// unreachable nodes and a few suspicious configurations are warnings; a flow
// with any error must not be deployed.
func Validate(f *Flow, o ValidateOptions) spec.Problems {
	v := &validator{f: f, o: o, id: f.RuleChain.ID}
	v.header()
	v.nodes()
	v.connections()
	v.conflicts()
	v.cycles()
	v.unreachable()
	return v.probs
}

type validator struct {
	f     *Flow
	o     ValidateOptions
	id    string
	probs spec.Problems
	vars  map[string]string
	// index maps a node id to the index of its first node.
	index map[string]int
	// edges[i] are the indexes of the nodes node i connects to, in order.
	edges [][]int
	// cfgs[i] is node i's configuration with the flow's variables
	// substituted, or nil when its type is unknown.
	cfgs []map[string]any
}

func (v *validator) add(p spec.Problem) {
	if p.Severity == "" {
		p.Severity = spec.Error
	}
	p.Flow = v.id
	v.probs = append(v.probs, p)
}

func (v *validator) header() {
	f := v.f
	switch {
	case f.RuleChain.ID == "":
		v.add(spec.Problem{Field: "ruleChain.id", Message: "required"})
	case !flowIDPattern.MatchString(f.RuleChain.ID):
		v.add(spec.Problem{Field: "ruleChain.id", Message: `invalid flow id: use 1 to 64 letters, digits, "_" or "-"`})
	}
	var probs spec.Problems
	v.vars, probs = flowVars(f)
	for _, p := range probs {
		v.add(p)
	}
	if len(f.Metadata.Endpoints) > 0 {
		v.add(spec.Problem{Message: `metadata.endpoints is not supported: add connector nodes (category "connectors") to metadata.nodes instead`})
	}
	if len(f.Metadata.RuleChainConnections) > 0 {
		v.add(spec.Problem{Message: `metadata.ruleChainConnections is not supported: use a flow node (type "flow") to call another flow`})
	}
	n := len(f.Metadata.Nodes)
	if n == 0 {
		v.add(spec.Problem{Message: "no nodes: add at least one node to metadata.nodes"})
		return
	}
	if i := f.Metadata.FirstNodeIndex; i < 0 || i >= n {
		v.add(spec.Problem{Field: "metadata.firstNodeIndex", Message: fmt.Sprintf("%d is out of range: the flow has %d %s", i, n, plural(n, "node", "nodes"))})
	}
}

// flowVars returns the flow's variables (ruleChain.configuration.vars) as
// RuleGo will see them: strings, numbers and booleans as strings.
func flowVars(f *Flow) (map[string]string, spec.Problems) {
	vars := map[string]string{}
	raw, ok := f.RuleChain.Configuration["vars"]
	if !ok || raw == nil {
		return vars, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return vars, spec.Problems{{Field: "ruleChain.configuration.vars", Message: "want an object of variable names and values"}}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var probs spec.Problems
	for _, k := range keys {
		switch x := m[k].(type) {
		case string:
			vars[k] = x
		case int64, float64, bool:
			vars[k] = fmt.Sprint(x)
		default:
			probs = append(probs, spec.Problem{Field: "ruleChain.configuration.vars." + k, Message: "want a string, number or boolean"})
		}
	}
	return vars, probs
}

func (v *validator) nodes() {
	nodes := v.f.Metadata.Nodes
	v.index = make(map[string]int, len(nodes))
	v.cfgs = make([]map[string]any, len(nodes))
	for i := range nodes {
		nd := &nodes[i]
		if nd.ID == "" {
			v.add(spec.Problem{NodeType: nd.Type, Field: fmt.Sprintf("metadata.nodes[%d].id", i), Message: "required"})
		} else if first, dup := v.index[nd.ID]; dup {
			v.add(spec.Problem{Node: nd.ID, NodeType: nd.Type, Message: fmt.Sprintf("duplicate node id: metadata.nodes[%d] has it too", first)})
		} else {
			v.index[nd.ID] = i
		}
		reg, ok := spec.Lookup(nd.Type)
		if !ok {
			msg := "unknown node type"
			if nd.Type == "" {
				msg = "node type is required"
			} else if s := spec.Suggest(nd.Type, registeredTypes()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p := spec.Problem{Node: nd.ID, NodeType: nd.Type, Message: msg}
			if nd.ID == "" {
				p.Field = fmt.Sprintf("metadata.nodes[%d].type", i)
			}
			v.add(p)
			continue
		}
		cfg := substitute(v.vars, reg.Spec, nd.Configuration)
		v.cfgs[i] = cfg
		for _, p := range reg.Spec.CheckResolved(cfg) {
			v.addNode(i, p)
		}
		v.refs(i, reg.Spec, cfg)
	}
}

// addNode adds a configuration problem of node i. A node without an id is
// located by its index instead: metadata.nodes[i].configuration.field.
func (v *validator) addNode(i int, p spec.Problem) {
	nd := &v.f.Metadata.Nodes[i]
	p.Node, p.NodeType = nd.ID, nd.Type
	if nd.ID == "" {
		p.Field = strings.TrimSuffix(fmt.Sprintf("metadata.nodes[%d].configuration.%s", i, p.Field), ".")
	}
	v.add(p)
}

// substitute replaces the flow's ${vars.x} placeholders in the top-level
// string values of Vars fields, as RuleGo does at init, so that Check sees the
// values the node will get. A placeholder naming no variable stays; Check
// reports it.
func substitute(vars map[string]string, s *spec.Node, raw map[string]any) map[string]any {
	if len(raw) == 0 {
		return raw
	}
	out := make(map[string]any, len(raw))
	for k, x := range raw {
		out[k] = x
	}
	for _, f := range s.Fields {
		str, ok := out[f.Name].(string)
		if !ok || !f.Vars || !varPlaceholder.MatchString(str) {
			continue
		}
		out[f.Name] = varPlaceholder.ReplaceAllStringFunc(str, func(m string) string {
			if val, ok := vars[varPlaceholder.FindStringSubmatch(m)[1]]; ok {
				return val
			}
			return m
		})
	}
	return out
}

// unresolved reports a ${vars.x} placeholder left in a string.
func unresolved(x any) (string, bool) {
	s, ok := x.(string)
	if !ok {
		return "", false
	}
	m := varPlaceholder.FindString(s)
	return m, m != ""
}

// refs checks node i's references to other flows.
func (v *validator) refs(i int, s *spec.Node, cfg map[string]any) {
	s.Walk(cfg, func(path string, f *spec.Field, x any) {
		if f.Type != spec.Ref || f.RefKind != spec.RefFlow {
			return
		}
		target, ok := x.(string)
		if !ok || target == "" {
			return // Check reports it
		}
		if _, isVar := unresolved(target); isVar {
			return // Check reports it
		}
		p := spec.Problem{Field: path}
		switch {
		case target == v.id:
			p.Message = "a flow cannot call itself"
		case v.o.FlowExists != nil && !v.o.FlowExists(target):
			p.Message = fmt.Sprintf("flow %q does not exist", target)
		default:
			return
		}
		v.addNode(i, p)
	})
}

func (v *validator) connections() {
	nodes := v.f.Metadata.Nodes
	v.edges = make([][]int, len(nodes))
	for i, c := range v.f.Metadata.Connections {
		from, fromOK := v.index[c.FromID]
		to, toOK := v.index[c.ToID]
		where := fmt.Sprintf("metadata.connections[%d]", i)
		if !fromOK {
			v.add(spec.Problem{Field: where, Message: fmt.Sprintf("connection from unknown node %q", c.FromID)})
			continue
		}
		fn := &nodes[from]
		if !toOK {
			v.add(spec.Problem{Node: fn.ID, NodeType: fn.Type, Field: where, Message: fmt.Sprintf("connection to unknown node %q", c.ToID)})
			continue
		}
		v.edges[from] = append(v.edges[from], to)
		if c.Type == "" {
			v.add(spec.Problem{Node: fn.ID, NodeType: fn.Type, Field: where, Message: fmt.Sprintf("connection to %q has no relation", c.ToID)})
			continue
		}
		reg, ok := spec.Lookup(fn.Type)
		if !ok {
			continue // reported with the node
		}
		rels, dynamic := reg.Spec.RelationsFor(v.cfgs[from])
		if dynamic || slices.Contains(rels, c.Type) {
			continue
		}
		msg := fmt.Sprintf("connection to %q: this node cannot emit relation %q", c.ToID, c.Type)
		if len(rels) == 0 {
			msg += "; it emits none"
		} else {
			msg += "; it emits " + quoteList(rels)
		}
		v.add(spec.Problem{Node: fn.ID, NodeType: fn.Type, Field: where, Message: msg})
	}
}

// claim is one node's hold on an exclusive resource.
type claim struct {
	flow, node, nodeType, field, resource, value string
}

// claims lists the exclusive resources the nodes of f claim. cfgs are the
// nodes' configurations with the flow's variables substituted; values still
// holding a placeholder are skipped.
func claims(f *Flow, cfgs []map[string]any) []claim {
	var out []claim
	for i := range f.Metadata.Nodes {
		nd := &f.Metadata.Nodes[i]
		reg, ok := spec.Lookup(nd.Type)
		if !ok {
			continue
		}
		reg.Spec.Walk(cfgs[i], func(path string, fd *spec.Field, x any) {
			if fd.Exclusive == "" {
				return
			}
			if _, isVar := unresolved(x); isVar {
				return
			}
			var val string
			switch x := x.(type) {
			case string:
				val = x
			case int64, float64, bool:
				val = fmt.Sprint(x)
			default:
				return
			}
			if val == "" {
				return
			}
			out = append(out, claim{flow: f.RuleChain.ID, node: nd.ID, nodeType: nd.Type, field: path, resource: fd.Exclusive, value: val})
		})
	}
	return out
}

func (v *validator) conflicts() {
	mine := claims(v.f, v.cfgs)
	if len(mine) == 0 {
		return
	}
	var others []claim
	for _, of := range v.o.Others {
		if of == nil || of.RuleChain.ID == v.id {
			continue
		}
		vars, _ := flowVars(of)
		cfgs := make([]map[string]any, len(of.Metadata.Nodes))
		for i, nd := range of.Metadata.Nodes {
			if reg, ok := spec.Lookup(nd.Type); ok {
				cfgs[i] = substitute(vars, reg.Spec, nd.Configuration)
			}
		}
		others = append(others, claims(of, cfgs)...)
	}
	for i, c := range mine {
		var holder *claim
		for j := range i {
			if sameClaim(mine[j], c) {
				holder = &mine[j]
				break
			}
		}
		if holder == nil {
			for j := range others {
				if sameClaim(others[j], c) {
					holder = &others[j]
					break
				}
			}
		}
		if holder == nil {
			continue
		}
		v.add(spec.Problem{Node: c.node, NodeType: c.nodeType, Field: c.field,
			Message: fmt.Sprintf("%s %q is also claimed by flow %q, node %q", c.resource, c.value, holder.flow, holder.node)})
	}
}

// sameClaim reports whether two claims take the same resource. Listen
// addresses ("tcpListen", "udpListen" and the generic "listen", which is
// TCP) collide when their ports are equal and a host is equal or a wildcard
// (":5683", "0.0.0.0:5683" and "[::]:5683" all take every address).
func sameClaim(a, b claim) bool {
	ra, rb := listenProto(a.resource), listenProto(b.resource)
	if ra == "" || rb == "" {
		return a.resource == b.resource && a.value == b.value
	}
	if ra != rb {
		return false
	}
	ha, pa, errA := net.SplitHostPort(a.value)
	hb, pb, errB := net.SplitHostPort(b.value)
	if errA != nil || errB != nil {
		return a.value == b.value
	}
	if pa != pb {
		return false
	}
	return ha == hb || wildcardHost(ha) || wildcardHost(hb)
}

func listenProto(resource string) string {
	switch resource {
	case "listen", "tcpListen":
		return "tcp"
	case "udpListen":
		return "udp"
	}
	return ""
}

func wildcardHost(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }

func (v *validator) cycles() {
	if b, ok := v.f.RuleChain.AdditionalInfo["allowCycles"].(bool); ok && b {
		return
	}
	nodes := v.f.Metadata.Nodes
	for _, scc := range stronglyConnected(v.edges) {
		if len(scc) == 1 && !slices.Contains(v.edges[scc[0]], scc[0]) {
			continue
		}
		start := slices.Min(scc)
		path := cyclePath(v.edges, scc, start)
		names := make([]string, len(path))
		for i, n := range path {
			names[i] = strconv.Quote(nodes[n].ID)
		}
		v.add(spec.Problem{Node: nodes[start].ID, NodeType: nodes[start].Type,
			Message: "cycle " + strings.Join(names, " -> ") + `: set ruleChain.additionalInfo.allowCycles to true if it is intended`})
	}
}

// stronglyConnected returns the strongly connected components of the graph
// (Tarjan), ordered by their smallest node index.
func stronglyConnected(edges [][]int) [][]int {
	n := len(edges)
	index := make([]int, n)
	low := make([]int, n)
	on := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var out [][]int
	next := 0
	var visit func(u int)
	visit = func(u int) {
		index[u], low[u] = next, next
		next++
		stack = append(stack, u)
		on[u] = true
		for _, w := range edges[u] {
			if index[w] < 0 {
				visit(w)
				low[u] = min(low[u], low[w])
			} else if on[w] {
				low[u] = min(low[u], index[w])
			}
		}
		if low[u] == index[u] {
			var scc []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				on[w] = false
				scc = append(scc, w)
				if w == u {
					break
				}
			}
			out = append(out, scc)
		}
	}
	for u := range n {
		if index[u] < 0 {
			visit(u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return slices.Min(out[i]) < slices.Min(out[j]) })
	return out
}

// cyclePath returns a shortest cycle through start inside the component
// scc, as node indexes beginning and ending with start.
func cyclePath(edges [][]int, scc []int, start int) []int {
	in := make(map[int]bool, len(scc))
	for _, n := range scc {
		in[n] = true
	}
	prev := map[int]int{}
	queue := []int{start}
	seen := map[int]bool{start: true}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, w := range edges[u] {
			if !in[w] {
				continue
			}
			if w == start {
				path := []int{start}
				for x := u; x != start; x = prev[x] {
					path = append(path, x)
				}
				slices.Reverse(path[1:])
				return append(path, start)
			}
			if !seen[w] {
				seen[w] = true
				prev[w] = u
				queue = append(queue, w)
			}
		}
	}
	return []int{start, start}
}

func (v *validator) unreachable() {
	nodes := v.f.Metadata.Nodes
	if first := v.f.Metadata.FirstNodeIndex; first < 0 || first >= len(nodes) {
		return // no nodes, or a first node that does not exist: reported already
	}
	reached := make([]bool, len(nodes))
	var queue []int
	root := func(i int) {
		if !reached[i] {
			reached[i] = true
			queue = append(queue, i)
		}
	}
	root(v.f.Metadata.FirstNodeIndex)
	for i := range nodes {
		if reg, ok := spec.Lookup(nodes[i].Type); ok && reg.Spec.Source {
			root(i)
		}
	}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, w := range v.edges[u] {
			root(w)
		}
	}
	for i := range nodes {
		if reached[i] {
			continue
		}
		if first, ok := v.index[nodes[i].ID]; !ok || first != i {
			continue // no id, or a duplicate one: reported already
		}
		v.add(spec.Problem{Severity: spec.Warning, Node: nodes[i].ID, NodeType: nodes[i].Type,
			Message: "unreachable: no path leads here from the first node (metadata.firstNodeIndex) or a source node"})
	}
}

func registeredTypes() []string {
	all := spec.All()
	out := make([]string, len(all))
	for i, r := range all {
		out[i] = r.Spec.Type
	}
	return out
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
