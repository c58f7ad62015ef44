import type { Alarm } from '../../api/alarms';
import { ago, formatTime } from '../common/time';
import { SeverityBadge } from '../common/ui';
import { formatValue } from './alarmsModel';

export function AlarmTable({ rows, selected, onSelect }: { rows: Alarm[]; selected: string; onSelect(id: string): void }) {
  const now = Date.now();
  return (
    <table className="alarm-table" data-testid="alarm-table">
      <thead>
        <tr>
          <th scope="col">Severity</th>
          <th scope="col">Rule</th>
          <th scope="col">Device</th>
          <th scope="col">Value</th>
          <th scope="col">Status</th>
          <th scope="col">Since</th>
          <th scope="col">Flow / node</th>
          <th scope="col"><span className="visually-hidden">Details</span></th>
        </tr>
      </thead>
      <tbody>
        {rows.map((a) => (
          <tr key={a.id} className={`sev-row-${a.severity}${a.id === selected ? ' selected' : ''}`} data-alarm-id={a.id} aria-selected={a.id === selected}>
            <td><SeverityBadge severity={a.severity} /></td>
            <td>{a.rule}</td>
            <td>{a.deviceId}</td>
            <td className="num">{formatValue(a.value)}</td>
            <td>
              {a.status}
              {a.acknowledged ? <span className="tag">acknowledged</span> : a.status === 'active' ? <span className="tag tag-warn">unacknowledged</span> : null}
              {a.count > 1 ? <span className="muted small"> ×{a.count}</span> : null}
            </td>
            <td title={formatTime(a.since)}>{ago(a.since, now)}</td>
            <td className="muted">{a.flowId} / {a.nodeId}</td>
            <td>
              <button onClick={() => onSelect(a.id)} aria-label={`Details of ${a.rule} on ${a.deviceId}`}>
                Details
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
