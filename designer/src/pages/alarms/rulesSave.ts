// Saving an alarm node's configuration: the modified flow is validated first
// (POST /api/v1/flows/validate) and saved only when it has no errors, as a
// new version on the version the page loaded (409 when someone saved since);
// it is deployed only when the caller asks for it.
import { ApiError } from '../../api/client';
import { deployFlowVersion, saveFlowVersion, type DeployAnswer, type FlowDocument, type FlowVersionAnswer } from '../../api/flowdocs';
import { validateFlow, type FlowDoc } from '../../api/flows';
import type { Problem } from '../../api/types';
import { saveComment, type Json } from './rulesModel';

export type SaveOutcome =
  | { kind: 'saved'; saved: FlowVersionAnswer; deployed?: DeployAnswer; deployError?: unknown }
  /** the server's validation found errors: nothing was saved */
  | { kind: 'invalid'; problems: Problem[] }
  | { kind: 'conflict'; currentVersion?: number; error: ApiError }
  | { kind: 'failed'; error: unknown };

/** withNodeConfig is a copy of the flow with one node's configuration replaced (undefined: the node is gone). */
export function withNodeConfig(flow: FlowDocument, nodeId: string, config: Json): FlowDocument | undefined {
  const out = structuredClone(flow);
  const node = out.metadata.nodes.find((n) => n.id === nodeId);
  if (!node) return undefined;
  node.configuration = config as Record<string, unknown>;
  return out;
}

/** validateNode validates the flow with the node's configuration replaced and returns the server's problems. */
export async function validateNode(doc: FlowVersionAnswer, nodeId: string, config: Json): Promise<Problem[]> {
  const flow = withNodeConfig(doc.flow, nodeId, config);
  if (!flow) throw new Error(`node ${nodeId} is no longer in flow ${doc.id}`);
  const a = await validateFlow(flow as unknown as FlowDoc);
  return a.problems ?? [];
}

export async function saveAlarmNode(doc: FlowVersionAnswer, nodeId: string, config: Json, deploy: boolean): Promise<SaveOutcome> {
  const flow = withNodeConfig(doc.flow, nodeId, config);
  if (!flow) return { kind: 'failed', error: new Error(`node ${nodeId} is no longer in flow ${doc.id}`) };
  let problems: Problem[];
  try {
    problems = (await validateFlow(flow as unknown as FlowDoc)).problems ?? [];
  } catch (e) {
    return { kind: 'failed', error: e };
  }
  if (problems.some((p) => p.severity === 'error')) return { kind: 'invalid', problems };
  const node = flow.metadata.nodes.find((n) => n.id === nodeId)!;
  let saved: FlowVersionAnswer;
  try {
    saved = await saveFlowVersion(doc.id, flow, doc.version, saveComment(node));
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) return { kind: 'conflict', currentVersion: e.info.currentVersion, error: e };
    return { kind: 'failed', error: e };
  }
  if (!deploy) return { kind: 'saved', saved };
  try {
    return { kind: 'saved', saved, deployed: await deployFlowVersion(doc.id, saved.version) };
  } catch (e) {
    return { kind: 'saved', saved, deployError: e };
  }
}
