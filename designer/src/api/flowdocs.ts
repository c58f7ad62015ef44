// The few flow calls the alarm rules and health pages need: list flows,
// read the latest document, save a version on a base version, deploy, and
// the node catalog. The flow editor has its own, fuller client (flows.ts).
import { request } from './client';
import type { Problem } from './types';

export interface FlowSummary {
  id: string;
  name: string;
  version: number;
  author: string;
  updatedAt: string;
  deployedVersion: number;
  deployedAt?: string;
}

export interface FlowNode {
  id: string;
  type: string;
  name?: string;
  configuration?: Record<string, unknown>;
  additionalInfo?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface FlowDocument {
  ruleChain: { id: string; name: string; [k: string]: unknown };
  metadata: { nodes: FlowNode[]; connections?: unknown[]; [k: string]: unknown };
  [k: string]: unknown;
}

export interface FlowVersionAnswer {
  id: string;
  version: number;
  name: string;
  author: string;
  comment?: string;
  createdAt: string;
  flow: FlowDocument;
  problems?: Problem[];
}

export interface DeployAnswer {
  id: string;
  version: number;
  deployed: boolean;
  warnings?: Problem[];
}

/** FieldSpec is one configuration field of a node spec (engine/spec). */
export interface FieldSpec {
  name: string;
  type: string;
  help?: string;
  required?: boolean;
  default?: unknown;
  example?: unknown;
  enum?: string[];
  min?: number;
  max?: number;
  advanced?: boolean;
  secret?: boolean;
  predicate?: boolean;
  fields?: FieldSpec[];
  [k: string]: unknown;
}

export interface NodeSpec {
  type: string;
  category: string;
  summary: string;
  version: number;
  fields: FieldSpec[];
  [k: string]: unknown;
}

export function listFlowSummaries(signal?: AbortSignal): Promise<FlowSummary[]> {
  return request<FlowSummary[]>('/api/v1/flows', { signal, what: 'load the flows' });
}

export function getFlowDocument(id: string, signal?: AbortSignal): Promise<FlowVersionAnswer> {
  return request<FlowVersionAnswer>(`/api/v1/flows/${encodeURIComponent(id)}`, { signal, what: `load flow ${id}` });
}

/** saveFlowVersion saves doc as a new version; a stale baseVersion answers 409 (ApiError.status). */
export function saveFlowVersion(id: string, doc: FlowDocument, baseVersion: number, comment: string): Promise<FlowVersionAnswer> {
  return request<FlowVersionAnswer>(`/api/v1/flows/${encodeURIComponent(id)}`, {
    method: 'PUT',
    body: doc,
    query: { baseVersion, comment },
    what: `save flow ${id}`,
  });
}

export function deployFlowVersion(id: string, version: number): Promise<DeployAnswer> {
  return request<DeployAnswer>(`/api/v1/flows/${encodeURIComponent(id)}/deploy`, { method: 'POST', query: { version }, what: `deploy flow ${id}` });
}

export function nodeSpecs(signal?: AbortSignal): Promise<NodeSpec[]> {
  return request<NodeSpec[]>('/api/v1/nodes', { signal, what: 'load the node catalog' });
}
