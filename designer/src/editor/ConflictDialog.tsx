// Someone else saved since this flow was opened: say what they changed and
// let the user reload theirs, overwrite knowingly, or keep a copy of the
// draft. Nothing is lost silently.
import { reload, save } from './actions';
import { Dialog } from './Dialog';
import { downloadText } from './download';
import { modelToFlow } from './dsl';
import { describe } from './ProblemsPanel';
import { useEd, useEdApi } from './store';
import type { Problem } from '../api/types';

export function ConflictDialog({ current, changes, comment, thenDeploy }: { current: number; changes: Problem[]; comment: string; thenDeploy: boolean }) {
  const api = useEdApi();
  const setDialog = useEd((s) => s.setDialog);
  const version = useEd((s) => s.version);
  const flowId = useEd((s) => s.flowId);
  const busy = useEd((s) => s.busy);
  return (
    <Dialog title="Someone else saved this flow" onClose={() => setDialog(null)} wide>
      <p>
        You opened version {version}; version {current} was saved since. Your changes are not saved yet.
      </p>
      {changes.length > 0 && (
        <>
          <p>What changed since version {version}:</p>
          <ul className="ed-conflict-list">
            {changes.map((c, i) => <li key={i}>{describe(c) ? <code>{describe(c)}</code> : null} {c.message}</li>)}
          </ul>
        </>
      )}
      <div className="ed-dialog-buttons">
        <button type="button" onClick={() => downloadText(`${flowId}-draft.json`, JSON.stringify(modelToFlow(api.getState().model), null, 2))}>Download my draft</button>
        <button type="button" disabled={busy !== ''} onClick={() => void reload(api)}>Reload theirs</button>
        <button type="button" className="danger" disabled={busy !== ''} onClick={() => void save(api, comment || `overwrote version ${current}`, thenDeploy, current)}>Overwrite with mine</button>
        <button type="button" onClick={() => setDialog(null)}>Cancel</button>
      </div>
    </Dialog>
  );
}
