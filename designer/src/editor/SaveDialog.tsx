// Save with a comment; optionally deploy right after.
import { useState, type FormEvent } from 'react';
import { save } from './actions';
import { Dialog } from './Dialog';
import { useEd, useEdApi } from './store';

export function SaveDialog({ thenDeploy }: { thenDeploy: boolean }) {
  const api = useEdApi();
  const setDialog = useEd((s) => s.setDialog);
  const busy = useEd((s) => s.busy);
  const status = useEd((s) => s.status);
  const [comment, setComment] = useState('');
  async function submit(e: FormEvent) {
    e.preventDefault();
    await save(api, comment, thenDeploy);
  }
  return (
    <Dialog title={thenDeploy ? 'Save and deploy' : 'Save a new version'} onClose={() => setDialog(null)}>
      <form onSubmit={submit} className="ed-form">
        {thenDeploy && <p>The flow has unsaved changes: they are saved as a new version, which is then deployed.</p>}
        <label>
          Comment
          <input value={comment} onChange={(e) => setComment(e.target.value)} placeholder="What changed" autoFocus />
        </label>
        {status?.kind === 'error' && <p role="alert" className="error">{status.text}</p>}
        <div className="ed-dialog-buttons">
          <button type="button" onClick={() => setDialog(null)}>Cancel</button>
          <button type="submit" className="primary" disabled={busy !== ''}>{busy === 'save' ? 'Saving…' : thenDeploy ? 'Save and deploy' : 'Save version'}</button>
        </div>
      </form>
    </Dialog>
  );
}
