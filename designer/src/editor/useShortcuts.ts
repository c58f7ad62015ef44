// Keyboard shortcuts of the editor (see shortcuts.ts for the list).
import { useEffect } from 'react';
import { useReactFlow } from '@xyflow/react';
import { validate } from './actions';
import { CLIP_KEY, clipWithoutSecrets, copyNodes, parseClip } from './clipboard';
import { GRID } from './Canvas';
import { useEdApi } from './store';

function typing(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  if (!el) return false;
  return el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName);
}

/** onCanvas: the key was pressed on the canvas (or nowhere in particular), not on a tab or a button elsewhere. */
function onCanvas(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  return !el || el === document.body || !!el.closest?.('[data-testid="canvas"]');
}

export function useShortcuts() {
  const api = useEdApi();
  const rf = useReactFlow();

  useEffect(() => {
    let pasteCount = 0;
    const copy = () => {
      const s = api.getState();
      const ids = new Set(s.model.nodes.filter((n) => n.selected).map((n) => n.id));
      if (ids.size === 0) return false;
      // Secrets stay out of localStorage and the system clipboard.
      const { clip, removed } = clipWithoutSecrets(copyNodes(s.model.nodes, s.model.edges, ids), s.specs);
      const text = JSON.stringify(clip);
      localStorage.setItem(CLIP_KEY, text);
      navigator.clipboard?.writeText(text).catch(() => { /* the local copy is enough */ });
      pasteCount = 0;
      s.setStatus({ text: `Copied ${ids.size} item(s).${removed ? ` Secrets are not copied (${removed}): set them again after pasting.` : ''}`, kind: 'info' });
      return true;
    };
    const paste = () => {
      const clip = parseClip(localStorage.getItem(CLIP_KEY));
      if (!clip) return;
      pasteCount++;
      api.getState().paste(clip, { x: 32 * pasteCount, y: 32 * pasteCount });
    };
    const onKey = (e: KeyboardEvent) => {
      const s = api.getState();
      const mod = e.ctrlKey || e.metaKey;
      const k = e.key.toLowerCase();
      if (mod && k === 's') {
        e.preventDefault();
        if (!s.dialog) s.setDialog({ kind: 'save', thenDeploy: false });
        return;
      }
      if (typing(e.target) || s.dialog) return;
      if (mod && k === 'enter') { e.preventDefault(); void validate(api); return; }
      if (mod && k === 'z' && !e.shiftKey) { e.preventDefault(); s.undo(); return; }
      if (mod && ((k === 'z' && e.shiftKey) || k === 'y')) { e.preventDefault(); s.redo(); return; }
      if (mod && k === 'c') { copy(); return; }
      if (mod && k === 'x') { if (copy()) s.deleteSelected(); return; }
      if (mod && k === 'v') { e.preventDefault(); paste(); return; }
      if (mod && k === 'd') { e.preventDefault(); if (copy()) paste(); return; }
      if (mod && k === 'a') { e.preventDefault(); s.selectAll(); return; }
      if (mod || e.altKey) return;
      switch (e.key) {
        case 'Delete': case 'Backspace': e.preventDefault(); s.deleteSelected(); return;
        case 'Escape':
          // On a focused node or edge React Flow would see the key after this
          // cleared the selection, and select that element again.
          if ((e.target as HTMLElement | null)?.closest?.('.react-flow__node, .react-flow__edge')) e.stopPropagation();
          s.select([]); s.setPath(null); return;
        case '?': s.setDialog({ kind: 'help' }); return;
        case 'f': case 'F': void rf.fitView({ duration: 200, maxZoom: 1, padding: 0.15 }); return;
        case '+': case '=': void rf.zoomIn({ duration: 150 }); return;
        case '-': void rf.zoomOut({ duration: 150 }); return;
        case 'g': case 'G': s.setSnap(!s.snap); return;
      }
      const arrows: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      const d = arrows[e.key];
      if (d && onCanvas(e.target) && s.model.nodes.some((n) => n.selected)) {
        // Handled here (capture phase) and not by React Flow too, which would
        // move the nodes a second time, outside the undo stack.
        e.preventDefault();
        e.stopPropagation();
        const step = GRID * (e.shiftKey ? 4 : 1);
        s.beginEdit('nudge');
        s.onNodesChange(s.model.nodes.filter((n) => n.selected).map((n) => ({ type: 'position', id: n.id, position: { x: n.position.x + d[0] * step, y: n.position.y + d[1] * step } })));
      }
    };
    window.addEventListener('keydown', onKey, { capture: true });
    return () => window.removeEventListener('keydown', onKey, { capture: true });
  }, [api, rf]);
}
