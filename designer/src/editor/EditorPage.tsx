// The flow editor: palette, canvas, inspector, toolbar and panels around
// one store per open flow.
import { useEffect, useState } from 'react';
import { ReactFlowProvider } from '@xyflow/react';
import type { StoreApi } from 'zustand';
import { getFlow } from '../api/flows';
import { listNodeSpecs } from '../api/nodes';
import { href } from '../app/router';
import { BottomPanel } from './BottomPanel';
import { Canvas } from './Canvas';
import { ConflictDialog } from './ConflictDialog';
import { errorText } from './Dialog';
import { DraftDialog } from './DraftDialog';
import { keepDraft, readDraft } from './draft';
import { modelToFlow } from './dsl';
import { HelpDialog } from './HelpDialog';
import { Inspector } from './Inspector';
import { Palette } from './Palette';
import { RelationDialog } from './RelationDialog';
import { SaveDialog } from './SaveDialog';
import { createEditorStore, EditorStoreContext, useEd, useEdApi, type EditorState } from './store';
import { Toolbar } from './Toolbar';
import { useLive } from './useLive';
import { useShortcuts } from './useShortcuts';

export function EditorPage({ flowId }: { flowId: string }) {
  const [store, setStore] = useState<StoreApi<EditorState> | null>(null);
  const [error, setError] = useState('');

  useEffect(() => {
    const ac = new AbortController();
    Promise.all([listNodeSpecs(ac.signal), getFlow(flowId, ac.signal)]).then(([specs, flow]) => {
      const st = createEditorStore(flowId, specs, flow);
      st.getState().load(flow);
      const draft = readDraft(flowId);
      if (draft) st.getState().setDialog({ kind: 'draft', draft });
      setStore(st);
    }, (e: unknown) => {
      if (!ac.signal.aborted) setError(errorText(e));
    });
    return () => ac.abort();
  }, [flowId]);

  if (error) {
    return (
      <main className="page">
        <h1>Flow {flowId}</h1>
        <p role="alert" className="error">{error}</p>
        <p><a href={href('flows')}>Back to the flows</a></p>
      </main>
    );
  }
  if (!store) return <main className="page"><p className="muted" role="status">Loading flow {flowId}…</p></main>;
  return (
    <EditorStoreContext.Provider value={store}>
      <ReactFlowProvider>
        <Editor />
      </ReactFlowProvider>
    </EditorStoreContext.Provider>
  );
}

function Editor() {
  useShortcuts();
  useLive();
  const dialog = useEd((s) => s.dialog);
  const dirty = useEd((s) => s.dirty);

  // Leaving with unsaved changes asks first (closing or reloading the tab).
  useEffect(() => {
    if (!dirty) return;
    const h = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', h);
    return () => window.removeEventListener('beforeunload', h);
  }, [dirty]);
  // Leaving for another page of the designer keeps them as a draft, offered
  // back when the flow is opened again.
  const api = useEdApi();
  useEffect(() => () => {
    const s = api.getState();
    if (s.dirty) keepDraft({ flowId: s.flowId, version: s.version, savedAt: new Date().toISOString(), doc: modelToFlow(s.model) });
  }, [api]);

  return (
    <main className="ed-editor">
      <Toolbar />
      <div className="ed-main">
        <Palette />
        <div className="ed-centre">
          <Canvas />
          <BottomPanel />
        </div>
        <Inspector />
      </div>
      {dialog?.kind === 'save' && <SaveDialog thenDeploy={dialog.thenDeploy} />}
      {dialog?.kind === 'conflict' && <ConflictDialog {...dialog} />}
      {dialog?.kind === 'help' && <HelpDialog />}
      {dialog?.kind === 'draft' && <DraftDialog draft={dialog.draft} />}
      {dialog?.kind === 'relation' && <RelationDialog source={dialog.source} target={dialog.target} />}
    </main>
  );
}
