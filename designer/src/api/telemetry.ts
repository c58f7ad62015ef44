// The telemetry API (server/telemetry.go): stored points or aggregates, the
// latest value per signal, and the devices with telemetry.
import { request } from './client';

export type Agg = 'avg' | 'min' | 'max' | 'sum' | 'count' | 'first' | 'last';

/** A stored value: numbers and booleans come as numbers, strings as strings. */
export type TelemetryValue = number | string | boolean | null;

export interface Sample {
  ts: number;
  value: TelemetryValue;
  count?: number;
}

export interface Series {
  deviceId: string;
  signal: string;
  points: Sample[];
}

export interface TelemetryAnswer {
  from: number;
  to: number;
  agg?: string;
  every?: string;
  series: Series[];
  nextOffset?: number;
}

export interface TelemetryQuery {
  devices: string[];
  signals?: string[];
  from: number;
  to: number;
  agg?: Agg;
  /** Go duration such as 1m; only with agg */
  every?: string;
  limit?: number;
}

export function queryTelemetry(q: TelemetryQuery, signal?: AbortSignal): Promise<TelemetryAnswer> {
  return request<TelemetryAnswer>('/api/v1/telemetry', {
    query: {
      device: q.devices.join(','),
      signal: q.signals && q.signals.length ? q.signals.join(',') : undefined,
      from: q.from,
      to: q.to,
      agg: q.agg,
      every: q.agg ? q.every : undefined,
      limit: q.limit,
    },
    signal,
    what: `load the telemetry of ${q.devices.join(', ')}`,
  });
}

export interface LatestAnswer {
  deviceId: string;
  signals: Record<string, { ts: number; value: TelemetryValue }>;
}

export function latestTelemetry(device: string, signal?: AbortSignal): Promise<LatestAnswer> {
  return request<LatestAnswer>('/api/v1/telemetry/latest', { query: { device }, signal, what: `load the latest values of ${device}` });
}

export interface DeviceInfo {
  deviceId: string;
  tags?: Record<string, string>;
}

export async function telemetryDevices(signal?: AbortSignal): Promise<DeviceInfo[]> {
  const a = await request<{ devices: DeviceInfo[] | null }>('/api/v1/telemetry/devices', { signal, what: 'load the devices with telemetry' });
  return a.devices ?? [];
}
