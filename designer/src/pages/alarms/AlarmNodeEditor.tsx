// One alarm node's form with Save and Revert, the outcome of a save, and
// the backtest below.
import { useState } from 'react';
import type { FlowSummary, FlowVersionAnswer } from '../../api/flowdocs';
import type { Problem } from '../../api/types';
import { errorText } from '../common/ui';
import { BacktestPanel } from './BacktestPanel';
import { nodeErrors, sameJson, setAt, type AlarmNodeRef, type Json } from './rulesModel';
import { saveAlarmNode } from './rulesSave';
import { SpecFields } from './SpecForm';

interface Props {
  node: AlarmNodeRef;
  doc: FlowVersionAnswer;
  summary: FlowSummary | undefined;
  draft: Json | undefined;
  setDraft(v: Json | undefined): void;
  reloadFlow(flowId: string, dropDrafts: boolean): Promise<void>;
}

type Outcome = { tone: 'ok' | 'warn' | 'error'; text: string; problems?: Problem[] } | null;

export function AlarmNodeEditor({ node, doc, summary, draft, setDraft, reloadFlow }: Props) {
  const saved = (node.node.configuration ?? {}) as Json;
  const config = draft ?? saved;
  const dirty = draft !== undefined && !sameJson(draft, saved);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const problems = outcome?.problems ?? doc.problems;
  const errors = nodeErrors(problems, node.nodeId);
  const deployed = summary !== undefined && summary.deployedVersion > 0;

  async function save() {
    setBusy(true);
    setOutcome(null);
    const r = await saveAlarmNode(doc, summary, node.nodeId, config);
    setBusy(false);
    if (r.kind === 'conflict') {
      setOutcome({
        tone: 'error',
        text: `Not saved: someone else saved flow “${node.flowName}” since you opened this page (it is now at version ${r.currentVersion ?? '?'}). The page has loaded their version; make your change again.`,
      });
      await reloadFlow(node.flowId, true).catch((e: unknown) => setOutcome({ tone: 'error', text: errorText(e) }));
      return;
    }
    if (r.kind === 'failed') {
      const info = r.error && typeof r.error === 'object' && 'info' in r.error ? (r.error as { info: { details?: Problem[] } }).info : undefined;
      setOutcome({ tone: 'error', text: `Not saved: ${errorText(r.error)}`, problems: info?.details });
      return;
    }
    const v = r.saved.version;
    const errs = (r.saved.problems ?? []).filter((p) => p.severity === 'error');
    let o: Outcome;
    if (r.deployError) {
      const details = (r.deployError as { info?: { details?: Problem[] } }).info?.details;
      o = { tone: 'warn', text: `Saved as version ${v}, but not deployed: ${errorText(r.deployError)}. The previous version keeps running.`, problems: details ?? r.saved.problems };
    } else if (r.deployed) {
      o = { tone: 'ok', text: `Saved as version ${v} and deployed.` };
    } else {
      o = { tone: errs.length ? 'warn' : 'ok', text: `Saved as version ${v}. The flow is not deployed, so nothing else changed.`, problems: r.saved.problems };
    }
    setDraft(undefined);
    await reloadFlow(node.flowId, false).catch((e: unknown) => (o = { tone: 'error', text: `Saved as version ${v}, but reloading it failed: ${errorText(e)}` }));
    setOutcome(o);
  }

  return (
    <section className="split-main rule-editor" aria-label={`Alarm node ${node.node.name || node.nodeId}`}>
      <div className="panel-head">
        <div>
          <h2>{node.node.name || node.nodeId}</h2>
          <p className="muted small">
            Flow “{node.flowName}” version {doc.version} · node {node.nodeId} ({node.spec.type}) · {deployed ? `deployed (version ${summary!.deployedVersion})` : 'not deployed'}
          </p>
        </div>
      </div>
      <form
        className="rule-form"
        aria-label="Alarm rule settings"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        {errors[''] && <p className="field-error" role="alert">{errors['']}</p>}
        <SpecFields fields={node.spec.fields} root={config} path={[]} onChange={(p, v) => setDraft(setAt(config, p, v))} errors={errors} disabled={busy} />
        <div className="form-actions sticky">
          <button type="submit" className="primary" disabled={!dirty || busy}>
            {busy ? 'Saving…' : deployed ? 'Save and deploy' : 'Save'}
          </button>
          <button type="button" disabled={!dirty || busy} onClick={() => { setDraft(undefined); setOutcome(null); }}>
            Revert
          </button>
          {dirty && <span className="notice">Unsaved changes</span>}
          {outcome && (
            <span role={outcome.tone === 'error' ? 'alert' : 'status'} className={`outcome outcome-${outcome.tone}`} data-testid="save-outcome">
              {outcome.text}
            </span>
          )}
        </div>
        {outcome?.problems && outcome.problems.length > 0 && <ProblemList problems={outcome.problems} />}
      </form>
      <BacktestPanel node={node} config={config} dirty={dirty} />
    </section>
  );
}

function ProblemList({ problems }: { problems: Problem[] }) {
  return (
    <ul className="problems" aria-label="Problems">
      {problems.map((p, i) => (
        <li key={i} className={p.severity}>
          <strong>{p.severity}</strong> {p.node ? `node ${p.node}` : ''}{p.field ? ` field ${p.field}` : ''}: {p.message}
        </li>
      ))}
    </ul>
  );
}
