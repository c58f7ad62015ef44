// Saving an alarm node's configuration: a new version of its flow on the
// version the page loaded (409 when someone saved since), then a deploy of
// that version when the flow was deployed.
import { ApiError } from '../../api/client';
import { deployFlowVersion, saveFlowVersion, type DeployAnswer, type FlowSummary, type FlowVersionAnswer } from '../../api/flowdocs';
import { saveComment, type Json } from './rulesModel';

export type SaveOutcome =
  | { kind: 'saved'; saved: FlowVersionAnswer; deployed?: DeployAnswer; deployError?: unknown }
  | { kind: 'conflict'; currentVersion?: number; error: ApiError }
  | { kind: 'failed'; error: unknown };

export async function saveAlarmNode(doc: FlowVersionAnswer, summary: FlowSummary | undefined, nodeId: string, config: Json): Promise<SaveOutcome> {
  const flow = structuredClone(doc.flow);
  const node = flow.metadata.nodes.find((n) => n.id === nodeId);
  if (!node) return { kind: 'failed', error: new Error(`node ${nodeId} is no longer in flow ${doc.id}`) };
  node.configuration = config as Record<string, unknown>;
  let saved: FlowVersionAnswer;
  try {
    saved = await saveFlowVersion(doc.id, flow, doc.version, saveComment(node));
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) return { kind: 'conflict', currentVersion: e.info.currentVersion, error: e };
    return { kind: 'failed', error: e };
  }
  if (!summary || summary.deployedVersion <= 0) return { kind: 'saved', saved };
  try {
    return { kind: 'saved', saved, deployed: await deployFlowVersion(doc.id, saved.version) };
  } catch (e) {
    return { kind: 'saved', saved, deployError: e };
  }
}
