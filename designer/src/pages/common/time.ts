// Time helpers of the pages: ranges, formatting, and the conversion between
// <input type="datetime-local"> values and Unix milliseconds.

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export interface RangePreset {
  key: string;
  label: string;
  ms: number;
}

export const RANGE_PRESETS: RangePreset[] = [
  { key: '15m', label: 'Last 15 minutes', ms: 15 * MINUTE },
  { key: '1h', label: 'Last hour', ms: HOUR },
  { key: '6h', label: 'Last 6 hours', ms: 6 * HOUR },
  { key: '24h', label: 'Last 24 hours', ms: DAY },
  { key: '7d', label: 'Last 7 days', ms: 7 * DAY },
  { key: '30d', label: 'Last 30 days', ms: 30 * DAY },
];

export function presetMs(key: string, fallback = HOUR): number {
  return RANGE_PRESETS.find((p) => p.key === key)?.ms ?? fallback;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** toLocalInput formats Unix ms for <input type="datetime-local"> (local time, minutes). */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** fromLocalInput parses a datetime-local value as local time; NaN when empty or invalid. */
export function fromLocalInput(v: string): number {
  if (!v) return NaN;
  return new Date(v).getTime();
}

export function formatTime(ms: number | string | undefined): string {
  if (ms === undefined || ms === '') return '';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) return '';
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** ago says how long ago ms was, roughly: "5 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function ago(ms: number, now = Date.now()): string {
  const d = Math.max(0, now - ms);
  if (d < MINUTE) return `${Math.round(d / 1000)} s ago`;
  if (d < HOUR) return `${Math.round(d / MINUTE)} min ago`;
  if (d < DAY) return `${Math.round(d / HOUR)} h ago`;
  return `${Math.round(d / DAY)} d ago`;
}

// Bucket widths the dashboard picks from, with their Go duration spelling.
const STEPS: [number, string][] = [
  [1000, '1s'],
  [5000, '5s'],
  [10_000, '10s'],
  [30_000, '30s'],
  [MINUTE, '1m'],
  [5 * MINUTE, '5m'],
  [10 * MINUTE, '10m'],
  [15 * MINUTE, '15m'],
  [30 * MINUTE, '30m'],
  [HOUR, '1h'],
  [3 * HOUR, '3h'],
  [6 * HOUR, '6h'],
  [12 * HOUR, '12h'],
  [DAY, '24h'],
];

/**
 * bucketFor picks the smallest nice bucket width that gives at most
 * maxBuckets buckets over spanMs: [width in ms, Go duration].
 */
export function bucketFor(spanMs: number, maxBuckets: number): [number, string] {
  const want = spanMs / Math.max(1, maxBuckets);
  for (const s of STEPS) if (s[0] >= want) return s;
  return STEPS[STEPS.length - 1]!;
}
