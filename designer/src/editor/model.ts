// The editor's model: React Flow nodes and edges that carry the DSL objects
// they came from, so that saving writes back every field, unknown ones too.
import type { Edge, Node } from '@xyflow/react';
import type { DslConnection, DslNode, FlowDoc } from '../api/flows';

/** A flow node on the canvas; dsl is the node as stored (its position aside). */
export interface FlowNodeData extends Record<string, unknown> {
  dsl: DslNode;
}

/** A note (text) or frame (a labelled box around a group of nodes). */
export interface NoteData extends Record<string, unknown> {
  note: NoteDoc;
}

/** How a note is stored in ruleChain.additionalInfo.notes. */
export interface NoteDoc {
  id: string;
  kind: 'note' | 'frame';
  text: string;
  x: number;
  y: number;
  width: number;
  height: number;
  [key: string]: unknown;
}

export type FlowNode = Node<FlowNodeData, 'flow'>;
export type NoteNode = Node<NoteData, 'note'>;
export type EdNode = FlowNode | NoteNode;

export interface EdgeData extends Record<string, unknown> {
  dsl: DslConnection;
}
export type EdEdge = Edge<EdgeData>;

/** Model is one editable state of a flow; the undo stack holds these. */
export interface Model {
  /** The document as loaded; toFlow replaces its nodes, connections and notes. */
  doc: FlowDoc;
  nodes: EdNode[];
  edges: EdEdge[];
}

export const NOTE_PREFIX = 'note:';
export const TARGET_HANDLE = 'in';
/** The handle of a node with dynamic relations that asks for a relation name. */
export const ANY_HANDLE = '*';

export const isFlowNode = (n: EdNode): n is FlowNode => n.type === 'flow';
export const isNoteNode = (n: EdNode): n is NoteNode => n.type === 'note';
