// A plain form for a node configuration, generated from the node's spec
// (GET /api/v1/nodes): every field the spec declares, none it does not.
// Lists of objects (rules, escalations) are repeatable groups; fields that
// do not apply to a condition's operator are hidden while empty.
import { useId, useState } from 'react';
import type { FieldSpec } from '../../api/flowdocs';
import { getAt, itemTitle, labelOf, newItem, relevant, type Json, type Path } from './rulesModel';

export interface FormProps {
  fields: FieldSpec[];
  /** the whole configuration */
  root: Json;
  path: Path;
  onChange(path: Path, value: Json): void;
  /** field errors by dotted path ("rules.0.name") or field name */
  errors?: Record<string, string>;
  disabled?: boolean;
}

export function SpecFields(p: FormProps) {
  const obj = getAt(p.root, p.path);
  const shown = p.fields.filter((f) => relevant(f, obj));
  const basic = shown.filter((f) => !f.advanced);
  const advanced = shown.filter((f) => f.advanced);
  return (
    <div className="spec-fields">
      {basic.map((f) => (
        <Field key={f.name} {...p} field={f} />
      ))}
      {advanced.length > 0 && (
        <details className="advanced">
          <summary>Advanced</summary>
          {advanced.map((f) => (
            <Field key={f.name} {...p} field={f} />
          ))}
        </details>
      )}
    </div>
  );
}

function Field(p: FormProps & { field: FieldSpec }) {
  const { field: f } = p;
  const path = [...p.path, f.name];
  if (f.type === 'object' && f.fields) {
    return (
      <fieldset className="group" data-field={path.join('.')}>
        <legend>{labelOf(f.name)}{f.required ? <Req /> : null}</legend>
        {f.help && <p className="help">{f.help}</p>}
        <SpecFields {...p} fields={f.fields} path={path} />
      </fieldset>
    );
  }
  if (f.type === 'list' && f.fields) return <ListField {...p} field={f} path={path} />;
  return <Scalar {...p} field={f} path={path} />;
}

function Req() {
  return <span className="req" aria-label="required">*</span>;
}

function ListField(p: FormProps & { field: FieldSpec }) {
  const { field: f, path } = p;
  const raw = getAt(p.root, path);
  const items = Array.isArray(raw) ? raw : [];
  const canAdd = f.max === undefined || items.length < f.max;
  const canRemove = items.length > (f.min ?? 0);
  return (
    <fieldset className="list" data-field={path.join('.')}>
      <legend>{labelOf(f.name)}{f.required ? <Req /> : null}</legend>
      {f.help && <p className="help">{f.help}</p>}
      {items.map((item, i) => (
        <fieldset key={i} className="item">
          <legend>{itemTitle(f.name, item, i)}</legend>
          <SpecFields {...p} fields={f.fields!} path={[...path, i]} />
          <button type="button" className="link danger" disabled={p.disabled || !canRemove} onClick={() => p.onChange(path, items.filter((_, j) => j !== i))}>
            Remove {itemTitle(f.name, item, i)}
          </button>
        </fieldset>
      ))}
      <button type="button" disabled={p.disabled || !canAdd} onClick={() => p.onChange(path, [...items, newItem(f.fields)])}>
        Add {labelOf(f.name).replace(/s$/, '').toLowerCase()}
      </button>
    </fieldset>
  );
}

function Scalar(p: FormProps & { field: FieldSpec; path: Path }) {
  const { field: f, path } = p;
  const id = useId();
  const v = getAt(p.root, path);
  const key = path.join('.');
  const err = p.errors?.[key] ?? p.errors?.[f.name];
  const helpId = `${id}-help`;
  const described = [f.help ? helpId : '', err ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  const set = (x: Json) => p.onChange(path, x);
  const common = { id, 'aria-describedby': described, 'aria-invalid': err ? true : undefined, disabled: p.disabled, 'data-field': key } as const;
  const def = f.default !== undefined && f.default !== null && f.default !== '' ? String(f.default) : '';

  let control;
  switch (f.type) {
    case 'enum':
      control = (
        <select {...common} value={v === undefined ? '' : String(v)} onChange={(e) => set(e.target.value === '' ? undefined : e.target.value)} required={f.required}>
          {(!f.required || v === undefined) && <option value="">{def ? `default (${def})` : f.required ? 'choose…' : '—'}</option>}
          {(f.enum ?? []).map((o) => (
            <option key={o} value={o}>{o}</option>
          ))}
        </select>
      );
      break;
    case 'int':
    case 'float':
      control = (
        <input
          {...common}
          type="number"
          step={f.type === 'int' ? 1 : 'any'}
          min={f.min}
          max={f.max}
          placeholder={def}
          value={typeof v === 'number' ? v : ''}
          onChange={(e) => set(e.target.value === '' ? undefined : Number(e.target.value))}
          required={f.required}
        />
      );
      break;
    case 'bool':
      control = <input {...common} type="checkbox" checked={v === true} onChange={(e) => set(e.target.checked)} />;
      break;
    case 'expression':
    case 'code':
      control = <textarea {...common} className="mono" rows={2} value={typeof v === 'string' ? v : ''} placeholder={f.example !== undefined ? String(f.example) : ''} onChange={(e) => set(e.target.value === '' ? undefined : e.target.value)} required={f.required} />;
      break;
    case 'string':
    case 'duration':
      control = (
        <input
          {...common}
          type="text"
          value={typeof v === 'string' ? v : v === undefined ? '' : String(v)}
          placeholder={def || (f.example !== undefined && typeof f.example !== 'object' ? `e.g. ${String(f.example)}` : '')}
          onChange={(e) => set(e.target.value === '' ? undefined : e.target.value)}
          required={f.required}
          size={f.type === 'duration' ? 8 : 20}
        />
      );
      break;
    default:
      control = <JsonInput {...common} value={v} onValid={set} />;
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
      {err && <span id={`${id}-err`} className="field-error">{err}</span>}
    </div>
  );
}

/** JsonInput edits a value of a type the form has no control for, as JSON. */
function JsonInput({ value, onValid, ...rest }: { value: Json; onValid(v: Json): void; id: string; disabled?: boolean; 'data-field': string }) {
  const [text, setText] = useState(() => (value === undefined ? '' : JSON.stringify(value)));
  const [bad, setBad] = useState('');
  return (
    <>
      <textarea
        {...rest}
        className="mono"
        rows={2}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value.trim() === '') {
            setBad('');
            onValid(undefined);
            return;
          }
          try {
            onValid(JSON.parse(e.target.value) as Json);
            setBad('');
          } catch (err) {
            setBad(`not valid JSON: ${String(err)}`);
          }
        }}
      />
      {bad && <span className="field-error">{bad}</span>}
    </>
  );
}
