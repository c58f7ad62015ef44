// The live trace of a deployed flow: a WebSocket authenticated with a
// single-use ticket (server/trace.go).
import { ticket } from './auth';
import { wsURL } from './client';
import type { TraceEvent } from './flows';

export type { TraceEvent };

/** A stream message that is not a trace event. */
export interface TraceNotice { type: 'subscribed' | 'dropped' | string; flow?: string; count?: number }

export interface TraceHandlers {
  onEvent(ev: TraceEvent): void;
  onNotice?(n: TraceNotice): void;
  onOpen?(): void;
  onClose?(reason: string): void;
  onError?(message: string): void;
}

/** openTrace connects to the flow's trace stream; the returned function closes it. */
export async function openTrace(flowId: string, h: TraceHandlers): Promise<() => void> {
  const t = await ticket();
  const ws = new WebSocket(wsURL(`/api/v1/flows/${encodeURIComponent(flowId)}/trace?ticket=${encodeURIComponent(t)}`));
  let closedByUs = false;
  ws.onopen = () => h.onOpen?.();
  ws.onmessage = (m) => {
    let v: unknown;
    try {
      v = JSON.parse(String(m.data));
    } catch {
      h.onError?.(`live view: the server sent something that is not JSON: ${String(m.data).slice(0, 80)}`);
      return;
    }
    if (v && typeof v === 'object' && 'type' in v) h.onNotice?.(v as TraceNotice);
    else h.onEvent(v as TraceEvent);
  };
  ws.onerror = () => { if (!closedByUs) h.onError?.('live view: the connection failed'); };
  ws.onclose = (e) => { if (!closedByUs) h.onClose?.(e.reason || `closed (code ${e.code})`); };
  return () => {
    closedByUs = true;
    ws.close();
  };
}
