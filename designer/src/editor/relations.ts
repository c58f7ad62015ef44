// Which relations (output handles) a node has: the spec's fixed ones, one
// per configured value of fromField (a switch's cases), and for nodes with
// dynamic relations whatever its connections already use.
import type { NodeSpec } from '../api/nodes';

export interface NodeRelations {
  relations: string[];
  /** dynamic: any relation name may be used; the node gets an extra "*" handle. */
  dynamic: boolean;
}

/** relationsFor mirrors engine/spec RelationsFor. */
export function relationsFor(spec: NodeSpec | undefined, config: Record<string, unknown> | undefined, used: string[] = []): NodeRelations {
  const rels: string[] = [];
  const add = (s: unknown) => {
    if (typeof s === 'string' && s !== '' && !rels.includes(s)) rels.push(s);
  };
  const cfg = config ?? {};
  if (!spec) {
    used.forEach(add);
    return { relations: rels.length ? rels : ['Success'], dynamic: true };
  }
  const r = spec.relations ?? {};
  if (r.fromField) {
    const v = cfg[r.fromField];
    if (Array.isArray(v)) {
      for (const item of v) {
        if (item && typeof item === 'object' && r.fromKey) add((item as Record<string, unknown>)[r.fromKey]);
        else if (typeof item === 'string' && !r.fromKey) add(item);
      }
    } else if (v && typeof v === 'object') {
      Object.keys(v).sort().forEach(add);
    }
  }
  (r.fixed ?? []).forEach(add);
  let dynamic = !!r.dynamic;
  if (r.dynamicIf) {
    const v = cfg[r.dynamicIf];
    if (typeof v === 'boolean') dynamic = dynamic || v;
    else {
      const f = spec.fields.find((x) => x.name === r.dynamicIf);
      if (f && f.default === true) dynamic = true;
    }
  }
  // Connections on relations the spec no longer declares stay visible, so
  // that they can be seen and removed (validation reports them).
  used.forEach(add);
  return { relations: rels, dynamic };
}
