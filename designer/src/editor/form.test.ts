import { describe, expect, it } from 'vitest';
import type { FieldSpec, NodeSpec } from '../api/nodes';
import { checkConfig, checkValue, effectiveValue, fieldTitle, fromInput, getPath, MASK, newItem, parseDuration, setPath, withoutSecrets } from './form';
import { relationsFor } from './relations';

const f = (x: Partial<FieldSpec> & Pick<FieldSpec, 'name' | 'type'>): FieldSpec => ({ help: '', ...x });

// Shaped like GET /api/v1/nodes answers (httpIn, thresholdAlarm, switch).
const httpIn: NodeSpec = {
  type: 'httpIn', category: 'connectors', summary: '', version: 1, source: true, relations: { fixed: ['Success'] },
  fields: [
    f({ name: 'path', type: 'string', required: true }),
    f({ name: 'auth', type: 'enum', default: 'token', enum: ['token', 'none'] }),
    f({ name: 'syncTimeout', type: 'duration', default: '30s', min: 0.001, max: 600 }),
    f({ name: 'maxBodySize', type: 'int', default: 1048576, min: 1 }),
    f({ name: 'rateLimit', type: 'float', default: 20, min: 0 }),
    f({ name: 'password', type: 'secret' }),
    f({ name: 'headers', type: 'map', default: {} }),
  ],
};

const alarm: NodeSpec = {
  type: 'thresholdAlarm', category: 'alarm', summary: '', version: 1, relations: { fixed: ['Success', 'Failure'] },
  fields: [
    f({
      name: 'rules', type: 'list', required: true, min: 1, max: 64,
      fields: [
        f({ name: 'name', type: 'string', required: true }),
        f({ name: 'severity', type: 'enum', default: 'major', enum: ['minor', 'major'] }),
        f({ name: 'condition', type: 'object', required: true, fields: [
          f({ name: 'op', type: 'enum', default: 'and', enum: ['and', 'or'] }),
          f({ name: 'rules', type: 'list', required: true, min: 1, fields: [f({ name: 'op', type: 'enum', required: true, enum: ['>', '<'] }), f({ name: 'value', type: 'float' })] }),
        ] }),
      ],
    }),
  ],
};

describe('form generation from specs', () => {
  it('shows defaults for fields that are not configured', () => {
    expect(effectiveValue(httpIn.fields[1]!, {})).toEqual({ value: 'token', isDefault: true });
    expect(effectiveValue(httpIn.fields[1]!, { auth: 'none' })).toEqual({ value: 'none', isDefault: false });
    expect(fieldTitle(httpIn.fields[0]!)).toBe('path');
    expect(fieldTitle(f({ name: 'x', type: 'string', label: 'Nice X' }))).toBe('Nice X');
  });

  it('requires required fields without a default, and nothing else', () => {
    expect(checkConfig(httpIn, {})).toEqual({ path: 'required' });
    expect(checkConfig(httpIn, { path: 'a' })).toEqual({});
  });

  it('checks enums, ranges, whole numbers and durations', () => {
    expect(checkConfig(httpIn, { path: 'a', auth: 'basic', maxBodySize: 0, rateLimit: -1, syncTimeout: '20m' })).toEqual({
      auth: 'want one of token, none',
      maxBodySize: 'want at least 1',
      rateLimit: 'want at least 0',
      syncTimeout: 'want at most 600 s',
    });
    expect(checkValue(httpIn.fields[3]!, 1.5)).toBe('want a whole number, got 1.5');
    expect(checkValue(httpIn.fields[3]!, 'ten')).toBe('want a whole number');
    expect(checkValue(httpIn.fields[2]!, '5 seconds')).toMatch(/want a duration/);
    expect(checkValue(httpIn.fields[2]!, '1m30s')).toBeNull();
  });

  it('accepts ${vars.x} only in Vars fields', () => {
    expect(checkValue(f({ name: 'a', type: 'int' }), '${vars.n}')).toMatch(/not allowed/);
    expect(checkValue(f({ name: 'a', type: 'int', vars: true }), '${vars.n}')).toBeNull();
  });

  it('checks nested lists and objects with the server\'s paths', () => {
    expect(checkConfig(alarm, {})).toEqual({ rules: 'required' });
    expect(checkConfig(alarm, { rules: [] })).toEqual({ rules: 'required' });
    const cfg = { rules: [{ name: '', condition: { rules: [{ op: '>', value: 'x' }, { value: 1 }] } }] };
    expect(checkConfig(alarm, cfg)).toEqual({
      'rules[0].name': 'required',
      'rules[0].condition.rules[0].value': 'want a number',
      'rules[0].condition.rules[1].op': 'required',
    });
  });

  it('makes new list items from the item fields\' defaults', () => {
    expect(newItem(alarm.fields[0]!)).toEqual({ severity: 'major', condition: { op: 'and', rules: [] } });
    expect(newItem(f({ name: 's', type: 'list', item: f({ name: '', type: 'string' }) }))).toBe('');
  });

  it('turns input text into typed values; empty means default', () => {
    expect(fromInput(httpIn.fields[3]!, '42')).toBe(42);
    expect(fromInput(httpIn.fields[3]!, '4x')).toBe('4x');
    expect(fromInput(httpIn.fields[3]!, '')).toBeUndefined();
    expect(fromInput(httpIn.fields[0]!, '7')).toBe('7');
  });

  it('keeps a masked secret as it came (the server keeps the stored value)', () => {
    expect(checkValue(httpIn.fields[5]!, MASK)).toBeNull();
    expect(httpIn.fields[5]!.type).toBe('secret');
  });

  it('sets and reads nested paths without mutating', () => {
    const cfg = { rules: [{ name: 'a', condition: { rules: [{ op: '>' }] } }] };
    const out = setPath(cfg, 'rules[0].condition.rules[0].value', 5);
    expect(getPath(out, 'rules[0].condition.rules[0]')).toEqual({ op: '>', value: 5 });
    expect(cfg.rules[0]!.condition.rules[0]).toEqual({ op: '>' });
    expect(setPath({ a: 1, b: 2 }, 'a', undefined)).toEqual({ b: 2 });
  });

  it('parses Go durations', () => {
    expect(parseDuration('500ms')).toBeCloseTo(0.5);
    expect(parseDuration('1m30s')).toBe(90);
    expect(parseDuration('1h')).toBe(3600);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('abc')).toBeNull();
    expect(parseDuration('5')).toBeNull();
  });
});

