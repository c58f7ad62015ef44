// The flow was left with unsaved changes: restore them or discard them.
import { Dialog } from './Dialog';
import { dropDraft, type Draft } from './draft';
import { flowToModel } from './dsl';
import { useEd, useEdApi } from './store';

export function DraftDialog({ draft }: { draft: Draft }) {
  const api = useEdApi();
  const version = useEd((s) => s.version);
  const setDialog = useEd((s) => s.setDialog);
  function restore() {
    const s = api.getState();
    s.load({ id: draft.flowId, version: draft.version, name: draft.doc.ruleChain.name, author: '', createdAt: draft.savedAt, flow: draft.doc });
    // Dirty again; saved on top of its own base, so a newer save by someone else is a conflict.
    api.setState({ dirty: true, dialog: null });
    dropDraft(draft.flowId);
    s.setStatus({ text: `Restored your unsaved changes (based on version ${draft.version}).`, kind: 'info' });
  }
  function discard() {
    dropDraft(draft.flowId);
    setDialog(null);
  }
  return (
    <Dialog title="Unsaved changes from before" onClose={() => setDialog(null)}>
      <p>
        You left this flow with unsaved changes on {new Date(draft.savedAt).toLocaleString()}, based on version {draft.version}
        {draft.version !== version ? ` (the latest is version ${version})` : ''}: {flowToModel(draft.doc).nodes.length} nodes and notes.
      </p>
      <div className="ed-dialog-buttons">
        <button type="button" className="primary" onClick={restore}>Restore my changes</button>
        <button type="button" className="danger" onClick={discard}>Discard them</button>
      </div>
    </Dialog>
  );
}
