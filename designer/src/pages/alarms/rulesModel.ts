// Pure logic of the alarm rules page: find the alarm nodes of all flows,
// plain labels and which condition fields apply, the field errors to show
// (the editor's spec checks, form.ts, plus the server's problems), what a
// save may deploy, the outcome sentence, and what a backtest chart needs
// (the signals and thresholds a configuration uses). Paths are in the
// server's notation ("rules[0].condition.rules[1].value"), as form.ts has them.
import type { FlowNode, FlowVersionAnswer } from '../../api/flowdocs';
import type { FieldSpec, NodeSpec } from '../../api/nodes';
import type { Problem } from '../../api/types';
import { checkConfig, getPath } from '../../editor/form';

export type Json = unknown;

export interface AlarmNodeRef {
  /** flowId/nodeId */
  key: string;
  flowId: string;
  flowName: string;
  nodeId: string;
  node: FlowNode;
  spec: NodeSpec;
}

export const nodeKey = (flowId: string, nodeId: string) => `${flowId}/${nodeId}`;

/** alarmSpecs are the node specs of the alarm category, by type. */
export function alarmSpecs(specs: NodeSpec[]): Map<string, NodeSpec> {
  return new Map(specs.filter((s) => s.category === 'alarm').map((s) => [s.type, s]));
}

/** collectAlarmNodes lists every alarm node of the flows, ordered by flow name, then node name. */
export function collectAlarmNodes(flows: FlowVersionAnswer[], specs: Map<string, NodeSpec>): AlarmNodeRef[] {
  const out: AlarmNodeRef[] = [];
  for (const f of flows) {
    for (const n of f.flow.metadata.nodes ?? []) {
      const spec = specs.get(n.type);
      if (!spec) continue;
      out.push({ key: nodeKey(f.id, n.id), flowId: f.id, flowName: f.name || f.id, nodeId: n.id, node: n, spec });
    }
  }
  return out.sort((a, b) => a.flowName.localeCompare(b.flowName) || (a.node.name ?? a.nodeId).localeCompare(b.node.name ?? b.nodeId));
}

/** sameJson compares two configurations as JSON (key order does not matter). */
export function sameJson(a: Json, b: Json): boolean {
  return stableStringify(a) === stableStringify(b);
}

