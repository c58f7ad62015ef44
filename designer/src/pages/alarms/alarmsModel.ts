// Pure logic of the active alarms page: filters from the route and how a
// change from the alarm stream updates the table.
import { SEVERITIES, type Alarm, type AlarmChange, type AlarmFilter, type Severity } from '../../api/alarms';

export interface TableFilter {
  /** '' means any status */
  status: '' | 'active' | 'cleared';
  severity: Severity[];
  device: string;
}

/** filterFromQuery reads #/alarms?status=&severity=a,b&device=; status defaults to active. */
export function filterFromQuery(q: URLSearchParams): TableFilter {
  const st = q.get('status');
  const status = st === 'cleared' || st === 'active' ? st : st === 'any' ? '' : 'active';
  const severity = (q.get('severity') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is Severity => (SEVERITIES as readonly string[]).includes(s));
  return { status, severity, device: (q.get('device') ?? '').trim() };
}

export function filterToQuery(f: TableFilter): string {
  const p = new URLSearchParams();
  p.set('status', f.status || 'any');
  if (f.severity.length) p.set('severity', f.severity.join(','));
  if (f.device) p.set('device', f.device);
  return p.toString();
}

export function toApiFilter(f: TableFilter, limit = 200): AlarmFilter {
  return { status: f.status, severity: f.severity, device: f.device, limit };
}

export function matches(a: Alarm, f: TableFilter): boolean {
  return (!f.status || a.status === f.status) && (f.severity.length === 0 || f.severity.includes(a.severity)) && (!f.device || a.deviceId === f.device);
}

/** newestFirst orders alarms as the API does: latest change first. */
export function newestFirst(a: Alarm, b: Alarm): number {
  return b.ts - a.ts || b.updatedAt.localeCompare(a.updatedAt);
}

/**
 * applyChange returns the table after a change from the stream: the alarm
 * replaces its old row (or is added), or leaves the table when it no longer
 * matches the filter. The table stays at most limit rows.
 */
export function applyChange(rows: Alarm[], c: AlarmChange, f: TableFilter, limit = 200): Alarm[] {
  const rest = rows.filter((r) => r.id !== c.alarm.id);
  if (!matches(c.alarm, f)) return rest.length === rows.length ? rows : rest;
  return [c.alarm, ...rest].sort(newestFirst).slice(0, limit);
}

export const SEVERITY_RANK: Record<Severity, number> = { critical: 0, major: 1, minor: 2, warning: 3, info: 4 };

export function changeLabel(kind: string, reason?: string): string {
  const k = { created: 'Raised', updated: 'Updated', cleared: 'Cleared', acknowledged: 'Acknowledged' }[kind] ?? kind;
  return reason ? `${k} (${reason})` : k;
}

export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
