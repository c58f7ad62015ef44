// The editor's state: one zustand store per open flow. Every edit goes
// through an action that records the state before it on the undo stack
// (immutable snapshots of the model).
import { createContext, useContext } from 'react';
import { applyEdgeChanges, applyNodeChanges, type EdgeChange, type NodeChange } from '@xyflow/react';
import { createStore, useStore, type StoreApi } from 'zustand';
import type { DslNode, FlowAnswer, FlowDiff, FlowStats, TraceEvent } from '../api/flows';
import type { NodeSpec } from '../api/nodes';
import type { Problem } from '../api/types';
import { pasteClip, type Clip } from './clipboard';
import type { Draft } from './draft';
import { flowToModel, freeId, nodeIds, toEdge, toFlowNode, toNoteNode } from './dsl';
import { emptyHistory, record, redo, undo, type History } from './history';
import { NOTE_SIZE } from './layout';
import { NOTE_PREFIX, TARGET_HANDLE, isFlowNode, type EdEdge, type EdNode, type FlowNode, type Model, type NoteDoc } from './model';

export type Panel = 'problems' | 'test' | 'debug' | 'history';

/** A highlighted path: the nodes a message visited and the relations it left on ("node|relation"). */
export interface PathMark {
  kind: 'test' | 'live';
  nodes: Set<string>;
  rels: Set<string>;
}

export interface DiffMark {
  from: number;
  to: number;
  nodes: Record<string, 'added' | 'changed' | 'removed'>;
  details: Record<string, string[]>;
  /** removed nodes, drawn as ghosts where they were */
  ghosts: FlowNode[];
  /** connections added ("from|rel|to") */
  addedRels: Set<string>;
}

export type Dialog =
  | { kind: 'save'; thenDeploy: boolean }
  | { kind: 'conflict'; current: number; changes: Problem[]; comment: string; thenDeploy: boolean }
  | { kind: 'help' }
  | { kind: 'draft'; draft: Draft }
  | { kind: 'relation'; source: string; target: string }
  | null;

export interface StatusLine { text: string; kind: 'ok' | 'error' | 'busy' | 'info' }

/** Messages kept in the debug log. */
export const LOG_LIMIT = 500;

export interface EditorState {
  dialog: Dialog;
  status: StatusLine | null;
  /** busy names the running request ("save", "deploy", ...) */
  busy: string;
  live: boolean;
  paused: boolean;
  log: TraceEvent[];
  setDialog(d: Dialog): void;
  setStatus(s: StatusLine | null): void;
  setBusy(b: string): void;
  setLive(v: boolean): void;
  setPaused(v: boolean): void;
  pushLog(ev: TraceEvent): void;
  clearLog(): void;

  flowId: string;
  specs: Map<string, NodeSpec>;
  model: Model;
  /** version: the saved version the model is based on (baseVersion of the next save). */
  version: number;
  dirty: boolean;
  history: History<Model>;
  /** relations used by connections, per source node (for dynamic handles) */
  usedRels: Map<string, string[]>;
  problems: Problem[];
  /** when the problems were last checked; null: never */
  validatedAt: number | null;
  panel: Panel;
  /** the field the inspector should focus (a problem was clicked) */
  focus: { node: string; field: string; at: number } | null;
  snap: boolean;
  path: PathMark | null;
  /** live message counts per "node|relation" */
  counts: Record<string, number>;
  stats: FlowStats | null;
  diff: DiffMark | null;

  load(a: FlowAnswer): void;
  markSaved(version: number): void;
  onNodesChange(changes: NodeChange<EdNode>[]): void;
  onEdgesChange(changes: EdgeChange<EdEdge>[]): void;
  /** beginEdit records the state before a gesture (drag, resize). */
  beginEdit(key?: string): void;
  connect(source: string, relation: string, target: string): void;
  addNode(spec: NodeSpec, position: { x: number; y: number }): string;
  updateNode(id: string, fn: (n: DslNode) => DslNode, key?: string): void;
  addNote(kind: NoteDoc['kind'], position: { x: number; y: number }): void;
  updateNote(id: string, patch: Partial<NoteDoc>, key?: string): void;
  deleteSelected(): void;
  select(ids: string[]): void;
  selectAll(): void;
  paste(clip: Clip, offset: { x: number; y: number }): void;
  undo(): void;
  redo(): void;
  setProblems(ps: Problem[]): void;
  /** dropFieldProblems forgets the server's problems of a field the user just edited (stale until validated again). */
  dropFieldProblems(node: string, field: string): void;
  setPanel(p: Panel): void;
  focusField(node: string, field: string): void;
  setSnap(v: boolean): void;
  setPath(p: PathMark | null): void;
  addCount(key: string): void;
  resetCounts(): void;
  setStats(s: FlowStats | null): void;
  setDiff(d: DiffMark | null): void;
}

