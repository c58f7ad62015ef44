import { describe, expect, it } from 'vitest';
import type { FlowAnswer } from '../api/flows';
import type { NodeSpec } from '../api/nodes';
import { copyNodes, parseClip } from './clipboard';
import { modelToFlow } from './dsl';
import { COALESCE_MS, emptyHistory, LIMIT, record, redo, undo } from './history';
import { createEditorStore } from './store';

const specs: NodeSpec[] = [
  { type: 'httpIn', category: 'connectors', summary: '', version: 1, fields: [], relations: { fixed: ['Success'] }, source: true },
  { type: 'log', category: 'action', summary: '', version: 2, fields: [], relations: { fixed: ['Success'] } },
];

const answer: FlowAnswer = {
  id: 'f', version: 3, name: 'F', author: 'a', createdAt: '',
  flow: { ruleChain: { id: 'f', name: 'F' }, metadata: { nodes: [{ id: 'a', type: 'httpIn', additionalInfo: { x: 0, y: 0 } }], connections: [] } },
};

function newStore() {
  const s = createEditorStore('f', specs);
  s.getState().load(answer);
  return s;
}

const ids = (s: ReturnType<typeof newStore>) => s.getState().model.nodes.map((n) => n.id);

describe('undo stack', () => {
  it('undoes and redoes snapshots in order; a new edit clears redo', () => {
    let h = emptyHistory<number>();
    h = record(h, 1, '', 0);
    h = record(h, 2, '', 10);
    const u = undo(h, 3)!;
    expect(u[1]).toBe(2);
    const r = redo(u[0], 2)!;
    expect(r[1]).toBe(3);
    const e = record(u[0], 2, '', 20);
    expect(e.future).toEqual([]);
    expect(undo(emptyHistory<number>(), 1)).toBeNull();
  });
  it('coalesces edits with one key in quick succession, and bounds the stack', () => {
    let h = emptyHistory<number>();
    h = record(h, 1, 'k', 0);
    h = record(h, 2, 'k', 100);
    expect(h.past).toEqual([1]);
    h = record(h, 3, 'k', 100 + COALESCE_MS + 1);
    expect(h.past).toEqual([1, 3]);
    for (let i = 0; i < LIMIT + 10; i++) h = record(h, i, '', i);
    expect(h.past.length).toBe(LIMIT);
  });
});

describe('editor store', () => {
  it('undoes every kind of edit back to the loaded flow', () => {
    const s = newStore();
    const loaded = modelToFlow(s.getState().model);
    const st = () => s.getState();
    const id = st().addNode(specs[1]!, { x: 100, y: 50 });
    expect(id).toBe('log1');
    st().connect('a', 'Success', 'log1');
    st().updateNode('log1', (n) => ({ ...n, name: 'Logger' }), 'name');
    st().updateNode('log1', (n) => ({ ...n, name: 'Logger 2' }), 'name'); // coalesced with the one before
    st().addNote('frame', { x: 0, y: 0 });
    st().beginEdit('drag');
    st().onNodesChange([{ type: 'position', id: 'a', position: { x: 40, y: 40 }, dragging: true }]);
    st().select(['a']);
    st().deleteSelected();
    expect(ids(s)).toEqual(['note:frame1', 'log1']);
    expect(st().model.edges).toHaveLength(0);
    expect(st().dirty).toBe(true);

    const undos: string[][] = [];
    while (st().history.past.length > 0) {
      st().undo();
      undos.push(ids(s));
    }
    expect(undos).toEqual([
      ['note:frame1', 'a', 'log1'], // delete undone
      ['note:frame1', 'a', 'log1'], // drag undone
      ['a', 'log1'], // note undone
      ['a', 'log1'], // rename undone (one step for both keystrokes)
      ['a', 'log1'], // connect undone
      ['a'], // add undone
    ]);
    expect(modelToFlow(st().model)).toEqual(loaded);

    st().redo();
    st().redo();
    expect(st().model.edges.map((e) => `${e.source}-${e.sourceHandle}-${e.target}`)).toEqual(['a-Success-log1']);
    const log1 = st().model.nodes.find((n) => n.id === 'log1')!;
    expect(log1.type === 'flow' && log1.data.dsl.additionalInfo).toEqual({ specVersion: 2, x: 100, y: 50 });
  });

  it('copies and pastes with fresh ids and rewired connections', () => {
    const s = newStore();
    const st = () => s.getState();
    st().addNode(specs[1]!, { x: 100, y: 0 });
    st().connect('a', 'Success', 'log1');
    const clip = parseClip(JSON.stringify(copyNodes(st().model.nodes, st().model.edges, new Set(['a', 'log1']))))!;
    expect(clip.nodes.map((n) => n.id)).toEqual(['a', 'log1']);
    st().paste(clip, { x: 40, y: 40 });
    expect(ids(s)).toEqual(['a', 'log1', 'httpIn1', 'log2']);
    expect(st().model.edges.map((e) => `${e.source}-${e.target}`)).toEqual(['a-log1', 'httpIn1-log2']);
    expect(st().model.nodes.filter((n) => n.selected).map((n) => n.id)).toEqual(['httpIn1', 'log2']);
    const pasted = modelToFlow(st().model).metadata.nodes.find((n) => n.id === 'log2')!;
    expect(pasted.additionalInfo).toMatchObject({ x: 140, y: 40 });
    st().undo();
    expect(ids(s)).toEqual(['a', 'log1']);
    expect(parseClip('{"kind":"other"}')).toBeNull();
    expect(parseClip('not json')).toBeNull();
  });

  it('forgets the server’s problems of a field once it is edited', () => {
    const s = newStore();
    const p = (node: string, field?: string) => ({ severity: 'error' as const, flow: 'f', node, field, message: 'bad' });
    s.getState().setProblems([p('a', 'timeout'), p('a', 'rules[0].name'), p('a', 'rules'), p('a', 'timeoutMs'), p('a'), p('b', 'timeout')]);
    s.getState().dropFieldProblems('a', 'timeout');
    expect(s.getState().problems.map((x) => `${x.node}:${x.field ?? ''}`)).toEqual(['a:rules[0].name', 'a:rules', 'a:timeoutMs', 'a:', 'b:timeout']);
    s.getState().dropFieldProblems('a', 'rules');
    expect(s.getState().problems.map((x) => `${x.node}:${x.field ?? ''}`)).toEqual(['a:timeoutMs', 'a:', 'b:timeout']);
  });

  it('does not record selection or measurement as edits', () => {
    const s = newStore();
    s.getState().select(['a']);
    s.getState().onNodesChange([{ type: 'dimensions', id: 'a', dimensions: { width: 100, height: 40 } }]);
    expect(s.getState().history.past).toHaveLength(0);
    expect(s.getState().dirty).toBe(false);
  });
});
