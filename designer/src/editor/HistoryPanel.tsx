// Version history: every saved version with its comment; show what changed
// since a version on the canvas (added, changed, removed nodes), roll back.
import { useCallback, useEffect, useState } from 'react';
import { diffFlow, flowVersions, rollbackFlow, type FlowAnswer } from '../api/flows';
import { errorText } from './Dialog';
import { diffMark, useEd, useEdApi } from './store';

export function HistoryPanel() {
  const api = useEdApi();
  const flowId = useEd((s) => s.flowId);
  const version = useEd((s) => s.version);
  const diff = useEd((s) => s.diff);
  const setDiff = useEd((s) => s.setDiff);
  const [versions, setVersions] = useState<FlowAnswer[] | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState<number | null>(null);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      setVersions(await flowVersions(flowId, signal));
      setError('');
    } catch (e) {
      if (!signal?.aborted) setError(errorText(e));
    }
  }, [flowId]);

  useEffect(() => {
    const ac = new AbortController();
    void load(ac.signal);
    return () => ac.abort();
  }, [load, version]);

  async function showDiff(from: number) {
    setBusy(true);
    setError('');
    try {
      const d = await diffFlow(flowId, from);
      setDiff(diffMark(d));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  async function rollback(v: number) {
    setConfirm(null);
    setBusy(true);
    setError('');
    try {
      const a = await rollbackFlow(flowId, v);
      const s = api.getState();
      s.load(a);
      s.setStatus({ text: `Rolled back: version ${a.version} equals version ${v}. Deploy it to run it.`, kind: 'ok' });
      await load();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  const dirty = useEd((s) => s.dirty);
  return (
    <div className="ed-history">
      {error && <p role="alert" className="error">{error}</p>}
      {versions === null && !error && <p className="muted" role="status">Loading versions…</p>}
      {diff && (
        <p className="ed-diff-legend" role="status">
          Changes from version {diff.from} to {diff.to}: <span className="diff-added">added</span> <span className="diff-changed">changed</span> <span className="diff-removed">removed</span>
          {' '}({Object.keys(diff.nodes).length} nodes)
          <button type="button" onClick={() => setDiff(null)}>Hide diff</button>
        </p>
      )}
      {versions && (
        <table>
          <thead><tr><th>Version</th><th>Saved</th><th>By</th><th>Comment</th><th><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {versions.map((v) => (
              <tr key={v.version} aria-current={v.version === version ? 'true' : undefined}>
                <td>{v.version}{v.version === version ? ' (open)' : ''}</td>
                <td>{new Date(v.createdAt).toLocaleString()}</td>
                <td>{v.author}</td>
                <td>{v.comment}</td>
                <td className="ed-row-actions">
                  {v.version !== versions[0]?.version && <>
                    <button type="button" disabled={busy} aria-label={`Show diff from version ${v.version}`} onClick={() => void showDiff(v.version)}>Show diff</button>
                    {confirm === v.version
                      ? <>
                          <span>{dirty ? 'Your unsaved changes are lost. ' : ''}Roll back?</span>
                          <button type="button" className="danger" onClick={() => void rollback(v.version)}>Yes, roll back</button>
                          <button type="button" onClick={() => setConfirm(null)}>No</button>
                        </>
                      : <button type="button" disabled={busy} aria-label={`Rollback to version ${v.version}`} onClick={() => setConfirm(v.version)}>Rollback</button>}
                  </>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
