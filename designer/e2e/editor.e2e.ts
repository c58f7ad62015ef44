// The flow editor's features in a real browser (issue 6, "Integrators: the
// flow editor"), beyond what the story covers: save with a comment, a
// conflicting save, version history with the diff on the canvas and
// rollback, undeploy, copy/paste (within a flow and between flows),
// undo/redo from the keyboard, notes and frames, the shortcuts help, the
// flows list (create, rename, duplicate, delete, import, export), a test
// run, inline field errors and masked secrets.
//
// One server and one browser for the file; every test sets up its own
// flows through the API, so that the tests do not depend on each other.

import { readFileSync } from 'node:fs';
import type { Download } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { useHarness, waitFor } from './harness';

interface Node { id: string; type: string; name?: string; configuration?: Record<string, unknown>; additionalInfo?: Record<string, unknown> }
interface Conn { fromId: string; toId: string; type: string }
interface Doc { ruleChain: { id: string; name: string; additionalInfo?: Record<string, unknown> }; metadata: { nodes: Node[]; connections: Conn[] } }
interface FlowAnswer { id: string; version: number; name: string; comment?: string; flow: Doc }
interface Summary { id: string; name: string; version: number; deployedVersion: number }
interface Status { deployed: boolean; version?: number; latestVersion: number }

const SCRIPT = 'msg.doubled = msg.temperature * 2; return {msg: msg, metadata: metadata, msgType: msgType};';

function node(id: string, type: string, x: number, y: number, configuration: Record<string, unknown> = {}): Node {
  return { id, type, configuration, additionalInfo: { x, y } };
}

function doc(id: string, name: string, nodes: Node[] = [], connections: Conn[] = []): Doc {
  return { ruleChain: { id, name }, metadata: { nodes, connections } };
}

