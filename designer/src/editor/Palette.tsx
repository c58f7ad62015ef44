// The palette: node types from GET /api/v1/nodes grouped by category, with
// search. Drag an item onto the canvas (pointer events, so mouse, pen and
// scripted mouse moves all work), or press Enter to add it in the middle.
import { useMemo, useRef, useState, type PointerEvent as RPointerEvent } from 'react';
import { useReactFlow } from '@xyflow/react';
import { categoryLabels, type NodeSpec } from '../api/nodes';
import { freeSpot } from './layout';
import { useEd, useEdApi } from './store';

interface Drag { spec: NodeSpec; x: number; y: number; moved: boolean }

export function groupSpecs(specs: NodeSpec[], query: string): [string, NodeSpec[]][] {
  const q = query.trim().toLowerCase();
  const order = Object.keys(categoryLabels);
  const groups = new Map<string, NodeSpec[]>();
  for (const s of specs) {
    if (q && !`${s.type} ${s.summary} ${s.category}`.toLowerCase().includes(q)) continue;
    const l = groups.get(s.category) ?? [];
    l.push(s);
    groups.set(s.category, l);
  }
  const rank = (c: string) => (order.includes(c) ? order.indexOf(c) : order.length);
  return [...groups.entries()].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]))
    .map(([c, l]) => [c, l.sort((a, b) => a.type.localeCompare(b.type))]);
}

export function Palette() {
  const specsMap = useEd((s) => s.specs);
  const addNode = useEd((s) => s.addNode);
  const edApi = useEdApi();
  const rf = useReactFlow();
  const [query, setQuery] = useState('');
  const [drag, setDrag] = useState<Drag | null>(null);
  const dragRef = useRef<Drag | null>(null);
  const groups = useMemo(() => groupSpecs([...specsMap.values()], query), [specsMap, query]);

  function dropAt(spec: NodeSpec, clientX: number, clientY: number) {
    const canvas = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
    if (!canvas || clientX < canvas.left || clientX > canvas.right || clientY < canvas.top || clientY > canvas.bottom) return;
    const p = rf.screenToFlowPosition({ x: clientX, y: clientY });
    addNode(spec, { x: p.x - 80, y: p.y - 20 });
  }

  function addInMiddle(spec: NodeSpec) {
    const canvas = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
    if (!canvas) return;
    const p = rf.screenToFlowPosition({ x: canvas.left + canvas.width / 2, y: canvas.top + canvas.height / 2 });
    // Not on top of a node already there (a fitted flow has one in the middle).
    addNode(spec, freeSpot(edApi.getState().model.nodes, { x: p.x - 80, y: p.y - 20 }));
  }

  function onPointerDown(e: RPointerEvent, spec: NodeSpec) {
    if (e.button !== 0) return;
    e.preventDefault();
    const d = { spec, x: e.clientX, y: e.clientY, moved: false };
    dragRef.current = d;
    setDrag(d);
    const move = (ev: PointerEvent) => {
      const cur = dragRef.current;
      if (!cur) return;
      const nd = { ...cur, x: ev.clientX, y: ev.clientY, moved: cur.moved || Math.abs(ev.clientX - d.x) + Math.abs(ev.clientY - d.y) > 4 };
      dragRef.current = nd;
      setDrag(nd);
    };
    const up = (ev: PointerEvent) => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      const cur = dragRef.current;
      dragRef.current = null;
      setDrag(null);
      if (cur?.moved) dropAt(cur.spec, ev.clientX, ev.clientY);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  return (
    <aside className="ed-palette" aria-label="Palette">
      <label className="ed-search">
        <span className="sr-only">Search nodes</span>
        <input type="search" placeholder="Search nodes" aria-label="Search nodes" value={query} onChange={(e) => setQuery(e.target.value)} />
      </label>
      {groups.length === 0 && <p className="muted">No node matches “{query}”.</p>}
      {groups.map(([cat, specs]) => (
        <section key={cat} aria-label={categoryLabels[cat] ?? cat}>
          <h3>{categoryLabels[cat] ?? cat}</h3>
          <ul>
            {specs.map((s) => (
              <li key={s.type}>
                <button
                  type="button"
                  className={`ed-palette-item cat-${s.category}`}
                  data-testid={`palette-item-${s.type}`}
                  title={`${s.summary}\nDrag onto the canvas, or press Enter to add.`}
                  onPointerDown={(e) => onPointerDown(e, s)}
                  onKeyDown={(e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); addInMiddle(s); } }}
                >
                  {s.type}{s.source && <span className="ed-src" aria-label="source"> ▸</span>}
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
      {drag?.moved && <div className="ed-drag-ghost" style={{ left: drag.x + 8, top: drag.y + 8 }} aria-hidden="true">{drag.spec.type}</div>}
    </aside>
  );
}
