import { describe, expect, it } from 'vitest';
import type { FlowVersionAnswer } from '../../api/flowdocs';
import type { FieldSpec, NodeSpec } from '../../api/nodes';
import {
  aheadNotice, alarmSpecs, collectAlarmNodes, dataField, deployPlan, formErrors, itemTitle, labelOf, labelOfPath, nodeErrors, notDeployedText, otherNodeErrors,
  relevant, sameJson, signalsOf, thresholdsOf,
} from './rulesModel';

const spec = (type: string, category: string, fields: FieldSpec[] = []): NodeSpec => ({ type, category, summary: '', version: 1, fields, relations: {} });
const flow = (id: string, name: string, nodes: { id: string; type: string; name?: string }[]): FlowVersionAnswer => ({
  id, name, version: 3, author: 'a', createdAt: '', flow: { ruleChain: { id, name }, metadata: { nodes, connections: [] } },
});

describe('collectAlarmNodes', () => {
  it('finds the alarm-category nodes of every flow, ordered by flow then node name', () => {
    const specs = alarmSpecs([spec('thresholdAlarm', 'alarm'), spec('jointAlarm', 'alarm'), spec('log', 'action')]);
    const got = collectAlarmNodes(
      [
        flow('b', 'Boiler', [{ id: 'x', type: 'log' }, { id: 'a2', type: 'thresholdAlarm', name: 'Zeta' }, { id: 'a1', type: 'jointAlarm', name: 'Alpha' }]),
        flow('a', 'Air', [{ id: 't', type: 'thresholdAlarm' }]),
      ],
      specs,
    );
    expect(got.map((r) => r.key)).toEqual(['a/t', 'b/a1', 'b/a2']);
    expect(got[1]!.spec.type).toBe('jointAlarm');
  });
});

describe('sameJson', () => {
  it('ignores key order and undefined keys', () => {
    expect(sameJson({ a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1, e: undefined })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 2 })).toBe(false);
  });
});

describe('relevant', () => {
  const f = (name: string): FieldSpec => ({ name, type: 'string', help: '' });
  it('shows value for comparisons, low/high for bands, timeout for noData', () => {
    expect(relevant(f('value'), { op: '>' })).toBe(true);
    expect(relevant(f('low'), { op: '>' })).toBe(false);
    expect(relevant(f('low'), { op: 'outside' })).toBe(true);
    expect(relevant(f('value'), { op: 'outside' })).toBe(false);
    expect(relevant(f('timeout'), { op: 'noData' })).toBe(true);
    expect(relevant(f('deadband'), { op: 'noData' })).toBe(false);
    expect(relevant(f('rules'), { op: 'and' })).toBe(true);
    expect(relevant(f('signal'), { op: 'or' })).toBe(false);
  });
  it('never hides a field that holds a value', () => {
    expect(relevant(f('low'), { op: '>', low: 3 })).toBe(true);
  });
  it('shows every field of items without op', () => {
    expect(relevant(f('anything'), { name: 'r' })).toBe(true);
  });
});

describe('labels and titles', () => {
  it('has plain labels', () => {
    expect(labelOf('deadband')).toBe('Hysteresis (dead band)');
    expect(labelOf('someNewField')).toBe('Some new field');
  });
  it('titles list items by name or content', () => {
    expect(itemTitle('rules', { name: 'overheat' }, 0)).toBe('overheat');
    expect(itemTitle('rules', { op: '>', signal: 'temperature', value: 80 }, 1)).toBe('Rule 2: temperature > 80');
    expect(itemTitle('escalations', { severity: 'critical' }, 0)).toBe('Escalation 1: critical');
  });
});

describe('signalsOf and thresholdsOf', () => {
  const cfg = {
    rules: [
      { name: 'overheat', condition: { op: 'or', rules: [{ op: '>', signal: 'temperature', value: 80 }, { op: 'and', rules: [{ op: '>', signal: 'temperature', window: '5m', value: 2 }, { op: '==', signal: 'running', value: 0 }] }] },
        escalations: [{ severity: 'critical', condition: { rules: [{ op: '>', signal: 'temperature', value: 95 }] } }] },
      { name: 'pressure', condition: { rules: [{ op: 'outside', signal: 'pressure', low: 1.5, high: 3 }] } },
    ],
  };
  it('lists the signals a threshold alarm reads', () => {
    expect(signalsOf('thresholdAlarm', cfg)).toEqual([{ signal: 'temperature' }, { signal: 'running' }, { signal: 'pressure' }]);
  });
  it('lists the dev("id").signal reads of a joint alarm', () => {
    expect(signalsOf('jointAlarm', { condition: 'dev("boiler-7").temperature > 80 && !dev(\'pump-2\').running', escalations: [{ condition: 'dev("boiler-7").pressure > 3' }] })).toEqual([
      { device: 'boiler-7', signal: 'temperature' },
      { device: 'pump-2', signal: 'running' },
      { device: 'boiler-7', signal: 'pressure' },
    ]);
  });
  it('lists fixed thresholds, not rates, optionally of one rule', () => {
    expect(thresholdsOf(cfg).map((t) => `${t.signal}:${t.value}`)).toEqual(['temperature:80', 'running:0', 'temperature:95', 'pressure:1.5', 'pressure:3']);
    expect(thresholdsOf(cfg, 'pressure').map((t) => t.value)).toEqual([1.5, 3]);
  });
});

