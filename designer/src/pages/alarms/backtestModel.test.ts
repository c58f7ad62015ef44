import { describe, expect, it } from 'vitest';
import type { BacktestResult } from '../../api/backtest';
import { backtestChart, firedSentence, parseDevices, telemetryToShow } from './backtestModel';

const thr = { rules: [{ name: 'overheat', condition: { rules: [{ op: '>', signal: 'temperature', value: 80 }] } }] };
const result = (over: Partial<BacktestResult> = {}): BacktestResult => ({ nodeType: 'thresholdAlarm', from: 0, to: 1000, fired: 0, points: 0, events: [], ...over });

describe('telemetryToShow', () => {
  it('draws the chosen devices first', () => {
    expect(telemetryToShow('thresholdAlarm', thr, ['b1'], [{ ts: 1, deviceId: 'b2', kind: 'active' }], ['b3'])).toEqual([{ device: 'b1', signals: ['temperature'] }]);
  });
  it('then the devices with events, then the fallback', () => {
    expect(telemetryToShow('thresholdAlarm', thr, [], [{ ts: 1, deviceId: 'b2', kind: 'active' }, { ts: 2, deviceId: 'b2', kind: 'cleared' }], ['b3'])).toEqual([{ device: 'b2', signals: ['temperature'] }]);
    expect(telemetryToShow('thresholdAlarm', thr, [], [], ['b3', 'b4'], 1)).toEqual([{ device: 'b3', signals: ['temperature'] }]);
  });
  it('draws the device signals a joint alarm names', () => {
    expect(telemetryToShow('jointAlarm', { condition: 'dev("a").t > 1 && dev("b").r && dev("a").p < 2' }, [], [], ['zzz'])).toEqual([
      { device: 'a', signals: ['t', 'p'] },
      { device: 'b', signals: ['r'] },
    ]);
  });
});

describe('firedSentence', () => {
  it('counts', () => {
    expect(firedSentence(result({ fired: 0 }))).toBe('This rule would not have fired');
    expect(firedSentence(result({ fired: 1 }))).toBe('This rule would have fired once');
    expect(firedSentence(result({ fired: 7 }))).toBe('This rule would have fired 7 times');
  });
});

describe('parseDevices', () => {
  it('splits on commas and spaces, without duplicates', () => {
    expect(parseDevices(' a, b  c,,a ')).toEqual(['a', 'b', 'c']);
  });
});

describe('backtestChart', () => {
  it('has a line per series, markers per event kind and the thresholds', () => {
    const opt = backtestChart(
      [{ deviceId: 'b1', signal: 'temperature', points: [{ ts: 10, value: 70 }, { ts: 20, value: 85 }, { ts: 30, value: 'x' }] }],
      result({ fired: 1, events: [{ ts: 20, deviceId: 'b1', kind: 'active', value: 85 }, { ts: 40, deviceId: 'b1', kind: 'cleared' }] }),
      thr,
      'thresholdAlarm',
    ) as { series: { name: string; type: string; data: unknown[]; markLine?: { data: { yAxis?: number; xAxis?: number }[] } }[] };
    expect(opt.series.map((s) => `${s.type}:${s.name}`)).toEqual(['line:b1 · temperature', 'scatter:would fire']);
    expect(opt.series[0]!.data).toEqual([[10, 70], [20, 85], [30, null]]);
    expect(opt.series[1]!.data).toEqual([{ value: [20, 85], deviceId: 'b1', rule: undefined, severity: undefined }]);
    const ml = opt.series[0]!.markLine!.data;
    expect(ml.find((d) => d.yAxis === 80)).toBeTruthy();
    expect(ml.find((d) => d.xAxis === 40)).toBeTruthy();
  });
  it('still draws axes without data', () => {
    const opt = backtestChart([], result(), thr, 'thresholdAlarm') as { series: unknown[] };
    expect(opt.series).toHaveLength(1);
  });
});
