// Backtest of an alarm node: run it over stored telemetry for a range
// (default the last 7 days) and show how often it would have fired, on a
// chart of the signal's stored values.
import { useMemo, useState } from 'react';
import { runBacktest, type BacktestResult } from '../../api/backtest';
import { queryTelemetry, telemetryDevices, type Series } from '../../api/telemetry';
import { EChart } from '../common/EChart';
import { bucketFor, DAY, formatTime, fromLocalInput, toLocalInput } from '../common/time';
import { ErrorNote } from '../common/ui';
import { backtestChart, firedSentence, parseDevices, telemetryToShow } from './backtestModel';
import type { AlarmNodeRef, Json } from './rulesModel';

const RAW_POINTS = 5000;

interface Run {
  result: BacktestResult;
  series: Series[];
  seriesError: unknown;
  config: Json;
}

export function BacktestPanel({ node, config, dirty }: { node: AlarmNodeRef; config: Json; dirty: boolean }) {
  const [to, setTo] = useState(() => toLocalInput(Date.now() + 60_000));
  const [from, setFrom] = useState(() => toLocalInput(Date.now() - 7 * DAY));
  const [devices, setDevices] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [run, setRun] = useState<Run | null>(null);

  async function start() {
    const f = fromLocalInput(from);
    const t = fromLocalInput(to);
    if (!(f < t)) {
      setError(new Error('Backtest: the start of the range must be before its end'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const devs = parseDevices(devices);
      const result = await runBacktest(node.flowId, node.nodeId, { from: f, to: t, devices: devs.length ? devs : undefined, config: dirty ? config : undefined });
      let series: Series[] = [];
      let seriesError: unknown = null;
      try {
        const events = result.events ?? [];
        const fallback = events.length || devs.length ? [] : (await telemetryDevices()).map((d) => d.deviceId);
        const picks = telemetryToShow(node.spec.type, config, devs, events, fallback);
        // The stored points themselves when there are few, else one average per bucket (about 400).
        const raw = result.points <= RAW_POINTS;
        const [, every] = bucketFor(t - f, 400);
        const answers = await Promise.all(
          picks.map((p) => queryTelemetry({ devices: [p.device], signals: p.signals, from: f, to: t, ...(raw ? {} : { agg: 'avg' as const, every }), limit: 10_000 })),
        );
        series = answers.flatMap((a) => a.series);
      } catch (e) {
        seriesError = e;
      }
      setRun({ result, series, seriesError, config });
    } catch (e) {
      setError(e);
      setRun(null);
    } finally {
      setBusy(false);
    }
  }

  const option = useMemo(() => (run ? backtestChart(run.series, run.result, run.config, node.spec.type) : null), [run, node.spec.type]);

  return (
    <section className="backtest" aria-label="Backtest">
      <h3>Backtest</h3>
      <form
        className="row wrap"
        aria-label="Backtest range"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <label className="inline">
          From
          <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} required />
        </label>
        <label className="inline">
          To
          <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} required />
        </label>
        <label className="inline">
          Devices
          <input value={devices} onChange={(e) => setDevices(e.target.value)} placeholder="all devices" size={18} />
        </label>
        <button type="submit" disabled={busy}>{busy ? 'Running…' : 'Run backtest'}</button>
        {dirty && <span className="muted small">Runs with your unsaved changes.</span>}
      </form>
      <ErrorNote error={error} />
      <div className="backtest-result" aria-live="polite">
        {run && (
          <p data-testid="backtest-summary">
            <strong>{firedSentence(run.result)}</strong> between {formatTime(run.result.from)} and {formatTime(run.result.to)} ({run.result.points} stored points read
            {run.result.truncated ? '; only the first events are listed' : ''}).
          </p>
        )}
        {run?.seriesError ? <ErrorNote error={run.seriesError} /> : null}
      </div>
      {option && <EChart option={option} height={300} label={`Backtest of ${node.node.name || node.nodeId}: stored values and the alarms the rule would have raised`} testId="backtest-chart" />}
    </section>
  );
}
