// An edge with its relation and, in live view, its message count.
import { memo } from 'react';
import { BaseEdge, EdgeLabelRenderer, getBezierPath, type EdgeProps } from '@xyflow/react';
import type { EdEdge } from './model';
import { useEd } from './store';

export const RelEdge = memo(function RelEdge(p: EdgeProps<EdEdge>) {
  const rel = p.sourceHandleId ?? p.data?.dsl.type ?? "";
  const key = `${p.source}|${rel}`;
  const count = useEd((s) => (s.live || s.counts[key] ? s.counts[key] ?? 0 : undefined));
  const onPath = useEd((s) => (s.path?.rels.has(key) && s.path.nodes.has(p.target) ? s.path.kind : ''));
  const added = useEd((s) => s.diff?.addedRels.has(`${p.source}|${rel}|${p.target}`) ?? false);
  const [path, x, y] = getBezierPath(p);
  const tid = `${p.source}-${rel}-${p.target}`;
  const cls = ['ed-edge', onPath ? `path-${onPath}` : '', added ? 'diff-added' : '', p.selected ? 'selected' : ''].filter(Boolean).join(' ');
  return (
    <>
      <BaseEdge id={p.id} path={path} className={cls} interactionWidth={16} />
      <EdgeLabelRenderer>
        <div className={`ed-edge-label ${cls}`} style={{ transform: `translate(-50%, -50%) translate(${x}px, ${y}px)` }} data-testid={`edge-${tid}`}>
          {rel}
          {count !== undefined && <span className="ed-count" data-testid={`edge-count-${tid}`}>{count}</span>}
        </div>
      </EdgeLabelRenderer>
    </>
  );
});
