// The selected alarm: its fields, acknowledge and clear (with a comment),
// and its history of changes.
import { useEffect, useState } from 'react';
import { ackAlarm, clearAlarm, getAlarm } from '../../api/alarms';
import { formatTime } from '../common/time';
import { ErrorNote, Loading, SeverityBadge, useLoad } from '../common/ui';
import { changeLabel, formatValue } from './alarmsModel';

export function AlarmDetailPanel({ id, changed, onClose }: { id: string; changed: number; onClose(): void }) {
  const { data: a, error, loading, reload } = useLoad((s) => getAlarm(id, s), [id]);
  // A change of this alarm from the stream: reload its history.
  useEffect(() => {
    if (changed) reload();
  }, [changed, reload]);

  return (
    <aside className="split-side detail-panel" aria-label="Alarm details">
      <div className="panel-head">
        <h2>{a ? `${a.rule} on ${a.deviceId}` : 'Alarm'}</h2>
        <button className="link" onClick={onClose} aria-label="Close the alarm details">Close</button>
      </div>
      <ErrorNote error={error}>
        <button onClick={reload}>Retry</button>
      </ErrorNote>
      {!a && loading && <Loading what="the alarm" />}
      {a && (
        <>
          <dl className="facts">
            <dt>Severity</dt>
            <dd><SeverityBadge severity={a.severity} /></dd>
            <dt>Status</dt>
            <dd data-testid="alarm-status">{a.status}{a.acknowledged ? ', acknowledged' : ''}</dd>
            <dt>Value</dt>
            <dd>{formatValue(a.value)}</dd>
            {a.signals && Object.keys(a.signals).length > 0 && (
              <>
                <dt>Signals</dt>
                <dd>{Object.entries(a.signals).map(([k, v]) => `${k} = ${String(v)}`).join(', ')}</dd>
              </>
            )}
            <dt>Active since</dt>
            <dd>{formatTime(a.since)}</dd>
            <dt>Flow / node</dt>
            <dd>{a.flowId} / {a.nodeId}</dd>
            {a.acknowledged && (
              <>
                <dt>Acknowledged</dt>
                <dd>{a.ackedBy} {formatTime(a.ackedAt)}{a.ackComment ? `: “${a.ackComment}”` : ''}</dd>
              </>
            )}
            {a.clearedBy && (
              <>
                <dt>Cleared by</dt>
                <dd>{a.clearedBy} {formatTime(a.clearedAt)}{a.clearComment ? `: “${a.clearComment}”` : ''}</dd>
              </>
            )}
          </dl>
          {a.status === 'active' && <AlarmActions id={a.id} acknowledged={a.acknowledged} onDone={reload} />}
          <h3>History</h3>
          <ol className="history" data-testid="alarm-history">
            {[...a.history].reverse().map((h) => (
              <li key={h.seq}>
                <strong>{changeLabel(h.kind, h.reason)}</strong> <span className="muted">{formatTime(h.at)}</span>
                <div className="small">
                  <SeverityBadge severity={h.severity} /> value {formatValue(h.value)}
                  {h.by ? ` · by ${h.by}` : ''}
                  {h.comment ? ` · “${h.comment}”` : ''}
                </div>
              </li>
            ))}
          </ol>
        </>
      )}
    </aside>
  );
}

function AlarmActions({ id, acknowledged, onDone }: { id: string; acknowledged: boolean; onDone(): void }) {
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState<'' | 'ack' | 'clear'>('');
  const [error, setError] = useState<unknown>(null);
  async function act(kind: 'ack' | 'clear') {
    setBusy(kind);
    setError(null);
    try {
      await (kind === 'ack' ? ackAlarm(id, comment.trim()) : clearAlarm(id, comment.trim()));
      setComment('');
      onDone();
    } catch (e) {
      setError(e);
    } finally {
      setBusy('');
    }
  }
  return (
    <form className="alarm-actions" aria-label="Acknowledge or clear" onSubmit={(e) => { e.preventDefault(); void act(acknowledged ? 'clear' : 'ack'); }}>
      <label>
        Comment
        <textarea value={comment} onChange={(e) => setComment(e.target.value)} rows={2} maxLength={2000} placeholder="optional: what you did, who is on it" />
      </label>
      <ErrorNote error={error} />
      <div className="row">
        {!acknowledged && (
          <button type="button" className="primary" disabled={busy !== ''} onClick={() => void act('ack')}>
            {busy === 'ack' ? 'Acknowledging…' : 'Acknowledge'}
          </button>
        )}
        <button type="button" disabled={busy !== ''} onClick={() => void act('clear')}>
          {busy === 'clear' ? 'Clearing…' : 'Clear'}
        </button>
      </div>
    </form>
  );
}
