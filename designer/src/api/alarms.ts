// The alarm API (server/alarms.go): list, one alarm with its history,
// acknowledge, clear, and the live stream of changes over a WebSocket.
import { ticket } from './auth';
import { request, wsURL } from './client';

export const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Alarm {
  id: string;
  flowId: string;
  nodeId: string;
  rule: string;
  deviceId: string;
  severity: Severity;
  status: 'active' | 'cleared';
  acknowledged: boolean;
  value: number | null;
  signals: Record<string, unknown> | null;
  count: number;
  /** device time the alarm became active, Unix ms */
  since: number;
  /** device time of its last change, Unix ms */
  ts: number;
  ackedAt?: string;
  ackedBy?: string;
  ackComment?: string;
  clearedAt?: string;
  clearedBy?: string;
  clearComment?: string;
  createdAt: string;
  updatedAt: string;
}

export interface AlarmHistoryEntry {
  seq: number;
  at: string;
  kind: 'created' | 'updated' | 'cleared' | 'acknowledged';
  reason?: string;
  severity: Severity;
  status: 'active' | 'cleared';
  acknowledged: boolean;
  value: number | null;
  count: number;
  ts: number;
  by?: string;
  comment?: string;
}

export interface AlarmDetail extends Alarm {
  history: AlarmHistoryEntry[];
}

export interface AlarmPage {
  items: Alarm[];
  total: number;
}

export interface AlarmFilter {
  status?: '' | 'active' | 'cleared';
  acknowledged?: boolean;
  severity?: Severity[];
  device?: string;
  rule?: string;
  flow?: string;
  /** Unix ms */
  from?: number;
  to?: number;
  limit?: number;
  offset?: number;
}

export function listAlarms(f: AlarmFilter = {}, signal?: AbortSignal): Promise<AlarmPage> {
  return request<AlarmPage>('/api/v1/alarms', {
    query: {
      status: f.status || undefined,
      acknowledged: f.acknowledged,
      severity: f.severity && f.severity.length ? f.severity.join(',') : undefined,
      device: f.device || undefined,
      rule: f.rule || undefined,
      flow: f.flow || undefined,
      from: f.from,
      to: f.to,
      limit: f.limit,
      offset: f.offset,
    },
    signal,
    what: 'load the alarms',
  });
}

export function getAlarm(id: string, signal?: AbortSignal): Promise<AlarmDetail> {
  return request<AlarmDetail>(`/api/v1/alarms/${encodeURIComponent(id)}`, { signal, what: `load alarm ${id}` });
}

export function ackAlarm(id: string, comment: string): Promise<Alarm> {
  return request<Alarm>(`/api/v1/alarms/${encodeURIComponent(id)}/ack`, { method: 'POST', body: { comment }, what: 'acknowledge the alarm' });
}

export function clearAlarm(id: string, comment: string): Promise<Alarm> {
  return request<Alarm>(`/api/v1/alarms/${encodeURIComponent(id)}/clear`, { method: 'POST', body: { comment }, what: 'clear the alarm' });
}

/** AlarmChange is one message of the alarm stream. */
export interface AlarmChange {
  type: 'alarm';
  change: 'created' | 'updated' | 'cleared' | 'acknowledged';
  reason?: string;
  by?: string;
  alarm: Alarm;
}

export type StreamMessage = AlarmChange | { type: 'subscribed' } | { type: 'dropped'; count: number };

export type StreamState = 'connecting' | 'live' | 'closed';

export interface StreamHandlers {
  onMessage(m: StreamMessage): void;
  onState(s: StreamState, reason?: string): void;
}

/**
 * openAlarmStream connects to the alarm stream with a fresh ticket and
 * reconnects (after a pause that grows to 10 s) until the returned stop is
 * called.
 */
export function openAlarmStream(h: StreamHandlers): () => void {
  let stopped = false;
  let ws: WebSocket | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let backoff = 500;

  const retry = (reason: string) => {
    if (stopped) return;
    h.onState('closed', reason);
    timer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10_000);
  };

  async function connect() {
    if (stopped) return;
    h.onState('connecting');
    let t: string;
    try {
      t = await ticket();
    } catch (e) {
      retry(e instanceof Error ? e.message : String(e));
      return;
    }
    if (stopped) return;
    const sock = new WebSocket(wsURL(`/api/v1/alarms/stream?ticket=${encodeURIComponent(t)}`));
    ws = sock;
    sock.onmessage = (ev) => {
      let m: StreamMessage;
      try {
        m = JSON.parse(String(ev.data)) as StreamMessage;
      } catch {
        return;
      }
      if (m.type === 'subscribed') {
        backoff = 500;
        h.onState('live');
      }
      h.onMessage(m);
    };
    sock.onclose = (ev) => {
      if (ws === sock) ws = null;
      retry(ev.reason || `the live connection closed (code ${ev.code})`);
    };
  }

  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (ws) {
      ws.onclose = null;
      ws.close();
      ws = null;
    }
  };
}
