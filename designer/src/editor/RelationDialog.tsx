// A node with dynamic relations (a message-type switch) is wired from its
// "+ other" handle: ask which relation the connection is for.
import { useState, type FormEvent } from 'react';
import { Dialog } from './Dialog';
import { useEd } from './store';

export function RelationDialog({ source, target }: { source: string; target: string }) {
  const setDialog = useEd((s) => s.setDialog);
  const connect = useEd((s) => s.connect);
  const [rel, setRel] = useState('');
  function submit(e: FormEvent) {
    e.preventDefault();
    if (!rel.trim()) return;
    connect(source, rel.trim(), target);
    setDialog(null);
  }
  return (
    <Dialog title={`Connect ${source} to ${target}`} onClose={() => setDialog(null)}>
      <form onSubmit={submit} className="ed-form">
        <label>
          Relation
          <input value={rel} onChange={(e) => setRel(e.target.value)} placeholder="e.g. TELEMETRY" required autoFocus />
        </label>
        <div className="ed-dialog-buttons">
          <button type="button" onClick={() => setDialog(null)}>Cancel</button>
          <button type="submit" className="primary">Connect</button>
        </div>
      </form>
    </Dialog>
  );
}
