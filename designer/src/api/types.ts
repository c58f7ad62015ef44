// Shapes of the Sluice API (server/*.go and engine/spec are the source of
// truth; GET /api/v1/openapi.json lists every route).

export interface Problem {
  severity: 'error' | 'warning';
  flow?: string;
  node?: string;
  nodeType?: string;
  field?: string;
  message: string;
}

export interface ErrorInfo {
  code: string;
  message: string;
  details?: Problem[];
  currentVersion?: number;
  diff?: unknown;
}

export interface TokenAnswer {
  token: string;
  expiresAt: string;
}
