// A flow node on the canvas: name, type, one labelled output handle per
// relation, an input handle, and badges (problems, live status, test path,
// version diff).
import { memo, useMemo } from 'react';
import { Handle, Position, type NodeProps } from '@xyflow/react';
import { relationsFor } from './relations';
import { useEd } from './store';
import { ANY_HANDLE, TARGET_HANDLE, type FlowNode } from './model';

export const HEADER = 40;
export const ROW = 20;

const str = (v: unknown) => (typeof v === 'string' ? v : '');

export const FlowNodeView = memo(function FlowNodeView({ id, data, selected }: NodeProps<FlowNode>) {
  const dsl = data.dsl;
  const spec = useEd((s) => s.specs.get(dsl.type));
  const used = useEd((s) => s.usedRels.get(id));
  const { relations, dynamic } = useMemo(() => relationsFor(spec, dsl.configuration, used), [spec, dsl.configuration, used]);
  const errors = useEd((s) => s.problems.reduce((n, p) => n + (p.node === id && p.severity === 'error' ? 1 : 0), 0));
  const warnings = useEd((s) => s.problems.reduce((n, p) => n + (p.node === id && p.severity === 'warning' ? 1 : 0), 0));
  const stState = useEd((s) => s.stats?.sources?.[id]?.state ?? str(s.stats?.nodes?.[id]?.state));
  const stError = useEd((s) => s.stats?.sources?.[id]?.lastError ?? str(s.stats?.nodes?.[id]?.lastError));
  const status = stState ? { state: stState, error: stError } : null;
  const onPath = useEd((s) => (s.path?.nodes.has(id) ? s.path.kind : ''));
  const diff = useEd((s) => s.diff?.nodes[id] ?? '');
  const diffDetail = useEd((s) => s.diff?.details[id]);
  const ghost = id.startsWith('ghost:');
  const handles = dynamic ? [...relations, ANY_HANDLE] : relations;
  const cls = ['ed-node', spec?.source ? 'source' : '', spec ? `cat-${spec.category}` : 'unknown', selected ? 'selected' : '', errors ? 'has-errors' : '',
    onPath ? `visited path-${onPath}` : '', diff ? `diff-${diff}` : '', ghost ? 'ghost' : ''].filter(Boolean).join(' ');
  const title = [dsl.name || dsl.id, dsl.type, spec ? spec.summary : `unknown node type ${dsl.type}`, diffDetail ? `changed: ${diffDetail.join(', ')}` : ''].filter(Boolean).join('\n');

  return (
    <div className={cls} data-testid={ghost ? `ghost-${dsl.id}` : `node-${id}`} style={{ minHeight: HEADER + Math.max(1, handles.length) * ROW }} title={title}>
      <div className="ed-node-head">
        <span className="ed-node-name">{dsl.name || dsl.id}</span>
        <span className="ed-node-type">{dsl.type}{dsl.name && dsl.name !== id ? ` · ${id}` : ''}</span>
      </div>
      {errors > 0 && <span className="ed-badge error" data-testid={`badge-${id}`} title={`${errors} error(s)`}>{errors}</span>}
      {errors === 0 && warnings > 0 && <span className="ed-badge warning" data-testid={`badge-${id}`} title={`${warnings} warning(s)`}>{warnings}</span>}
      {status && (
        <span className={`ed-status st-${status.state}`} data-testid={`status-${id}`} title={status.error ? `${status.state}: ${status.error}` : status.state}>
          {status.state}{status.error ? ` – ${status.error}` : ''}
        </span>
      )}
      {diff && <span className={`ed-diff-tag ${diff}`}>{diff}</span>}
      {!(spec?.source) && (
        <Handle type="target" position={Position.Left} id={TARGET_HANDLE} data-testid={`handle-${id}-in`} aria-label={`${id} input`} style={{ top: HEADER / 2 + 4 }} />
      )}
      {handles.map((rel, i) => (
        <div key={rel} className="ed-rel" style={{ top: HEADER + i * ROW }}>
          <span className="ed-rel-label">{rel === ANY_HANDLE ? '+ other' : rel}</span>
          <Handle type="source" position={Position.Right} id={rel} data-testid={`handle-${id}-${rel}`} aria-label={`${id} ${rel === ANY_HANDLE ? 'other relation' : rel}`} style={{ top: ROW / 2 }} />
        </div>
      ))}
    </div>
  );
});
