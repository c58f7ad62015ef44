// Pure conversion between the flow document (RuleGo DSL) and the canvas
// model. The round trip keeps every field of the document, unknown ones
// too; a node's position is written back only when it moved.
import type { DslConnection, DslNode, FlowDoc } from '../api/flows';
import { NOTE_PREFIX, TARGET_HANDLE, isFlowNode, isNoteNode, type EdEdge, type EdNode, type FlowNode, type Model, type NoteDoc, type NoteNode } from './model';

/** positionOf reads a node's canvas position from additionalInfo (x/y, or RuleGo's layoutX/layoutY). */
export function positionOf(n: DslNode): { x: number; y: number } {
  const ai = n.additionalInfo ?? {};
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  return { x: num(ai.x) ?? num(ai.layoutX) ?? 0, y: num(ai.y) ?? num(ai.layoutY) ?? 0 };
}

/** withPosition returns the node with its position written where it was read from (x/y by default). */
export function withPosition(n: DslNode, pos: { x: number; y: number }): DslNode {
  const old = positionOf(n);
  if (old.x === pos.x && old.y === pos.y) return n;
  const ai: Record<string, unknown> = { ...(n.additionalInfo ?? {}) };
  const x = Math.round(pos.x), y = Math.round(pos.y);
  const hasLayout = 'layoutX' in ai || 'layoutY' in ai;
  const hasXY = 'x' in ai || 'y' in ai;
  if (hasLayout) { ai.layoutX = x; ai.layoutY = y; }
  if (hasXY || !hasLayout) { ai.x = x; ai.y = y; }
  return { ...n, additionalInfo: ai };
}

export function edgeId(c: DslConnection, i: number): string {
  return `e:${c.fromId}:${c.type}:${c.toId}:${i}`;
}

export function toFlowNode(n: DslNode, extra: Partial<FlowNode> = {}): FlowNode {
  return { id: n.id, type: 'flow', position: positionOf(n), data: { dsl: n }, ...extra };
}

export function toNoteNode(note: NoteDoc, extra: Partial<NoteNode> = {}): NoteNode {
  return {
    id: NOTE_PREFIX + note.id,
    type: 'note',
    position: { x: note.x, y: note.y },
    width: note.width,
    height: note.height,
    zIndex: note.kind === 'frame' ? -1 : 0,
    data: { note },
    ...extra,
  };
}

export function toEdge(c: DslConnection, i: number): EdEdge {
  return { id: edgeId(c, i), source: c.fromId, sourceHandle: c.type, target: c.toId, targetHandle: TARGET_HANDLE, data: { dsl: c } };
}

function notesOf(doc: FlowDoc): NoteDoc[] {
  const v = doc.ruleChain.additionalInfo?.notes;
  if (!Array.isArray(v)) return [];
  return v.filter((x): x is NoteDoc => !!x && typeof x === 'object' && typeof (x as NoteDoc).id === 'string');
}

/** flowToModel turns a flow document into the canvas model. */
export function flowToModel(doc: FlowDoc): Model {
  const notes = notesOf(doc).map((n) => toNoteNode(n));
  const nodes = (doc.metadata?.nodes ?? []).map((n) => toFlowNode(n));
  const edges = (doc.metadata?.connections ?? []).map(toEdge);
  // Frames first so that they lie under the nodes.
  return { doc, nodes: [...notes, ...nodes], edges };
}

/** noteFromNode writes a note node's position and size back into its document. */
export function noteFromNode(n: NoteNode): NoteDoc {
  const note = n.data.note;
  const w = n.width ?? n.measured?.width ?? note.width;
  const h = n.height ?? n.measured?.height ?? note.height;
  if (note.x === n.position.x && note.y === n.position.y && note.width === w && note.height === h) return note;
  return { ...note, x: Math.round(n.position.x), y: Math.round(n.position.y), width: Math.round(w), height: Math.round(h) };
}

/** nodeFromFlowNode is the DSL node of a canvas node, position included. */
export function nodeFromFlowNode(n: FlowNode): DslNode {
  return withPosition({ ...n.data.dsl, id: n.id }, n.position);
}

export function connectionFromEdge(e: EdEdge): DslConnection {
  const c = e.data?.dsl;
  const rel = e.sourceHandle ?? c?.type ?? '';
  if (c && c.fromId === e.source && c.toId === e.target && c.type === rel) return c;
  return { ...(c ?? {}), fromId: e.source, toId: e.target, type: rel };
}

/** modelToFlow turns the canvas model back into a flow document. */
export function modelToFlow(m: Model): FlowDoc {
  const nodes = m.nodes.filter(isFlowNode).map(nodeFromFlowNode);
  const notes = m.nodes.filter(isNoteNode).map(noteFromNode);
  const connections = m.edges.map(connectionFromEdge);
  let ruleChain = m.doc.ruleChain;
  const hadNotes = ruleChain.additionalInfo !== undefined && 'notes' in ruleChain.additionalInfo;
  if (notes.length > 0 || hadNotes) {
    ruleChain = { ...ruleChain, additionalInfo: { ...(ruleChain.additionalInfo ?? {}), notes } };
  }
  return { ...m.doc, ruleChain, metadata: { ...m.doc.metadata, nodes, connections } };
}

/** emptyFlow is the document of a new flow. */
export function emptyFlow(id: string, name: string): FlowDoc {
  return { ruleChain: { id, name }, metadata: { nodes: [], connections: [] } };
}

/** freeId returns base1, base2, ... the first not in used. */
export function freeId(base: string, used: Set<string>): string {
  const b = base.replace(/[^A-Za-z0-9_-]/g, '') || 'node';
  for (let i = 1; ; i++) {
    const id = `${b}${i}`;
    if (!used.has(id)) return id;
  }
}

export function nodeIds(nodes: EdNode[]): Set<string> {
  return new Set(nodes.map((n) => n.id));
}
