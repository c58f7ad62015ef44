// Time-series chart of the chosen devices and signals over the range, one
// aggregate per bucket (about 300 buckets), with the data as a table too.
import { useMemo, useState } from 'react';
import { latestTelemetry, queryTelemetry, type Agg } from '../../api/telemetry';
import { EChart } from '../common/EChart';
import { formatTime } from '../common/time';
import { ErrorNote, useLoad, usePoll } from '../common/ui';
import { formatTelemetryValue, timeSeriesOption, timeWindow } from './dashModel';

interface Props {
  devices: string[];
  chosen: string[];
  signals: string[];
  range: string;
  agg: Agg;
  onChoose(devices: string[], signals: string[]): void;
}

export function SeriesPanel({ devices, chosen, signals, range, agg, onChoose }: Props) {
  const chosenKey = chosen.join(',');
  // The signals the chosen devices have, from their latest values.
  const known = useLoad(async (s) => {
    const ls = await Promise.all(chosenKey.split(',').filter(Boolean).map((d) => latestTelemetry(d, s)));
    return [...new Set(ls.flatMap((l) => Object.keys(l.signals ?? {})))].sort();
  }, [chosenKey]);
  const shownSignals = signals.length ? signals : (known.data ?? []);
  const sigKey = shownSignals.join(',');
  const [tick, setTick] = useState(0);
  const data = useLoad(
    async (s) => {
      if (!chosenKey || !sigKey) return null;
      const w = timeWindow(range, Date.now());
      const a = await queryTelemetry({ devices: chosenKey.split(','), signals: sigKey.split(','), from: w.from, to: w.to, agg, every: w.every, limit: 10_000 }, s);
      return { ...a, window: w };
    },
    [chosenKey, sigKey, range, agg, tick],
  );
  usePoll(() => setTick((t) => t + 1), 15_000);
  const option = useMemo(() => (data.data ? timeSeriesOption(data.data.series, data.data.window.from, data.data.window.to) : null), [data.data]);

  const toggle = (list: string[], x: string) => (list.includes(x) ? list.filter((y) => y !== x) : [...list, x]);

  return (
    <section className="card series-panel" aria-label="Time series">
      <div className="panel-head">
        <h2>Time series</h2>
        <span className="muted small">{data.data ? `${agg} per ${data.data.window.every}` : ''}</span>
      </div>
      <div className="pickers">
        <fieldset>
          <legend>Devices</legend>
          {devices.slice(0, 30).map((d) => (
            <label key={d} className="check">
              <input type="checkbox" checked={chosen.includes(d)} onChange={() => onChoose(toggle(chosen, d), signals)} />
              {d}
            </label>
          ))}
        </fieldset>
        <fieldset>
          <legend>Signals</legend>
          {(known.data ?? []).length === 0 && <span className="muted small">{known.loading ? 'Loading…' : 'Choose a device.'}</span>}
          {(known.data ?? []).map((s) => (
            <label key={s} className="check">
              <input type="checkbox" checked={shownSignals.includes(s)} onChange={() => onChoose(chosen, toggle(shownSignals, s))} />
              {s}
            </label>
          ))}
        </fieldset>
      </div>
      <ErrorNote error={known.error ?? data.error} />
      <div className="chart-box" aria-busy={data.loading}>
        {option ? (
          <EChart option={option} height={300} label={`Time series of ${sigKey} on ${chosenKey}`} testId="series-chart" />
        ) : (
          <div className="chart-placeholder" style={{ height: 300 }}>{data.loading ? 'Loading the telemetry…' : 'Choose devices and signals to draw.'}</div>
        )}
      </div>
      {data.data && (
        <details className="data-table">
          <summary>Data as a table</summary>
          <table data-testid="series-table">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Signal</th>
                <th scope="col">Time</th>
                <th scope="col" className="num">Value</th>
              </tr>
            </thead>
            <tbody>
              {data.data.series.flatMap((s) =>
                s.points.slice(-20).map((p) => (
                  <tr key={`${s.deviceId}/${s.signal}/${p.ts}`}>
                    <td>{s.deviceId}</td>
                    <td>{s.signal}</td>
                    <td>{formatTime(p.ts)}</td>
                    <td className="num">{formatTelemetryValue(p.value)}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </details>
      )}
    </section>
  );
}
