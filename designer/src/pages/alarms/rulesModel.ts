// Pure logic of the alarm rules page: find the alarm nodes of all flows,
// edit a node's configuration by path, and read what a backtest chart
// needs (the signals and thresholds a configuration uses).
import type { FieldSpec, FlowNode, FlowVersionAnswer, NodeSpec } from '../../api/flowdocs';

export type Path = (string | number)[];
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

export function getAt(v: Json, path: Path): Json {
  let cur = v;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, Json>)[p];
  }
  return cur;
}

/**
 * setAt returns a copy of root with value at path (copying only the
 * containers on the path); undefined deletes an object key.
 */
export function setAt(root: Json, path: Path, value: Json): Json {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string | number, ...Path];
  if (typeof head === 'number') {
    const arr = Array.isArray(root) ? [...root] : [];
    arr[head] = setAt(arr[head], rest, value);
    return arr;
  }
  const obj: Record<string, Json> = root !== null && typeof root === 'object' && !Array.isArray(root) ? { ...(root as Record<string, Json>) } : {};
  const next = setAt(obj[head], rest, value);
  if (next === undefined) delete obj[head];
  else obj[head] = next;
  return obj;
}

/** removeAt returns a copy of root without the list item at path. */
export function removeAt(root: Json, path: Path, index: number): Json {
  const list = getAt(root, path);
  if (!Array.isArray(list)) return root;
  return setAt(root, path, list.filter((_, i) => i !== index));
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

/** newItem is a fresh list item: required enums at their first value, defaults of required fields. */
export function newItem(fields: FieldSpec[] | undefined): Json {
  const o: Record<string, Json> = {};
  for (const f of fields ?? []) {
    if (!f.required) continue;
    if (f.type === 'enum' && f.enum?.length) o[f.name] = f.example ?? f.enum[0];
    else if (f.type === 'object') o[f.name] = newItem(f.fields);
    else if (f.type === 'list' && f.fields) o[f.name] = [newItem(f.fields)];
    else if (f.default !== undefined) o[f.name] = f.default;
  }
  return o;
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
    const c = getAt(config, ['condition']);
    if (typeof c === 'string') texts.push(c);
    const esc = getAt(config, ['escalations']);
    if (Array.isArray(esc)) for (const e of esc) if (typeof getAt(e, ['condition']) === 'string') texts.push(getAt(e, ['condition']) as string);
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
  const rules = getAt(config, ['rules']);
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
    const name = String(getAt(r, ['name']) ?? '');
    if (rule && name !== rule) continue;
    walk(getAt(r, ['condition']), name);
    walk(getAt(r, ['escalations']), name);
  }
  return out;
}

/** saveComment is the version comment of a save from this page. */
export function saveComment(node: FlowNode): string {
  return `alarm rules: changed ${node.name ? `“${node.name}” (${node.id})` : node.id}`;
}

/** fieldKey turns a problem's field ("rules[0].condition.rules[1].value") into a form path key ("rules.0.condition.rules.1.value"). */
export function fieldKey(field: string): string {
  return field.replace(/\[(\d+)\]/g, '.$1').replace(/^\./, '');
}

/** nodeErrors maps the error problems of one node to form path keys ("" for the node as a whole). */
export function nodeErrors(problems: { severity: string; node?: string; field?: string; message: string }[] | undefined, nodeId: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of problems ?? []) {
    if (p.node !== nodeId || p.severity !== 'error') continue;
    const k = p.field ? fieldKey(p.field) : '';
    out[k] = out[k] ? `${out[k]}; ${p.message}` : p.message;
  }
  return out;
}
