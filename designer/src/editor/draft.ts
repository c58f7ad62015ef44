// A draft kept when the editor is left with unsaved changes inside the
// designer (a link to another page: no browser prompt happens then). The
// next time the flow is opened, the user restores or discards it.
import type { FlowDoc } from '../api/flows';

export interface Draft {
  flowId: string;
  /** the saved version the draft was based on (the base of its save) */
  version: number;
  savedAt: string;
  doc: FlowDoc;
}

const key = (flowId: string) => `sluice.draft.${flowId}`;

export function keepDraft(d: Draft, storage: Storage = localStorage): void {
  try {
    storage.setItem(key(d.flowId), JSON.stringify(d));
  } catch {
    // storage full or off: the browser's own prompt is all there is
  }
}

export function readDraft(flowId: string, storage: Storage = localStorage): Draft | null {
  try {
    const v = JSON.parse(storage.getItem(key(flowId)) ?? 'null') as Partial<Draft> | null;
    if (v && v.flowId === flowId && typeof v.version === 'number' && v.doc && typeof v.doc === 'object' && v.doc.metadata) return v as Draft;
  } catch {
    // not ours
  }
  return null;
}

export function dropDraft(flowId: string, storage: Storage = localStorage): void {
  storage.removeItem(key(flowId));
}
