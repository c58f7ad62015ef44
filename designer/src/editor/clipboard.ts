// Copy and paste of nodes, their connections and notes, as plain DSL JSON:
// it goes through localStorage and the system clipboard, so it works
// between flows and browser tabs.
import type { DslConnection, DslNode } from '../api/flows';
import type { NodeSpec } from '../api/nodes';
import { withoutSecrets } from './form';
import { connectionFromEdge, freeId, nodeFromFlowNode, noteFromNode, positionOf, toEdge, toFlowNode, toNoteNode, withPosition } from './dsl';
import { isFlowNode, isNoteNode, type EdEdge, type EdNode, type NoteDoc } from './model';

export const CLIP_KIND = 'sluice/nodes';
export const CLIP_KEY = 'sluice.clipboard';

let pasteSeq = 0;

export interface Clip {
  kind: typeof CLIP_KIND;
  nodes: DslNode[];
  connections: DslConnection[];
  notes: NoteDoc[];
}

/** copyNodes returns the clip of the given nodes and the connections between them. */
export function copyNodes(nodes: EdNode[], edges: EdEdge[], ids: Set<string>): Clip {
  const picked = nodes.filter((n) => ids.has(n.id));
  const flow = picked.filter(isFlowNode).map(nodeFromFlowNode);
  const inside = new Set(flow.map((n) => n.id));
  const connections = edges.filter((e) => inside.has(e.source) && inside.has(e.target)).map(connectionFromEdge);
  return { kind: CLIP_KIND, nodes: flow, connections, notes: picked.filter(isNoteNode).map(noteFromNode) };
}

/** clipWithoutSecrets takes the secrets out of a clip's nodes (by their specs) and says how many. */
export function clipWithoutSecrets(clip: Clip, specs: Map<string, NodeSpec>): { clip: Clip; removed: number } {
  let removed = 0;
  const nodes = clip.nodes.map((n) => {
    const spec = specs.get(n.type);
    if (!spec || !n.configuration) return n;
    const r = withoutSecrets(spec.fields, n.configuration);
    removed += r.removed;
    return r.removed ? { ...n, configuration: r.cfg } : n;
  });
  return { clip: removed ? { ...clip, nodes } : clip, removed };
}

export function parseClip(text: string | null): Clip | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text) as Partial<Clip>;
    if (v && v.kind === CLIP_KIND && Array.isArray(v.nodes) && Array.isArray(v.connections)) {
      return { kind: CLIP_KIND, nodes: v.nodes, connections: v.connections, notes: Array.isArray(v.notes) ? v.notes : [] };
    }
  } catch {
    // not ours
  }
  return null;
}

/**
 * pasteClip returns the nodes and edges to add for a clip: ids already in
 * use get fresh ones (connections follow), everything moves by offset and
 * the pasted nodes come selected.
 */
export function pasteClip(clip: Clip, used: Set<string>, offset: { x: number; y: number }): { nodes: EdNode[]; edges: EdEdge[] } {
  const taken = new Set(used);
  const rename = new Map<string, string>();
  const nodes: EdNode[] = [];
  for (const n of clip.nodes) {
    let id = n.id;
    if (!id || taken.has(id)) id = freeId(n.type, taken);
    taken.add(id);
    rename.set(n.id, id);
    const p = positionOf(n);
    const moved = withPosition({ ...n, id }, { x: p.x + offset.x, y: p.y + offset.y });
    nodes.push(toFlowNode(moved, { selected: true }));
  }
  for (const note of clip.notes) {
    const id = freeId('note', new Set([...taken].filter((x) => x.startsWith('note:')).map((x) => x.slice(5))));
    taken.add('note:' + id);
    nodes.push(toNoteNode({ ...note, id, x: note.x + offset.x, y: note.y + offset.y }, { selected: true }));
  }
  const edges = clip.connections
    .filter((c) => rename.has(c.fromId) && rename.has(c.toId))
    .map((c, i) => {
      const e = toEdge({ ...c, fromId: rename.get(c.fromId)!, toId: rename.get(c.toId)! }, i);
      return { ...e, id: `${e.id}:p${++pasteSeq}` };
    });
  return { nodes, edges };
}
