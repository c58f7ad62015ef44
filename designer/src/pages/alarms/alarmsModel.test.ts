import { describe, expect, it } from 'vitest';
import type { Alarm, AlarmChange } from '../../api/alarms';
import { applyChange, filterFromQuery, filterToQuery, matches, type TableFilter } from './alarmsModel';

function alarm(id: string, over: Partial<Alarm> = {}): Alarm {
  return {
    id, flowId: 'f', nodeId: 'n', rule: 'overheat', deviceId: 'boiler-7', severity: 'major', status: 'active', acknowledged: false,
    value: 85, signals: { temperature: 85 }, count: 1, since: 1000, ts: 1000, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', ...over,
  };
}
const change = (a: Alarm, kind: AlarmChange['change'] = 'updated'): AlarmChange => ({ type: 'alarm', change: kind, alarm: a });
const active: TableFilter = { status: 'active', severity: [], device: '' };

describe('filterFromQuery', () => {
  it('defaults to active alarms of any severity and device', () => {
    expect(filterFromQuery(new URLSearchParams(''))).toEqual(active);
  });
  it('reads status, severities and device, dropping unknown severities', () => {
    expect(filterFromQuery(new URLSearchParams('status=any&severity=major,bogus,critical&device=d1'))).toEqual({ status: '', severity: ['major', 'critical'], device: 'd1' });
  });
  it('round-trips through filterToQuery', () => {
    const f: TableFilter = { status: 'cleared', severity: ['minor'], device: 'pump 2' };
    expect(filterFromQuery(new URLSearchParams(filterToQuery(f)))).toEqual(f);
  });
});

describe('matches', () => {
  it('checks status, severity and device', () => {
    expect(matches(alarm('a'), active)).toBe(true);
    expect(matches(alarm('a', { status: 'cleared' }), active)).toBe(false);
    expect(matches(alarm('a'), { ...active, severity: ['critical'] })).toBe(false);
    expect(matches(alarm('a'), { ...active, device: 'other' })).toBe(false);
    expect(matches(alarm('a', { status: 'cleared' }), { status: '', severity: [], device: '' })).toBe(true);
  });
});

describe('applyChange', () => {
  it('adds a new alarm at the top', () => {
    const rows = [alarm('old', { ts: 500 })];
    const out = applyChange(rows, change(alarm('new', { ts: 2000 }), 'created'), active);
    expect(out.map((r) => r.id)).toEqual(['new', 'old']);
  });
  it('replaces an alarm in place of its old row', () => {
    const rows = [alarm('a', { ts: 3000 }), alarm('b', { ts: 2000 })];
    const out = applyChange(rows, change(alarm('b', { ts: 2000, acknowledged: true }), 'acknowledged'), active);
    expect(out).toHaveLength(2);
    expect(out[1]!.acknowledged).toBe(true);
  });
  it('removes an alarm that no longer matches the filter', () => {
    const rows = [alarm('a'), alarm('b')];
    const out = applyChange(rows, change(alarm('a', { status: 'cleared' }), 'cleared'), active);
    expect(out.map((r) => r.id)).toEqual(['b']);
  });
  it('ignores a change of an alarm outside the filter and not in the table', () => {
    const rows = [alarm('a')];
    expect(applyChange(rows, change(alarm('z', { severity: 'info' })), { ...active, severity: ['major'] })).toBe(rows);
  });
  it('keeps at most limit rows', () => {
    const rows = [alarm('a', { ts: 1 }), alarm('b', { ts: 2 })];
    expect(applyChange(rows, change(alarm('c', { ts: 3 })), active, 2).map((r) => r.id)).toEqual(['c', 'b']);
  });
});
