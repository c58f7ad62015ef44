// Test run: a sample message typed (or picked from the messages the live
// view captured; the control is always there and says how to fill it) on a
// source node goes through POST /flows/{id}/test with the current draft;
// the path it took lights up on the canvas and each node's input and
// output are listed.
import { useMemo, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { testFlow, type TestAnswer, type TraceEvent } from '../api/flows';
import { errorText } from './Dialog';
import { modelToFlow } from './dsl';
import { isFlowNode } from './model';
import { useEd, useEdApi } from './store';

/** pathOf is the nodes a trace visited and the relations it left on. */
export function pathOf(events: TraceEvent[], kind: 'test' | 'live') {
  const nodes = new Set<string>();
  const rels = new Set<string>();
  for (const e of events) {
    nodes.add(e.node);
    if (e.direction === 'out' && e.relation) rels.add(`${e.node}|${e.relation}`);
  }
  return { kind, nodes, rels };
}

function pretty(data: string): string {
  try {
    return JSON.stringify(JSON.parse(data), null, 2);
  } catch {
    return data;
  }
}

export function TestPanel() {
  const api = useEdApi();
  const flowNodes = useEd(useShallow((s) => s.model.nodes.filter(isFlowNode).map((n) => n.id)));
  const sources = useEd(useShallow((s) => s.model.nodes.filter(isFlowNode).filter((n) => s.specs.get(n.data.dsl.type)?.source).map((n) => n.id)));
  const selectedId = useEd((s) => s.model.nodes.find((n) => n.selected)?.id ?? '');
  const log = useEd((s) => s.log);
  const live = useEd((s) => s.live);
  const setPath = useEd((s) => s.setPath);
  const select = useEd((s) => s.select);
  const [start, setStart] = useState('');
  const [type, setType] = useState('TELEMETRY');
  const [payload, setPayload] = useState('{\n  "deviceId": "dev1",\n  "temperature": 21.5\n}');
  const [metadata, setMetadata] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [answer, setAnswer] = useState<TestAnswer | null>(null);
  const startNode = start || (sources.includes(selectedId) ? selectedId : sources[0] ?? '');
  const recent = useMemo(() => log.filter((e) => e.direction === 'in' && sources.includes(e.node)).slice(0, 20), [log, sources]);

  async function run() {
    setBusy(true);
    setError('');
    try {
      let meta: Record<string, string> | undefined;
      if (metadata.trim()) {
        try {
          meta = JSON.parse(metadata) as Record<string, string>;
        } catch (e) {
          throw new Error(`metadata: not a JSON object (${errorText(e)})`);
        }
      }
      let data: unknown = payload;
      let dataType: 'JSON' | 'TEXT' = 'TEXT';
      try {
        data = JSON.parse(payload);
        dataType = 'JSON';
      } catch {
        // sent as text
      }
      const s = api.getState();
      const a = await testFlow(s.flowId, { message: { type, dataType, data, metadata: meta }, startNode: startNode || undefined, draft: modelToFlow(s.model) });
      setAnswer(a);
      setPath(pathOf(a.trace, 'test'));
    } catch (e) {
      setAnswer(null);
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  const byNode = useMemo(() => {
    const m = new Map<string, TraceEvent[]>();
    for (const e of answer?.trace ?? []) m.set(e.node, [...(m.get(e.node) ?? []), e]);
    return [...m.entries()];
  }, [answer]);

  return (
    <div className="ed-test">
      <form className="ed-test-form" onSubmit={(e) => { e.preventDefault(); void run(); }}>
        <label>
          Source node
          <select value={startNode} onChange={(e) => setStart(e.target.value)}>
            {flowNodes.length === 0 && <option value="">(no nodes)</option>}
            {flowNodes.map((id) => <option key={id} value={id}>{id}{sources.includes(id) ? ' (source)' : ''}</option>)}
          </select>
        </label>
        <label>
          Message type
          <input value={type} onChange={(e) => setType(e.target.value)} required />
        </label>
        <label className="grow">
          Payload
          <textarea rows={4} value={payload} onChange={(e) => setPayload(e.target.value)} spellCheck={false} className="mono" />
        </label>
        <label>
          Metadata (JSON, optional)
          <textarea rows={4} value={metadata} onChange={(e) => setMetadata(e.target.value)} spellCheck={false} className="mono" placeholder='{"deviceId":"dev1"}' />
        </label>
        <div className="ed-test-buttons">
          <button type="submit" className="primary" disabled={busy}>{busy ? 'Running…' : 'Run test'}</button>
          <label>
            Recent message
            <select
              value=""
              disabled={recent.length === 0}
              aria-describedby="ed-recent-hint"
              data-testid="recent-message"
              onChange={(e) => {
                const ev = recent[Number(e.target.value)];
                if (!ev) return;
                setPayload(pretty(ev.data));
                setType(ev.msgType ?? 'TELEMETRY');
                setStart(ev.node);
                if (ev.metadata) setMetadata(JSON.stringify(ev.metadata));
              }}
            >
              <option value="">{recent.length === 0 ? 'none yet' : `pick one of ${recent.length}…`}</option>
              {recent.map((ev, i) => <option key={i} value={i}>{new Date(ev.ts).toLocaleTimeString()} {ev.node}: {ev.data.slice(0, 40)}</option>)}
            </select>
            <small id="ed-recent-hint" className="muted" data-testid="recent-hint">
              {recent.length > 0
                ? `Messages a source received while Live was on${live ? '' : ' (Live is off now)'}.`
                : live
                  ? 'Live is on: messages that reach a source appear here.'
                  : 'Turn on Live to capture recent messages from the deployed flow.'}
            </small>
          </label>
          {answer && <button type="button" onClick={() => { setAnswer(null); setPath(null); }}>Clear</button>}
        </div>
      </form>
      {error && <p role="alert" className="error">{error}</p>}
      {answer && (
        <div data-testid="test-result" className="ed-test-result">
          <p className={answer.status === 'completed' ? 'ok' : 'notice'}>
            Status: <strong>{answer.status}</strong>{answer.error ? ` – ${answer.error}` : ''}; {byNode.length} nodes visited;
            ends: {answer.outputs.map((o) => `${o.node} → ${o.relation}${o.error ? ` (${o.error})` : ''}`).join(', ') || 'none'}
          </p>
          <ol className="ed-trace">
            {byNode.map(([node, evs]) => (
              <li key={node}>
                <button type="button" className="link" onClick={() => select([node])}>{node}</button>
                {evs.map((e, i) => (
                  <div key={i} className={`ed-ev ${e.direction}${e.error ? ' err' : ''}`}>
                    <span className="ed-dir">{e.direction === 'in' ? 'in' : `out → ${e.relation ?? ''}`}</span>
                    {e.error && <span className="error"> {e.error}</span>}
                    <pre>{pretty(e.data)}{e.truncated ? ' …(truncated)' : ''}</pre>
                  </div>
                ))}
              </li>
            ))}
          </ol>
        </div>
      )}
    </div>
  );
}