function usedRelations(edges: EdEdge[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const e of edges) {
    const rel = e.sourceHandle ?? '';
    const l = m.get(e.source);
    if (!l) m.set(e.source, [rel]);
    else if (!l.includes(rel)) l.push(rel);
  }
  return m;
}

let edgeSeq = 0;

export function createEditorStore(flowId: string, specs: NodeSpec[], answer?: FlowAnswer): StoreApi<EditorState> {
  const empty: Model = { doc: { ruleChain: { id: flowId, name: flowId }, metadata: { nodes: [], connections: [] } }, nodes: [], edges: [] };
  return createStore<EditorState>()((set, get) => {
    /** edit applies fn to the model after recording it for undo. */
    const edit = (fn: (m: Model) => Model, key = '') => {
      const s = get();
      const next = fn(s.model);
      if (next === s.model) return;
      set({
        model: next,
        history: record(s.history, s.model, key),
        dirty: true,
        ...(next.edges !== s.model.edges ? { usedRels: usedRelations(next.edges) } : {}),
      });
    };
    const deselect = (nodes: EdNode[]) => nodes.map((n) => (n.selected ? { ...n, selected: false } : n));

    return {
      dialog: null,
      status: null,
      busy: '',
      live: false,
      paused: false,
      log: [],
      setDialog: (dialog) => set({ dialog }),
      setStatus: (status) => set({ status }),
      setBusy: (busy) => set({ busy }),
      setLive: (live) => set({ live }),
      setPaused: (paused) => set({ paused }),
      pushLog: (ev) => set((s) => ({ log: s.log.length >= LOG_LIMIT ? [ev, ...s.log.slice(0, LOG_LIMIT - 1)] : [ev, ...s.log] })),
      clearLog: () => set({ log: [] }),
      flowId,
      specs: new Map(specs.map((s) => [s.type, s])),
      model: empty,
      version: 0,
      dirty: false,
      history: emptyHistory<Model>(),
      usedRels: new Map(),
      problems: answer?.problems ?? [],
      validatedAt: null,
      panel: 'problems',
      focus: null,
      snap: true,
      path: null,
      counts: {},
      stats: null,
      diff: null,

      load(a) {
        const model = a.flow ? flowToModel(a.flow) : empty;
        set({ model, version: a.version, dirty: false, history: emptyHistory<Model>(), usedRels: usedRelations(model.edges), problems: a.problems ?? [], diff: null, path: null });
      },
      markSaved(version) {
        set({ version, dirty: false });
      },
      onNodesChange(changes) {
        const s = get();
        const structural = changes.some((c) => c.type === 'remove' || c.type === 'add' || c.type === 'replace');
        const moves = changes.some((c) => c.type === 'position' || (c.type === 'dimensions' && c.resizing));
        const nodes = applyNodeChanges(changes, s.model.nodes);
        let edges = s.model.edges;
        if (structural) {
          const gone = new Set(changes.filter((c) => c.type === 'remove').map((c) => c.id));
          if (gone.size > 0) edges = edges.filter((e) => !gone.has(e.source) && !gone.has(e.target));
          edit((m) => ({ ...m, nodes, edges }));
          return;
        }
        set({ model: { ...s.model, nodes }, ...(moves ? { dirty: true } : {}) });
      },
      onEdgesChange(changes) {
        const s = get();
        const edges = applyEdgeChanges(changes, s.model.edges);
        if (changes.some((c) => c.type === 'remove' || c.type === 'add' || c.type === 'replace')) edit((m) => ({ ...m, edges }));
        else set({ model: { ...s.model, edges } });
      },
      beginEdit(key = '') {
        const s = get();
        set({ history: record(s.history, s.model, key), dirty: true });
      },
      connect(source, relation, target) {
        edit((m) => {
          if (m.edges.some((e) => e.source === source && e.target === target && e.sourceHandle === relation)) return m;
          const e = toEdge({ fromId: source, toId: target, type: relation }, 0);
          return { ...m, edges: [...m.edges, { ...e, id: `${e.id}:${++edgeSeq}` }] };
        });
      },
      addNode(spec, position) {
        const id = freeId(spec.type, nodeIds(get().model.nodes));
        const dsl: DslNode = { id, type: spec.type, name: id, configuration: {}, additionalInfo: { specVersion: spec.version, x: Math.round(position.x), y: Math.round(position.y) } };
        edit((m) => ({ ...m, nodes: [...deselect(m.nodes), toFlowNode(dsl, { selected: true })] }));
        return id;
      },
      updateNode(id, fn, key = '') {
        edit((m) => ({
          ...m,
          nodes: m.nodes.map((n) => (n.id === id && isFlowNode(n) ? { ...n, data: { ...n.data, dsl: fn(n.data.dsl) } } : n)),
        }), key ? `${id}:${key}` : '');
      },
      addNote(kind, position) {
        const used = new Set(get().model.nodes.filter((n) => n.id.startsWith(NOTE_PREFIX)).map((n) => n.id.slice(NOTE_PREFIX.length)));
        const id = freeId(kind, used);
        const note: NoteDoc = kind === 'frame'
          ? { id, kind, text: 'Frame', x: Math.round(position.x), y: Math.round(position.y), width: 420, height: 260 }
          : { id, kind, text: 'Note', x: Math.round(position.x), y: Math.round(position.y), width: NOTE_SIZE.width, height: NOTE_SIZE.height };
        edit((m) => ({ ...m, nodes: [toNoteNode(note, { selected: true }), ...deselect(m.nodes)] }));
      },
      updateNote(id, patch, key = '') {
        edit((m) => ({
          ...m,
          nodes: m.nodes.map((n) => (n.id === NOTE_PREFIX + id && n.type === 'note' ? { ...n, data: { note: { ...n.data.note, ...patch } } } : n)),
        }), key ? `note:${id}:${key}` : '');
      },
      deleteSelected() {
        edit((m) => {
          const gone = new Set(m.nodes.filter((n) => n.selected).map((n) => n.id));
          const edges = m.edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target));
          if (gone.size === 0 && edges.length === m.edges.length) return m;
          return { ...m, nodes: m.nodes.filter((n) => !gone.has(n.id)), edges };
        });
      },
      select(ids) {
        const want = new Set(ids);
        const s = get();
        set({
          model: {
            ...s.model,
            nodes: s.model.nodes.map((n) => (!!n.selected === want.has(n.id) ? n : { ...n, selected: want.has(n.id) })),
            edges: s.model.edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
          },
        });
      },
      selectAll() {
        get().select(get().model.nodes.map((n) => n.id));
      },
      paste(clip, offset) {
        const { nodes, edges } = pasteClip(clip, nodeIds(get().model.nodes), offset);
        if (nodes.length === 0) return;
        edit((m) => ({ ...m, nodes: [...deselect(m.nodes), ...nodes], edges: [...m.edges, ...edges] }));
      },
      undo() {
        const s = get();
        const r = undo(s.history, s.model);
        if (!r) return;
        set({ history: r[0], model: r[1], dirty: true, usedRels: usedRelations(r[1].edges) });
      },
      redo() {
        const s = get();
        const r = redo(s.history, s.model);
        if (!r) return;
        set({ history: r[0], model: r[1], dirty: true, usedRels: usedRelations(r[1].edges) });
      },
      setProblems(problems) {
        set({ problems, validatedAt: Date.now() });
      },
      dropFieldProblems(node, field) {
        const s = get();
        const under = (f: string) => f === field || f.startsWith(field + '.') || f.startsWith(field + '[');
        const problems = s.problems.filter((p) => !(p.node === node && p.field && under(p.field)));
        if (problems.length !== s.problems.length) set({ problems });
      },
      setPanel(panel) {
        set({ panel });
      },
      focusField(node, field) {
        get().select([node]);
        set({ focus: { node, field, at: Date.now() } });
      },
      setSnap(snap) {
        set({ snap });
      },
      setPath(path) {
        set({ path });
      },
      addCount(key) {
        set((s) => ({ counts: { ...s.counts, [key]: (s.counts[key] ?? 0) + 1 } }));
      },
      resetCounts() {
        set({ counts: {} });
      },
      setStats(stats) {
        set({ stats });
      },
      setDiff(diff) {
        set({ diff });
      },
    };
  });
}

