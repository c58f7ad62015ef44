import { describe, expect, it } from 'vitest';
import type { FlowStats } from '../../api/health';
import { failingParts, formatRate, partRows, rates, sampleOf, toneOf, worstTone } from './healthModel';

const stats = (over: Partial<FlowStats> = {}): FlowStats => ({ flowId: 'f', version: 1, since: 's', inFlight: 0, processed: 0, failed: 0, timedOut: 0, rejected: 0, ...over });

describe('rates', () => {
  it('divides counter deltas by the time between samples', () => {
    const a = sampleOf(stats({ processed: 100, failed: 1 }), 0);
    const b = sampleOf(stats({ processed: 150, failed: 3, rejected: 1 }), 5000);
    expect(rates(a, b)).toEqual({ throughput: 10, errors: 0.6 });
  });
  it('has no rate for a first sample, a redeploy or a counter reset', () => {
    const b = sampleOf(stats({ processed: 10 }), 1000);
    expect(rates(undefined, b)).toBeUndefined();
    expect(rates(sampleOf(stats({ version: 2 }), 0), b)).toBeUndefined();
    expect(rates(sampleOf(stats({ since: 'other' }), 0), b)).toBeUndefined();
    expect(rates(sampleOf(stats({ processed: 50 }), 0), b)).toBeUndefined();
    expect(rates(sampleOf(stats(), 1000), b)).toBeUndefined();
  });
});

describe('formatRate', () => {
  it('picks a readable unit', () => {
    expect(formatRate(undefined)).toBe('…');
    expect(formatRate(0)).toBe('0/s');
    expect(formatRate(0.05)).toBe('3.0/min');
    expect(formatRate(2.345)).toBe('2.3/s');
    expect(formatRate(1234.5)).toBe('1235/s');
  });
});

describe('parts', () => {
  it('lists sources and nodes with tone, error and counters', () => {
    const rows = partRows(
      stats({
        sources: { in: { state: 'listening', messages: 3, errors: 1, lastError: 'bad token', bytes: 54 } },
        nodes: { ts: { state: 'ok', accepted: 3, written: 3, failures: 0, lastWriteMs: 0.4 }, sql: { state: 'retrying', lastError: 'connection refused' } },
      }),
    );
    expect(rows.map((r) => `${r.kind}:${r.id}:${r.tone}`)).toEqual(['source:in:warn', 'node:sql:error', 'node:ts:ok']);
    expect(rows[0]!.counters).toEqual([['messages', 3], ['errors', 1], ['bytes', 54]]);
    expect(rows[0]!.lastError).toBe('bad token');
    expect(worstTone(rows)).toBe('error');
    expect(failingParts(rows).map((r) => r.id)).toEqual(['sql']);
  });
  it('counts a source retrying because it cannot connect as an error, shown first', () => {
    const rows = partRows(
      stats({
        sources: { mq: { state: 'retrying', messages: 0, errors: 7, lastError: 'dial tcp 127.0.0.1:1: connection refused' } },
        nodes: { a: { state: 'retrying', lastError: 'timeout' }, b: { state: 'retrying' } },
      }),
    );
    expect(rows.map((r) => `${r.id}:${r.tone}`)).toEqual(['a:error', 'b:warn', 'mq:error']);
    expect(failingParts(rows).map((r) => r.id)).toEqual(['mq', 'a']);
  });
  it('classifies states', () => {
    expect(toneOf('error')).toBe('error');
    expect(toneOf('connected')).toBe('ok');
    expect(toneOf('reconnecting')).toBe('warn');
    expect(toneOf('reconnecting', 'refused')).toBe('error');
    expect(toneOf('listening', 'bad token once')).toBe('warn');
    expect(toneOf('stopped')).toBe('idle');
    expect(worstTone([])).toBe('idle');
  });
});
