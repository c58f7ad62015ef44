// The node catalog: GET /api/v1/nodes (engine/spec). The palette and every
// inspector form come from it, so a new Go node needs no TypeScript.
import { request } from './client';

export type FieldType =
  | 'string' | 'int' | 'float' | 'bool' | 'duration' | 'enum' | 'cron' | 'code'
  | 'expression' | 'object' | 'list' | 'map' | 'secret' | 'ref';

export interface FieldSpec {
  name: string;
  type: FieldType;
  label?: string;
  help: string;
  default?: unknown;
  required?: boolean;
  min?: number;
  max?: number;
  enum?: string[];
  example?: unknown;
  language?: string;
  refKind?: string;
  fields?: FieldSpec[];
  item?: FieldSpec;
  vars?: boolean;
  predicate?: boolean;
  exclusive?: string;
  advanced?: boolean;
}

export interface RelationsSpec {
  fixed?: string[];
  fromField?: string;
  fromKey?: string;
  dynamic?: boolean;
  dynamicIf?: string;
}

export interface NodeSpec {
  type: string;
  category: string;
  summary: string;
  version: number;
  fields: FieldSpec[];
  relations: RelationsSpec;
  source?: boolean;
  doc?: string;
  examples?: { title: string; config: Record<string, unknown> }[];
}

/** The palette categories in display order (engine/spec Categories). */
export const categoryLabels: Record<string, string> = {
  connectors: 'Connectors',
  filter: 'Filter',
  transform: 'Transform',
  action: 'Action',
  external: 'External',
  flow: 'Flow',
  alarm: 'Alarms',
  storage: 'Storage',
};

export async function listNodeSpecs(signal?: AbortSignal): Promise<NodeSpec[]> {
  return request<NodeSpec[]>('/api/v1/nodes', { signal, what: 'load the node catalog' });
}
