// The inspector form of a node, generated from its spec: one control per
// field type, required marks, defaults, ranges, help text, masked secrets,
// CodeMirror for code, and errors inline (local checks and the server's).
import { useId, type ReactNode } from 'react';
import type { FieldSpec } from '../api/nodes';
import { CodeField } from './CodeField';
import { effectiveValue, fieldTitle, fromInput, MASK, newItem, toInput } from './form';

export interface FormCtx {
  /** errors by field path ("rules[0].name") */
  errors: Record<string, string>;
  set(path: string, value: unknown): void;
}

function Help({ f }: { f: FieldSpec }) {
  const bits: string[] = [];
  if (f.min !== undefined || f.max !== undefined) {
    const unit = f.type === 'duration' ? ' s' : f.type === 'list' || f.type === 'map' ? ' entries' : '';
    bits.push(f.min !== undefined && f.max !== undefined ? `${f.min}–${f.max}${unit}` : f.min !== undefined ? `≥ ${f.min}${unit}` : `≤ ${f.max}${unit}`);
  }
  if (f.default !== undefined && typeof f.default !== 'object') bits.push(`default ${JSON.stringify(f.default)}`);
  if (f.vars) bits.push('accepts ${vars.x}');
  return <small className="ed-help">{f.help}{bits.length ? ` (${bits.join('; ')})` : ''}</small>;
}

function ErrorLine({ path, errors }: { path: string; errors: Record<string, string> }) {
  const e = errors[path];
  return e ? <span className="error ed-field-error" role="alert" data-testid={`field-error-${path}`}>{e}</span> : null;
}

/** Field renders one field at path with value (undefined: not set). */
export function Field({ f, path, value, ctx }: { f: FieldSpec; path: string; value: unknown; ctx: FormCtx }) {
  const id = useId();
  const title = fieldTitle(f);
  const err = ctx.errors[path];
  const req = f.required ? <span className="ed-req" aria-label="required">*</span> : null;
  const shown = value === undefined ? f.default : value;
  const common = { id, 'data-testid': `field-${path}`, 'aria-invalid': !!err, 'aria-describedby': `${id}-help` };

  let control: ReactNode;
  switch (f.type) {
    case 'bool':
      return (
        <div className="ed-field ed-check">
          <label>
            <input type="checkbox" {...common} checked={shown === true} onChange={(e) => ctx.set(path, e.target.checked)} />
            {title}{req}
          </label>
          <span id={`${id}-help`}><Help f={f} /></span>
          <ErrorLine path={path} errors={ctx.errors} />
        </div>
      );
    case 'enum':
      control = (
        <select {...common} value={typeof shown === 'string' ? shown : ''} onChange={(e) => ctx.set(path, e.target.value === '' ? undefined : e.target.value)}>
          {(shown === undefined || !(f.enum ?? []).includes(String(shown))) && <option value="">{shown === undefined ? '— choose —' : String(shown)}</option>}
          {(f.enum ?? []).map((o) => <option key={o} value={o}>{o}</option>)}
        </select>
      );
      break;
    case 'int':
    case 'float':
      control = (
        <input type="number" {...common} step={f.type === 'int' ? 1 : 'any'} min={f.min} max={f.max}
          value={value === undefined ? '' : toInput(value)} placeholder={f.default !== undefined ? String(f.default) : ''}
          onChange={(e) => ctx.set(path, fromInput(f, e.target.value))} />
      );
      break;
    case 'secret':
      control = (
        <input type="password" autoComplete="new-password" {...common} value={toInput(value)}
          placeholder={value === MASK ? 'stored secret' : ''} onChange={(e) => ctx.set(path, fromInput(f, e.target.value))} />
      );
      break;
    case 'code':
      return (
        <div className="ed-field">
          <span className="ed-label" id={`${id}-label`}>{title}{req}{f.language ? <span className="muted"> ({f.language})</span> : null}</span>
          <CodeField value={typeof value === 'string' ? value : ''} language={f.language} labelId={`${id}-label`} testId={`field-${path}`} invalid={!!err}
            onChange={(v) => ctx.set(path, v === '' ? undefined : v)} />
          <span id={`${id}-help`}><Help f={f} /></span>
          <ErrorLine path={path} errors={ctx.errors} />
        </div>
      );
    case 'object':
      return <ObjectField f={f} path={path} value={value} ctx={ctx} />;
    case 'list':
      return <ListField f={f} path={path} value={value} ctx={ctx} />;
    case 'map':
      return <MapField f={f} path={path} value={value} ctx={ctx} />;
    default: // string, duration, expression, cron, ref
      control = (
        <input type="text" {...common} value={toInput(value)} spellCheck={false}
          placeholder={f.default !== undefined && f.default !== '' ? String(f.default) : f.example !== undefined && typeof f.example !== 'object' ? `e.g. ${String(f.example)}` : ''}
          className={f.type === 'expression' || f.type === 'cron' ? 'mono' : undefined}
          onChange={(e) => ctx.set(path, fromInput(f, e.target.value))} />
      );
  }
  return (
    <div className="ed-field">
      <label htmlFor={id} className="ed-label">{title}{req}</label>
      {control}
      <span id={`${id}-help`}><Help f={f} /></span>
      <ErrorLine path={path} errors={ctx.errors} />
    </div>
  );
}

