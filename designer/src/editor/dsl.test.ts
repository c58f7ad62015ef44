import { describe, expect, it } from 'vitest';
import type { FlowDoc } from '../api/flows';
import { emptyFlow, flowToModel, freeId, modelToFlow } from './dsl';
import { isFlowNode, isNoteNode, type Model } from './model';

// A document with every DSL field set, unknown keys at each level, RuleGo's
// layoutX/layoutY on one node, a node without a position and a note.
const doc: FlowDoc = {
  ruleChain: {
    id: 'boiler',
    name: 'Boiler room',
    root: true,
    debugMode: true,
    disabled: false,
    configuration: { vars: { limit: 80 } },
    additionalInfo: { description: 'd', notes: [{ id: 'frame1', kind: 'frame', text: 'Inputs', x: 10, y: 20, width: 300, height: 200, colour: 'blue' }] },
    futureHeader: { a: 1 },
  },
  metadata: {
    firstNodeIndex: 0,
    endpoints: [],
    nodes: [
      { id: 'in', type: 'httpIn', name: 'HTTP', debugMode: true, configuration: { path: 'a/b', headers: { 'X-A': 'a' } }, additionalInfo: { specVersion: 1, x: 80.5, y: 200, colour: 'red' }, extra: [1, 2] },
      { id: 'parse', type: 'scriptParse', configuration: { code: 'return msg;' }, additionalInfo: { layoutX: 300, layoutY: 120 } },
      { id: 'bare', type: 'log' },
    ],
    connections: [
      { fromId: 'in', toId: 'parse', type: 'Success', label: 'ok', weight: 3 },
      { fromId: 'parse', toId: 'bare', type: 'Failure' },
    ],
    ruleChainConnections: [],
    unknownMeta: 'kept',
  },
  topLevelUnknown: { kept: true },
};

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('flow <-> canvas model', () => {
  it('round-trips every field, unknown ones and positions included', () => {
    const before = clone(doc);
    const out = modelToFlow(flowToModel(doc));
    expect(out).toEqual(before);
    expect(doc).toEqual(before); // the input is not mutated
  });

  it('reads positions from x/y and from layoutX/layoutY', () => {
    const m = flowToModel(doc);
    const pos = Object.fromEntries(m.nodes.map((n) => [n.id, n.position]));
    expect(pos.in).toEqual({ x: 80.5, y: 200 });
    expect(pos.parse).toEqual({ x: 300, y: 120 });
    expect(pos.bare).toEqual({ x: 0, y: 0 });
    expect(pos['note:frame1']).toEqual({ x: 10, y: 20 });
  });

  it('writes a moved node back where its position came from and keeps the rest', () => {
    const m = flowToModel(doc);
    const moved: Model = {
      ...m,
      nodes: m.nodes.map((n) => (n.id === 'parse' ? { ...n, position: { x: 310.4, y: 99.6 } } : n.id === 'bare' ? { ...n, position: { x: 5, y: 6 } } : n)),
    };
    const out = modelToFlow(moved);
    const parse = out.metadata.nodes.find((n) => n.id === 'parse')!;
    expect(parse.additionalInfo).toEqual({ layoutX: 310, layoutY: 100 });
    expect(parse.configuration).toEqual({ code: 'return msg;' });
    const bare = out.metadata.nodes.find((n) => n.id === 'bare')!;
    expect(bare.additionalInfo).toEqual({ x: 5, y: 6 });
    expect(out.metadata.nodes.find((n) => n.id === 'in')).toEqual(doc.metadata.nodes[0]);
  });

  it('keeps notes and frames in ruleChain.additionalInfo with their size', () => {
    const m = flowToModel(doc);
    const note = m.nodes.find(isNoteNode)!;
    const resized: Model = { ...m, nodes: m.nodes.map((n) => (n === note ? { ...note, width: 500, height: 240, position: { x: 0, y: 0 } } : n)) };
    const out = modelToFlow(resized);
    expect(out.ruleChain.additionalInfo?.notes).toEqual([{ id: 'frame1', kind: 'frame', text: 'Inputs', x: 0, y: 0, width: 500, height: 240, colour: 'blue' }]);
    expect(out.ruleChain.additionalInfo?.description).toBe('d');
  });

  it('does not add a notes key to a flow that never had one', () => {
    const d = emptyFlow('x', 'X');
    expect(modelToFlow(flowToModel(d))).toEqual(d);
  });

  it('maps connections to edges with the relation as the source handle', () => {
    const m = flowToModel(doc);
    expect(m.edges.map((e) => [e.source, e.sourceHandle, e.target, e.targetHandle])).toEqual([
      ['in', 'Success', 'parse', 'in'],
      ['parse', 'Failure', 'bare', 'in'],
    ]);
    // a rewired edge keeps its other fields (label, unknown keys)
    const rewired: Model = { ...m, edges: m.edges.map((e, i) => (i === 0 ? { ...e, target: 'bare' } : e)) };
    expect(modelToFlow(rewired).metadata.connections[0]).toEqual({ fromId: 'in', toId: 'bare', type: 'Success', label: 'ok', weight: 3 });
  });

  it('keeps node order, flow nodes only, in metadata.nodes', () => {
    const out = modelToFlow(flowToModel(doc));
    expect(out.metadata.nodes.map((n) => n.id)).toEqual(['in', 'parse', 'bare']);
    expect(flowToModel(doc).nodes.filter(isFlowNode)).toHaveLength(3);
  });

  it('picks free ids per type', () => {
    expect(freeId('httpIn', new Set(['httpIn1', 'httpIn2']))).toBe('httpIn3');
    expect(freeId('a/b c', new Set())).toBe('abc1');
  });
});
