// The editor's requests: validate, save (with conflict detection), deploy,
// undeploy, reload. They report through the store's status line and
// dialogs; a failed request says what failed.
import type { StoreApi } from 'zustand';
import { ApiError } from '../api/client';
import { deployFlow, getFlow, saveFlow, undeployFlow, validateFlow } from '../api/flows';
import type { Problem } from '../api/types';
import { errorText } from './Dialog';
import { modelToFlow } from './dsl';
import type { EditorState } from './store';

type Api = StoreApi<EditorState>;

async function busy<T>(api: Api, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  api.getState().setBusy(what);
  try {
    return await fn();
  } catch (e) {
    api.getState().setStatus({ text: errorText(e), kind: 'error' });
    return undefined;
  } finally {
    api.getState().setBusy('');
  }
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export async function validate(api: Api): Promise<void> {
  await busy(api, 'validate', async () => {
    const s = api.getState();
    const a = await validateFlow(modelToFlow(s.model));
    s.setProblems(a.problems);
    s.setPanel('problems');
    const errors = a.problems.filter((p) => p.severity === 'error').length;
    const warnings = a.problems.length - errors;
    s.setStatus(errors === 0 && warnings === 0
      ? { text: 'The flow is valid.', kind: 'ok' }
      : { text: `Validation: ${plural(errors, 'error', 'errors')}, ${plural(warnings, 'warning', 'warnings')}.`, kind: errors ? 'error' : 'info' });
  });
}

/** save stores a new version; base: the version it overwrites (a conflict otherwise). */
export async function save(api: Api, comment: string, thenDeploy: boolean, base?: number): Promise<void> {
  const s = api.getState();
  s.setBusy('save');
  try {
    const a = await saveFlow(s.flowId, modelToFlow(s.model), comment, base ?? s.version);
    const st = api.getState();
    st.markSaved(a.version);
    st.setDialog(null);
    if (a.problems) st.setProblems(a.problems);
    const errors = (a.problems ?? []).filter((p) => p.severity === 'error').length;
    st.setStatus({ text: `Saved version ${a.version}.${errors ? ` It has ${plural(errors, 'error', 'errors')}: it cannot be deployed until they are fixed.` : ''}`, kind: errors ? 'info' : 'ok' });
    if (thenDeploy) await deploy(api);
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      s.setDialog({ kind: 'conflict', current: e.info.currentVersion ?? 0, changes: e.info.details ?? [], comment, thenDeploy });
      s.setStatus({ text: `Not saved: ${e.message}`, kind: 'error' });
    } else {
      s.setStatus({ text: errorText(e), kind: 'error' });
    }
  } finally {
    api.getState().setBusy('');
  }
}

export async function deploy(api: Api): Promise<void> {
  const s = api.getState();
  if (s.dirty) {
    s.setDialog({ kind: 'save', thenDeploy: true });
    return;
  }
  s.setBusy('deploy');
  try {
    const a = await deployFlow(s.flowId);
    const w = a.warnings?.length ?? 0;
    s.setStatus({ text: `Deployed version ${a.version}.${w ? ` ${plural(w, 'warning', 'warnings')}: see Problems.` : ''}`, kind: 'ok' });
    if (w) s.setProblems(a.warnings ?? []);
  } catch (e) {
    if (e instanceof ApiError && e.info.details?.length) {
      s.setProblems(e.info.details as Problem[]);
      s.setPanel('problems');
    }
    s.setStatus({ text: errorText(e), kind: 'error' });
  } finally {
    api.getState().setBusy('');
  }
}

export async function undeploy(api: Api): Promise<void> {
  await busy(api, 'undeploy', async () => {
    const s = api.getState();
    const a = await undeployFlow(s.flowId);
    s.setStats(null);
    s.setStatus({ text: `Undeployed (version ${a.version} stopped).`, kind: 'ok' });
  });
}

/** reload replaces the model with the latest saved version. */
export async function reload(api: Api): Promise<void> {
  await busy(api, 'reload', async () => {
    const s = api.getState();
    const a = await getFlow(s.flowId);
    s.load(a);
    s.setDialog(null);
    s.setStatus({ text: `Loaded version ${a.version}.`, kind: 'info' });
  });
}
