// Health of the server and of deployed flows (server/health.go,
// server/deploy.go).
import { request } from './client';

export interface ComponentState {
  state?: string;
  reason?: string;
  [k: string]: unknown;
}

export interface HealthAnswer {
  status: string;
  reason?: string;
  components?: Record<string, ComponentState>;
}

export function healthz(signal?: AbortSignal): Promise<HealthAnswer> {
  return request<HealthAnswer>('/healthz', { signal, what: 'load the server health' });
}

/** SourceStats are a connector's counters (stats.sources[nodeId]). */
export interface SourceStats {
  state?: string;
  connections?: number;
  messages?: number;
  bytes?: number;
  errors?: number;
  lastError?: string;
  since?: string;
  [k: string]: unknown;
}

/** NodeStats are a node's own counters (stats.nodes[nodeId]), such as a sink's. */
export interface NodeStats {
  state?: string;
  lastError?: string;
  failures?: number;
  [k: string]: unknown;
}

export interface FlowStats {
  flowId: string;
  version: number;
  since?: string;
  inFlight: number;
  processed: number;
  failed: number;
  timedOut: number;
  rejected: number;
  sources?: Record<string, SourceStats>;
  nodes?: Record<string, NodeStats>;
  [k: string]: unknown;
}

export interface FlowStatus {
  id: string;
  latestVersion: number;
  deployed: boolean;
  version?: number;
  since?: string;
  recordedVersion: number;
  stats?: FlowStats;
}

export function flowStatus(id: string, signal?: AbortSignal): Promise<FlowStatus> {
  return request<FlowStatus>(`/api/v1/flows/${encodeURIComponent(id)}/status`, { signal, what: `load the status of flow ${id}` });
}
