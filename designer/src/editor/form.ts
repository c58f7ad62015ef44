// Pure form logic for the inspector: titles, effective values with
// defaults, input coercion and the checks that can be made before the
// server validates (types, enums, ranges, required fields).
import type { FieldSpec, NodeSpec } from '../api/nodes';

/** The value the API shows for a stored secret; sent back, it keeps the secret. */
export const MASK = '********';

const varRef = /\$\{vars\.[A-Za-z_][A-Za-z0-9_]*\}/;

export function fieldTitle(f: FieldSpec): string {
  return f.label || f.name;
}

/** isEmpty: absent, null, "" or an empty list/map. */
export function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  return false;
}

/** effectiveValue is the configured value, else the spec's default. */
export function effectiveValue(f: FieldSpec, cfg: Record<string, unknown> | undefined): { value: unknown; isDefault: boolean } {
  if (cfg && cfg[f.name] !== undefined) return { value: cfg[f.name], isDefault: false };
  return { value: f.default, isDefault: true };
}

/** parseDuration reads a Go duration ("1m30s", "500ms") in seconds; null when it is not one. */
export function parseDuration(s: string): number | null {
  const t = s.trim();
  if (t === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let sign = 1;
  let rest = t;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '') return null;
  let total = 0;
  let pos = 0;
  re.lastIndex = 0;
  for (;;) {
    const m = re.exec(rest);
    if (!m) break;
    total += Number(m[1]) * (unit[m[2] ?? 's'] ?? 1);
    pos = re.lastIndex;
  }
  return pos === rest.length && pos > 0 ? sign * total : null;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6)));
}

function boundsError(f: FieldSpec, x: number, unit = ''): string | null {
  if (f.min !== undefined && x < f.min) return `want at least ${fmt(f.min)}${unit}`;
  if (f.max !== undefined && x > f.max) return `want at most ${fmt(f.max)}${unit}`;
  return null;
}

/** checkValue checks one value against its field; it returns the problem or null. */
export function checkValue(f: FieldSpec, v: unknown): string | null {
  if (isEmpty(v)) {
    if (f.required && f.default === undefined && !(f.type === 'bool')) return 'required';
    if (v === undefined || v === null || v === '') return null;
  }
  if (typeof v === 'string' && varRef.test(v)) {
    return f.vars ? null : '${vars.x} placeholders are not allowed in this field';
  }
  switch (f.type) {
    case 'int':
      if (typeof v !== 'number' || !Number.isFinite(v)) return 'want a whole number';
      if (!Number.isInteger(v)) return `want a whole number, got ${v}`;
      return boundsError(f, v);
    case 'float':
      if (typeof v !== 'number' || !Number.isFinite(v)) return 'want a number';
      return boundsError(f, v);
    case 'bool':
      return typeof v === 'boolean' ? null : 'want true or false';
    case 'duration': {
      if (typeof v !== 'string') return 'want a duration such as "500ms", "5s" or "1m30s"';
      const s = parseDuration(v);
      if (s === null) return `want a duration such as "500ms", "5s" or "1m30s", got "${v}"`;
      return boundsError(f, s, ' s');
    }
    case 'enum':
      if (typeof v !== 'string' || !(f.enum ?? []).includes(v)) return `want one of ${(f.enum ?? []).join(', ')}`;
      return null;
    case 'string': case 'secret': case 'code': case 'expression': case 'cron': case 'ref':
      return typeof v === 'string' ? null : 'want text';
    case 'list':
      if (!Array.isArray(v)) return 'want a list';
      return countError(f, v.length);
    case 'map':
      if (!v || typeof v !== 'object' || Array.isArray(v)) return 'want an object of keys and values';
      return countError(f, Object.keys(v).length);
    case 'object':
      return v && typeof v === 'object' && !Array.isArray(v) ? null : 'want an object';
  }
  return null;
}

function countError(f: FieldSpec, n: number): string | null {
  if (f.min !== undefined && n < f.min) return `want at least ${fmt(f.min)} ${f.min === 1 ? 'entry' : 'entries'}`;
  if (f.max !== undefined && n > f.max) return `want at most ${fmt(f.max)} entries`;
  return null;
}

/**
 * checkConfig checks a node's configuration against its spec and returns
 * the problems by field path, in the server's notation ("rules[0].name").
 */
export function checkConfig(spec: NodeSpec, cfg: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  checkFields(spec.fields, cfg ?? {}, '', out);
  return out;
}

