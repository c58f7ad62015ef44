// Backtest of an alarm node over stored telemetry
// (POST /api/v1/flows/{id}/nodes/{nodeId}/backtest, nodes/backtest).
import { request } from './client';

export interface BacktestEvent {
  ts: number;
  deviceId?: string;
  kind: 'active' | 'updated' | 'cleared' | string;
  rule?: string;
  severity?: string;
  value?: number | null;
}

export interface BacktestResult {
  nodeType: string;
  from: number;
  to: number;
  fired: number;
  points: number;
  events: BacktestEvent[] | null;
  truncated?: boolean;
}

export interface BacktestRequest {
  from: number;
  to: number;
  devices?: string[];
  /** run with this configuration instead of the saved one (an unsaved edit) */
  config?: unknown;
}

export function runBacktest(flowId: string, nodeId: string, body: BacktestRequest, signal?: AbortSignal): Promise<BacktestResult> {
  return request<BacktestResult>(`/api/v1/flows/${encodeURIComponent(flowId)}/nodes/${encodeURIComponent(nodeId)}/backtest`, {
    method: 'POST',
    body,
    signal,
    what: `backtest node ${nodeId} of flow ${flowId}`,
  });
}
