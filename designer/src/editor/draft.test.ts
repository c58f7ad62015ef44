import { describe, expect, it } from 'vitest';
import { dropDraft, keepDraft, readDraft } from './draft';

class MemStorage implements Storage {
  private m = new Map<string, string>();
  get length() { return this.m.size; }
  clear() { this.m.clear(); }
  getItem(k: string) { return this.m.get(k) ?? null; }
  key(i: number) { return [...this.m.keys()][i] ?? null; }
  removeItem(k: string) { this.m.delete(k); }
  setItem(k: string, v: string) { this.m.set(k, v); }
}

describe('drafts kept on leaving', () => {
  it('keeps, reads and drops a draft per flow', () => {
    const st = new MemStorage();
    const doc = { ruleChain: { id: 'f', name: 'F' }, metadata: { nodes: [{ id: 'a', type: 'log' }], connections: [] } };
    expect(readDraft('f', st)).toBeNull();
    keepDraft({ flowId: 'f', version: 3, savedAt: 'now', doc }, st);
    expect(readDraft('f', st)).toEqual({ flowId: 'f', version: 3, savedAt: 'now', doc });
    expect(readDraft('g', st)).toBeNull();
    dropDraft('f', st);
    expect(readDraft('f', st)).toBeNull();
    st.setItem('sluice.draft.f', 'not json');
    expect(readDraft('f', st)).toBeNull();
  });
});
