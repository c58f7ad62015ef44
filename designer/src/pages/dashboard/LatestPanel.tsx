// Latest stored value of every signal of every device (refreshed every 10 s).
import { latestTelemetry } from '../../api/telemetry';
import { ago, formatTime } from '../common/time';
import { ErrorNote, Loading, useLoad, usePoll } from '../common/ui';
import { formatTelemetryValue, latestRows } from './dashModel';

const MAX_DEVICES = 50;

export function LatestPanel({ devices }: { devices: string[] }) {
  const key = devices.slice(0, MAX_DEVICES).join(',');
  const latest = useLoad((s) => Promise.all(key.split(',').map((d) => latestTelemetry(d, s))), [key]);
  usePoll(latest.reload, 10_000);
  const rows = latest.data ? latestRows(latest.data) : [];
  const now = Date.now();
  return (
    <section className="card latest-panel" aria-label="Latest values">
      <div className="panel-head">
        <h2>Latest values</h2>
        <button onClick={latest.reload} disabled={latest.loading}>Refresh</button>
      </div>
      <ErrorNote error={latest.error} />
      {!latest.data && latest.loading && <Loading what="the latest values" />}
      {latest.data && (
        <div className="scroll">
          <table data-testid="latest-table">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Signal</th>
                <th scope="col" className="num">Value</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.deviceId}/${r.signal}`}>
                  <td>{r.deviceId}</td>
                  <td>{r.signal}</td>
                  <td className="num">{formatTelemetryValue(r.value)}</td>
                  <td title={formatTime(r.ts)}>{ago(r.ts, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {devices.length > MAX_DEVICES && <p className="muted small">Showing the first {MAX_DEVICES} of {devices.length} devices.</p>}
        </div>
      )}
    </section>
  );
}
