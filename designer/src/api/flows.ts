// Flows, versions, deploy and test runs (server/flows.go, server/deploy.go).
import { getToken, request } from './client';
import type { Problem } from './types';

/** A flow document: RuleGo's rule-chain DSL (engine/flow.go). Unknown keys are kept as they are. */
export interface FlowDoc {
  ruleChain: RuleChain;
  metadata: FlowMetadata;
  [key: string]: unknown;
}

export interface RuleChain {
  id: string;
  name: string;
  root?: boolean;
  debugMode?: boolean;
  disabled?: boolean;
  configuration?: Record<string, unknown>;
  additionalInfo?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface FlowMetadata {
  firstNodeIndex?: number;
  endpoints?: unknown[];
  nodes: DslNode[];
  connections: DslConnection[];
  ruleChainConnections?: unknown[];
  [key: string]: unknown;
}

export interface DslNode {
  id: string;
  type: string;
  name?: string;
  debugMode?: boolean;
  configuration?: Record<string, unknown>;
  additionalInfo?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface DslConnection {
  fromId: string;
  toId: string;
  type: string;
  label?: string;
  [key: string]: unknown;
}

export interface FlowSummary {
  id: string;
  name: string;
  version: number;
  author: string;
  updatedAt: string;
  deployedVersion: number;
  deployedAt?: string;
}

export interface FlowAnswer {
  id: string;
  version: number;
  name: string;
  author: string;
  comment?: string;
  createdAt: string;
  flow?: FlowDoc;
  problems?: Problem[];
}

export interface FieldChange { field: string; from: unknown; to: unknown }
export interface FlowDiff {
  from: number;
  to: number;
  changed: string[];
  nodes: { added: DslNode[]; removed: DslNode[]; changed: { id: string; fields: FieldChange[] }[] };
  connections: { added: DslConnection[]; removed: DslConnection[] };
}

export interface ValidateAnswer { valid: boolean; problems: Problem[] }
export interface DeployAnswer { id: string; version: number; deployed: boolean; warnings?: Problem[] }

export interface SourceStatus {
  state: 'connected' | 'listening' | 'retrying' | 'error' | 'stopped' | string;
  connections: number;
  messages: number;
  bytes: number;
  errors: number;
  lastError?: string;
  since: string;
}

export interface FlowStats {
  flowId: string;
  version: number;
  inFlight: number;
  processed: number;
  failed: number;
  timedOut: number;
  rejected: number;
  sources?: Record<string, SourceStatus>;
  nodes?: Record<string, { state?: string; lastError?: string; [k: string]: unknown }>;
}

export interface StatusAnswer {
  id: string;
  latestVersion: number;
  deployed: boolean;
  version?: number;
  since?: string;
  recordedVersion: number;
  stats?: FlowStats;
}

export interface TestMessage {
  type: string;
  dataType?: 'JSON' | 'TEXT' | 'BINARY';
  data: unknown;
  metadata?: Record<string, string>;
}

export interface TraceEvent {
  flow: string;
  version: number;
  rootId: string;
  msgId: string;
  parentId?: string;
  seq: number;
  node: string;
  nodeType?: string;
  direction: 'in' | 'out';
  relation?: string;
  error?: string;
  durationNs?: number;
  ts: string;
  msgType?: string;
  dataType?: string;
  data: string;
  truncated?: boolean;
  metadata?: Record<string, string>;
}

export interface TestAnswer {
  msgId: string;
  status: string;
  error?: string;
  trace: TraceEvent[];
  outputs: { node: string; relation: string; error?: string; msg: { type: string; data: string; metadata?: Record<string, string> } }[];
  problems?: Problem[];
}

const p = (id: string) => `/api/v1/flows/${encodeURIComponent(id)}`;

export const listFlows = (signal?: AbortSignal) => request<FlowSummary[]>('/api/v1/flows', { signal, what: 'list the flows' });

export const getFlow = (id: string, signal?: AbortSignal) => request<FlowAnswer>(p(id), { signal, what: `load flow ${id}` });

export const createFlow = (doc: FlowDoc, comment = '') =>
  request<FlowAnswer>('/api/v1/flows', { method: 'POST', body: doc, query: { comment }, what: `create flow ${doc.ruleChain.id}` });

/** saveFlow stores a new version; baseVersion guards against overwriting someone else's save (409). */
export const saveFlow = (id: string, doc: FlowDoc, comment: string, baseVersion?: number) =>
  request<FlowAnswer>(p(id), { method: 'PUT', body: doc, query: { comment, baseVersion }, what: `save flow ${id}` });

export const deleteFlow = (id: string) => request<void>(p(id), { method: 'DELETE', what: `delete flow ${id}` });

export const importFlow = (doc: unknown) => request<FlowAnswer>('/api/v1/flows/import', { method: 'POST', body: doc, what: 'import the flow file' });

export const flowVersions = (id: string, signal?: AbortSignal) => request<FlowAnswer[]>(`${p(id)}/versions`, { signal, what: `list the versions of flow ${id}` });

export const flowVersion = (id: string, v: number) => request<FlowAnswer>(`${p(id)}/versions/${v}`, { what: `load version ${v} of flow ${id}` });

export const diffFlow = (id: string, from: number, to?: number) =>
  request<FlowDiff>(`${p(id)}/diff`, { query: { from, to }, what: `compare versions of flow ${id}` });

export const rollbackFlow = (id: string, version: number, comment = '') =>
  request<FlowAnswer>(`${p(id)}/rollback`, { method: 'POST', body: { version, comment }, what: `roll flow ${id} back to version ${version}` });

export const validateFlow = (doc: FlowDoc) => request<ValidateAnswer>('/api/v1/flows/validate', { method: 'POST', body: doc, what: 'validate the flow' });

export const deployFlow = (id: string, version?: number) =>
  request<DeployAnswer>(`${p(id)}/deploy`, { method: 'POST', query: { version }, what: `deploy flow ${id}` });

export const undeployFlow = (id: string) => request<DeployAnswer>(`${p(id)}/undeploy`, { method: 'POST', what: `undeploy flow ${id}` });

export const flowStatus = (id: string, signal?: AbortSignal) => request<StatusAnswer>(`${p(id)}/status`, { signal, what: `read the status of flow ${id}` });

export const testFlow = (id: string, body: { message: TestMessage; startNode?: string; draft?: FlowDoc; sideEffects?: boolean }) =>
  request<TestAnswer>(`${p(id)}/test`, { method: 'POST', body, what: `test flow ${id}` });

/** exportFlow returns the file text of GET /flows/{id}/export (secrets masked). */
export async function exportFlow(id: string): Promise<string> {
  const a = await request<unknown>(`${p(id)}/export`, { what: `export flow ${id}` });
  return typeof a === 'string' ? a : JSON.stringify(a, null, 2);
}

/** hasToken is for pages that must not call the API when logged out. */
export const hasToken = () => getToken() !== null;
