// The debug panel of the live view: the message log with filters by node,
// relation and device, pause and clear; click a message to highlight the
// path its root message took.
import { useMemo, useState } from 'react';
import type { TraceEvent } from '../api/flows';
import { pathOf } from './TestPanel';
import { useEd } from './store';

export function deviceOf(e: TraceEvent): string {
  const m = e.metadata ?? {};
  if (m.deviceId) return m.deviceId;
  try {
    const d = JSON.parse(e.data) as { deviceId?: unknown };
    return typeof d?.deviceId === 'string' ? d.deviceId : '';
  } catch {
    return '';
  }
}

export function DebugPanel() {
  const log = useEd((s) => s.log);
  const live = useEd((s) => s.live);
  const paused = useEd((s) => s.paused);
  const setPaused = useEd((s) => s.setPaused);
  const clearLog = useEd((s) => s.clearLog);
  const setPath = useEd((s) => s.setPath);
  const [node, setNode] = useState('');
  const [relation, setRelation] = useState('');
  const [device, setDevice] = useState('');
  const [picked, setPicked] = useState<TraceEvent | null>(null);
  const nodes = useMemo(() => [...new Set(log.map((e) => e.node))].sort(), [log]);
  const shown = useMemo(() => log.filter((e) =>
    (!node || e.node === node) && (!relation || (e.relation ?? '').toLowerCase().includes(relation.toLowerCase())) && (!device || deviceOf(e).includes(device))).slice(0, 200), [log, node, relation, device]);

  function pick(e: TraceEvent) {
    setPicked(e);
    setPath(pathOf(log.filter((x) => x.rootId === e.rootId), 'live'));
  }

  return (
    <div className="ed-debug">
      <div className="ed-debug-bar" role="toolbar" aria-label="Debug log">
        <label>Node
          <select value={node} onChange={(e) => setNode(e.target.value)}>
            <option value="">all</option>
            {nodes.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
        <label>Relation <input value={relation} onChange={(e) => setRelation(e.target.value)} /></label>
        <label>Device <input value={device} onChange={(e) => setDevice(e.target.value)} /></label>
        <button type="button" aria-pressed={paused} onClick={() => setPaused(!paused)}>{paused ? 'Resume' : 'Pause'}</button>
        <button type="button" onClick={() => { clearLog(); setPicked(null); setPath(null); }}>Clear</button>
        <span className="muted">{live ? (paused ? 'paused' : 'live') : 'Live view is off: press Live.'} {log.length} messages</span>
      </div>
      <div className="ed-debug-body">
        <ul data-testid="debug-log" className="ed-debug-log">
          {shown.map((e) => (
            <li key={`${e.msgId}-${e.seq}-${e.node}-${e.direction}`}>
              <button type="button" data-testid="debug-msg" className={`ed-debug-msg${picked === e ? ' picked' : ''}${e.error ? ' err' : ''}`} onClick={() => pick(e)}>
                <span className="ed-ts">{new Date(e.ts).toLocaleTimeString()}</span>
                <span className="ed-node-ref">{e.node}</span>
                <span className="ed-dir">{e.direction === 'in' ? 'in' : `→ ${e.relation ?? ''}`}</span>
                <span className="ed-data">{e.error ? e.error : e.data.slice(0, 120)}</span>
              </button>
            </li>
          ))}
        </ul>
        {picked && (
          <div className="ed-debug-detail" aria-label="Message">
            <p><strong>{picked.node}</strong> {picked.direction} {picked.relation} · {picked.msgType} · device {deviceOf(picked) || '–'}</p>
            <pre>{picked.data}</pre>
            {picked.metadata && <pre>{JSON.stringify(picked.metadata, null, 2)}</pre>}
          </div>
        )}
      </div>
    </div>
  );
}
