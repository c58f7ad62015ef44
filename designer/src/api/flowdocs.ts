// The flow calls of the alarm rules and health pages, under the names those
// pages use: the editor's client (flows.ts) does the work.
import { deployFlow, getFlow, listFlows, saveFlow, type DeployAnswer, type DslNode, type FlowAnswer, type FlowDoc, type FlowSummary } from './flows';

export type { DeployAnswer, FlowSummary };
export type FlowNode = DslNode;
export type FlowDocument = FlowDoc;

/** A saved version with its document (GET /api/v1/flows/{id} always has one). */
export interface FlowVersionAnswer extends FlowAnswer {
  flow: FlowDoc;
}

export const listFlowSummaries = listFlows;

export const getFlowDocument = (id: string, signal?: AbortSignal) => getFlow(id, signal) as Promise<FlowVersionAnswer>;

/** saveFlowVersion saves doc as a new version; a stale baseVersion answers 409 (ApiError.status). */
export const saveFlowVersion = (id: string, doc: FlowDocument, baseVersion: number, comment: string) =>
  saveFlow(id, doc, comment, baseVersion) as Promise<FlowVersionAnswer>;

export const deployFlowVersion = (id: string, version: number) => deployFlow(id, version);
