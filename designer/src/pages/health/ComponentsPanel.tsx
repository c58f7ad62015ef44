import type { HealthAnswer } from '../../api/health';
import { ErrorNote, Loading } from '../common/ui';
import { toneOf } from './healthModel';

export function ComponentsPanel({ health, error, loading }: { health: HealthAnswer | undefined; error: unknown; loading: boolean }) {
  return (
    <section className="card" aria-label="Server">
      <div className="panel-head">
        <h2>Server</h2>
        {health && <span className={`tone tone-${health.status === 'ok' ? 'ok' : 'error'}`} data-testid="server-status">{health.status}</span>}
      </div>
      <ErrorNote error={error} />
      {!health && loading && <Loading what="the server health" />}
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
