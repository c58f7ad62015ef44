// The canvas: React Flow bound to the editor store, with minimap, zoom
// controls, snap to grid, and the diff's ghost nodes.
import { useCallback, useMemo, useState } from 'react';
import { Background, BackgroundVariant, Controls, MiniMap, ReactFlow, type Connection, type EdgeTypes, type NodeTypes } from '@xyflow/react';
import { FlowNodeView } from './FlowNodeView';
import { NoteNodeView } from './NoteNodeView';
import { RelEdge } from './RelEdge';
import { ANY_HANDLE, TARGET_HANDLE, type EdEdge, type EdNode } from './model';
import { useEd } from './store';

const nodeTypes: NodeTypes = { flow: FlowNodeView, note: NoteNodeView };
const edgeTypes: EdgeTypes = { default: RelEdge };
export const GRID = 16;

function miniColour(n: EdNode): string {
  if (n.type === 'note') return n.data.note.kind === 'frame' ? '#eef3fb' : '#fff6c4';
  return n.selected ? '#1f6feb' : '#8a97a8';
}

export function Canvas() {
  const nodes = useEd((s) => s.model.nodes);
  const edges = useEd((s) => s.model.edges);
  const ghosts = useEd((s) => s.diff?.ghosts);
  const snap = useEd((s) => s.snap);
  const onNodesChange = useEd((s) => s.onNodesChange);
  const onEdgesChange = useEd((s) => s.onEdgesChange);
  const beginEdit = useEd((s) => s.beginEdit);
  const connect = useEd((s) => s.connect);
  const setDialog = useEd((s) => s.setDialog);

  // Fit the flow once it is measured; an empty flow starts at 100 % (a fit
  // on the first dropped node would jump the view).
  const [fitAtStart] = useState(() => nodes.length > 0);
  const shown = useMemo(() => (ghosts && ghosts.length ? [...nodes, ...ghosts] : nodes), [nodes, ghosts]);

  const onConnect = useCallback((c: Connection) => {
    if (!c.sourceHandle || !c.target) return;
    if (c.sourceHandle === ANY_HANDLE) setDialog({ kind: 'relation', source: c.source, target: c.target });
    else connect(c.source, c.sourceHandle, c.target);
  }, [connect, setDialog]);

  const isValid = useCallback((c: Connection | { source: string; target: string; targetHandle?: string | null }) =>
    c.source !== c.target && (c.targetHandle ?? TARGET_HANDLE) === TARGET_HANDLE && !c.target.startsWith('note:') && !c.target.startsWith('ghost:'), []);

  return (
    <div className="ed-canvas" data-testid="canvas">
      <ReactFlow<EdNode, EdEdge>
        nodes={shown}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        isValidConnection={isValid}
        onNodeDragStart={() => beginEdit('drag')}
        onSelectionDragStart={() => beginEdit('drag')}
        snapToGrid={snap}
        snapGrid={[GRID, GRID]}
        deleteKeyCode={null}
        selectionKeyCode="Shift"
        multiSelectionKeyCode={['Meta', 'Control']}
        fitView={fitAtStart}
        defaultViewport={{ x: 40, y: 40, zoom: 1 }}
        fitViewOptions={{ maxZoom: 1, padding: 0.15 }}
        minZoom={0.05}
        maxZoom={2.5}
        proOptions={{ hideAttribution: true }}
        aria-label="Flow canvas"
      >
        <Background variant={BackgroundVariant.Dots} gap={GRID} />
        <Controls aria-label="Zoom controls" />
        <MiniMap pannable zoomable nodeColor={miniColour} ariaLabel="Minimap" />
      </ReactFlow>
    </div>
  );
}
