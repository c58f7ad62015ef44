// The dashboard: latest values per device, time-series charts of chosen
// devices and signals over a range, and alarm counts by severity over the
// same range. The settings live in the URL (#/dashboard?devices=…).
import { useMemo } from 'react';
import { telemetryDevices } from '../../api/telemetry';
import { navigate, type Route } from '../../app/router';
import { RANGE_PRESETS } from '../common/time';
import { ErrorNote, Loading, useLoad, usePoll } from '../common/ui';
import { AlarmCountsPanel } from './AlarmCountsPanel';
import { AGGS, settingsFromQuery, settingsToQuery, type DashSettings } from './dashModel';
import { LatestPanel } from './LatestPanel';
import { SeriesPanel } from './SeriesPanel';

export function DashboardPage({ route }: { route: Route }) {
  const settings = settingsFromQuery(route.query);
  const devices = useLoad((s) => telemetryDevices(s), []);
  usePoll(devices.reload, 15_000);
  const ids = useMemo(() => (devices.data ?? []).map((d) => d.deviceId), [devices.data]);
  // Without a choice: the first three devices.
  const chosen = settings.devices.length ? settings.devices : ids.slice(0, 3);
  const set = (s: Partial<DashSettings>) => navigate(`/dashboard?${settingsToQuery({ ...settings, ...s })}`);

  return (
    <main className="page dashboard-page">
      <div className="page-head">
        <h1>Dashboard</h1>
        <form className="filters" aria-label="Dashboard settings" onSubmit={(e) => e.preventDefault()}>
          <label className="inline">
            Range
            <select value={settings.range} onChange={(e) => set({ range: e.target.value })}>
              {RANGE_PRESETS.map((p) => (
                <option key={p.key} value={p.key}>{p.label}</option>
              ))}
            </select>
          </label>
          <label className="inline">
            Aggregate
            <select value={settings.agg} onChange={(e) => set({ agg: e.target.value as DashSettings['agg'] })}>
              {AGGS.map((a) => (
                <option key={a} value={a}>{a}</option>
              ))}
            </select>
          </label>
        </form>
      </div>
      <ErrorNote error={devices.error}>
        <button onClick={devices.reload}>Retry</button>
      </ErrorNote>
      {devices.loading && !devices.data && <Loading what="the devices" />}
      {devices.data && ids.length === 0 && (
        <p className="muted">No device has stored telemetry yet. A flow with a time-series sink stores what devices send; their values then show here.</p>
      )}
      <div className="dash-grid">
        {ids.length > 0 && (
          <SeriesPanel
            devices={ids}
            chosen={chosen}
            signals={settings.signals}
            range={settings.range}
            agg={settings.agg}
            onChoose={(d, s) => set({ devices: d, signals: s })}
          />
        )}
        <AlarmCountsPanel range={settings.range} />
        {ids.length > 0 && <LatestPanel devices={ids} />}
      </div>
    </main>
  );
}
