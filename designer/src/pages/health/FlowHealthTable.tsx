import { Fragment, useState } from 'react';
import type { FlowStatus } from '../../api/health';
import type { FlowSummary } from '../../api/flowdocs';
import { href } from '../../app/router';
import { formatTime } from '../common/time';
import { errorText } from '../common/ui';
import { failingParts, formatRate, partRows, worstTone, type Rates } from './healthModel';

export interface FlowRow {
  summary: FlowSummary;
  status?: FlowStatus;
  error?: Error;
  rates?: Rates;
}

export function FlowHealthTable({ rows }: { rows: FlowRow[] }) {
  const [open, setOpen] = useState<Record<string, boolean>>({});
  return (
    <table className="flow-health" data-testid="flow-health">
      <thead>
        <tr>
          <th scope="col">Flow</th>
          <th scope="col">State</th>
          <th scope="col" className="num">Version</th>
          <th scope="col" className="num">In flight</th>
          <th scope="col" className="num">Processed</th>
          <th scope="col" className="num">Failed</th>
          <th scope="col" className="num">Timed out</th>
          <th scope="col" className="num">Rejected</th>
          <th scope="col" className="num">Throughput</th>
          <th scope="col" className="num">Errors</th>
          <th scope="col"><span className="visually-hidden">Parts</span></th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ summary: f, status, error, rates: r }) => {
          const st = status?.stats;
          const parts = partRows(st);
          const tone = error ? 'error' : status && !status.deployed ? 'error' : worstTone(parts);
          const failing = failingParts(parts);
          const isOpen = open[f.id] ?? tone === 'error';
          return (
            <Fragment key={f.id}>
              <tr data-flow-id={f.id}>
                <td><a href={href('flows', f.id)}>{f.name || f.id}</a></td>
                <td>
                  <span className={`tone tone-${tone}`}>{error ? 'status unavailable' : status?.deployed ? (tone === 'error' ? 'errors' : tone === 'warn' ? 'warnings' : 'running') : 'not running'}</span>
                  {error && <div className="field-error small" role="alert">{errorText(error)}</div>}
                  {!error && failing.length > 0 && (
                    <div className="flow-problem field-error small" data-testid="flow-problem">
                      {failing[0]!.kind} <strong>{failing[0]!.id}</strong> {failing[0]!.state}: {failing[0]!.lastError}
                      {failing.length > 1 ? ` (and ${failing.length - 1} more)` : ''}
                    </div>
                  )}
                </td>
                <td className="num">{status?.version ?? f.deployedVersion}{status && status.latestVersion > (status.version ?? 0) ? <span className="muted small"> (latest {status.latestVersion})</span> : null}</td>
                <td className="num">{st?.inFlight ?? '—'}</td>
                <td className="num">{st?.processed ?? '—'}</td>
                <td className="num">{st?.failed ?? '—'}</td>
                <td className="num">{st?.timedOut ?? '—'}</td>
                <td className="num">{st?.rejected ?? '—'}</td>
                <td className="num">{formatRate(r?.throughput)}</td>
                <td className={`num${r && r.errors > 0 ? ' error' : ''}`}>{formatRate(r?.errors)}</td>
                <td>
                  {parts.length > 0 && (
                    <button className="link" aria-expanded={isOpen} onClick={() => setOpen((o) => ({ ...o, [f.id]: !isOpen }))}>
                      {isOpen ? 'Hide' : 'Show'} {parts.length} part{parts.length === 1 ? '' : 's'}<span className="visually-hidden"> of {f.id}</span>
                    </button>
                  )}
                </td>
              </tr>
              {isOpen && parts.length > 0 && (
                <tr className="parts-row">
                  <td colSpan={11}>
                    <p className="muted small">Deployed {formatTime(status?.since)}</p>
                    <ul className="parts">
                      {parts.map((p) => (
                        <li key={`${p.kind}/${p.id}`} data-part-id={p.id}>
                          <span className={`tone tone-${p.tone}`}>{p.state || 'unknown'}</span> <strong>{p.id}</strong> <span className="muted">({p.kind})</span>{' '}
                          <span className="small">{p.counters.map(([k, v]) => `${k} ${v}`).join(' · ')}</span>
                          {p.lastError && <div className={p.tone === 'error' ? 'field-error small' : 'muted small'}>last error: {p.lastError}</div>}
                        </li>
                      ))}
                    </ul>
                  </td>
                </tr>
              )}
            </Fragment>
          );
        })}
      </tbody>
    </table>
  );
}
