// The flows list: deploy state, version and last change of every flow;
// create, rename, duplicate, delete, import from a file, export to a file.
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { createFlow, deleteFlow, exportFlow, getFlow, importFlow, listFlows, saveFlow, type FlowSummary } from '../api/flows';
import { href, navigate } from '../app/router';
import { Dialog, errorText } from './Dialog';
import { downloadText } from './download';
import { emptyFlow } from './dsl';

type Ask = { kind: 'new' } | { kind: 'rename'; flow: FlowSummary } | { kind: 'duplicate'; flow: FlowSummary } | { kind: 'delete'; flow: FlowSummary } | null;

const idPattern = /^[A-Za-z0-9_-]{1,64}$/;

function when(s?: string): string {
  if (!s) return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
}

export function FlowsPage() {
  const [flows, setFlows] = useState<FlowSummary[] | null>(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [ask, setAsk] = useState<Ask>(null);

  const reload = useCallback(async (signal?: AbortSignal) => {
    try {
      setFlows(await listFlows(signal));
      setError('');
    } catch (e) {
      if (!signal?.aborted) setError(errorText(e));
    }
  }, []);

  useEffect(() => {
    const ac = new AbortController();
    void reload(ac.signal);
    return () => ac.abort();
  }, [reload]);

  async function run(what: () => Promise<string | void>) {
    setError('');
    setNotice('');
    try {
      const msg = await what();
      if (msg) setNotice(msg);
      await reload();
    } catch (e) {
      setError(errorText(e));
    }
  }

  async function onImport(file: File | undefined) {
    if (!file) return;
    await run(async () => {
      let doc: unknown;
      try {
        doc = JSON.parse(await file.text());
      } catch (e) {
        throw new Error(`import ${file.name}: the file is not JSON (${errorText(e)})`);
      }
      const a = await importFlow(doc);
      // An import with the id of a flow already here is a new version of it: say so.
      if (a.version > 1 && flows?.some((f) => f.id === a.id)) {
        return `Imported ${file.name} as version ${a.version} of the existing flow ${a.id} (its earlier versions are in its history).`;
      }
      return `Imported ${file.name} as flow ${a.id}, version ${a.version}.`;
    });
  }

  return (
    <main className="page ed-flows">
      <div className="ed-flows-head">
        <h1>Flows</h1>
        <button className="primary" onClick={() => setAsk({ kind: 'new' })}>New flow</button>
        <label className="ed-file">
          Import from file
          <input type="file" accept=".json,application/json" onChange={(e) => { void onImport(e.target.files?.[0]); e.target.value = ''; }} />
        </label>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      {notice && <p role="status" className="ok">{notice}</p>}
      {flows === null && !error && <p className="muted" role="status">Loading flows…</p>}
      {flows && flows.length === 0 && <p className="muted">No flows yet. Create one or import a flow file.</p>}
      {flows && flows.length > 0 && (
        <table>
          <thead>
            <tr><th>Name</th><th>Id</th><th>Version</th><th>Deployed</th><th>Last change</th><th><span className="sr-only">Actions</span></th></tr>
          </thead>
          <tbody>
            {flows.map((f) => (
              <tr key={f.id} data-testid={`flow-row-${f.id}`}>
                <td><a href={href('flows', f.id)}>{f.name || f.id}</a></td>
                <td><code>{f.id}</code></td>
                <td>{f.version}</td>
                <td>
                  {f.deployedVersion > 0
                    ? <span className={f.deployedVersion === f.version ? 'ed-pill ok' : 'ed-pill warn'} title={f.deployedAt ? `since ${when(f.deployedAt)}` : undefined}>
                        version {f.deployedVersion}{f.deployedVersion !== f.version ? ' (not latest)' : ''}
                      </span>
                    : <span className="ed-pill">not deployed</span>}
                </td>
                <td>{when(f.updatedAt)} <span className="muted">by {f.author}</span></td>
                <td className="ed-row-actions">
                  <button aria-label={`Rename ${f.id}`} onClick={() => setAsk({ kind: 'rename', flow: f })}>Rename</button>
                  <button aria-label={`Duplicate ${f.id}`} onClick={() => setAsk({ kind: 'duplicate', flow: f })}>Duplicate</button>
                  <button aria-label={`Export ${f.id}`} onClick={() => void run(async () => { downloadText(`${f.id}.json`, await exportFlow(f.id)); })}>Export</button>
                  <button className="danger" aria-label={`Delete ${f.id}`} onClick={() => setAsk({ kind: 'delete', flow: f })}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {ask?.kind === 'new' && (
        <IdNameDialog title="New flow" action="Create" onClose={() => setAsk(null)}
          onSubmit={async (id, name) => {
            await createFlow(emptyFlow(id, name), 'created in the designer');
            navigate(`/flows/${encodeURIComponent(id)}`);
          }} />
      )}
      {ask?.kind === 'duplicate' && (
        <IdNameDialog title={`Duplicate ${ask.flow.id}`} action="Duplicate" initialId={`${ask.flow.id}-copy`} initialName={`${ask.flow.name} (copy)`} onClose={() => setAsk(null)}
          onSubmit={async (id, name) => {
            const src = await getFlow(ask.flow.id);
            if (!src.flow) throw new Error(`duplicate ${ask.flow.id}: the flow has no document`);
            await createFlow({ ...src.flow, ruleChain: { ...src.flow.ruleChain, id, name } }, `duplicate of ${ask.flow.id} version ${src.version}`);
            setAsk(null);
            await run(async () => `Duplicated ${ask.flow.id} as ${id}. Secrets are not copied: set them again in the new flow.`);
          }} />
      )}
      {ask?.kind === 'rename' && (
        <IdNameDialog title={`Rename ${ask.flow.id}`} action="Rename" fixedId={ask.flow.id} initialName={ask.flow.name} onClose={() => setAsk(null)}
          onSubmit={async (_id, name) => {
            const src = await getFlow(ask.flow.id);
            if (!src.flow) throw new Error(`rename ${ask.flow.id}: the flow has no document`);
            await saveFlow(ask.flow.id, { ...src.flow, ruleChain: { ...src.flow.ruleChain, name } }, `renamed to ${name}`, src.version);
            setAsk(null);
            await run(async () => `Renamed ${ask.flow.id} to “${name}”.`);
          }} />
      )}
      {ask?.kind === 'delete' && (
        <Dialog title={`Delete ${ask.flow.id}`} onClose={() => setAsk(null)}>
          <p>Delete flow “{ask.flow.name}” and all its {ask.flow.version} versions?{ask.flow.deployedVersion > 0 ? ' It is deployed: it is undeployed first.' : ''}</p>
          <div className="ed-dialog-buttons">
            <button onClick={() => setAsk(null)}>Cancel</button>
            <button className="danger" onClick={() => { const id = ask.flow.id; setAsk(null); void run(async () => { await deleteFlow(id); return `Deleted flow ${id}.`; }); }}>Delete flow</button>
          </div>
        </Dialog>
      )}
    </main>
  );
}

function IdNameDialog(props: {
  title: string; action: string; fixedId?: string; initialId?: string; initialName?: string;
  onClose(): void; onSubmit(id: string, name: string): Promise<void>;
}) {
  const [id, setId] = useState(props.fixedId ?? props.initialId ?? '');
  const [name, setName] = useState(props.initialName ?? '');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const idError = id && !idPattern.test(id) ? 'Use 1 to 64 letters, digits, “_” or “-”.' : '';

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (idError) return;
    setBusy(true);
    setError('');
    try {
      await props.onSubmit(id, name || id);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <form onSubmit={submit} className="ed-form">
        <label>
          Id
          <input value={id} onChange={(e) => setId(e.target.value)} readOnly={props.fixedId !== undefined} required aria-invalid={!!idError} autoFocus={props.fixedId === undefined} />
        </label>
        {idError && <p className="error" role="alert">{idError}</p>}
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} autoFocus={props.fixedId !== undefined} />
        </label>
        {error && <p role="alert" className="error">{error}</p>}
        <div className="ed-dialog-buttons">
          <button type="button" onClick={props.onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy || !!idError}>{busy ? 'Working…' : props.action}</button>
        </div>
      </form>
    </Dialog>
  );
}
