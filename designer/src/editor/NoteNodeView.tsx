// Notes and frames: free text on the canvas, and labelled boxes around a
// group of nodes. They are stored in the flow's ruleChain.additionalInfo.
import { memo } from 'react';
import { NodeResizer, type NodeProps } from '@xyflow/react';
import { NOTE_PREFIX, type NoteNode } from './model';
import { useEd } from './store';

export const NoteNodeView = memo(function NoteNodeView({ id, data, selected }: NodeProps<NoteNode>) {
  const beginEdit = useEd((s) => s.beginEdit);
  const note = data.note;
  return (
    <div className={`ed-note ${note.kind}${selected ? ' selected' : ''}`} data-testid={`node-${id}`} aria-label={`${note.kind}: ${note.text}`}>
      <NodeResizer isVisible={!!selected} minWidth={80} minHeight={40} onResizeStart={() => beginEdit(`resize:${id.slice(NOTE_PREFIX.length)}`)} />
      <div className="ed-note-text">{note.text}</div>
    </div>
  );
});