describe('the flow editor', () => {
  const h = useHarness('editor');
  const page = () => h().page;
  const api = () => h().api;

  const flow = (id: string) => api().get<FlowAnswer>(`/api/v1/flows/${id}`);
  const create = (d: Doc, comment = 'e2e setup') => api().post<FlowAnswer>(`/api/v1/flows?comment=${encodeURIComponent(comment)}`, d);
  /** saveElsewhere is someone else saving the flow through the API. */
  async function saveElsewhere(id: string, change: (d: Doc) => void, comment: string): Promise<number> {
    const cur = await flow(id);
    change(cur.flow);
    const a = await api().put<FlowAnswer>(`/api/v1/flows/${id}?baseVersion=${cur.version}&comment=${encodeURIComponent(comment)}`, cur.flow);
    return a.version;
  }

  async function openEditor(id: string) {
    await h().goto(`flows/${encodeURIComponent(id)}`);
    await page().getByTestId('canvas').waitFor();
    await page().getByTestId('palette-item-log').waitFor();
  }

  const statusLine = () => page().getByTestId('status-line');
  async function waitStatus(re: RegExp) {
    let last = '';
    await waitFor(`the status line to match ${re} (it says "${last}")`, async () => re.test((last = (await statusLine().textContent()) ?? '')));
    return last;
  }

  const toolbar = (name: string) => page().getByRole('toolbar', { name: 'Editor' }).getByRole('button', { name, exact: true });

  /** saveVersion saves through the toolbar's Save dialog with a comment. */
  async function saveVersion(comment: string) {
    await toolbar('Save').click();
    const dialog = page().getByRole('dialog', { name: 'Save a new version' });
    await dialog.getByLabel('Comment').fill(comment);
    await dialog.getByRole('button', { name: 'Save version' }).click();
    await dialog.waitFor({ state: 'detached' });
    return waitStatus(/^Saved version \d+\./);
  }

  async function classes(testId: string) {
    return (await page().getByTestId(testId).getAttribute('class')) ?? '';
  }

  /** pos is a node's position in flow coordinates (the React Flow wrapper's transform). */
  async function pos(id: string) {
    const style = (await page().locator(`.react-flow__node[data-id="${id}"]`).getAttribute('style')) ?? '';
    const m = /translate\((-?[\d.]+)px,\s*(-?[\d.]+)px\)/.exec(style);
    if (!m) throw new Error(`node ${id} has no position in its style "${style}"`);
    return { x: Number(m[1]), y: Number(m[2]) };
  }

  async function centre(testId: string) {
    const b = await page().getByTestId(testId).boundingBox();
    if (!b) throw new Error(`${testId} is not visible`);
    return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
  }

  async function wire(from: string, relation: string, to: string) {
    const a = await centre(`handle-${from}-${relation}`);
    const b = await centre(`handle-${to}-in`);
    await page().mouse.move(a.x, a.y);
    await page().mouse.down();
    await page().mouse.move(b.x, b.y, { steps: 10 });
    await page().mouse.up();
    await page().getByTestId(`edge-${from}-${relation}-${to}`).waitFor();
  }

  /** download runs action and returns the name and text of the file it downloads. */
  async function download(action: () => Promise<void>): Promise<{ name: string; text: string }> {
    const [d] = await Promise.all([page().waitForEvent('download'), action()]) as [Download, void];
    const path = await d.path();
    return { name: d.suggestedFilename(), text: readFileSync(path, 'utf8') };
  }

  const gone = async (testId: string) => (await page().getByTestId(testId).count()) === 0;

  it('logs in', async () => {
    await h().login();
  });

  it('flows list: creates, renames, duplicates, exports, imports and deletes flows', async () => {
    await h().goto('flows');
    await page().getByRole('button', { name: 'New flow' }).click();
    let dialog = page().getByRole('dialog', { name: 'New flow' });
    await dialog.getByLabel('Id').fill('lst');
    await dialog.getByLabel('Name').fill('List flow');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page().waitForURL(/#\/flows\/lst$/);
    await page().getByTestId('canvas').waitFor();
    expect((await flow('lst')).name).toBe('List flow');

    await h().goto('flows');
    const row = page().getByTestId('flow-row-lst');
    await row.waitFor();
    expect(await row.textContent()).toContain('not deployed');

    // Rename: the list and the API show the new name; a new version is written.
    await page().getByRole('button', { name: 'Rename lst' }).click();
    dialog = page().getByRole('dialog', { name: 'Rename lst' });
    await dialog.getByLabel('Name').fill('Pumps');
    await dialog.getByRole('button', { name: 'Rename' }).click();
    await page().getByText('Renamed lst to “Pumps”.').waitFor();
    await row.getByRole('link', { name: 'Pumps' }).waitFor();
    const renamed = await flow('lst');
    expect(renamed.name).toBe('Pumps');
    expect(renamed.version).toBe(2);

    // Duplicate under a new id.
    await page().getByRole('button', { name: 'Duplicate lst' }).click();
    dialog = page().getByRole('dialog', { name: 'Duplicate lst' });
    expect(await dialog.getByLabel('Id').inputValue()).toBe('lst-copy');
    await dialog.getByRole('button', { name: 'Duplicate' }).click();
    await page().getByTestId('flow-row-lst-copy').waitFor();
    expect((await flow('lst-copy')).name).toBe('Pumps (copy)');

    // Export: a file download with the flow document.
    const file = await download(() => page().getByRole('button', { name: 'Export lst', exact: true }).click());
    expect(file.name).toBe('lst.json');
    const exported = JSON.parse(file.text) as Doc;
    expect(exported.ruleChain.id).toBe('lst');
    expect(exported.ruleChain.name).toBe('Pumps');

    // Import the exported file under another id.
    exported.ruleChain.id = 'lst-imported';
    exported.ruleChain.name = 'Pumps (imported)';
    await page().getByLabel('Import from file').setInputFiles({ name: 'pumps.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(exported)) });
    await page().getByText(/Imported pumps\.json as flow lst-imported, version 1\./).waitFor();
    await page().getByTestId('flow-row-lst-imported').waitFor();
    expect((await flow('lst-imported')).name).toBe('Pumps (imported)');

    // The same file again, id unchanged: a new version of the existing flow, and the page says so.
    await page().getByLabel('Import from file').setInputFiles({ name: 'pumps.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(exported)) });
    await page().getByText('Imported pumps.json as version 2 of the existing flow lst-imported (its earlier versions are in its history).').waitFor();
    expect((await flow('lst-imported')).version).toBe(2);

    // A file that is not JSON says so.
    await page().getByLabel('Import from file').setInputFiles({ name: 'junk.json', mimeType: 'application/json', buffer: Buffer.from('not json') });
    await page().getByRole('alert').getByText(/import junk\.json: the file is not JSON/).waitFor();
    await h().shot('flows list');

    // Delete asks first.
    await page().getByRole('button', { name: 'Delete lst-copy' }).click();
    dialog = page().getByRole('dialog', { name: 'Delete lst-copy' });
    await dialog.getByRole('button', { name: 'Delete flow' }).click();
    await page().getByText('Deleted flow lst-copy.').waitFor();
    await waitFor('the deleted row to go', () => gone('flow-row-lst-copy'));
    expect((await api().raw('GET', '/api/v1/flows/lst-copy')).status).toBe(404);
    const ids = (await api().get<Summary[]>('/api/v1/flows')).map((f) => f.id).sort();
    expect(ids).toEqual(['lst', 'lst-imported']);
  });

  it('saves a version with a comment', async () => {
    await create(doc('sv', 'Save me', [node('httpIn1', 'httpIn', 40, 100, { path: 'sv' })]));
    await openEditor('sv');
    const bar = page().getByRole('toolbar', { name: 'Editor' });
    expect(await bar.textContent()).toContain('v1');
    const clean = await bar.boundingBox();
    // Add a node from the palette with the keyboard: it lands in the middle of the view, not on httpIn1 (there).
    await page().getByTestId('palette-item-log').focus();
    await page().keyboard.press('Enter');
    await page().getByTestId('node-log1').waitFor();
    const a = (await page().getByTestId('node-httpIn1').boundingBox())!;
    const b = (await page().getByTestId('node-log1').boundingBox())!;
    expect(a.y + a.height <= b.y || b.y + b.height <= a.y || a.x + a.width <= b.x || b.x + b.width <= a.x, 'the new node overlaps httpIn1').toBe(true);
    await page().getByText('v1 · unsaved changes').waitFor();
    // No layout jump: the toolbar keeps its height.
    expect((await bar.boundingBox())!.height).toBe(clean!.height);
    const line = await saveVersion('added a log node');
    expect(line).toBe('Saved version 2.');
    await page().getByText('v2', { exact: true }).waitFor();
    const versions = await api().get<FlowAnswer[]>('/api/v1/flows/sv/versions');
    expect(versions.map((v) => [v.version, v.comment])).toEqual([[2, 'added a log node'], [1, 'e2e setup']]);
    expect((await flow('sv')).flow.metadata.nodes.map((n) => n.id)).toEqual(['httpIn1', 'log1']);
    await h().shot('saved with comment');
  });

  it('detects a conflicting save: the user downloads the draft, overwrites knowingly, or reloads theirs', async () => {
    // sv is open at version 2 (previous test).
    await page().getByTestId('node-log1').click();
    await page().getByTestId('field-__name').fill('mine');
    const theirs = await saveElsewhere('sv', (d) => { d.ruleChain.name = 'Renamed elsewhere'; }, 'their change');
    expect(theirs).toBe(3);

    await toolbar('Save').click();
    let dialog = page().getByRole('dialog', { name: 'Save a new version' });
    await dialog.getByLabel('Comment').fill('my rename');
    await dialog.getByRole('button', { name: 'Save version' }).click();
    const conflict = page().getByRole('dialog', { name: 'Someone else saved this flow' });
    await conflict.waitFor();
    expect(await conflict.textContent()).toContain('You opened version 2; version 3 was saved since. Your changes are not saved yet.');
    expect(h().takeConsoleErrors(/status of 409/)).toBe(1);
    await h().shot('conflict dialog');

    // The draft can be kept as a file.
    const draft = await download(() => conflict.getByRole('button', { name: 'Download my draft' }).click());
    expect(draft.name).toBe('sv-draft.json');
    expect((JSON.parse(draft.text) as Doc).metadata.nodes.find((n) => n.id === 'log1')?.name).toBe('mine');

    // Overwrite knowingly: a new version on top of theirs; theirs stays in the history.
    await conflict.getByRole('button', { name: 'Overwrite with mine' }).click();
    await conflict.waitFor({ state: 'detached' });
    expect(await waitStatus(/^Saved version/)).toBe('Saved version 4.');
    const v4 = await flow('sv');
    expect(v4.version).toBe(4);
    expect(v4.comment).toBe('my rename');
    expect(v4.flow.metadata.nodes.find((n) => n.id === 'log1')?.name).toBe('mine');
    const v3 = await api().get<FlowAnswer>('/api/v1/flows/sv/versions/3');
    expect(v3.flow.ruleChain.name).toBe('Renamed elsewhere');

    // Again, and this time reload theirs: the canvas shows their version, nothing is written.
    await page().getByTestId('node-log1').click();
    await page().getByTestId('field-__name').fill('mine again');
    await saveElsewhere('sv', (d) => { d.metadata.nodes.find((n) => n.id === 'log1')!.name = 'theirs'; }, 'their second change');
    await toolbar('Save').click();
    dialog = page().getByRole('dialog', { name: 'Save a new version' });
    await dialog.getByRole('button', { name: 'Save version' }).click();
    await conflict.waitFor();
    expect(h().takeConsoleErrors(/status of 409/)).toBe(1);
    await conflict.getByRole('button', { name: 'Reload theirs' }).click();
    await conflict.waitFor({ state: 'detached' });
    expect(await waitStatus(/^Loaded version/)).toBe('Loaded version 5.');
    await waitFor('their node name on the canvas', async () => ((await page().getByTestId('node-log1').textContent()) ?? '').includes('theirs'));
    expect(await page().getByRole('toolbar', { name: 'Editor' }).textContent()).toContain('v5');
    expect(await page().getByRole('toolbar', { name: 'Editor' }).textContent()).not.toContain('unsaved');
    expect((await flow('sv')).version).toBe(5);
    await h().shot('conflict reloaded');
  });

  it('keeps unsaved changes when the user leaves for another page, and offers them back', async () => {
    await create(doc('dft', 'Draft', [node('httpIn1', 'httpIn', 40, 100, { path: 'dft' })]));
    await openEditor('dft');
    await page().getByTestId('palette-item-log').focus();
    await page().keyboard.press('Enter');
    await page().getByTestId('node-log1').waitFor();
    await page().getByRole('toolbar', { name: 'Editor' }).getByRole('link', { name: 'Flows' }).click();
    await page().getByTestId('flow-row-dft').waitFor();
    await page().getByTestId('flow-row-dft').getByRole('link', { name: 'Draft' }).click();
    const dialog = page().getByRole('dialog', { name: 'Unsaved changes from before' });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('based on version 1');
    await h().shot('draft offered');
    await dialog.getByRole('button', { name: 'Restore my changes' }).click();
    await page().getByTestId('node-log1').waitFor();
    await page().getByText('v1 · unsaved changes').waitFor();
    await saveVersion('restored draft');
    expect((await flow('dft')).flow.metadata.nodes.map((n) => n.id)).toEqual(['httpIn1', 'log1']);

    // Left again with a change, then discarded: the saved version stays, the draft is gone.
    await page().getByTestId('node-log1').click();
    await page().keyboard.press('Delete');
    await waitFor('log1 to go', () => gone('node-log1'));
    await page().getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Health' }).click();
    await page().waitForURL(/#\/health$/);
    await openEditor('dft');
    await dialog.getByRole('button', { name: 'Discard them' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page().getByTestId('node-log1').waitFor();
    expect(await page().evaluate(() => localStorage.getItem('sluice.draft.dft'))).toBeNull();
    expect((await flow('dft')).version).toBe(2);
  });

  it('shows the version history, the diff on the canvas, and rolls back', async () => {
    await create(doc('hist', 'History', [node('log1', 'log', 40, 100), node('log2', 'log', 300, 100)], [{ fromId: 'log1', toId: 'log2', type: 'Success' }]), 'two logs');
    await saveElsewhere('hist', (d) => {
      d.metadata.nodes = [
        { ...d.metadata.nodes[0]!, configuration: { message: 'changed' } },
        node('log3', 'log', 300, 260),
      ];
      d.metadata.connections = [{ fromId: 'log1', toId: 'log3', type: 'Success' }];
    }, 'log2 replaced by log3');
    await openEditor('hist');
    await toolbar('History').click();
    const panel = page().getByRole('tabpanel');
    await panel.getByRole('row', { name: /^2 \(open\)/ }).waitFor();
    expect(await panel.getByRole('row', { name: /^1 / }).textContent()).toContain('two logs');

    await panel.getByRole('button', { name: 'Show diff from version 1' }).click();
    await panel.getByText('Changes from version 1 to 2').waitFor();
    await waitFor('log1 marked changed', async () => (await classes('node-log1')).includes('diff-changed'));
    expect(await classes('node-log3')).toContain('diff-added');
    expect(await classes('ghost-log2')).toContain('ghost');
    expect(await page().getByTestId('node-log1').getAttribute('title')).toContain('changed: configuration.message');
    expect(await classes('edge-log1-Success-log3')).toContain('diff-added');
    await h().shot('history diff');
    await panel.getByRole('button', { name: 'Hide diff' }).click();
    await waitFor('the ghost to go', () => gone('ghost-log2'));
    expect(await classes('node-log1')).not.toContain('diff-');

    await panel.getByRole('button', { name: 'Rollback to version 1' }).click();
    await panel.getByRole('button', { name: 'Yes, roll back' }).click();
    expect(await waitStatus(/^Rolled back/)).toBe('Rolled back: version 3 equals version 1. Deploy it to run it.');
    await page().getByTestId('node-log2').waitFor();
    await waitFor('log3 to go', () => gone('node-log3'));
    await page().getByTestId('edge-log1-Success-log2').waitFor();
    await panel.getByRole('row', { name: /^3 \(open\)/ }).waitFor();
    const latest = await flow('hist');
    expect(latest.version).toBe(3);
    expect(latest.flow.metadata.nodes.map((n) => n.id)).toEqual(['log1', 'log2']);
    expect(latest.flow.metadata.nodes[0]!.configuration?.message).toBeUndefined();
    await h().shot('history rolled back');
  });

  it('deploys and undeploys', async () => {
    await create(doc('dep', 'Deploy me', [node('httpIn1', 'httpIn', 40, 100, { path: 'dep' }), node('log1', 'log', 300, 100)], [{ fromId: 'httpIn1', toId: 'log1', type: 'Success' }]));
    await openEditor('dep');
    await toolbar('Deploy').click();
    expect(await waitStatus(/^Deployed/)).toBe('Deployed version 1.');
    expect((await api().get<Status>('/api/v1/flows/dep/status')).deployed).toBe(true);
    await toolbar('Undeploy').click();
    expect(await waitStatus(/^Undeployed/)).toBe('Undeployed (version 1 stopped).');
    await h().shot('undeployed');
    expect((await api().get<Status>('/api/v1/flows/dep/status')).deployed).toBe(false);

    // Deploy with unsaved changes while someone else saved: the conflict is shown, overwrite deploys mine.
    await page().getByTestId('node-log1').click();
    await page().getByTestId('field-__name').fill('Mine');
    const theirs = await saveElsewhere('dep', (d) => { d.ruleChain.name = 'Theirs'; }, 'elsewhere');
    await toolbar('Deploy').click();
    const dialog = page().getByRole('dialog', { name: 'Save and deploy' });
    await dialog.getByLabel('Comment').fill('renamed log1');
    await dialog.getByRole('button', { name: 'Save and deploy' }).click();
    const conflict = page().getByRole('dialog', { name: 'Someone else saved this flow' });
    await conflict.waitFor();
    expect(h().takeConsoleErrors(/status of 409/)).toBe(1);
    await conflict.getByRole('button', { name: 'Overwrite with mine' }).click();
    expect(await waitStatus(/^Deployed/)).toBe(`Deployed version ${theirs + 1}.`);
    const st = await api().get<Status>('/api/v1/flows/dep/status');
    expect([st.deployed, st.version]).toEqual([true, theirs + 1]);
    expect((await flow('dep')).flow.metadata.nodes.find((n) => n.id === 'log1')?.name).toBe('Mine');
    await toolbar('Undeploy').click();
    await waitStatus(/^Undeployed/);

    await h().goto('flows');
    await waitFor('the flows list to say not deployed', async () => ((await page().getByTestId('flow-row-dep').textContent()) ?? '').includes('not deployed'));
  });

  it('copies and pastes nodes within a flow and into another flow', async () => {
    await create(doc('cpa', 'Copy from', [
      node('httpIn1', 'httpIn', 40, 100, { path: 'cpa' }),
      node('scriptTransform1', 'scriptTransform', 300, 100, { code: SCRIPT }),
      node('log1', 'log', 560, 100),
    ], [{ fromId: 'httpIn1', toId: 'scriptTransform1', type: 'Success' }, { fromId: 'scriptTransform1', toId: 'log1', type: 'Success' }]));
    await create(doc('cpb', 'Paste into'));
    await openEditor('cpa');
    await page().getByTestId('node-httpIn1').click();
    await page().getByTestId('node-scriptTransform1').click({ modifiers: ['Control'] });
    await page().getByText('2 items selected.', { exact: false }).waitFor();
    await page().keyboard.press('Control+C');
    await waitStatus(/^Copied 2 item/);
    await page().keyboard.press('Control+V');
    await page().getByTestId('node-httpIn2').waitFor();
    await page().getByTestId('node-scriptTransform2').waitFor();
    // The connection between the copied nodes comes along; the one to log1 (not copied) does not.
    await page().getByTestId('edge-httpIn2-Success-scriptTransform2').waitFor();
    expect(await page().getByTestId('edge-scriptTransform2-Success-log1').count()).toBe(0);
    const a = await pos('scriptTransform1');
    const b = await pos('scriptTransform2');
    expect(b.x - a.x).toBe(32);
    expect(b.y - a.y).toBe(32);
    await h().shot('pasted in the same flow');
    await saveVersion('pasted a copy');
    const cpa = (await flow('cpa')).flow.metadata;
    expect(cpa.nodes.map((n) => n.id).sort()).toEqual(['httpIn1', 'httpIn2', 'log1', 'scriptTransform1', 'scriptTransform2']);
    expect(cpa.nodes.find((n) => n.id === 'scriptTransform2')?.configuration?.code).toBe(SCRIPT);

    // Into the other flow: the ids are free there, so they stay.
    await openEditor('cpb');
    await page().getByTestId('canvas').click({ position: { x: 200, y: 200 } });
    await page().keyboard.press('Control+V');
    await page().getByTestId('node-httpIn1').waitFor();
    await page().getByTestId('node-scriptTransform1').waitFor();
    await page().getByTestId('edge-httpIn1-Success-scriptTransform1').waitFor();
    await h().shot('pasted into another flow');
    await saveVersion('pasted from cpa');
    const cpb = (await flow('cpb')).flow.metadata;
    expect(cpb.nodes.map((n) => n.id).sort()).toEqual(['httpIn1', 'scriptTransform1']);
    expect(cpb.nodes.find((n) => n.id === 'scriptTransform1')?.configuration?.code).toBe(SCRIPT);
    expect(cpb.nodes.find((n) => n.id === 'httpIn1')?.configuration?.path).toBe('cpa');
    expect(cpb.connections).toEqual([{ fromId: 'httpIn1', toId: 'scriptTransform1', type: 'Success' }]);
  });

  it('undoes and redoes add, connect, rename, move and delete from the keyboard', async () => {
    await create(doc('und', 'Undo', [node('httpIn1', 'httpIn', 40, 100, { path: 'und' })]));
    await openEditor('und');
    // 1 add
    await page().getByTestId('palette-item-log').focus();
    await page().keyboard.press('Enter');
    await page().getByTestId('node-log1').waitFor();
    // 2 connect
    await wire('httpIn1', 'Success', 'log1');
    // 3 rename (a field edit)
    await page().getByTestId('node-log1').click();
    await page().getByTestId('field-__name').fill('Logger');
    await waitFor('the new name on the canvas', async () => ((await page().getByTestId('node-log1').textContent()) ?? '').includes('Logger'));
    // 4 move (arrow keys: one grid step)
    await page().getByTestId('node-log1').click();
    const p0 = await pos('log1');
    await page().keyboard.press('ArrowRight');
    let p1 = p0;
    await waitFor('log1 to move right', async () => (p1 = await pos('log1')).x === p0.x + 16).catch((e: Error) => { throw new Error(`${e.message}: from ${JSON.stringify(p0)} to ${JSON.stringify(p1)}`); });
    // 5 delete
    await page().keyboard.press('Delete');
    await waitFor('log1 to go', () => gone('node-log1'));
    expect(await page().getByTestId('edge-httpIn1-Success-log1').count()).toBe(0);
    await h().shot('before undo');

    await page().keyboard.press('Control+Z'); // undo delete
    await page().getByTestId('node-log1').waitFor();
    await page().getByTestId('edge-httpIn1-Success-log1').waitFor();
    await page().keyboard.press('Control+Z'); // undo move
    await waitFor('log1 back in place', async () => (await pos('log1')).x === p0.x);
    await page().keyboard.press('Control+Z'); // undo rename
    await waitFor('the old name', async () => !((await page().getByTestId('node-log1').textContent()) ?? '').includes('Logger'));
    await page().keyboard.press('Control+Z'); // undo connect
    await waitFor('the edge to go', () => gone('edge-httpIn1-Success-log1'));
    await page().keyboard.press('Control+Z'); // undo add
    await waitFor('log1 to go', () => gone('node-log1'));
    expect(await toolbar('Undo').isDisabled()).toBe(true);
    await h().shot('all undone');

    await page().keyboard.press('Control+Y'); // redo add
    await page().getByTestId('node-log1').waitFor();
    await page().keyboard.press('Control+Shift+Z'); // redo connect
    await page().getByTestId('edge-httpIn1-Success-log1').waitFor();
    await page().keyboard.press('Control+Shift+Z'); // redo rename
    await waitFor('the new name again', async () => ((await page().getByTestId('node-log1').textContent()) ?? '').includes('Logger'));
    await page().keyboard.press('Control+Shift+Z'); // redo move
    await waitFor('log1 moved again', async () => (await pos('log1')).x === p0.x + 16);
    await page().keyboard.press('Control+Shift+Z'); // redo delete
    await waitFor('log1 deleted again', () => gone('node-log1'));
    expect(await toolbar('Redo').isDisabled()).toBe(true);
  });

  it('adds notes and frames, saves them, and they survive a reload', async () => {
    await create(doc('nts', 'Notes', [node('log1', 'log', 300, 200)]));
    await openEditor('nts');
    await toolbar('Add note').click();
    await page().getByTestId('node-note:note1').waitFor();
    await page().getByTestId('field-__text').fill('Pumps are checked daily');
    await toolbar('Add frame').click();
    await page().getByTestId('node-note:frame1').waitFor();
    await page().getByTestId('field-__text').fill('Pump room');
    await waitFor('the frame text', async () => (await page().getByTestId('node-note:frame1').textContent()) === 'Pump room');
    await saveVersion('notes');
    const notes = (await flow('nts')).flow.ruleChain.additionalInfo?.notes as { id: string; kind: string; text: string }[];
    expect(notes.map((n) => [n.id, n.kind, n.text]).sort()).toEqual([['frame1', 'frame', 'Pump room'], ['note1', 'note', 'Pumps are checked daily']]);

    await page().reload();
    await page().getByTestId('canvas').waitFor();
    await page().getByTestId('node-note:note1').waitFor();
    expect(await page().getByTestId('node-note:note1').textContent()).toBe('Pumps are checked daily');
    expect(await page().getByTestId('node-note:frame1').textContent()).toBe('Pump room');
    await page().getByTestId('node-log1').waitFor();
    await h().shot('notes after reload');

    // Copy and paste a note; undo a text edit.
    await page().getByTestId('node-note:note1').click();
    await page().keyboard.press('Control+C');
    await page().keyboard.press('Control+V');
    await page().getByTestId('node-note:note2').waitFor();
    expect(await page().getByTestId('node-note:note2').textContent()).toBe('Pumps are checked daily');
    await page().getByTestId('field-__text').fill('Edited');
    await waitFor('the edited text', async () => (await page().getByTestId('node-note:note2').textContent()) === 'Edited');
    await page().getByTestId('node-note:note2').click();
    await page().keyboard.press('Control+Z');
    await waitFor('the text edit undone', async () => (await page().getByTestId('node-note:note2').textContent()) === 'Pumps are checked daily');
    await page().keyboard.press('Control+Z');
    await waitFor('the paste undone', () => gone('node-note:note2'));
  });

  it('lists the keyboard shortcuts in a help dialog', async () => {
    // The editor of the previous test is open.
    await page().getByTestId('node-log1').click();
    await page().keyboard.press('?');
    const dialog = page().getByRole('dialog', { name: 'Keyboard shortcuts' });
    await dialog.waitFor();
    const text = (await dialog.textContent()) ?? '';
    for (const k of ['Ctrl+Z', 'Ctrl+Shift+Z / Ctrl+Y', 'Ctrl+C / Ctrl+X / Ctrl+V', 'Ctrl+S', 'Delete / Backspace']) expect(text).toContain(k);
    await h().shot('shortcuts help');
    await page().keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await page().getByRole('button', { name: 'Keyboard shortcuts' }).click();
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
  });

  it('test run: shows the path on the canvas and each node’s input and output', async () => {
    await create(doc('trun', 'Test run', [
      node('httpIn1', 'httpIn', 40, 100, { path: 'trun' }),
      node('scriptTransform1', 'scriptTransform', 300, 100, { code: SCRIPT }),
      node('log1', 'log', 560, 40),
      node('log2', 'log', 560, 220),
    ], [
      { fromId: 'httpIn1', toId: 'scriptTransform1', type: 'Success' },
      { fromId: 'scriptTransform1', toId: 'log1', type: 'Success' },
      { fromId: 'scriptTransform1', toId: 'log2', type: 'Failure' },
    ]));
    await openEditor('trun');
    await toolbar('Test run').click();
    const panel = page().getByRole('tabpanel');
    expect(await panel.getByLabel('Source node').inputValue()).toBe('httpIn1');
    await panel.getByLabel('Payload').fill('{"temperature": 21.5}');
    await panel.getByRole('button', { name: 'Run test' }).click();
    const result = page().getByTestId('test-result');
    await result.waitFor();
    const text = (await result.textContent()) ?? '';
    expect(text).toContain('Status: completed');
    expect(text).toContain('3 nodes visited');
    expect(text).toContain('log1 → Success');
    // The output of the script: the doubled value.
    expect(text).toContain('"doubled": 43');
    for (const id of ['httpIn1', 'scriptTransform1', 'log1']) expect(await classes(`node-${id}`)).toContain('visited');
    expect(await classes('node-log2')).not.toContain('visited');
    expect(await classes('edge-scriptTransform1-Success-log1')).toContain('path-test');
    expect(await classes('edge-scriptTransform1-Failure-log2')).not.toContain('path-test');
    // Each node with its input and output.
    const script = result.getByRole('listitem').filter({ has: page().getByRole('button', { name: 'scriptTransform1' }) });
    expect(await script.locator('.ed-ev.in pre').textContent()).toBe('{\n  "temperature": 21.5\n}');
    expect(await script.locator('.ed-ev.out pre').textContent()).toContain('"doubled": 43');
    expect(await script.locator('.ed-ev.out .ed-dir').textContent()).toBe('out → Success');
    await h().shot('test run');
    // The test ran the draft: nothing was saved or deployed.
    expect((await flow('trun')).version).toBe(1);
  });

  it('shows field errors inline in the inspector', async () => {
    // The test-run flow is open.
    await page().getByTestId('node-scriptTransform1').click();
    const inspector = page().getByLabel('Inspector');
    await inspector.getByTestId('field-timeout').fill('20s');
    const err = inspector.getByTestId('field-error-timeout');
    await err.waitFor();
    expect(await err.textContent()).toBe('want at most 10 s');
    expect(await inspector.getByTestId('field-timeout').getAttribute('aria-invalid')).toBe('true');
    // An advanced field (folded away): the range shows in its help; the error inline.
    await inspector.getByText(/^Advanced/).click();
    await inspector.getByTestId('field-memoryLimit').fill('5000');
    expect(await inspector.getByTestId('field-error-memoryLimit').textContent()).toBe('want at most 4096');
    await h().shot('inline field errors');
    // The server says the same on validate.
    await toolbar('Validate').click();
    await page().getByTestId('badge-scriptTransform1').waitFor();
    const problems = (await page().getByTestId('problems').textContent()) ?? '';
    expect(problems).toContain('timeout');
    // Fixed values clear the errors.
    await inspector.getByTestId('field-timeout').fill('2s');
    await inspector.getByTestId('field-memoryLimit').fill('128');
    await waitFor('the errors to go', async () => (await gone('field-error-timeout')) && (await gone('field-error-memoryLimit')));
  });

  it('masks secrets in the inspector and keeps them on save', async () => {
    await create(doc('sec', 'Secrets', [node('redisSink1', 'redisSink', 100, 100, { server: '127.0.0.1:6399', password: 'hunter2' })]));
    await openEditor('sec');
    await page().getByTestId('node-redisSink1').click();
    const field = page().getByLabel('Inspector').getByTestId('field-password');
    expect(await field.getAttribute('type')).toBe('password');
    expect(await field.inputValue()).toBe('********');
    expect(await field.getAttribute('placeholder')).toBe('stored secret');
    expect(await page().content()).not.toContain('hunter2');
    await h().shot('secret masked');
    // Saving another change sends the mask back: the server keeps the secret.
    await page().getByLabel('Inspector').getByTestId('field-key').fill('readings');
    await saveVersion('key changed');
    const saved = await flow('sec');
    expect(saved.version).toBe(2);
    expect(saved.flow.metadata.nodes[0]!.configuration).toMatchObject({ password: '********', key: 'readings' });

    // A secret typed in is masked on screen and stays out of the clipboard.
    await field.fill('topsecret');
    expect(await field.getAttribute('type')).toBe('password');
    await page().getByTestId('node-redisSink1').click();
    await page().keyboard.press('Control+C');
    expect(await waitStatus(/^Copied/)).toBe('Copied 1 item(s). Secrets are not copied (1): set them again after pasting.');
    const clip = (await page().evaluate(() => localStorage.getItem('sluice.clipboard'))) ?? '';
    expect(clip).toContain('redisSink1');
    expect(clip).not.toContain('topsecret');
    expect(clip).not.toContain('password');
    await page().keyboard.press('Control+V');
    await page().getByTestId('node-redisSink2').click();
    expect(await page().getByLabel('Inspector').getByTestId('field-password').inputValue()).toBe('');
    expect(await page().getByLabel('Inspector').getByTestId('field-server').inputValue()).toBe('127.0.0.1:6399');
  });
});
