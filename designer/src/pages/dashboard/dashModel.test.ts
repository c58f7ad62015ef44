import { describe, expect, it } from 'vitest';
import type { Alarm } from '../../api/alarms';
import { alarmCounts, alarmCountsOption, latestRows, settingsFromQuery, settingsToQuery, timeSeriesOption, timeWindow } from './dashModel';
import { HOUR, MINUTE } from '../common/time';

describe('settings', () => {
  it('defaults to the last hour, averaged', () => {
    expect(settingsFromQuery(new URLSearchParams(''))).toEqual({ devices: [], signals: [], range: '1h', agg: 'avg' });
  });
  it('round-trips and rejects unknown values', () => {
    const s = { devices: ['a', 'b'], signals: ['temperature'], range: '7d', agg: 'max' as const };
    expect(settingsFromQuery(new URLSearchParams(settingsToQuery(s)))).toEqual(s);
    expect(settingsFromQuery(new URLSearchParams('range=99y&agg=median'))).toMatchObject({ range: '1h', agg: 'avg' });
  });
});

describe('timeWindow', () => {
  it('keeps the bucket count bounded and aligns the end', () => {
    const w = timeWindow('1h', 1_000_000_123, 300);
    expect(w.every).toBe('30s');
    expect(w.to % w.bucketMs).toBe(0);
    expect(w.to).toBeGreaterThan(1_000_000_123);
    expect(w.to - w.from).toBe(HOUR);
    expect(timeWindow('7d', 0, 300).every).toBe('1h');
  });
});

describe('latestRows', () => {
  it('flattens and sorts device signals', () => {
    expect(latestRows([{ deviceId: 'b', signals: { z: { ts: 1, value: 2 }, a: { ts: 1, value: 'on' } } }, { deviceId: 'a', signals: { t: { ts: 3, value: 85 } } }]).map((r) => `${r.deviceId}.${r.signal}`)).toEqual(['a.t', 'b.a', 'b.z']);
  });
});

const alarm = (severity: Alarm['severity'], since: number): Alarm => ({
  id: `${severity}${since}`, flowId: 'f', nodeId: 'n', rule: 'r', deviceId: 'd', severity, status: 'active', acknowledged: false, value: 1, signals: null,
  count: 1, since, ts: since, createdAt: '', updatedAt: '',
});

describe('alarmCounts', () => {
  it('counts alarms per bucket and severity, ignoring those outside the range', () => {
    const from = 10 * MINUTE;
    const to = 13 * MINUTE;
    const c = alarmCounts([alarm('major', from + 1), alarm('major', from + 2), alarm('critical', from + MINUTE + 5), alarm('info', from - 1), alarm('info', to)], from, to, MINUTE);
    expect(c.buckets).toEqual([from, from + MINUTE, from + 2 * MINUTE]);
    expect(c.counts.major).toEqual([2, 0, 0]);
    expect(c.counts.critical).toEqual([0, 1, 0]);
    expect(c.counts.info).toEqual([0, 0, 0]);
    const opt = alarmCountsOption(c, MINUTE) as { series: { name: string; stack: string }[] };
    expect(opt.series.map((s) => s.name)).toEqual(['critical', 'major', 'minor', 'warning', 'info']);
    expect(opt.series.every((s) => s.stack === 'alarms')).toBe(true);
  });
});

describe('timeSeriesOption', () => {
  it('draws one line per series with numbers, booleans as 0/1 and strings as gaps', () => {
    const o = timeSeriesOption([{ deviceId: 'd', signal: 's', points: [{ ts: 1, value: 2 }, { ts: 2, value: true }, { ts: 3, value: 'x' }] }], 0, 10) as { series: { name: string; data: unknown[] }[] };
    expect(o.series[0]!.name).toBe('d · s');
    expect(o.series[0]!.data).toEqual([[1, 2], [2, 1], [3, null]]);
  });
});
