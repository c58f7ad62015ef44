// The health page: the server's components (/healthz), and every deployed
// flow with its status, throughput and errors (rates from successive
// counter samples, every 5 s) and the state of its sources and nodes.
import { useEffect, useRef, useState } from 'react';
import { flowStatus, healthz, type FlowStatus } from '../../api/health';
import { listFlowSummaries, type FlowSummary } from '../../api/flowdocs';
import { EChart } from '../common/EChart';
import { ErrorNote, Loading, useLoad, usePoll } from '../common/ui';
import { ComponentsPanel } from './ComponentsPanel';
import { FlowHealthTable, type FlowRow } from './FlowHealthTable';
import { rates, sampleOf, type Sample } from './healthModel';

const EVERY = 5000;
const KEEP = 60; // samples of throughput history: 5 minutes

interface Snapshot {
  flows: FlowSummary[];
  statuses: Map<string, FlowStatus | Error>;
}

async function loadSnapshot(signal: AbortSignal): Promise<Snapshot> {
  const flows = await listFlowSummaries(signal);
  const deployed = flows.filter((f) => f.deployedVersion > 0);
  const statuses = new Map<string, FlowStatus | Error>();
  await Promise.all(
    deployed.map((f) =>
      flowStatus(f.id, signal).then(
        (s) => statuses.set(f.id, s),
        (e: unknown) => statuses.set(f.id, e instanceof Error ? e : new Error(String(e))),
      ),
    ),
  );
  return { flows, statuses };
}

export function HealthPage(_props: Record<string, unknown>) {
  const health = useLoad((s) => healthz(s), []);
  const snap = useLoad(loadSnapshot, []);
  usePoll(() => {
    health.reload();
    snap.reload();
  }, EVERY);

  // Samples per flow, newest last, to compute rates and draw throughput.
  const samples = useRef(new Map<string, Sample[]>());
  const [history, setHistory] = useState<Map<string, Sample[]>>(new Map());
  useEffect(() => {
    if (!snap.data) return;
    const now = Date.now();
    for (const [id, st] of snap.data.statuses) {
      if (st instanceof Error || !st.stats) continue;
      const list = samples.current.get(id) ?? [];
      list.push(sampleOf(st.stats, now));
      samples.current.set(id, list.slice(-KEEP));
    }
    setHistory(new Map(samples.current));
  }, [snap.data]);

  const rows: FlowRow[] = (snap.data?.flows ?? [])
    .filter((f) => f.deployedVersion > 0)
    .map((f) => {
      const st = snap.data!.statuses.get(f.id);
      const h = history.get(f.id) ?? [];
      return { summary: f, status: st instanceof Error ? undefined : st, error: st instanceof Error ? st : undefined, rates: rates(h[h.length - 2], h[h.length - 1]!) };
    });
  const others = (snap.data?.flows ?? []).length - rows.length;

  return (
    <main className="page health-page">
      <div className="page-head">
        <h1>Health</h1>
        <span className="muted small">Refreshed every {EVERY / 1000} s.</span>
      </div>
      <ComponentsPanel health={health.data} error={health.error} loading={health.loading} onRetry={health.reload} />
      <section className="card" aria-label="Deployed flows">
        <div className="panel-head">
          <h2>Deployed flows</h2>
          {snap.data && <span className="muted small">{rows.length} deployed{others > 0 ? `, ${others} not deployed` : ''}</span>}
        </div>
        <ErrorNote error={snap.error}>
          <button onClick={snap.reload}>Retry</button>
        </ErrorNote>
        {!snap.data && snap.loading && <Loading what="the flows" />}
        {snap.data && rows.length === 0 && <p className="muted">No flow is deployed. Deploy one from the <a href="#/flows">flow editor</a>.</p>}
        {rows.length > 0 && <FlowHealthTable rows={rows} />}
      </section>
      {rows.length > 0 && <ThroughputChart history={history} />}
    </main>
  );
}

function ThroughputChart({ history }: { history: Map<string, Sample[]> }) {
  const series = [...history].map(([id, list]) => ({
    name: id,
    type: 'line',
    showSymbol: false,
    data: list.slice(1).map((s, i) => [s.at, rates(list[i], s)?.throughput ?? null]),
  }));
  const option = {
    animation: false,
    grid: { left: 56, right: 24, top: 40, bottom: 32 },
    legend: { top: 4, type: 'scroll' },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'time' },
    yAxis: { type: 'value', name: 'msg/s', min: 0 },
    series,
  };
  return (
    <section className="card" aria-label="Throughput">
      <h2>Throughput (messages per second, last 5 minutes)</h2>
      <EChart option={option} height={220} label="Messages completed per second by flow over the last five minutes" />
    </section>
  );
}
