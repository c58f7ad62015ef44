package flows

import (
	"github.com/sluicehq/sluice/engine"
)

// diffSecretAware diffs two stored flows without revealing secrets: secrets
// are masked on both sides, and a secret whose sealed value changed (a kept
// secret is stored as the same sealed value) shows as Mask to Mask.
func diffSecretAware(a, b *engine.Flow) Diff {
	a, b = a.Clone(), b.Clone()
	sa, sb := secretsOf(a), secretsOf(b)
	maskFlow(a)
	maskFlow(b)
	d := DiffFlows(a, b)
	done := map[string]bool{}
	for _, n := range b.Metadata.Nodes {
		if done[n.ID] {
			continue // a repeated id: secretsOf kept the first
		}
		done[n.ID] = true
		pa, okA := sa[n.ID]
		pb, okB := sb[n.ID]
		if !okA || !okB || pa.typ != pb.typ {
			continue
		}
		var extra []FieldChange
		for _, path := range sortedKeys(pb.values) {
			x, y := pa.values[path], pb.values[path]
			if sameValue(x, y) || !sameValue(maskValue(x), maskValue(y)) {
				continue // unchanged, or the masked diff shows it already
			}
			extra = append(extra, FieldChange{Field: "configuration." + path, From: Mask, To: Mask})
		}
		if len(extra) > 0 {
			d.Nodes.Changed = addFieldChanges(d.Nodes.Changed, b, n.ID, extra)
		}
	}
	return d
}

// addFieldChanges adds field changes to node id's entry, creating it in the
// node order of flow b when the node had no other change.
func addFieldChanges(changes []NodeChange, b *engine.Flow, id string, extra []FieldChange) []NodeChange {
	for i := range changes {
		if changes[i].ID == id {
			changes[i].Fields = append(changes[i].Fields, extra...)
			sortFields(changes[i].Fields)
			return changes
		}
	}
	changes = append(changes, NodeChange{ID: id, Fields: extra})
	order := map[string]int{}
	for i, n := range b.Metadata.Nodes {
		if _, ok := order[n.ID]; !ok {
			order[n.ID] = i
		}
	}
	sortNodeChanges(changes, order)
	return changes
}
