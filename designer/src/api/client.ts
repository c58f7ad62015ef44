// The typed API client: every request of the designer goes through
// request(), which adds the session token, decodes JSON and turns an error
// answer into an ApiError that says what failed.

import type { ErrorInfo } from './types';

const TOKEN_KEY = 'sluice.token';

export class ApiError extends Error {
  readonly status: number;
  readonly info: ErrorInfo;
  readonly what: string;

  constructor(what: string, status: number, info: ErrorInfo) {
    super(`${what}: ${info.message}`);
    this.name = 'ApiError';
    this.status = status;
    this.info = info;
    this.what = what;
  }
}

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token === null) localStorage.removeItem(TOKEN_KEY);
  else localStorage.setItem(TOKEN_KEY, token);
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** onUnauthorized calls fn whenever the server answers 401 (session expired). */
export function onUnauthorized(fn: Listener): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined | string[]>;
  signal?: AbortSignal;
  /** what names the request in error messages, e.g. "save flow boiler". */
  what?: string;
}

export function buildQuery(q: RequestOptions['query']): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** request calls the API and returns the decoded JSON answer (undefined for 204). */
export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET';
  const what = opts.what ?? `${method} ${path}`;
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path + buildQuery(opts.query), { method, headers, body, signal: opts.signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(what, 0, { code: 'network', message: `the server did not answer (${String(e)})` });
  }
  if (res.status === 401 && token) unauthorizedListeners.forEach((fn) => fn());
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      if (!res.ok) throw new ApiError(what, res.status, { code: 'http', message: `${res.status} ${res.statusText}: ${text.slice(0, 200)}` });
      return text as T;
    }
  }
  if (!res.ok) {
    const info = (data as { error?: ErrorInfo } | undefined)?.error ?? { code: 'http', message: `${res.status} ${res.statusText}` };
    throw new ApiError(what, res.status, info);
  }
  return data as T;
}

/** wsURL turns an API path into a ws:// or wss:// URL on this origin. */
export function wsURL(path: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}
