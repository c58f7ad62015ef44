import { Dialog } from './Dialog';
import { shortcuts } from './shortcuts';
import { useEd } from './store';

export function HelpDialog() {
  const setDialog = useEd((s) => s.setDialog);
  return (
    <Dialog title="Keyboard shortcuts" onClose={() => setDialog(null)}>
      <table className="ed-keys">
        <tbody>
          {shortcuts.map(([k, what]) => <tr key={k}><th scope="row"><kbd>{k}</kbd></th><td>{what}</td></tr>)}
        </tbody>
      </table>
      <div className="ed-dialog-buttons"><button type="button" onClick={() => setDialog(null)} autoFocus>Close</button></div>
    </Dialog>
  );
}
