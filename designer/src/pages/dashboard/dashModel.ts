// Pure logic of the dashboard: its settings in the URL, the bucket width
// for a range, and the chart options.
import { SEVERITIES, type Alarm } from '../../api/alarms';
import type { Agg, LatestAnswer, Series, TelemetryValue } from '../../api/telemetry';
import type { ChartOption } from '../common/EChart';
import { bucketFor, presetMs, RANGE_PRESETS } from '../common/time';

export const AGGS: Agg[] = ['avg', 'min', 'max', 'last', 'sum', 'count'];

export interface DashSettings {
  devices: string[];
  signals: string[];
  /** a RANGE_PRESETS key */
  range: string;
  agg: Agg;
}

const list = (s: string | null) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);

export function settingsFromQuery(q: URLSearchParams): DashSettings {
  const range = q.get('range') ?? '';
  const agg = q.get('agg') as Agg | null;
  return {
    devices: list(q.get('devices')),
    signals: list(q.get('signals')),
    range: RANGE_PRESETS.some((p) => p.key === range) ? range : '1h',
    agg: agg && AGGS.includes(agg) ? agg : 'avg',
  };
}

export function settingsToQuery(s: DashSettings): string {
  const p = new URLSearchParams();
  if (s.devices.length) p.set('devices', s.devices.join(','));
  if (s.signals.length) p.set('signals', s.signals.join(','));
  p.set('range', s.range);
  p.set('agg', s.agg);
  return p.toString();
}

/** window returns [from, to, bucket ms, Go every] for a range preset ending now. */
export function timeWindow(range: string, now: number, maxBuckets = 300): { from: number; to: number; bucketMs: number; every: string } {
  const span = presetMs(range);
  const [bucketMs, every] = bucketFor(span, maxBuckets);
  // Align the end to the bucket so that successive refreshes draw the same buckets.
  const to = Math.ceil((now + 1) / bucketMs) * bucketMs;
  return { from: to - span, to, bucketMs, every };
}

export interface LatestRow {
  deviceId: string;
  signal: string;
  ts: number;
  value: TelemetryValue;
}

export function latestRows(answers: LatestAnswer[]): LatestRow[] {
  return answers
    .flatMap((a) => Object.entries(a.signals ?? {}).map(([signal, v]) => ({ deviceId: a.deviceId, signal, ts: v.ts, value: v.value })))
    .sort((x, y) => x.deviceId.localeCompare(y.deviceId) || x.signal.localeCompare(y.signal));
}

export function formatTelemetryValue(v: TelemetryValue): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
  return String(v);
}

export function numeric(v: TelemetryValue): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
}

export function timeSeriesOption(series: Series[], from: number, to: number): ChartOption {
  return {
    animation: false,
    grid: { left: 56, right: 24, top: 40, bottom: 40 },
    legend: { top: 4, type: 'scroll' },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'time', min: from, max: to, axisLabel: { hideOverlap: true } },
    yAxis: { type: 'value', scale: true },
    series: series.map((s) => ({
      name: `${s.deviceId} · ${s.signal}`,
      type: 'line',
      showSymbol: s.points.length < 60,
      connectNulls: false,
      data: s.points.map((p) => [p.ts, numeric(p.value)]),
    })),
  };
}

export interface AlarmCounts {
  /** bucket starts, Unix ms */
  buckets: number[];
  /** per severity, one count per bucket */
  counts: Record<string, number[]>;
}

/** alarmCounts counts the alarms that became active in each bucket of [from, to), per severity. */
export function alarmCounts(alarms: Alarm[], from: number, to: number, bucketMs: number): AlarmCounts {
  const start = Math.floor(from / bucketMs) * bucketMs;
  const n = Math.max(1, Math.ceil((to - start) / bucketMs));
  const buckets = Array.from({ length: n }, (_, i) => start + i * bucketMs);
  const counts: Record<string, number[]> = Object.fromEntries(SEVERITIES.map((s) => [s, new Array<number>(n).fill(0)]));
  for (const a of alarms) {
    const i = Math.floor((a.since - start) / bucketMs);
    if (a.since < from || a.since >= to || i < 0 || i >= n) continue;
    (counts[a.severity] ??= new Array<number>(n).fill(0))[i]!++;
  }
  return { buckets, counts };
}

const SEV_COLOR: Record<string, string> = { critical: '#b71c1c', major: '#e65100', minor: '#f9a825', warning: '#fbc02d', info: '#1976d2' };

export function alarmCountsOption(c: AlarmCounts, bucketMs: number): ChartOption {
  return {
    animation: false,
    grid: { left: 48, right: 24, top: 40, bottom: 40 },
    legend: { top: 4 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'time', min: c.buckets[0], max: (c.buckets[c.buckets.length - 1] ?? 0) + bucketMs, splitNumber: 4, axisLabel: { hideOverlap: true } },
    yAxis: { type: 'value', minInterval: 1 },
    series: SEVERITIES.map((s) => ({
      name: s,
      type: 'bar',
      stack: 'alarms',
      barMaxWidth: 24,
      itemStyle: { color: SEV_COLOR[s] },
      data: c.buckets.map((b, i) => [b + bucketMs / 2, c.counts[s]?.[i] ?? 0]),
    })),
  };
}
