// A modal dialog: labelled, focus moves in on open (to the autoFocus
// control, else the first one) and back on close, Tab and Shift+Tab stay
// inside, Escape closes it.
import { useEffect, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';

const FOCUSABLE = 'a[href], button, input, select, textarea, [contenteditable="true"], [tabindex]';

/** tabStops are the controls Tab visits inside el, in order. */
function tabStops(el: HTMLElement): HTMLElement[] {
  return [...el.querySelectorAll<HTMLElement>(FOCUSABLE)].filter(
    (x) => x.tabIndex >= 0 && !x.matches(':disabled') && x.getClientRects().length > 0,
  );
}

export function Dialog({ title, onClose, children, wide }: { title: string; onClose(): void; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  // What had the focus before the dialog opened: read while rendering, as a
  // control's autoFocus takes the focus before effects run.
  const [before] = useState(() => document.activeElement as HTMLElement | null);
  useEffect(() => {
    const el = ref.current;
    if (el && !el.contains(document.activeElement)) {
      el.querySelector<HTMLElement>('[autofocus], input, textarea, select, button')?.focus();
    }
    return () => {
      if (before?.isConnected) before.focus();
    };
  }, [before]);
  function onKeyDown(e: KeyboardEvent) {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onClose();
      return;
    }
    if (e.key !== 'Tab' || !ref.current) return;
    const stops = tabStops(ref.current);
    if (stops.length === 0) return;
    const first = stops[0]!;
    const last = stops[stops.length - 1]!;
    if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    } else if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    }
  }
  return (
    <div className="ed-backdrop" onMouseDown={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div
        ref={ref}
        className={wide ? 'ed-dialog wide' : 'ed-dialog'}
        role="dialog"
        aria-modal="true"
        aria-label={title}
        onKeyDown={onKeyDown}
      >
        <h2>{title}</h2>
        {children}
      </div>
    </div>
  );
}

/** errorText is what a failed request says. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
