import { useEffect, useState } from 'react';
import { SEVERITIES, type Severity } from '../../api/alarms';
import type { TableFilter } from './alarmsModel';

export function AlarmFilters({ filter, onChange }: { filter: TableFilter; onChange(f: TableFilter): void }) {
  const [device, setDevice] = useState(filter.device);
  useEffect(() => setDevice(filter.device), [filter.device]);
  const toggle = (s: Severity) =>
    onChange({ ...filter, severity: filter.severity.includes(s) ? filter.severity.filter((x) => x !== s) : [...filter.severity, s] });
  return (
    <form
      className="filters"
      aria-label="Alarm filters"
      onSubmit={(e) => {
        e.preventDefault();
        onChange({ ...filter, device: device.trim() });
      }}
    >
      <label className="inline">
        Status
        <select value={filter.status || 'any'} onChange={(e) => onChange({ ...filter, status: e.target.value === 'any' ? '' : (e.target.value as TableFilter['status']) })}>
          <option value="active">Active</option>
          <option value="cleared">Cleared</option>
          <option value="any">Any</option>
        </select>
      </label>
      <fieldset className="sev-filter">
        <legend>Severity</legend>
        {SEVERITIES.map((s) => (
          <label key={s} className="check">
            <input type="checkbox" checked={filter.severity.includes(s)} onChange={() => toggle(s)} />
            <span className={`sev sev-${s}`}>{s}</span>
          </label>
        ))}
      </fieldset>
      <label className="inline">
        Device
        <input value={device} onChange={(e) => setDevice(e.target.value)} placeholder="any device" size={16} />
      </label>
      <button type="submit">Apply</button>
      {(filter.device || filter.severity.length > 0 || filter.status !== 'active') && (
        <button type="button" className="link" onClick={() => onChange({ status: 'active', severity: [], device: '' })}>
          Reset filters
        </button>
      )}
    </form>
  );
}
