// The active alarms page: a live table (initial GET, then the alarm
// stream), filters kept in the URL, and a side panel with the selected
// alarm's history and its acknowledge and clear actions.
import { useCallback, useEffect, useState } from 'react';
import { listAlarms, openAlarmStream, type Alarm, type StreamState } from '../../api/alarms';
import { navigate, type Route } from '../../app/router';
import { ErrorNote, Loading } from '../common/ui';
import { AlarmDetailPanel } from './AlarmDetailPanel';
import { AlarmFilters } from './AlarmFilters';
import { AlarmTable } from './AlarmTable';
import { applyChange, filterFromQuery, filterToQuery, toApiFilter, type TableFilter } from './alarmsModel';

const LIMIT = 200;

export function AlarmsPage({ route }: { route: Route }) {
  const filter = filterFromQuery(route.query);
  const filterKey = filterToQuery(filter);
  const selected = route.query.get('alarm') ?? '';
  const [rows, setRows] = useState<Alarm[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [stream, setStream] = useState<{ state: StreamState; reason?: string }>({ state: 'connecting' });
  const [reloads, setReloads] = useState(0);
  const [changed, setChanged] = useState<{ id: string; n: number }>({ id: '', n: 0 });

  const go = useCallback((f: TableFilter, alarm = selected) => {
    navigate(`/alarms?${filterToQuery(f)}${alarm ? `&alarm=${encodeURIComponent(alarm)}` : ''}`);
  }, [selected]);

  // Initial load (and after a filter change or dropped stream changes).
  useEffect(() => {
    const ac = new AbortController();
    listAlarms(toApiFilter(filterFromQuery(new URLSearchParams(filterKey)), LIMIT), ac.signal).then(
      (p) => {
        setRows(p.items ?? []);
        setTotal(p.total);
        setError(null);
      },
      (e: unknown) => {
        if (!ac.signal.aborted) setError(e);
      },
    );
    return () => ac.abort();
  }, [filterKey, reloads]);

  // The live stream: every change of the tenant's alarms.
  useEffect(() => {
    const f = filterFromQuery(new URLSearchParams(filterKey));
    return openAlarmStream({
      onState: (state, reason) => setStream({ state, reason }),
      onMessage: (m) => {
        if (m.type === 'alarm') {
          setRows((rs) => (rs ? applyChange(rs, m, f, LIMIT) : rs));
          setChanged((c) => ({ id: m.alarm.id, n: c.n + 1 }));
        } else if (m.type === 'dropped') {
          setReloads((n) => n + 1);
        }
      },
    });
  }, [filterKey]);

  return (
    <main className="page alarms-page">
      <div className="page-head">
        <h1>Alarms</h1>
        <LiveBadge state={stream.state} reason={stream.reason} />
      </div>
      <AlarmFilters filter={filter} onChange={(f) => go(f)} />
      <div className="split">
        <section className="split-main" aria-label="Alarm list">
          <ErrorNote error={error}>
            <button onClick={() => setReloads((n) => n + 1)}>Retry</button>
          </ErrorNote>
          {rows === null && !error && <Loading what="the alarms" />}
          {rows !== null && (
            <>
              <AlarmTable rows={rows} selected={selected} onSelect={(id) => go(filter, id)} />
              <p className="muted small">
                {rows.length === 0 ? 'No alarms match these filters.' : `${rows.length} shown${total > rows.length ? ` of ${total}` : ''}.`}
              </p>
            </>
          )}
        </section>
        {selected && (
          <AlarmDetailPanel
            key={selected}
            id={selected}
            changed={changed.id === selected ? changed.n : 0}
            onClose={() => go(filter, '')}
          />
        )}
      </div>
    </main>
  );
}

function LiveBadge({ state, reason }: { state: StreamState; reason?: string }) {
  const text = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  return (
    <span className={`live live-${state}`} role="status" title={state === 'closed' ? reason : undefined} data-testid="alarm-stream-state">
      {text}
      {state === 'closed' && reason ? <span className="visually-hidden">: {reason}</span> : null}
    </span>
  );
}