// A cut-down joint alarm spec, as GET /api/v1/nodes has it.
const joint = spec('jointAlarm', 'alarm', [
  { name: 'name', type: 'string', help: '', required: true },
  { name: 'condition', type: 'expression', help: '', required: true },
  { name: 'duration', type: 'duration', help: '', default: '0s', min: 0 },
  { name: 'samples', type: 'int', help: '', default: 1, min: 1 },
  { name: 'escalations', type: 'list', help: '', max: 8, fields: [{ name: 'severity', type: 'enum', help: '', required: true, enum: ['major', 'critical'] }, { name: 'after', type: 'duration', help: '' }] },
]);

describe('form errors', () => {
  it('uses the editor checks of the spec: durations, numbers, required fields, list items', () => {
    const e = formErrors(joint, { name: 'r', condition: 'x > 1', duration: 'abc', samples: 0, escalations: [{ after: '5m' }] }, undefined, 'j');
    expect(e.duration).toMatch(/want a duration/);
    expect(e.samples).toBe('want at least 1');
    expect(e['escalations[0].severity']).toBe('required');
    expect(Object.keys(e)).toHaveLength(3);
  });
  it('adds the server problems of the node, by field, in the server notation; local checks win', () => {
    const problems = [
      { severity: 'error' as const, node: 'j', field: 'condition', message: 'syntax error' },
      { severity: 'error' as const, node: 'j', field: 'duration', message: 'server says bad' },
      { severity: 'warning' as const, node: 'j', field: 'name', message: 'odd' },
      { severity: 'error' as const, node: 'other', field: 'path', message: 'must not be empty' },
    ];
    const e = formErrors(joint, { name: 'r', condition: 'x >', duration: 'abc' }, problems, 'j');
    expect(e).toEqual({ condition: 'syntax error', duration: expect.stringMatching(/want a duration/) as string });
    expect(otherNodeErrors(problems, 'j').map((p) => p.node)).toEqual(['other']);
  });
  it('a valid configuration has none', () => {
    expect(formErrors(joint, { name: 'r', condition: 'x > 1', duration: '30s', escalations: [{ severity: 'critical', after: '5m' }] }, [], 'j')).toEqual({});
  });
  it('maps problems of one node by field path', () => {
    expect(
      nodeErrors(
        [
          { severity: 'error', node: 'a', field: 'rules[0].name', message: 'must not be empty' },
          { severity: 'error', node: 'a', field: 'rules[0].name', message: 'too short' },
          { severity: 'warning', node: 'a', field: 'tick', message: 'odd' },
          { severity: 'error', node: 'b', field: 'x', message: 'other node' },
          { severity: 'error', node: 'a', message: 'whole node' },
        ],
        'a',
      ),
    ).toEqual({ 'rules[0].name': 'must not be empty; too short', '': 'whole node' });
  });
  it('names paths plainly and for data-field attributes', () => {
    expect(dataField('rules[0].condition.rules[12].value')).toBe('rules.0.condition.rules.12.value');
    expect(labelOfPath('rules[0].condition.rules[1].value')).toBe('Rule 1 › Condition › Rule 2 › Threshold');
    expect(labelOfPath('duration')).toBe('Must hold for');
    expect(labelOfPath('')).toBe('The node');
  });
});

describe('deploy plan', () => {
  it('deploys on save only when the latest version is the deployed one', () => {
    expect(deployPlan(3, 0)).toEqual({ kind: 'notDeployed' });
    expect(deployPlan(3, undefined)).toEqual({ kind: 'notDeployed' });
    expect(deployPlan(3, 3)).toEqual({ kind: 'same', deployed: 3 });
    expect(deployPlan(3, 2)).toEqual({ kind: 'ahead', deployed: 2, latest: 3 });
  });
  it('says plainly that the latest version has undeployed changes', () => {
    expect(aheadNotice({ deployed: 2, latest: 3 })).toMatch(/^Version 3 has changes not deployed yet \(deployed: version 2\)\./);
  });
});

describe('notDeployedText', () => {
  it('says once which version keeps running', () => {
    const t = notDeployedText(3, 'deploy flow "j" version 3: the flow has errors; the running version keeps running', 2);
    expect(t).toBe('Saved as version 3, but not deployed: deploy flow "j" version 3: the flow has errors; the running version keeps running.');
    expect(t.match(/keeps running/g)).toHaveLength(1);
    expect(notDeployedText(4, 'the engine is stopping.', 2)).toBe('Saved as version 4, but not deployed: the engine is stopping. Version 2 keeps running.');
  });
});
