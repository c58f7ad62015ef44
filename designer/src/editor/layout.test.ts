import { describe, expect, it } from 'vitest';
import { toFlowNode, toNoteNode } from './dsl';
import { freeSpot, NEW_NODE } from './layout';

const at = (id: string, x: number, y: number, measured?: { width: number; height: number }) =>
  ({ ...toFlowNode({ id, type: 'log', additionalInfo: { x, y } }), ...(measured ? { measured } : {}) });

describe('freeSpot', () => {
  it('keeps the point when nothing is there', () => {
    expect(freeSpot([at('a', 500, 500)], { x: 0, y: 0 })).toEqual({ x: 0, y: 0 });
  });
  it('moves below a node that covers the point, and below the next one too', () => {
    const p = freeSpot([at('a', 0, 0, { width: 190, height: 60 })], { x: 10, y: 10 });
    expect(p.x).toBe(10);
    expect(p.y).toBeGreaterThanOrEqual(60 + 16);
    const q = freeSpot([at('a', 0, 0, { width: 190, height: 60 }), at('b', 0, p.y, { width: 190, height: 60 })], { x: 10, y: 10 });
    expect(q.y).toBeGreaterThanOrEqual(p.y + 60 + 16);
  });
  it('ignores notes and frames', () => {
    const frame = toNoteNode({ id: 'f', kind: 'frame', text: '', x: 0, y: 0, width: 400, height: 300 });
    expect(freeSpot([frame], { x: 20, y: 20 })).toEqual({ x: 20, y: 20 });
  });
  it('moves to the next column when a column is full', () => {
    const column = Array.from({ length: 8 }, (_, i) => at(`n${i}`, 0, i * (NEW_NODE.height + 16), NEW_NODE));
    const p = freeSpot(column, { x: 0, y: 0 });
    expect(p.x).toBeGreaterThan(NEW_NODE.width);
    expect(p.y).toBe(0);
  });
});
