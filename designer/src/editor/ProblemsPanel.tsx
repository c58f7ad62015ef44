// The problems panel: what validation found; click one to jump to its node
// and field.
import { useReactFlow } from '@xyflow/react';
import type { Problem } from '../api/types';
import { useEd } from './store';

export function describe(p: Problem): string {
  return [p.node ? `${p.node}${p.nodeType ? ` (${p.nodeType})` : ''}` : '', p.field ?? ''].filter(Boolean).join(' · ');
}

export function ProblemsPanel() {
  const problems = useEd((s) => s.problems);
  const validatedAt = useEd((s) => s.validatedAt);
  const nodes = useEd((s) => s.model.nodes);
  const focusField = useEd((s) => s.focusField);
  const rf = useReactFlow();

  function jump(p: Problem) {
    if (!p.node) return;
    const n = nodes.find((x) => x.id === p.node);
    if (!n) return;
    focusField(p.node, p.field ?? '');
    void rf.fitView({ nodes: [{ id: p.node }], duration: 250, maxZoom: 1.2 });
  }

  return (
    <div data-testid="problems" className="ed-problems" aria-label="Problems">
      {problems.length === 0 && <p className="muted">{validatedAt ? 'No problems found.' : 'Press Validate to check the flow.'}</p>}
      <ul>
        {problems.map((p, i) => (
          <li key={i}>
            <button type="button" className={`ed-problem ${p.severity}`} data-testid={`problem-${i}`} onClick={() => jump(p)} disabled={!p.node} title={p.node ? 'Show the node and field' : undefined}>
              <span className={`ed-sev ${p.severity}`}>{p.severity}</span>
              <span className="ed-where">{describe(p)}</span>
              <span className="ed-msg">{p.message}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
