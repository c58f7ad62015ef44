import type { HealthAnswer } from '../../api/health';
import { ErrorNote } from '../common/ui';
import { toneOf } from './healthModel';

// The table keeps its place while /healthz loads (no layout jump): as many
// placeholder rows as the server had components last time (2 by default).
const COUNT_KEY = 'sluice.health.components';

function lastCount(): number {
  const n = Number(sessionStorage.getItem(COUNT_KEY));
  return Number.isInteger(n) && n > 0 && n < 50 ? n : 2;
}

export function ComponentsPanel({ health, error, loading, onRetry }: { health: HealthAnswer | undefined; error: unknown; loading: boolean; onRetry?(): void }) {
  const count = health ? Math.max(1, Object.keys(health.components ?? {}).length) : 0;
  if (count > 0) sessionStorage.setItem(COUNT_KEY, String(count));
  return (
    <section className="card" aria-label="Server">
      <div className="panel-head">
        <h2>Server</h2>
        {health && <span className={`tone tone-${health.status === 'ok' ? 'ok' : 'error'}`} data-testid="server-status">{health.status}</span>}
      </div>
      <ErrorNote error={error}>{onRetry && <button onClick={onRetry}>Retry</button>}</ErrorNote>
      {!health && loading && <Placeholder rows={lastCount()} />}
      {health && (
        <table>
          <thead>
            <tr>
              <th scope="col">Component</th>
              <th scope="col">State</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(health.components ?? {}).map(([name, c]) => {
              const details = Object.entries(c).filter(([k]) => k !== 'state');
              return (
                <tr key={name}>
                  <td>{name}</td>
                  <td><span className={`tone tone-${toneOf(c.state)}`}>{c.state ?? '—'}</span></td>
                  <td className="muted">{details.map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' · ')}</td>
                </tr>
              );
            })}
            {Object.keys(health.components ?? {}).length === 0 && (
              <tr><td colSpan={3} className="muted">The server reports no components.</td></tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Placeholder({ rows }: { rows: number }) {
  return (
    <table aria-busy="true">
      <thead>
        <tr>
          <th scope="col">Component</th>
          <th scope="col">State</th>
          <th scope="col">Details</th>
        </tr>
      </thead>
      <tbody>
        {Array.from({ length: rows }, (_, i) => (
          <tr key={i}>
            <td colSpan={3} className="muted">
              {i === 0 ? <span className="loading" role="status" aria-live="polite">Loading the server health…</span> : '\u00a0'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
