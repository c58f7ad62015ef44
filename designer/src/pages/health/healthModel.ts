// Pure logic of the health page: rates from successive counter samples,
// and the state of sources and nodes.
import type { FlowStats, NodeStats, SourceStats } from '../../api/health';

export interface Sample {
  /** when the sample was taken, ms */
  at: number;
  /** the deployed version and since: counters restart with a new deploy */
  version: number;
  since: string;
  processed: number;
  failed: number;
  timedOut: number;
  rejected: number;
}

export interface Rates {
  /** messages completed per second */
  throughput: number;
  /** failed + timed out + rejected per second */
  errors: number;
}

export function sampleOf(s: FlowStats, at: number): Sample {
  return { at, version: s.version, since: s.since ?? '', processed: s.processed ?? 0, failed: s.failed ?? 0, timedOut: s.timedOut ?? 0, rejected: s.rejected ?? 0 };
}

/** rates between two samples; undefined when they cannot be compared (first sample, redeploy, counter reset). */
export function rates(prev: Sample | undefined, cur: Sample): Rates | undefined {
  if (!prev || prev.version !== cur.version || prev.since !== cur.since) return undefined;
  const dt = (cur.at - prev.at) / 1000;
  if (dt <= 0) return undefined;
  const dp = cur.processed - prev.processed;
  const de = cur.failed + cur.timedOut + cur.rejected - (prev.failed + prev.timedOut + prev.rejected);
  if (dp < 0 || de < 0) return undefined;
  return { throughput: dp / dt, errors: de / dt };
}

export function formatRate(r: number | undefined): string {
  if (r === undefined) return '…';
  if (r === 0) return '0/s';
  if (r < 0.1) return `${(r * 60).toFixed(1)}/min`;
  return `${r < 10 ? r.toFixed(1) : Math.round(r)}/s`;
}

export type Tone = 'ok' | 'warn' | 'error' | 'idle';

const OK = ['ok', 'listening', 'connected', 'running', 'polling', 'started', 'ready'];
const WARN = ['retrying', 'reconnecting', 'connecting', 'degraded', 'spooling', 'backoff', 'starting', 'draining'];
const IDLE = ['stopped', 'idle', 'closed'];

/**
 * toneOf classifies a source's or node's state (and its recent error): a
 * part that is retrying (or reconnecting …) because of an error cannot do
 * its work — a source that cannot connect brings in nothing — so it counts
 * as an error, not a warning.
 */
export function toneOf(state: string | undefined, lastError?: string): Tone {
  const s = (state ?? '').toLowerCase();
  if (s === 'error' || s === 'failed' || s === 'down') return 'error';
  if (WARN.includes(s)) return lastError ? 'error' : 'warn';
  if (OK.includes(s)) return lastError ? 'warn' : 'ok';
  if (IDLE.includes(s)) return 'idle';
  return lastError ? 'warn' : 'idle';
}

export interface PartRow {
  id: string;
  kind: 'source' | 'node';
  state: string;
  tone: Tone;
  lastError: string;
  /** a few counters worth showing, as "name value" */
  counters: [string, number][];
}

const SOURCE_COUNTERS = ['messages', 'errors', 'connections', 'bytes'];
const NODE_COUNTERS = ['accepted', 'written', 'failures', 'rejected', 'refused', 'queued', 'errors'];

/** partRows lists a flow's sources and nodes with their state, error and main counters. */
export function partRows(stats: FlowStats | undefined): PartRow[] {
  if (!stats) return [];
  const row = (id: string, kind: PartRow['kind'], p: SourceStats | NodeStats, names: string[]): PartRow => {
    const lastError = typeof p.lastError === 'string' ? p.lastError : '';
    return {
      id,
      kind,
      state: String(p.state ?? ''),
      tone: toneOf(p.state, lastError),
      lastError,
      counters: names.filter((n) => typeof p[n] === 'number').map((n) => [n, p[n] as number]),
    };
  };
  return [
    ...Object.entries(stats.sources ?? {}).map(([id, p]) => row(id, 'source', p, SOURCE_COUNTERS)),
    ...Object.entries(stats.nodes ?? {}).map(([id, p]) => row(id, 'node', p, NODE_COUNTERS)),
  ].sort((a, b) => a.id.localeCompare(b.id));
}

/** failingParts are the parts in error with a last error to show, worst first (sources before nodes). */
export function failingParts(parts: PartRow[]): PartRow[] {
  return parts.filter((p) => p.tone === 'error' && p.lastError).sort((a, b) => (a.kind === b.kind ? a.id.localeCompare(b.id) : a.kind === 'source' ? -1 : 1));
}

/** worstTone is the flow's overall tone: its worst part. */
export function worstTone(parts: PartRow[]): Tone {
  const order: Tone[] = ['error', 'warn', 'ok', 'idle'];
  for (const t of order) if (parts.some((p) => p.tone === t)) return t;
  return 'idle';
}