/** Fields renders a set of fields of one object; advanced ones folded away. */
export function Fields({ fields, prefix, obj, ctx }: { fields: FieldSpec[]; prefix: string; obj: Record<string, unknown>; ctx: FormCtx }) {
  const basic = fields.filter((f) => !f.advanced);
  const adv = fields.filter((f) => f.advanced);
  const advErrors = adv.some((f) => Object.keys(ctx.errors).some((k) => k === prefix + f.name || k.startsWith(prefix + f.name + '.') || k.startsWith(prefix + f.name + '[')));
  return (
    <>
      {basic.map((f) => <Field key={f.name} f={f} path={prefix + f.name} value={obj[f.name]} ctx={ctx} />)}
      {adv.length > 0 && (
        <details className="ed-advanced" open={advErrors || undefined}>
          <summary>Advanced ({adv.length})</summary>
          {adv.map((f) => <Field key={f.name} f={f} path={prefix + f.name} value={obj[f.name]} ctx={ctx} />)}
        </details>
      )}
    </>
  );
}

function ObjectField({ f, path, value, ctx }: { f: FieldSpec; path: string; value: unknown; ctx: FormCtx }) {
  const obj = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  return (
    <fieldset className="ed-group" data-testid={`field-${path}`}>
      <legend>{fieldTitle(f)}{f.required && <span className="ed-req" aria-label="required">*</span>}</legend>
      <Help f={f} />
      <ErrorLine path={path} errors={ctx.errors} />
      <Fields fields={f.fields ?? []} prefix={path + '.'} obj={obj} ctx={ctx} />
    </fieldset>
  );
}

function ListField({ f, path, value, ctx }: { f: FieldSpec; path: string; value: unknown; ctx: FormCtx }) {
  const list = Array.isArray(value) ? value : Array.isArray(f.default) && value === undefined ? (f.default as unknown[]) : [];
  const title = fieldTitle(f);
  const itemSpec: FieldSpec = f.item ?? { name: '', type: 'string', help: '' };
  return (
    <fieldset className="ed-group" data-testid={`field-${path}`}>
      <legend>{title}{f.required && <span className="ed-req" aria-label="required">*</span>}</legend>
      <Help f={f} />
      <ErrorLine path={path} errors={ctx.errors} />
      {list.map((item, i) => (
        <div key={i} className="ed-list-item">
          {f.fields && f.fields.length > 0
            ? <Fields fields={f.fields} prefix={`${path}[${i}].`} obj={item && typeof item === 'object' ? (item as Record<string, unknown>) : {}} ctx={ctx} />
            : <Field f={{ ...itemSpec, name: `${i + 1}`, label: `${title} ${i + 1}`, help: itemSpec.help }} path={`${path}[${i}]`} value={item} ctx={ctx} />}
          <button type="button" className="link danger" aria-label={`Remove ${title} ${i + 1}`} onClick={() => ctx.set(path, list.filter((_, j) => j !== i))}>Remove</button>
        </div>
      ))}
      <button type="button" aria-label={`Add to ${f.name}`} onClick={() => ctx.set(path, [...list, newItem(f)])}>Add</button>
    </fieldset>
  );
}

function MapField({ f, path, value, ctx }: { f: FieldSpec; path: string; value: unknown; ctx: FormCtx }) {
  const { value: v } = effectiveValue(f, value === undefined ? {} : { [f.name]: value });
  const obj = v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const entries = Object.entries(obj);
  const title = fieldTitle(f);
  const valSpec: FieldSpec = f.item ?? { name: '', type: 'string', help: '' };
  const rename = (from: string, to: string) => {
    const out: Record<string, unknown> = {};
    for (const [k, x] of entries) out[k === from ? to : k] = x;
    ctx.set(path, out);
  };
  return (
    <fieldset className="ed-group" data-testid={`field-${path}`}>
      <legend>{title}{f.required && <span className="ed-req" aria-label="required">*</span>}</legend>
      <Help f={f} />
      <ErrorLine path={path} errors={ctx.errors} />
      {entries.map(([k, x], i) => (
        <div key={i} className="ed-map-row">
          <input aria-label={`${title} key ${i + 1}`} value={k} onChange={(e) => rename(k, e.target.value)} />
          <input aria-label={`${title} value ${i + 1}`} value={toInput(x)}
            onChange={(e) => ctx.set(path, { ...obj, [k]: fromInput(valSpec, e.target.value) ?? '' })} />
          <button type="button" className="link danger" aria-label={`Remove ${title} ${k}`} onClick={() => { const o = { ...obj }; delete o[k]; ctx.set(path, o); }}>Remove</button>
          <ErrorLine path={`${path}.${k}`} errors={ctx.errors} />
        </div>
      ))}
      <button type="button" aria-label={`Add to ${f.name}`} onClick={() => {
        let k = 'key';
        for (let n = 2; k in obj; n++) k = `key${n}`;
        ctx.set(path, { ...obj, [k]: fromInput(valSpec, '') ?? '' });
      }}>Add</button>
    </fieldset>
  );
}
