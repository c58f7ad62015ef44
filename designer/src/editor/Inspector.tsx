// The inspector: the selected node's form (from its spec), a note's text,
// or the flow's own name and description.
import { useEffect, useMemo, useRef } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { Problem } from '../api/types';
import { checkConfig, setPath, topField } from './form';
import { Fields, type FormCtx } from './SpecForm';
import { NOTE_PREFIX, isFlowNode, isNoteNode, type FlowNode, type NoteNode } from './model';
import { useEd } from './store';

const EMPTY: Problem[] = [];

export function Inspector() {
  const selected = useEd(useShallow((s) => s.model.nodes.filter((n) => n.selected)));
  const focus = useEd((s) => s.focus);
  const ref = useRef<HTMLElement>(null);

  // A clicked problem focuses its field (opening folded groups first).
  useEffect(() => {
    if (!focus || !ref.current) return;
    const root = ref.current;
    const t = setTimeout(() => {
      const sel = (p: string) => root.querySelector<HTMLElement>(`[data-testid="field-${CSS.escape(p)}"]`);
      const el = sel(focus.field) ?? sel(topField(focus.field));
      if (!el) return;
      const det = el.closest('details');
      if (det) det.open = true;
      el.scrollIntoView({ block: 'center' });
      const target = el.matches('input,select,textarea') ? el : el.querySelector<HTMLElement>('input,select,textarea,[contenteditable="true"]');
      target?.focus();
    }, 30);
    return () => clearTimeout(t);
  }, [focus]);

  let body;
  const one = selected.length === 1 ? selected[0] : undefined;
  if (one && isFlowNode(one)) body = <NodeForm key={one.id} node={one} />;
  else if (one && isNoteNode(one)) body = <NoteForm key={one.id} node={one} />;
  else if (selected.length > 1) body = <p className="muted">{selected.length} items selected. Drag to move them; Delete removes them; Ctrl+C copies them.</p>;
  else body = <FlowForm />;
  return <aside className="ed-inspector" aria-label="Inspector" ref={ref}>{body}</aside>;
}

function NodeForm({ node }: { node: FlowNode }) {
  const dsl = node.data.dsl;
  const spec = useEd((s) => s.specs.get(dsl.type));
  const update = useEd((s) => s.updateNode);
  const dropFieldProblems = useEd((s) => s.dropFieldProblems);
  const problems = useEd((s) => s.problems);
  const mine = useMemo(() => (problems.length ? problems.filter((p) => p.node === node.id) : EMPTY), [problems, node.id]);
  const cfg = useMemo(() => dsl.configuration ?? {}, [dsl.configuration]);
  const errors = useMemo(() => {
    const out: Record<string, string> = spec ? checkConfig(spec, cfg) : {};
    for (const p of mine) if (p.field && !out[p.field]) out[p.field] = p.message;
    return out;
  }, [spec, cfg, mine]);
  const ctx: FormCtx = {
    errors,
    set: (path, value) => {
      update(node.id, (n) => ({ ...n, configuration: setPath(n.configuration ?? {}, path, value) }), `cfg:${path}`);
      dropFieldProblems(node.id, path);
    },
  };
  const nodeLevel = mine.filter((p) => !p.field || !(p.field in errors) || errors[p.field] !== p.message);

  return (
    <form className="ed-form" onSubmit={(e) => e.preventDefault()} aria-label={`Node ${node.id}`}>
      <h2>{dsl.name || dsl.id}</h2>
      <p className="muted"><code>{dsl.type}</code> · id <code data-testid="node-id">{node.id}</code></p>
      {spec ? <p className="ed-summary">{spec.summary}</p> : <p className="error" role="alert">Unknown node type “{dsl.type}”: this server has no such node; its configuration is kept as it is.</p>}
      {nodeLevel.length > 0 && (
        <ul className="ed-node-problems">
          {nodeLevel.map((p, i) => <li key={i} className={p.severity}>{p.field ? <code>{p.field}</code> : null} {p.message}</li>)}
        </ul>
      )}
      <div className="ed-field">
        <label htmlFor="ed-node-name" className="ed-label">Name</label>
        <input id="ed-node-name" data-testid="field-__name" value={dsl.name ?? ''} onChange={(e) => update(node.id, (n) => ({ ...n, name: e.target.value }), 'name')} />
      </div>
      {spec && <Fields fields={spec.fields} prefix="" obj={cfg} ctx={ctx} />}
      {spec && spec.fields.length === 0 && <p className="muted">This node has no settings.</p>}
      <label className="ed-check">
        <span><input type="checkbox" checked={!!dsl.debugMode} onChange={(e) => update(node.id, (n) => ({ ...n, debugMode: e.target.checked || undefined }))} /> Debug mode</span>
      </label>
    </form>
  );
}

function NoteForm({ node }: { node: NoteNode }) {
  const note = node.data.note;
  const update = useEd((s) => s.updateNote);
  const id = node.id.slice(NOTE_PREFIX.length);
  return (
    <form className="ed-form" onSubmit={(e) => e.preventDefault()} aria-label={`${note.kind} ${id}`}>
      <h2>{note.kind === 'frame' ? 'Frame' : 'Note'}</h2>
      <div className="ed-field">
        <label htmlFor="ed-note-text" className="ed-label">Text</label>
        <textarea id="ed-note-text" data-testid="field-__text" rows={5} value={note.text} onChange={(e) => update(id, { text: e.target.value }, 'text')} />
      </div>
      <p className="muted">Drag the corners to resize. Notes and frames are saved with the flow.</p>
    </form>
  );
}

function FlowForm() {
  const doc = useEd((s) => s.model.doc);
  const flowId = useEd((s) => s.flowId);
  const version = useEd((s) => s.version);
  const count = useEd((s) => s.model.nodes.filter(isFlowNode).length);
  return (
    <div className="ed-form">
      <h2>{doc.ruleChain.name || flowId}</h2>
      <p className="muted">Flow <code>{flowId}</code>, version {version || 'not saved'}, {count} nodes.</p>
      {typeof doc.ruleChain.additionalInfo?.description === 'string' && <p>{doc.ruleChain.additionalInfo.description}</p>}
      <p className="muted">Select a node to edit it. Drag nodes from the palette; wire a relation by dragging from its handle on the right of a node to the input on the left of another.</p>
    </div>
  );
}
