// Alarms that became active over the range, counted per bucket and
// severity (from GET /api/v1/alarms), as stacked bars.
import { useMemo, useState } from 'react';
import { listAlarms } from '../../api/alarms';
import { EChart } from '../common/EChart';
import { ErrorNote, useLoad, usePoll } from '../common/ui';
import { alarmCounts, alarmCountsOption, timeWindow } from './dashModel';

const PAGE = 1000;

export function AlarmCountsPanel({ range }: { range: string }) {
  const [tick, setTick] = useState(0);
  const data = useLoad(
    async (s) => {
      const w = timeWindow(range, Date.now(), 48);
      const page = await listAlarms({ from: w.from, to: w.to, limit: PAGE }, s);
      return { w, page };
    },
    [range, tick],
  );
  usePoll(() => setTick((t) => t + 1), 15_000);
  const option = useMemo(() => {
    if (!data.data) return null;
    const { w, page } = data.data;
    return alarmCountsOption(alarmCounts(page.items ?? [], w.from, w.to, w.bucketMs), w.bucketMs);
  }, [data.data]);
  const total = data.data?.page.total ?? 0;
  return (
    <section className="card counts-panel" aria-label="Alarm counts">
      <div className="panel-head">
        <h2>Alarms by severity</h2>
        <span className="muted small" data-testid="alarm-count-total">
          {data.data ? `${total} raised in the range${total > PAGE ? ` (counted: the latest ${PAGE})` : ''}` : ''}
        </span>
      </div>
      <ErrorNote error={data.error}>
        <button onClick={data.reload}>Retry</button>
      </ErrorNote>
      {option ? (
        <EChart option={option} height={220} label={`Alarms raised per ${data.data!.w.every} by severity`} testId="alarm-counts-chart" />
      ) : (
        <div className="chart-placeholder" style={{ height: 220 }}>{data.loading ? 'Loading the alarms…' : ''}</div>
      )}
    </section>
  );
}
