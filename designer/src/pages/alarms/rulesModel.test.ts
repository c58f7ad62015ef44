import { describe, expect, it } from 'vitest';
import type { FieldSpec, FlowVersionAnswer, NodeSpec } from '../../api/flowdocs';
import { alarmSpecs, collectAlarmNodes, getAt, itemTitle, labelOf, newItem, relevant, removeAt, sameJson, setAt, signalsOf, thresholdsOf } from './rulesModel';

const spec = (type: string, category: string): NodeSpec => ({ type, category, summary: '', version: 1, fields: [] });
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

describe('setAt / getAt / removeAt', () => {
  const cfg = { rules: [{ name: 'r', condition: { op: 'and', rules: [{ op: '>', signal: 't', value: 80 }] } }] };
  it('sets a nested value without touching the original', () => {
    const out = setAt(cfg, ['rules', 0, 'condition', 'rules', 0, 'value'], 90);
    expect(getAt(out, ['rules', 0, 'condition', 'rules', 0, 'value'])).toBe(90);
    expect(cfg.rules[0]!.condition.rules[0]!.value).toBe(80);
    expect(getAt(out, ['rules', 0, 'name'])).toBe('r');
  });
  it('deletes a key set to undefined', () => {
    const out = setAt(cfg, ['rules', 0, 'condition', 'rules', 0, 'value'], undefined);
    expect(getAt(out, ['rules', 0, 'condition', 'rules', 0])).toEqual({ op: '>', signal: 't' });
  });
  it('creates missing containers', () => {
    expect(setAt({}, ['a', 0, 'b'], 1)).toEqual({ a: [{ b: 1 }] });
  });
  it('removes a list item', () => {
    expect(removeAt({ l: [1, 2, 3] }, ['l'], 1)).toEqual({ l: [1, 3] });
  });
});

describe('sameJson', () => {
  it('ignores key order and undefined keys', () => {
    expect(sameJson({ a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1, e: undefined })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 2 })).toBe(false);
  });
});

describe('relevant', () => {
  const f = (name: string): FieldSpec => ({ name, type: 'string' });
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

describe('newItem', () => {
  it('fills required enums, objects and lists', () => {
    const fields: FieldSpec[] = [
      { name: 'name', type: 'string', required: true },
      { name: 'severity', type: 'enum', enum: ['info', 'major'], default: 'major' },
      { name: 'condition', type: 'object', required: true, fields: [{ name: 'rules', type: 'list', required: true, fields: [{ name: 'op', type: 'enum', required: true, enum: ['>', '<'], example: '>' }] }] },
    ];
    expect(newItem(fields)).toEqual({ condition: { rules: [{ op: '>' }] } });
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

describe('problems', () => {
  it('maps problem fields to form keys', async () => {
    const { fieldKey, nodeErrors } = await import('./rulesModel');
    expect(fieldKey('rules[0].condition.rules[12].value')).toBe('rules.0.condition.rules.12.value');
    expect(
      nodeErrors(
        [
          { severity: 'error', node: 'a', field: 'rules[0].name', message: 'must not be empty' },
          { severity: 'warning', node: 'a', field: 'tick', message: 'odd' },
          { severity: 'error', node: 'b', field: 'x', message: 'other node' },
          { severity: 'error', node: 'a', message: 'whole node' },
        ],
        'a',
      ),
    ).toEqual({ 'rules.0.name': 'must not be empty', '': 'whole node' });
  });
});
