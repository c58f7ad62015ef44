// The panel under the canvas: problems, test run, debug log, history.
import { useRef, type KeyboardEvent } from 'react';
import { DebugPanel } from './DebugPanel';
import { HistoryPanel } from './HistoryPanel';
import { ProblemsPanel } from './ProblemsPanel';
import { TestPanel } from './TestPanel';
import { useEd, type Panel } from './store';

const tabs: { key: Panel; label: string }[] = [
  { key: 'problems', label: 'Problems' },
  { key: 'test', label: 'Test run' },
  { key: 'debug', label: 'Debug' },
  { key: 'history', label: 'History' },
];

export function BottomPanel() {
  const panel = useEd((s) => s.panel);
  const setPanel = useEd((s) => s.setPanel);
  const errors = useEd((s) => s.problems.filter((p) => p.severity === 'error').length);
  const logCount = useEd((s) => s.log.length);
  const refs = useRef<(HTMLButtonElement | null)[]>([]);

  function onKey(e: KeyboardEvent, i: number) {
    const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!d) return;
    const j = (i + d + tabs.length) % tabs.length;
    setPanel(tabs[j]!.key);
    refs.current[j]?.focus();
  }

  return (
    <section className="ed-bottom" aria-label="Panels">
      <div role="tablist" aria-label="Panels" className="ed-tabs">
        {tabs.map((t, i) => (
          <button key={t.key} ref={(el) => { refs.current[i] = el; }} role="tab" id={`ed-tab-${t.key}`} aria-selected={panel === t.key} aria-controls={`ed-tabpanel-${t.key}`}
            tabIndex={panel === t.key ? 0 : -1} onClick={() => setPanel(t.key)} onKeyDown={(e) => onKey(e, i)}>
            {t.label}
            {t.key === 'problems' && errors > 0 && <span className="ed-badge error inline">{errors}</span>}
            {t.key === 'debug' && logCount > 0 && <span className="ed-badge inline">{logCount}</span>}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`ed-tabpanel-${panel}`} aria-labelledby={`ed-tab-${panel}`} className="ed-tabpanel">
        {panel === 'problems' && <ProblemsPanel />}
        {panel === 'test' && <TestPanel />}
        {panel === 'debug' && <DebugPanel />}
        {panel === 'history' && <HistoryPanel />}
      </div>
    </section>
  );
}
