// The editor's toolbar: edit, view, check, save, run.
import { useReactFlow } from '@xyflow/react';
import { deploy, undeploy, validate } from './actions';
import { freeSpot, NOTE_SIZE } from './layout';
import { useEd, useEdApi } from './store';

export function Toolbar() {
  const api = useEdApi();
  const rf = useReactFlow();
  const name = useEd((s) => s.model.doc.ruleChain.name || s.flowId);
  const version = useEd((s) => s.version);
  const dirty = useEd((s) => s.dirty);
  const busy = useEd((s) => s.busy);
  const canUndo = useEd((s) => s.history.past.length > 0);
  const canRedo = useEd((s) => s.history.future.length > 0);
  const snap = useEd((s) => s.snap);
  const live = useEd((s) => s.live);
  const status = useEd((s) => s.status);
  const s = api.getState;

  function addNote(kind: 'note' | 'frame') {
    const el = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
    const p = el ? rf.screenToFlowPosition({ x: el.left + el.width / 3, y: el.top + el.height / 3 }) : { x: 0, y: 0 };
    // A note goes where it covers no node; a frame lies under the nodes anyway.
    s().addNote(kind, kind === 'note' ? freeSpot(s().model.nodes, p, NOTE_SIZE) : p);
  }

  return (
    <div className="ed-toolbar" role="toolbar" aria-label="Editor">
      <a href="#/flows" className="ed-back">Flows</a>
      <h1 className="ed-title" title={name}>{name}</h1>
      <span className="ed-version muted" style={{ whiteSpace: 'nowrap', flex: 'none' }}>v{version}{dirty ? ' · unsaved changes' : ''}</span>
      <span className="ed-sep" />
      <button type="button" onClick={() => s().undo()} disabled={!canUndo} title="Ctrl+Z">Undo</button>
      <button type="button" onClick={() => s().redo()} disabled={!canRedo} title="Ctrl+Shift+Z">Redo</button>
      <button type="button" onClick={() => void rf.fitView({ duration: 200, maxZoom: 1, padding: 0.15 })} title="F">Fit view</button>
      <button type="button" aria-pressed={snap} onClick={() => s().setSnap(!snap)} title="G">Snap to grid</button>
      <button type="button" onClick={() => addNote('note')}>Add note</button>
      <button type="button" onClick={() => addNote('frame')}>Add frame</button>
      <span className="ed-sep" />
      <button type="button" onClick={() => void validate(api)} disabled={busy !== ''} title="Ctrl+Enter">Validate</button>
      <button type="button" className={dirty ? 'primary' : undefined} onClick={() => s().setDialog({ kind: 'save', thenDeploy: false })} disabled={busy !== ''} title="Ctrl+S">Save</button>
      <button type="button" onClick={() => void deploy(api)} disabled={busy !== ''}>Deploy</button>
      <button type="button" onClick={() => void undeploy(api)} disabled={busy !== ''}>Undeploy</button>
      <button type="button" onClick={() => s().setPanel('test')}>Test run</button>
      <button type="button" aria-pressed={live} onClick={() => { s().setLive(!live); if (!live) s().setPanel('debug'); }}>Live</button>
      <button type="button" onClick={() => s().setPanel('history')}>History</button>
      <button type="button" onClick={() => s().setDialog({ kind: 'help' })} aria-label="Keyboard shortcuts" title="?">?</button>
      <p className={`ed-status-line ${status?.kind ?? ""}`} data-testid="status-line" role="status" aria-live="polite" title={status?.text}>
        {busy ? `${busy[0]!.toUpperCase()}${busy.slice(1)}…` : status?.text ?? ''}
      </p>
    </div>
  );
}