function stableStringify(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, Json>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

// Which fields of a condition rule apply to its op: the others are hidden
// unless they hold a value (nothing is ever dropped silently).
const COMPARISONS = ['>', '>=', '<', '<=', '==', '!='];
const FOR_OP: Record<string, string[]> = {
  group: ['op', 'rules'],
  compare: ['op', 'signal', 'value', 'text', 'window', 'per', 'deadband'],
  band: ['op', 'signal', 'low', 'high', 'window', 'per', 'deadband'],
  noData: ['op', 'signal', 'timeout'],
};

/** relevant says whether field applies to a list item given its op (items without op: always). */
export function relevant(field: FieldSpec, item: Json): boolean {
  if (item === null || typeof item !== 'object') return true;
  const o = item as Record<string, Json>;
  if (!('op' in o)) return true;
  const op = String(o.op ?? '');
  const kind = op === 'and' || op === 'or' ? 'group' : COMPARISONS.includes(op) ? 'compare' : op === 'outside' || op === 'inside' ? 'band' : op === 'noData' ? 'noData' : '';
  if (!kind) return true;
  if (kind !== 'group' && field.name === 'rules') return o.rules !== undefined;
  if (kind === 'group' && field.name === 'op') return true;
  const list = FOR_OP[kind]!;
  return list.includes(field.name) || (o[field.name] !== undefined && o[field.name] !== '');
}

const LABELS: Record<string, string> = {
  rules: 'Rules',
  name: 'Name',
  severity: 'Severity',
  condition: 'Condition',
  op: 'Operator',
  signal: 'Signal',
  value: 'Threshold',
  text: 'Text',
  low: 'Low threshold',
  high: 'High threshold',
  window: 'Rate window',
  per: 'Rate per',
  timeout: 'Silent for',
  deadband: 'Hysteresis (dead band)',
  duration: 'Must hold for',
  samples: 'Samples in a row',
  clearAfter: 'Clear after',
  reminder: 'Remind every',
  maxAge: 'Values expire after',
  escalations: 'Escalations',
  after: 'After',
  alarmDevice: 'Alarm device',
  missing: 'While a value is missing',
  lateTolerance: 'Late tolerance',
  futureTolerance: 'Future tolerance',
  tick: 'Timer tick',
};

export function labelOf(name: string): string {
  if (LABELS[name]) return LABELS[name];
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** itemTitle names a list item: its name, or "Rule 2" from the list's label. */
export function itemTitle(listName: string, item: Json, index: number): string {
  const o = item !== null && typeof item === 'object' ? (item as Record<string, Json>) : {};
  if (typeof o.name === 'string' && o.name) return o.name;
  const singular = labelOf(listName).replace(/s$/, '');
  if (typeof o.op === 'string' && o.op) {
    if (o.op === 'and' || o.op === 'or') return `${singular} ${index + 1}: group (${o.op})`;
    return `${singular} ${index + 1}: ${[o.signal ?? '', o.op, o.value ?? o.text ?? (o.low !== undefined ? `[${String(o.low)}, ${String(o.high ?? '')}]` : o.timeout ?? '')].filter((x) => x !== '').join(' ')}`;
  }
  if (typeof o.severity === 'string') return `${singular} ${index + 1}: ${o.severity}`;
  return `${singular} ${index + 1}`;
}

export interface SignalRef {
  /** the device, for a joint alarm's dev("id").signal; undefined: any device */
  device?: string;
  signal: string;
}

/** signalsOf lists the signals a threshold or joint alarm configuration reads. */
export function signalsOf(nodeType: string, config: Json): SignalRef[] {
  const out: SignalRef[] = [];
  const add = (r: SignalRef) => {
    if (!out.some((x) => x.device === r.device && x.signal === r.signal)) out.push(r);
  };
  if (nodeType === 'jointAlarm') {
    const texts: string[] = [];
    const c = getPath(config, 'condition');
    if (typeof c === 'string') texts.push(c);
    const esc = getPath(config, 'escalations');
    if (Array.isArray(esc)) for (const e of esc) if (typeof getPath(e, 'condition') === 'string') texts.push(getPath(e, 'condition') as string);
    const re = /dev\(\s*["']([^"']+)["']\s*\)\s*\.\s*([A-Za-z_$][\w$]*)/g;
    for (const t of texts) for (const m of t.matchAll(re)) add({ device: m[1]!, signal: m[2]! });
    return out;
  }
  const walk = (v: Json) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, Json>;
      if (typeof o.signal === 'string' && o.signal && typeof o.op === 'string') add({ signal: o.signal });
      Object.values(o).forEach(walk);
    }
  };
  walk(config);
  return out;
}

export interface Threshold {
  signal: string;
  value: number;
  label: string;
}

/** thresholdsOf lists the fixed thresholds (value, low, high; not rates) of a threshold alarm's rules. */
export function thresholdsOf(config: Json, rule?: string): Threshold[] {
  const out: Threshold[] = [];
  const rules = getPath(config, 'rules');
  if (!Array.isArray(rules)) return out;
  const walk = (v: Json, ruleName: string) => {
    if (Array.isArray(v)) return v.forEach((x) => walk(x, ruleName));
    if (v === null || typeof v !== 'object') return;
    const o = v as Record<string, Json>;
    if (typeof o.signal === 'string' && typeof o.op === 'string' && o.window === undefined) {
      for (const k of ['value', 'low', 'high'] as const) {
        const n = o[k];
        if (typeof n === 'number') out.push({ signal: o.signal, value: n, label: `${ruleName}: ${o.signal} ${k === 'value' ? String(o.op) : k} ${n}` });
      }
    }
    for (const [k, x] of Object.entries(o)) if (k === 'rules' || k === 'condition' || k === 'escalations') walk(x, ruleName);
  };
  for (const r of rules) {
    const name = String(getPath(r, 'name') ?? '');
    if (rule && name !== rule) continue;
    walk(getPath(r, 'condition'), name);
    walk(getPath(r, 'escalations'), name);
  }
  return out;
}