function checkFields(fields: FieldSpec[], obj: Record<string, unknown>, prefix: string, out: Record<string, string>) {
  for (const f of fields) {
    const path = prefix + f.name;
    const v = obj[f.name];
    const p = checkValue(f, v);
    if (p) {
      out[path] = p;
      continue;
    }
    if (v === undefined || v === null) continue;
    if (f.type === 'object' && f.fields && typeof v === 'object') checkFields(f.fields, v as Record<string, unknown>, path + '.', out);
    if (f.type === 'list' && Array.isArray(v)) {
      v.forEach((item, i) => {
        const ip = `${path}[${i}]`;
        if (f.fields && f.fields.length > 0) {
          if (!item || typeof item !== 'object') out[ip] = 'want an object';
          else checkFields(f.fields, item as Record<string, unknown>, ip + '.', out);
        } else if (f.item) {
          const q = checkValue({ ...f.item, required: true }, item);
          if (q) out[ip] = q;
        }
      });
    }
    if (f.type === 'map' && f.item && v && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        const q = checkValue(f.item, item);
        if (q) out[`${path}.${k}`] = q;
      }
    }
  }
}

/**
 * fromInput turns the text of an input into the field's value: numbers for
 * int and float (a non-number is kept as text so that the error shows),
 * undefined for an empty input (the default applies).
 */
export function fromInput(f: FieldSpec, text: string): unknown {
  if (text === '') return undefined;
  if (f.type === 'int' || f.type === 'float') {
    const n = Number(text);
    return text.trim() !== '' && Number.isFinite(n) ? n : text;
  }
  return text;
}

/** toInput is the text an input shows for a value. */
export function toInput(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** setPath returns obj with the value at path (a.b[2].c) replaced; undefined deletes the key. */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const keys = splitPath(path);
  return setIn(obj, keys, value) as Record<string, unknown>;
}

export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const k of splitPath(path)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

export function splitPath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of path.split('.')) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) { out.push(part); continue; }
    if (m[1]) out.push(m[1]);
    for (const idx of (m[2] ?? '').matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

function setIn(cur: unknown, keys: (string | number)[], value: unknown): unknown {
  const [k, ...rest] = keys;
  if (k === undefined) return value;
  if (typeof k === 'number') {
    const arr = Array.isArray(cur) ? [...cur] : [];
    arr[k] = setIn(arr[k], rest, value);
    return arr;
  }
  const o: Record<string, unknown> = cur && typeof cur === 'object' && !Array.isArray(cur) ? { ...(cur as Record<string, unknown>) } : {};
  const nv = setIn(o[k], rest, value);
  if (nv === undefined) delete o[k];
  else o[k] = nv;
  return o;
}

/** newItem is a fresh item for a list field: its subfields' defaults, or the item type's default. */
export function newItem(f: FieldSpec): unknown {
  if (f.fields && f.fields.length > 0) {
    const o: Record<string, unknown> = {};
    for (const sub of f.fields) {
      if (sub.default !== undefined) o[sub.name] = structuredClone(sub.default);
      else if (sub.required && sub.type === 'object' && sub.fields) o[sub.name] = newItem({ ...sub, type: 'list' });
      else if (sub.required && sub.type === 'list') o[sub.name] = [];
    }
    return o;
  }
  const t = f.item?.type;
  if (t === 'int' || t === 'float') return 0;
  if (t === 'bool') return false;
  return '';
}

/** problemField splits a problem's field path into the top-level field name and the full path. */
export function topField(path: string): string {
  return splitPath(path)[0]?.toString() ?? path;
}

/**
 * withoutSecrets returns the configuration with every secret value (also in
 * objects and lists of objects) taken out, and how many it took out: what is
 * copied to the clipboard must not carry them.
 */
export function withoutSecrets(fields: FieldSpec[], cfg: Record<string, unknown>): { cfg: Record<string, unknown>; removed: number } {
  let removed = 0;
  const out: Record<string, unknown> = { ...cfg };
  for (const f of fields) {
    const v = out[f.name];
    if (v === undefined || v === null) continue;
    if (f.type === 'secret') {
      delete out[f.name];
      if (v !== '') removed++;
    } else if (f.type === 'object' && f.fields && typeof v === 'object' && !Array.isArray(v)) {
      const r = withoutSecrets(f.fields, v as Record<string, unknown>);
      out[f.name] = r.cfg;
      removed += r.removed;
    } else if (f.type === 'list' && f.fields && Array.isArray(v)) {
      out[f.name] = v.map((item: unknown) => {
        if (!item || typeof item !== 'object' || Array.isArray(item)) return item;
        const r = withoutSecrets(f.fields!, item as Record<string, unknown>);
        removed += r.removed;
        return r.cfg;
      });
    }
  }
  return { cfg: removed > 0 ? out : cfg, removed };
}
