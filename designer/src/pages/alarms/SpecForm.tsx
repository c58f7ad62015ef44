// A plain form for an alarm node's configuration, generated from the node's
// spec (GET /api/v1/nodes): every field the spec declares, none it does not.
// The values, their coercion, new list items and the checks are the flow
// editor's (editor/form.ts); this form only presents them for people who do
// not edit flow graphs: plain labels, lists of objects as repeatable groups,
// and only the fields of a condition rule's operator (others show while they
// hold a value). Paths are in the server's notation ("rules[0].name").
import { useId } from 'react';
import type { FieldSpec } from '../../api/nodes';
import { fromInput, getPath, newItem, toInput } from '../../editor/form';
import { dataField, itemTitle, labelOf, relevant, type Json } from './rulesModel';

export interface FormProps {
  fields: FieldSpec[];
  /** the whole configuration */
  root: Json;
  /** the path of the object these fields belong to ("" for the configuration) */
  prefix: string;
  onChange(path: string, value: Json): void;
  /** errors by field path, server notation ("rules[0].name"); "" is the node as a whole */
  errors: Record<string, string>;
  disabled?: boolean;
}

const join = (prefix: string, name: string) => (prefix ? `${prefix}.${name}` : name);

export function SpecFields(p: FormProps) {
  const obj = p.prefix ? getPath(p.root, p.prefix) : p.root;
  const shown = p.fields.filter((f) => relevant(f, obj) || p.errors[join(p.prefix, f.name)] !== undefined);
  const basic = shown.filter((f) => !f.advanced);
  const advanced = shown.filter((f) => f.advanced);
  const advErrors = advanced.some((f) => hasErrorUnder(p.errors, join(p.prefix, f.name)));
  return (
    <div className="spec-fields">
      {basic.map((f) => (
        <Field key={f.name} {...p} field={f} />
      ))}
      {advanced.length > 0 && (
        <details className="advanced" open={advErrors || undefined}>
          <summary>Advanced</summary>
          {advanced.map((f) => (
            <Field key={f.name} {...p} field={f} />
          ))}
        </details>
      )}
    </div>
  );
}

function hasErrorUnder(errors: Record<string, string>, path: string): boolean {
  return Object.keys(errors).some((k) => k === path || k.startsWith(`${path}.`) || k.startsWith(`${path}[`));
}

function GroupError({ errors, path }: { errors: Record<string, string>; path: string }) {
  const e = errors[path];
  return e ? <p className="field-error" data-error-for={dataField(path)}>{e}</p> : null;
}

function Field(p: FormProps & { field: FieldSpec }) {
  const { field: f } = p;
  const path = join(p.prefix, f.name);
  if (f.type === 'object' && f.fields) {
    return (
      <fieldset className={`group${p.errors[path] ? ' has-error' : ''}`} data-field={dataField(path)}>
        <legend>{labelOf(f.name)}{f.required ? <Req /> : null}</legend>
        {f.help && <p className="help">{f.help}</p>}
        <GroupError errors={p.errors} path={path} />
        <SpecFields {...p} fields={f.fields} prefix={path} />
      </fieldset>
    );
  }
  if (f.type === 'list' && f.fields) return <ListField {...p} field={f} path={path} />;
  return <Scalar {...p} field={f} path={path} />;
}

function Req() {
  return <span className="req" aria-label="required">*</span>;
}

function ListField(p: FormProps & { field: FieldSpec; path: string }) {
  const { field: f, path } = p;
  const raw = getPath(p.root, path);
  const items = Array.isArray(raw) ? raw : [];
  const canAdd = f.max === undefined || items.length < f.max;
  const canRemove = items.length > (f.min ?? 0);
  return (
    <fieldset className={`list${p.errors[path] ? ' has-error' : ''}`} data-field={dataField(path)}>
      <legend>{labelOf(f.name)}{f.required ? <Req /> : null}</legend>
      {f.help && <p className="help">{f.help}</p>}
      <GroupError errors={p.errors} path={path} />
      {items.map((item, i) => (
        <fieldset key={i} className="item">
          <legend>{itemTitle(f.name, item, i)}</legend>
          <GroupError errors={p.errors} path={`${path}[${i}]`} />
          <SpecFields {...p} fields={f.fields!} prefix={`${path}[${i}]`} />
          <button type="button" className="link danger" disabled={p.disabled || !canRemove} onClick={() => p.onChange(path, items.filter((_, j) => j !== i))}>
            Remove {itemTitle(f.name, item, i)}
          </button>
        </fieldset>
      ))}
      <button type="button" disabled={p.disabled || !canAdd} onClick={() => p.onChange(path, [...items, newItem(f)])}>
        Add {labelOf(f.name).replace(/s$/, '').toLowerCase()}
      </button>
    </fieldset>
  );
}

function Scalar(p: FormProps & { field: FieldSpec; path: string }) {
  const { field: f, path } = p;
  const id = useId();
  const v = getPath(p.root, path);
  const err = p.errors[path];
  const helpId = `${id}-help`;
  const described = [f.help ? helpId : '', err ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  const set = (x: Json) => p.onChange(path, x);
  const common = { id, 'aria-describedby': described, 'aria-invalid': err ? true : undefined, disabled: p.disabled, 'data-field': dataField(path) } as const;
  const def = f.default !== undefined && f.default !== null && f.default !== '' ? String(f.default) : '';
  const example = f.example !== undefined && typeof f.example !== 'object' ? `e.g. ${String(f.example)}` : '';

  let control;
  switch (f.type) {
    case 'enum':
      control = (
        <select {...common} value={v === undefined ? '' : String(v)} onChange={(e) => set(e.target.value === '' ? undefined : e.target.value)}>
          {(!f.required || v === undefined) && <option value="">{def ? `default (${def})` : f.required ? 'choose…' : '—'}</option>}
          {v !== undefined && !(f.enum ?? []).includes(String(v)) && <option value={String(v)}>{String(v)}</option>}
          {(f.enum ?? []).map((o) => (
            <option key={o} value={o}>{o}</option>
          ))}
        </select>
      );
      break;
    case 'bool':
      control = <input {...common} type="checkbox" checked={(v ?? f.default) === true} onChange={(e) => set(e.target.checked)} />;
      break;
    case 'expression':
    case 'code':
      control = <textarea {...common} className="mono" rows={2} value={toInput(v)} placeholder={f.example !== undefined ? String(f.example) : ''} onChange={(e) => set(fromInput(f, e.target.value))} />;
      break;
    default:
      // int, float (a non-number stays text so that its error shows), string, duration, and the rest.
      control = (
        <input
          {...common}
          type="text"
          inputMode={f.type === 'int' ? 'numeric' : f.type === 'float' ? 'decimal' : undefined}
          spellCheck={false}
          value={toInput(v)}
          placeholder={def || example}
          onChange={(e) => set(fromInput(f, e.target.value))}
          size={f.type === 'duration' || f.type === 'int' || f.type === 'float' ? 10 : 24}
        />
      );
  }
  return (
    <div className={`field field-${f.type}${err ? ' has-error' : ''}`}>
      <label htmlFor={id}>
        {labelOf(f.name)}
        {f.required ? <Req /> : null}
        {f.type === 'duration' && <span className="muted small"> (e.g. 30s, 5m, 1h)</span>}
      </label>
      {control}
      {f.help && <span id={helpId} className="help">{f.help}</span>}
      {err && <span id={`${id}-err`} className="field-error" data-error-for={dataField(path)}>{err}</span>}
    </div>
  );
}