/** diffMark turns a server diff into canvas decorations; removed nodes become ghosts. */
export function diffMark(d: FlowDiff): DiffMark {
  const nodes: DiffMark['nodes'] = {};
  const details: DiffMark['details'] = {};
  for (const n of d.nodes.added) nodes[n.id] = 'added';
  for (const c of d.nodes.changed) {
    nodes[c.id] = 'changed';
    details[c.id] = c.fields.map((f) => f.field);
  }
  const ghosts = d.nodes.removed.map((n) => {
    nodes[n.id] = 'removed';
    return toFlowNode(n, { id: `ghost:${n.id}`, selectable: false, draggable: false, connectable: false, deletable: false });
  });
  const addedRels = new Set(d.connections.added.map((c) => `${c.fromId}|${c.type}|${c.toId}`));
  return { from: d.from, to: d.to, nodes, details, ghosts, addedRels };
}

export const TARGET = TARGET_HANDLE;

export const EditorStoreContext = createContext<StoreApi<EditorState> | null>(null);

/** useEd reads the open flow's editor store; it throws outside the editor. */
export function useEd<T>(selector: (s: EditorState) => T): T {
  const store = useContext(EditorStoreContext);
  if (!store) throw new Error('useEd: no editor store (use inside EditorPage)');
  return useStore(store, selector);
}

export function useEdApi(): StoreApi<EditorState> {
  const store = useContext(EditorStoreContext);
  if (!store) throw new Error('useEdApi: no editor store (use inside EditorPage)');
  return store;
}
