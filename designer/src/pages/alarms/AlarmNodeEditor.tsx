// One alarm node's form with Save and Revert, the outcome of a save, and
// the backtest below. Invalid fields (the editor's spec checks, then the
// server's validation of the whole flow) show inline and block saving;
// nothing is deployed that the user did not choose to deploy.
import { useRef, useState } from 'react';
import { ApiError } from '../../api/client';
import type { FlowSummary, FlowVersionAnswer } from '../../api/flowdocs';
import type { Problem } from '../../api/types';
import { href } from '../../app/router';
import { setPath } from '../../editor/form';
import { errorText } from '../common/ui';
import { BacktestPanel } from './BacktestPanel';
import { aheadNotice, deployPlan, formErrors, labelOfPath, notDeployedText, otherNodeErrors, sameJson, type AlarmNodeRef, type Json } from './rulesModel';
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

/** ServerCheck is the server's verdict on one configuration of the node. */
interface ServerCheck {
  config: Json;
  problems: Problem[];
}

export function AlarmNodeEditor({ node, doc, summary, draft, setDraft, reloadFlow }: Props) {
  const saved = (node.node.configuration ?? {}) as Json;
  const config = draft ?? saved;
  const dirty = draft !== undefined && !sameJson(draft, saved);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [check, setCheck] = useState<ServerCheck | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  const spec = node.spec;

  // The server's problems apply while the configuration is the one they are about.
  const serverProblems = check && sameJson(check.config, config) ? check.problems : sameJson(config, saved) ? (doc.problems ?? []) : [];
  const errors = formErrors(spec, config, serverProblems, node.nodeId);
  // Errors of other nodes do not depend on this form: the latest check of the flow, else the loaded version's.
  const others = otherNodeErrors(check ? check.problems : doc.problems, node.nodeId);
  const errorCount = Object.keys(errors).length;
  const blocked = errorCount > 0 || others.length > 0;
  const plan = deployPlan(doc.version, summary?.deployedVersion);
  const canSave = dirty && !busy && !blocked;

  function focusFirstError() {
    requestAnimationFrame(() => formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
  }

  async function save(deploy: boolean) {
    if (blocked) {
      setOutcome({ tone: 'error', text: `Not saved: fix the ${errorCount === 1 ? 'problem' : `${errorCount} problems`} marked in the form first.` });
      focusFirstError();
      return;
    }
    setBusy(true);
    setOutcome(null);
    const r = await saveAlarmNode(doc, node.nodeId, config, deploy);
    setBusy(false);
    if (r.kind === 'invalid') {
      setCheck({ config, problems: r.problems });
      const n = r.problems.filter((p) => p.severity === 'error').length;
      setOutcome({ tone: 'error', text: `Not saved: the server found ${n === 1 ? 'a problem' : `${n} problems`} with this change (marked in the form). Nothing was saved or deployed.` });
      focusFirstError();
      return;
    }
    if (r.kind === 'conflict') {
      setOutcome({
        tone: 'error',
        text: `Not saved: someone else saved flow “${node.flowName}” since you opened this page (it is now at version ${r.currentVersion ?? '?'}). The page has loaded their version; make your change again.`,
      });
      await reloadFlow(node.flowId, true).catch((e: unknown) => setOutcome({ tone: 'error', text: errorText(e) }));
      return;
    }
    if (r.kind === 'failed') {
      const info = r.error instanceof ApiError ? r.error.info : undefined;
      if (info?.details) setCheck({ config, problems: info.details });
      setOutcome({ tone: 'error', text: `Not saved: ${errorText(r.error)}` });
      return;
    }
    const v = r.saved.version;
    const running = plan.kind === 'notDeployed' ? 0 : plan.deployed;
    let o: Outcome;
    if (r.deployError) {
      const reason = r.deployError instanceof ApiError ? r.deployError.info.message : errorText(r.deployError);
      const details = r.deployError instanceof ApiError ? r.deployError.info.details : undefined;
      o = { tone: 'warn', text: notDeployedText(v, reason, running), problems: details };
    } else if (r.deployed) {
      o = { tone: 'ok', text: `Saved as version ${v} and deployed.` };
    } else if (plan.kind === 'notDeployed') {
      o = { tone: 'ok', text: `Saved as version ${v}. The flow is not deployed, so nothing else changed.` };
    } else {
      o = { tone: 'ok', text: `Saved as version ${v}, not deployed: version ${running} keeps running. Deploy version ${v} from the flow editor when its changes are ready to go live.` };
    }
    setCheck({ config, problems: r.saved.problems ?? [] });
    setDraft(undefined);
    await reloadFlow(node.flowId, false).catch((e: unknown) => (o = { tone: 'error', text: `Saved as version ${v}, but reloading it failed: ${errorText(e)}` }));
    setOutcome(o);
  }

  const title = node.node.name || node.nodeId;
  return (
    <section className="split-main rule-editor" aria-label={`Alarm node ${title}`}>
      <div className="panel-head">
        <div>
          <h2>{title}</h2>
          <p className="muted small">
            Flow “{node.flowName}” version {doc.version} · node {node.nodeId} ({node.spec.type}) ·{' '}
            {plan.kind === 'notDeployed' ? 'not deployed' : `deployed (version ${plan.deployed})`}
          </p>
        </div>
      </div>
      {plan.kind === 'ahead' && (
        <p className="notice ahead-notice" data-testid="undeployed-notice">
          {aheadNotice(plan)}
        </p>
      )}
      <form
        ref={formRef}
        className="rule-form"
        aria-label="Alarm rule settings"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void save(plan.kind === 'same');
        }}
      >
        {errors[''] && <p className="field-error" role="alert">{errors['']}</p>}
        {others.length > 0 && (
          <div className="error-note" role="alert" data-testid="other-errors">
            <span>
              This flow has errors outside this alarm node, so it cannot be saved from this page; an integrator must fix them in the{' '}
              <a href={href('flows', node.flowId)}>flow editor</a>:
            </span>
            <ProblemList problems={others} />
          </div>
        )}
        <SpecFields fields={spec.fields} root={config} prefix="" onChange={(p, v) => setDraft(setPath((config ?? {}) as Record<string, unknown>, p, v))} errors={errors} disabled={busy} />
        <div className="form-actions sticky">
          {plan.kind === 'ahead' ? (
            <>
              <button type="button" className="primary" disabled={!canSave} onClick={() => void save(false)}>
                {busy ? 'Saving…' : 'Save only'}
              </button>
              <button type="button" disabled={!canSave} onClick={() => void save(true)}>
                Save and deploy (includes version {plan.latest}’s changes)
              </button>
            </>
          ) : (
            <button type="submit" className="primary" disabled={!canSave}>
              {busy ? 'Saving…' : plan.kind === 'same' ? 'Save and deploy' : 'Save'}
            </button>
          )}
          <button type="button" disabled={!dirty || busy} onClick={() => { setDraft(undefined); setOutcome(null); }}>
            Revert
          </button>
          {dirty && <span className="notice">Unsaved changes</span>}
          {dirty && errorCount > 0 && (
            <span className="field-error" data-testid="blocking-count">
              {errorCount === 1 ? '1 problem' : `${errorCount} problems`} to fix before saving
            </span>
          )}
          {outcome && (
            <span role={outcome.tone === 'error' ? 'alert' : 'status'} className={`outcome outcome-${outcome.tone}`} data-testid="save-outcome">
              {outcome.text}
            </span>
          )}
        </div>
        {errorCount > 0 && (
          <ul className="problems" aria-label="Problems in this form" data-testid="form-problems">
            {Object.entries(errors).map(([path, msg]) => (
              <li key={path} className="error">
                <strong>{labelOfPath(path)}</strong>: {msg}
              </li>
            ))}
          </ul>
        )}
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