/** saveComment is the version comment of a save from this page. */
export function saveComment(node: FlowNode): string {
  return `alarm rules: changed ${node.name ? `“${node.name}” (${node.id})` : node.id}`;
}

/** dataField is a path in the dotted form of the form's data-field attributes ("rules.0.condition.rules.1.value"). */
export function dataField(path: string): string {
  return path.replace(/\[(\d+)\]/g, '.$1').replace(/^\./, '');
}

/** nodeErrors maps the error problems of one node to field paths ("" for the node as a whole). */
export function nodeErrors(problems: Pick<Problem, 'severity' | 'node' | 'field' | 'message'>[] | undefined, nodeId: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of problems ?? []) {
    if (p.node !== nodeId || p.severity !== 'error') continue;
    const k = p.field ?? '';
    out[k] = out[k] ? `${out[k]}; ${p.message}` : p.message;
  }
  return out;
}

/**
 * formErrors are the errors to show on a node's form: the editor's checks of
 * the configuration against the spec (form.ts), and the server's problems of
 * that node for the fields the local checks find nothing wrong with.
 */
export function formErrors(spec: NodeSpec, config: Json, serverProblems: Problem[] | undefined, nodeId: string): Record<string, string> {
  const local = checkConfig(spec, (config ?? {}) as Record<string, unknown>);
  return { ...nodeErrors(serverProblems, nodeId), ...local };
}

/** otherNodeErrors are the error problems of a flow that are not about nodeId (other nodes, connections, the flow). */
export function otherNodeErrors(problems: Problem[] | undefined, nodeId: string): Problem[] {
  return (problems ?? []).filter((p) => p.severity === 'error' && p.node !== nodeId);
}

/** labelOfPath is a plain name for a field path ("rules[0].condition.rules[1].value" → "Rule 1 › Condition › Rule 2 › Threshold"). */
export function labelOfPath(path: string): string {
  if (path === '') return 'The node';
  const parts: string[] = [];
  for (const seg of path.split('.')) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(seg);
    if (!m) {
      parts.push(labelOf(seg));
      continue;
    }
    const idx = [...(m[2] ?? '').matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]));
    if (idx.length === 0) parts.push(labelOf(m[1] ?? seg));
    else for (const i of idx) parts.push(`${labelOf(m[1] ?? '').replace(/s$/, '')} ${i + 1}`);
  }
  return parts.join(' › ');
}

/**
 * DeployPlan says what a save on the rules page may deploy. The page edits
 * the latest version; when that is not the deployed one, deploying the new
 * version would also put the latest version's other changes live, so the
 * user must choose that explicitly.
 */
export type DeployPlan =
  | { kind: 'notDeployed' }
  | { kind: 'same'; deployed: number }
  | { kind: 'ahead'; deployed: number; latest: number };

export function deployPlan(latest: number, deployedVersion: number | undefined): DeployPlan {
  const d = deployedVersion ?? 0;
  if (d <= 0) return { kind: 'notDeployed' };
  if (d === latest) return { kind: 'same', deployed: d };
  return { kind: 'ahead', deployed: d, latest };
}

/** aheadNotice is the plain sentence for a flow whose latest version is not the deployed one. */
export function aheadNotice(p: { deployed: number; latest: number }): string {
  return `Version ${p.latest} has changes not deployed yet (deployed: version ${p.deployed}). Saving here builds on version ${p.latest}, so deploying would put those changes live too.`;
}

/**
 * notDeployedText is the outcome of a save whose deploy the server refused:
 * the server's reason once, and which version keeps running said once.
 */
export function notDeployedText(version: number, reason: string, running: number): string {
  const r = reason.replace(/[.\s]+$/, '');
  const keeps = /keeps running/i.test(r) ? '' : running > 0 ? ` Version ${running} keeps running.` : '';
  return `Saved as version ${version}, but not deployed: ${r}.${keeps}`;
}
