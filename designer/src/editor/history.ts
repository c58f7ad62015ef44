// An undo stack of immutable snapshots. An edit pushes the state before it;
// edits with the same coalescing key in quick succession (typing in one
// field) share one undo step.
export interface History<T> {
  past: T[];
  future: T[];
  lastKey: string;
  lastAt: number;
}

export const LIMIT = 200;
export const COALESCE_MS = 1000;

export function emptyHistory<T>(): History<T> {
  return { past: [], future: [], lastKey: '', lastAt: 0 };
}

/** record notes that before is about to be replaced by an edit. */
export function record<T>(h: History<T>, before: T, key = '', now = Date.now()): History<T> {
  if (key !== '' && key === h.lastKey && now - h.lastAt < COALESCE_MS) {
    return { ...h, future: [], lastAt: now };
  }
  const past = h.past.length >= LIMIT ? [...h.past.slice(h.past.length - LIMIT + 1), before] : [...h.past, before];
  return { past, future: [], lastKey: key, lastAt: now };
}

/** undo returns the history and the state to show, or null when there is nothing to undo. */
export function undo<T>(h: History<T>, current: T): [History<T>, T] | null {
  const prev = h.past[h.past.length - 1];
  if (prev === undefined) return null;
  return [{ past: h.past.slice(0, -1), future: [current, ...h.future], lastKey: '', lastAt: 0 }, prev];
}

export function redo<T>(h: History<T>, current: T): [History<T>, T] | null {
  const next = h.future[0];
  if (next === undefined) return null;
  return [{ past: [...h.past, current], future: h.future.slice(1), lastKey: '', lastAt: 0 }, next];
}