describe('relations from specs', () => {
  const sw: NodeSpec = { type: 'switch', category: 'filter', summary: '', version: 1, fields: [], relations: { fixed: ['Default', 'Failure'], fromField: 'cases', fromKey: 'then' } };
  it('adds one relation per configured case before the fixed ones', () => {
    expect(relationsFor(sw, { cases: [{ then: 'Hot' }, { then: 'Cold' }, { then: 'Hot' }] })).toEqual({ relations: ['Hot', 'Cold', 'Default', 'Failure'], dynamic: false });
  });
  it('is dynamic when the spec says so or its dynamicIf field is true (or defaults to true)', () => {
    const sub: NodeSpec = { ...sw, relations: { fixed: ['Success'], dynamicIf: 'extend' }, fields: [f({ name: 'extend', type: 'bool', default: false })] };
    expect(relationsFor(sub, {}).dynamic).toBe(false);
    expect(relationsFor(sub, { extend: true }).dynamic).toBe(true);
    expect(relationsFor({ ...sub, fields: [f({ name: 'extend', type: 'bool', default: true })] }, {}).dynamic).toBe(true);
    expect(relationsFor({ ...sw, relations: { fixed: ['Default'], dynamic: true } }, {}, ['TELEMETRY'])).toEqual({ relations: ['Default', 'TELEMETRY'], dynamic: true });
  });
  it('uses map keys in order', () => {
    expect(relationsFor({ ...sw, relations: { fromField: 'm' } }, { m: { b: 1, a: 2 } }).relations).toEqual(['a', 'b']);
  });
});

describe('secrets on the clipboard', () => {
  it('takes secrets out, also nested ones, and counts the set ones', () => {
    const fields = [
      f({ name: 'password', type: 'secret' }),
      f({ name: 'server', type: 'string' }),
      f({ name: 'tls', type: 'object', fields: [f({ name: 'key', type: 'secret' })] }),
      f({ name: 'devices', type: 'list', fields: [f({ name: 'token', type: 'secret' }), f({ name: 'id', type: 'string' })] }),
    ];
    const cfg = { password: MASK, server: 'x:1', tls: { key: 'typed in' }, devices: [{ token: '', id: 'a' }, { token: 't', id: 'b' }] };
    const r = withoutSecrets(fields, cfg);
    expect(r.removed).toBe(3);
    expect(r.cfg).toEqual({ server: 'x:1', tls: {}, devices: [{ token: '', id: 'a' }, { id: 'b' }] });
    expect(cfg.password).toBe(MASK); // the input is not changed
    const none = { server: 'x:1' };
    expect(withoutSecrets(fields, none)).toEqual({ cfg: none, removed: 0 });
  });
});
