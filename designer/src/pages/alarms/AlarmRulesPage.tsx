// The alarm rules page: every alarm node of every flow as a plain form, for
// people who do not edit flow graphs. Saving writes a new version of the
// node's flow (and redeploys it when it was deployed); a backtest shows how
// often a rule would have fired on stored telemetry.
import { useCallback, useEffect, useMemo, useState } from 'react';
import { getFlowDocument, listFlowSummaries, type FlowSummary, type FlowVersionAnswer } from '../../api/flowdocs';
import { listNodeSpecs, type NodeSpec } from '../../api/nodes';
import { ErrorNote, Loading } from '../common/ui';
import { AlarmNodeEditor } from './AlarmNodeEditor';
import { alarmSpecs, collectAlarmNodes, sameJson, type Json } from './rulesModel';

interface Loaded {
  specs: Map<string, NodeSpec>;
  summaries: Map<string, FlowSummary>;
  docs: Map<string, FlowVersionAnswer>;
}

async function loadAll(signal: AbortSignal): Promise<Loaded> {
  const [specs, sums] = await Promise.all([listNodeSpecs(signal), listFlowSummaries(signal)]);
  const docs = await Promise.all(sums.map((s) => getFlowDocument(s.id, signal)));
  return { specs: alarmSpecs(specs), summaries: new Map(sums.map((s) => [s.id, s])), docs: new Map(docs.map((d) => [d.id, d])) };
}

export function AlarmRulesPage(_props: Record<string, unknown>) {
  const [data, setData] = useState<Loaded>();
  const [error, setError] = useState<unknown>(null);
  const [drafts, setDrafts] = useState<Record<string, Json>>({});
  const [selected, setSelected] = useState('');
  const [n, setN] = useState(0);

  useEffect(() => {
    const ac = new AbortController();
    loadAll(ac.signal).then(
      (d) => {
        setData(d);
        setError(null);
      },
      (e: unknown) => {
        if (!ac.signal.aborted) setError(e);
      },
    );
    return () => ac.abort();
  }, [n]);

  const nodes = useMemo(() => (data ? collectAlarmNodes([...data.docs.values()], data.specs) : []), [data]);
  const current = nodes.find((r) => r.key === selected) ?? nodes[0];

  /** reloadFlow reads one flow again (after a save or a conflict); drafts of its nodes are dropped when asked. */
  const reloadFlow = useCallback(async (flowId: string, dropDrafts: boolean) => {
    const [doc, sums] = await Promise.all([getFlowDocument(flowId), listFlowSummaries()]);
    setData((d) => (d ? { ...d, docs: new Map(d.docs).set(flowId, doc), summaries: new Map(sums.map((s) => [s.id, s])) } : d));
    if (dropDrafts) setDrafts((ds) => Object.fromEntries(Object.entries(ds).filter(([k]) => !k.startsWith(`${flowId}/`))));
  }, []);

  const dirty = (key: string, config: Json) => key in drafts && !sameJson(drafts[key], config);

  return (
    <main className="page rules-page">
      <div className="page-head">
        <h1>Alarm rules</h1>
        <p className="muted">Change thresholds, durations and severities without touching the flow graph. Saving creates a new version of the flow; a running flow is redeployed with it, and when the flow has changes not deployed yet you choose whether they go live.</p>
      </div>
      <ErrorNote error={error}>
        <button onClick={() => setN((x) => x + 1)}>Retry</button>
      </ErrorNote>
      {!data && !error && <Loading what="the alarm rules" />}
      {data && nodes.length === 0 && (
        <p>No flow has an alarm node yet. An integrator adds a threshold or joint alarm node to a flow in the <a href="#/flows">flow editor</a>; its rules then appear here.</p>
      )}
      {data && current && (
        <div className="split">
          <nav className="rule-list" aria-label="Alarm nodes">
            <ul>
              {nodes.map((r) => {
                const sum = data.summaries.get(r.flowId);
                return (
                  <li key={r.key}>
                    <button
                      className={r.key === current.key ? 'selected' : ''}
                      aria-current={r.key === current.key ? 'true' : undefined}
                      onClick={() => setSelected(r.key)}
                      data-node-key={r.key}
                    >
                      <strong>{r.node.name || r.nodeId}</strong>
                      <span className="muted small">
                        {r.flowName} · {r.spec.type}
                        {sum && sum.deployedVersion > 0 ? ' · deployed' : ''}
                        {dirty(r.key, r.node.configuration ?? {}) ? ' · unsaved' : ''}
                      </span>
                    </button>
                  </li>
                );
              })}
            </ul>
          </nav>
          <AlarmNodeEditor
            key={current.key}
            node={current}
            doc={data.docs.get(current.flowId)!}
            summary={data.summaries.get(current.flowId)}
            draft={drafts[current.key]}
            setDraft={(v) => setDrafts((ds) => (v === undefined ? Object.fromEntries(Object.entries(ds).filter(([k]) => k !== current.key)) : { ...ds, [current.key]: v }))}
            reloadFlow={reloadFlow}
          />
        </div>
      )}
    </main>
  );
}
