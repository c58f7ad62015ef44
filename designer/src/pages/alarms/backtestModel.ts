// Pure logic of the backtest panel: which stored telemetry to draw, the
// sentence, and the chart of the events over the signal's values.
import type { BacktestEvent, BacktestResult } from '../../api/backtest';
import type { Series } from '../../api/telemetry';
import type { ChartOption } from '../common/EChart';
import { signalsOf, thresholdsOf, type Json } from './rulesModel';

export interface TelemetryPick {
  device: string;
  signals: string[];
}

/**
 * telemetryToShow picks the device/signal pairs to draw: a joint alarm's
 * dev("id").signal reads; for a threshold alarm its signals on the chosen
 * devices, else on the devices with events, else on fallback devices (at
 * most maxDevices).
 */
export function telemetryToShow(nodeType: string, config: Json, chosen: string[], events: BacktestEvent[], fallback: string[], maxDevices = 4): TelemetryPick[] {
  const refs = signalsOf(nodeType, config);
  const byDevice = new Map<string, string[]>();
  const add = (d: string, s: string) => {
    const l = byDevice.get(d) ?? [];
    if (!l.includes(s)) l.push(s);
    byDevice.set(d, l);
  };
  if (refs.some((r) => r.device)) {
    for (const r of refs) if (r.device && (chosen.length === 0 || chosen.includes(r.device))) add(r.device, r.signal);
  } else {
    const fromEvents = [...new Set(events.map((e) => e.deviceId).filter((d): d is string => !!d))];
    const devices = chosen.length ? chosen : fromEvents.length ? fromEvents : fallback;
    for (const d of devices.slice(0, maxDevices)) for (const r of refs) add(d, r.signal);
  }
  return [...byDevice].slice(0, maxDevices).map(([device, signals]) => ({ device, signals }));
}

export function firedSentence(r: BacktestResult): string {
  const n = r.fired;
  const times = n === 0 ? 'would not have fired' : n === 1 ? 'would have fired once' : `would have fired ${n} times`;
  return `This rule ${times}`;
}

/** parseDevices reads a comma- or space-separated list of device ids. */
export function parseDevices(s: string): string[] {
  return [...new Set(s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean))];
}

const KIND_COLOR: Record<string, string> = { active: '#c62828', updated: '#e65100', cleared: '#2e7d32' };

function numeric(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
}

/** backtestChart draws the stored values as lines, the events as markers, the thresholds as dashed lines. */
export function backtestChart(series: Series[], result: BacktestResult, config: Json, nodeType: string): ChartOption {
  const events = result.events ?? [];
  const lines = series.map((s) => ({
    name: `${s.deviceId} · ${s.signal}`,
    type: 'line',
    showSymbol: s.points.length < 60,
    connectNulls: false,
    data: s.points.map((p) => [p.ts, numeric(p.value)]),
  }));
  const kinds = ['active', 'updated', 'cleared'];
  const markers = kinds
    .map((k) => {
      const evs = events.filter((e) => e.kind === k && typeof e.value === 'number');
      return {
        name: k === 'active' ? 'would fire' : k === 'cleared' ? 'would clear' : 'would update',
        type: 'scatter',
        symbolSize: k === 'active' ? 12 : 9,
        symbol: k === 'cleared' ? 'diamond' : 'circle',
        itemStyle: { color: KIND_COLOR[k] },
        z: 5,
        data: evs.map((e) => ({ value: [e.ts, e.value], deviceId: e.deviceId, rule: e.rule, severity: e.severity })),
      };
    })
    .filter((m) => m.data.length > 0);
  // Events without a value (a noData rule, a joint alarm) are vertical lines.
  const noValue = events.filter((e) => typeof e.value !== 'number');
  const thresholds = nodeType === 'thresholdAlarm' ? thresholdsOf(config) : [];
  const markLine = {
    silent: true,
    symbol: 'none',
    data: [
      ...thresholds.map((t) => ({ yAxis: t.value, name: t.label, lineStyle: { type: 'dashed', color: '#888' }, label: { formatter: t.label, position: 'insideEndTop' } })),
      ...noValue.map((e) => ({ xAxis: e.ts, name: `${e.kind} ${e.deviceId ?? ''}`, lineStyle: { color: KIND_COLOR[e.kind] ?? '#888' }, label: { show: false } })),
    ],
  };
  const all = [...lines, ...markers] as Record<string, unknown>[];
  if (all.length === 0) all.push({ name: 'no data', type: 'line', data: [] });
  all[0] = { ...all[0], markLine };
  return {
    animation: false,
    grid: { left: 56, right: 24, top: 40, bottom: 40 },
    legend: { top: 4, type: 'scroll' },
    tooltip: { trigger: 'item' },
    xAxis: { type: 'time', min: result.from, max: result.to },
    yAxis: { type: 'value', scale: true },
    series: all,
  };
}
