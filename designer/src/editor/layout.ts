// Where to put a node added without a drop point (Enter on a palette item):
// the middle of the view, or the nearest spot below it that no node covers.
import { isFlowNode, type EdNode } from './model';

/** The size assumed for a node not measured yet (a new one). */
export const NEW_NODE = { width: 190, height: 80 };
/** The size of a new note (store.addNote). */
export const NOTE_SIZE = { width: 200, height: 90 };
const GAP = 16;
const TRIES = 40;

interface Rect { x: number; y: number; width: number; height: number }

function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.width + GAP && b.x < a.x + a.width + GAP && a.y < b.y + b.height + GAP && b.y < a.y + a.height + GAP;
}

/**
 * freeSpot returns p when a new node there covers no flow node, else the
 * first spot below p (then in the next columns to the right) that is free.
 * Notes and frames do not count: nodes may lie on them.
 */
export function freeSpot(nodes: EdNode[], p: { x: number; y: number }, size = NEW_NODE): { x: number; y: number } {
  const rects: Rect[] = nodes.filter(isFlowNode).map((n) => ({
    x: n.position.x,
    y: n.position.y,
    width: n.measured?.width ?? n.width ?? NEW_NODE.width,
    height: n.measured?.height ?? n.height ?? NEW_NODE.height,
  }));
  const stepY = size.height + GAP;
  const stepX = size.width + 2 * GAP;
  for (let i = 0; i < TRIES; i++) {
    const c = { x: p.x + Math.floor(i / 8) * stepX, y: p.y + (i % 8) * stepY, ...size };
    if (!rects.some((r) => overlaps(c, r))) return { x: c.x, y: c.y };
  }
  return p;
}
