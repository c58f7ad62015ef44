// The quality bar, checked in a browser against a real server:
// keyboard operation of the login form, the main navigation, the flows
// list's New flow dialog, the inspector, the save dialog and the alarms
// page's acknowledge form; the palette's search; the canvas's zoom, fit
// view and minimap; no horizontal scrollbar at 1280×800 on any page; and,
// with the server stopped, every page saying what failed (and its Retry
// working once the server is back).

import type { Locator } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { useHarness, waitFor } from './harness';

const FLOW = 'qflow';
const DEVICE = 'q-dev';
const PATH = 'q-room';
const ALARM_NODE = 'jointAlarm1';
const RULE = 'q-hot';
const NEW_FLOW = 'kbd';

interface NodeSpecJson {
  type: string;
  summary: string;
  category: string;
}
interface AlarmJson {
  id: string;
  rule: string;
  status: string;
  acknowledged: boolean;
  ackComment?: string;
}

function qFlow() {
  return {
    ruleChain: { id: FLOW, name: 'Quality room' },
    metadata: {
      nodes: [
        { id: 'httpIn1', type: 'httpIn', configuration: { path: PATH }, additionalInfo: { x: 40, y: 120 } },
        { id: 'scriptParse1', type: 'scriptParse', configuration: { code: 'return {deviceId: metadata.deviceId, signals: {temperature: msg.temperature}};' }, additionalInfo: { x: 320, y: 40 } },
        { id: ALARM_NODE, type: 'jointAlarm', name: 'Room hot', configuration: { name: RULE, condition: `dev("${DEVICE}").temperature > 80` }, additionalInfo: { x: 600, y: 200 } },
      ],
      connections: [
        { fromId: 'httpIn1', toId: 'scriptParse1', type: 'Success' },
        { fromId: 'scriptParse1', toId: ALARM_NODE, type: 'Success' },
      ],
    },
  };
}

/** The one console error a request to a stopped server logs. */
const REFUSED = /Failed to load resource: net::ERR_CONNECTION_REFUSED/;

describe('the quality bar', () => {
  const h = useHarness('quality');
  const page = () => h().page;
  const api = () => h().api;

  /** focused describes the element that has the focus: its tag, accessible label or text. */
  const focused = () =>
    page().evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return 'body';
      const label = el.getAttribute('aria-label') ?? (el as HTMLInputElement).labels?.[0]?.textContent ?? el.textContent ?? '';
      return `${el.tagName.toLowerCase()}:${label.trim()}`;
    });
  const isFocused = (l: Locator) => l.evaluate((el) => el === document.activeElement);
  /** hash changes the route inside the page (no reload: works while the server is down). */
  const hash = (route: string) => page().evaluate((r) => { location.hash = r; }, `#/${route}`);
  const noHorizontalScroll = () => page().evaluate(() => ({ scroll: document.scrollingElement!.scrollWidth, inner: window.innerWidth }));
  const viewport = async () => {
    const t = await page().locator('.react-flow__viewport').evaluate((el) => (el as HTMLElement).style.transform);
    const m = /translate\(([-\d.e]+)px, ([-\d.e]+)px\) scale\(([-\d.e]+)\)/.exec(t);
    if (!m) throw new Error(`unexpected viewport transform “${t}”`);
    return { x: Number(m[1]), y: Number(m[2]), zoom: Number(m[3]) };
  };
  /** nodesOutside lists the nodes whose box is not wholly inside the canvas. */
  const nodesOutside = () =>
    page().evaluate(() => {
      const c = document.querySelector('[data-testid="canvas"]')!.getBoundingClientRect();
      return [...document.querySelectorAll<HTMLElement>('.react-flow__node')]
        .filter((n) => {
          const b = n.getBoundingClientRect();
          return b.left < c.left - 0.5 || b.right > c.right + 0.5 || b.top < c.top - 0.5 || b.bottom > c.bottom + 0.5;
        })
        .map((n) => n.dataset.id ?? '?');
    });

  async function openEditor(id: string) {
    await h().goto(`flows/${id}`);
    await page().getByTestId('canvas').waitFor();
    await page().locator('[data-testid^="palette-item-"]').first().waitFor();
  }

  it('sets up a deployed flow with an active alarm (API)', async () => {
    const token = (await api().post<{ token: string }>('/api/v1/devices', { id: DEVICE, name: 'Quality device' })).token;
    await api().post('/api/v1/flows?comment=e2e', qFlow());
    await api().post(`/api/v1/flows/${FLOW}/deploy`);
    const res = await fetch(`${h().url}/ingest/${PATH}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ temperature: 95 }),
    });
    expect(res.status, `POST /ingest/${PATH}: ${await res.text()}`).toBe(202);
    await waitFor('the alarm', async () => (await api().get<{ items: AlarmJson[] }>('/api/v1/alarms?status=active')).items?.find((a) => a.rule === RULE));
  });

  it('logs in by keyboard: Tab goes username → password → Log in, Enter submits', async () => {
    await page().goto(h().url + '/');
    const form = page().getByRole('form', { name: 'Log in' });
    const user = form.getByLabel('Username');
    const pass = form.getByLabel('Password');
    const submit = form.getByRole('button', { name: 'Log in' });
    await pass.waitFor();
    // The password has the focus at once (the username is filled in).
    await waitFor('the password to have the focus', () => isFocused(pass));
    await page().keyboard.press('Shift+Tab');
    expect(await isFocused(user)).toBe(true);
    await page().keyboard.press('Tab');
    expect(await isFocused(pass)).toBe(true);
    await page().keyboard.press('Tab');
    expect(await isFocused(submit)).toBe(true);
    const size = await noHorizontalScroll();
    expect(size.scroll, 'no horizontal scrollbar on the login page').toBeLessThanOrEqual(size.inner);

    await page().keyboard.press('Shift+Tab');
    await page().keyboard.type('e2e-password-1');
    await page().keyboard.press('Enter');
    await page().getByRole('navigation', { name: 'Main' }).waitFor();
    await h().shot('logged in by keyboard');
  });

  it('goes through the main navigation by keyboard', async () => {
    const nav = page().getByRole('navigation', { name: 'Main' });
    await page().getByRole('link', { name: 'Sluice' }).focus();
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      await page().keyboard.press('Tab');
      order.push(await focused());
    }
    expect(order).toEqual(['a:Flows', 'a:Alarm rules', 'a:Alarms', 'a:Dashboard', 'a:Health', 'button:Log out']);
    // Back to Alarms and Enter: the page opens and the link says it is current.
    for (let i = 0; i < 3; i++) await page().keyboard.press('Shift+Tab');
    expect(await focused()).toBe('a:Alarms');
    await page().keyboard.press('Enter');
    await page().getByRole('heading', { name: 'Alarms', level: 1 }).waitFor();
    expect(await nav.getByRole('link', { name: 'Alarms' }).getAttribute('aria-current')).toBe('page');
    expect(page().url()).toMatch(/#\/alarms$/);
    await page().keyboard.press('Shift+Tab');
    await page().keyboard.press('Enter');
    await page().getByRole('heading', { name: 'Alarm rules', level: 1 }).waitFor();
    expect(await nav.getByRole('link', { name: 'Alarm rules' }).getAttribute('aria-current')).toBe('page');
  });

  it('operates the New flow dialog by keyboard: Escape closes it, Enter creates the flow', async () => {
    await h().goto('flows');
    await page().getByTestId(`flow-row-${FLOW}`).waitFor();
    // The first stop after the navigation is the page's New flow button.
    await page().getByRole('button', { name: 'Log out' }).focus();
    await page().keyboard.press('Tab');
    const newFlow = page().getByRole('button', { name: 'New flow' });
    expect(await isFocused(newFlow)).toBe(true);
    await page().keyboard.press('Space');
    const dialog = page().getByRole('dialog', { name: 'New flow' });
    await dialog.waitFor();
    const id = dialog.getByLabel('Id');
    expect(await isFocused(id)).toBe(true);
    await page().keyboard.type('x y');
    await page().keyboard.press('Tab');
    expect(await isFocused(dialog.getByLabel('Name', { exact: true }))).toBe(true);
    await page().keyboard.press('Tab');
    expect(await focused()).toBe('button:Cancel');
    // An invalid id disables Create (and the error says why).
    expect(await dialog.getByRole('button', { name: 'Create' }).isDisabled()).toBe(true);
    expect(await dialog.getByRole('alert').textContent()).toBe('Use 1 to 64 letters, digits, “_” or “-”.');
    await h().shot('new flow dialog by keyboard');
    await page().keyboard.press('Escape');
    await waitFor('the dialog to close', async () => (await dialog.count()) === 0);
    expect(await isFocused(newFlow), 'the focus goes back to New flow').toBe(true);

    await page().keyboard.press('Enter');
    await dialog.waitFor();
    await page().keyboard.type(NEW_FLOW);
    await page().keyboard.press('Tab');
    await page().keyboard.type('Keyboard flow');
    await page().keyboard.press('Tab');
    expect(await focused()).toBe('button:Cancel');
    await page().keyboard.press('Tab');
    expect(await focused()).toBe('button:Create');
    // The focus stays in the dialog: Tab wraps to the first field, Shift+Tab back.
    await page().keyboard.press('Tab');
    expect(await isFocused(id), 'Tab from the last button wraps to Id').toBe(true);
    await page().keyboard.press('Shift+Tab');
    expect(await focused()).toBe('button:Create');
    await page().keyboard.press('Enter');
    await page().getByTestId('canvas').waitFor();
    expect(page().url()).toMatch(new RegExp(`#/flows/${NEW_FLOW}$`));
    expect((await api().get<{ version: number }>(`/api/v1/flows/${NEW_FLOW}`)).version).toBe(1);
  });

  it('adds a node, edits it in the inspector and saves, all by keyboard', async () => {
    await page().locator('[data-testid^="palette-item-"]').first().waitFor();
    const search = page().getByLabel('Search nodes');
    await search.focus();
    await page().keyboard.type('httpIn');
    await page().keyboard.press('Tab');
    expect(await isFocused(page().getByTestId('palette-item-httpIn'))).toBe(true);
    await page().keyboard.press('Enter');
    const form = page().getByRole('form', { name: 'Node httpIn1' });
    await form.waitFor();

    // Escape (on the focused node) unselects it; Enter selects it again.
    const node = page().locator('.react-flow__node[data-id="httpIn1"]');
    await node.focus();
    await page().keyboard.press('Escape');
    await waitFor('the inspector to show the flow', async () => (await form.count()) === 0);
    await page().keyboard.press('Enter');
    await form.waitFor();

    const name = form.getByTestId('field-__name');
    await name.focus();
    await page().keyboard.press('Control+a');
    await page().keyboard.type('Keyed in');
    await page().keyboard.press('Tab');
    const path = form.getByTestId('field-path');
    expect(await isFocused(path), 'Tab goes from Name to the first field').toBe(true);
    await page().keyboard.type('keyed');
    expect(await name.inputValue()).toBe('Keyed in');
    expect(await path.inputValue()).toBe('keyed');
    await waitFor('the node to show its name', async () => ((await page().getByTestId('node-httpIn1').textContent()) ?? '').includes('Keyed in'));
    expect(await page().getByRole('toolbar', { name: 'Editor' }).textContent()).toContain('unsaved changes');

    // Ctrl+S opens the save dialog (even from a field); Enter in its comment saves.
    await page().keyboard.press('Control+s');
    const save = page().getByRole('dialog', { name: 'Save a new version' });
    await save.waitFor();
    expect(await isFocused(save.getByLabel('Comment'))).toBe(true);
    await page().keyboard.type('keyboard only');
    await page().keyboard.press('Enter');
    await waitFor('the save', async () => (await page().getByTestId('status-line').textContent()) === 'Saved version 2.');
    const saved = await api().get<{ version: number; flow: { metadata: { nodes: { id: string; name?: string; configuration?: Record<string, unknown> }[] } } }>(`/api/v1/flows/${NEW_FLOW}`);
    expect(saved.version).toBe(2);
    expect(saved.flow.metadata.nodes.find((n) => n.id === 'httpIn1')).toMatchObject({ name: 'Keyed in', configuration: { path: 'keyed' } });
    await h().shot('inspector by keyboard');
  });

  it('filters the palette by type and by category, says when nothing matches, and clearing restores it', async () => {
    const specs = await api().get<NodeSpecJson[]>('/api/v1/nodes');
    await openEditor(FLOW);
    await page().getByTestId('node-httpIn1').waitFor();
    const items = page().locator('[data-testid^="palette-item-"]');
    const shown = async () => (await items.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.testid!.slice('palette-item-'.length)))).sort();
    const expected = (q: string) => specs.filter((s) => `${s.type} ${s.summary} ${s.category}`.toLowerCase().includes(q)).map((s) => s.type).sort();
    const all = specs.map((s) => s.type).sort();
    expect(await shown()).toEqual(all);
    const search = page().getByLabel('Search nodes');

    // By type (any case).
    await search.fill('THRESH');
    await waitFor('the palette to filter by type', async () => JSON.stringify(await shown()) === JSON.stringify(expected('thresh')));
    expect(await shown()).toEqual(['thresholdAlarm']);
    expect(await page().getByRole('complementary', { name: 'Palette' }).getByRole('heading').allTextContents()).toEqual(['Alarms']);

    // By category: every storage node, under its heading.
    const storage = specs.filter((s) => s.category === 'storage').map((s) => s.type).sort();
    expect(storage.length).toBeGreaterThan(1);
    await search.fill('storage');
    await waitFor('the palette to filter by category', async () => JSON.stringify(await shown()) === JSON.stringify(expected('storage')));
    expect(await shown()).toEqual(expect.arrayContaining(storage));
    expect(await page().getByRole('complementary', { name: 'Palette' }).getByRole('heading', { name: 'Storage' }).count()).toBe(1);
    await h().shot('palette filtered by category');

    // Nothing.
    await search.fill('zz-no-such-node');
    await page().getByText('No node matches “zz-no-such-node”.').waitFor();
    expect(await items.count()).toBe(0);

    // Cleared (by keyboard): everything is back.
    await search.focus();
    await page().keyboard.press('Control+a');
    await page().keyboard.press('Backspace');
    await waitFor('the palette to be full again', async () => (await items.count()) === all.length);
    expect(await shown()).toEqual(all);
    expect(await page().getByText(/^No node matches/).count()).toBe(0);
  });

  it('zooms with the controls, fits the view and shows a minimap', async () => {
    const canvas = page().getByTestId('canvas');
    const controls = canvas.getByLabel('Zoom controls');
    await controls.waitFor();
    // Opened fitted: every node is in view (and the view is still).
    await waitFor('the opening fit', async () => (await nodesOutside()).length === 0);
    let last = '';
    await waitFor('a still view', async () => {
      const t = JSON.stringify(await viewport());
      const still = t === last;
      last = t;
      return still;
    });
    const z0 = (await viewport()).zoom;

    await controls.getByRole('button', { name: 'Zoom In' }).click();
    await waitFor('zoom in', async () => Math.abs((await viewport()).zoom - z0 * 1.2) < 0.01);
    // The zoom out button by keyboard.
    await controls.getByRole('button', { name: 'Zoom Out' }).focus();
    await page().keyboard.press('Enter');
    await waitFor('zoom out', async () => Math.abs((await viewport()).zoom - z0) < 0.01);

    // Zoomed in far enough, nodes leave the view; Fit view brings them all back.
    for (let i = 0; i < 5; i++) await controls.getByRole('button', { name: 'Zoom In' }).click();
    await waitFor('nodes out of view', async () => (await nodesOutside()).length > 0);
    await page().getByRole('toolbar', { name: 'Editor' }).getByRole('button', { name: 'Fit view' }).click();
    await waitFor('every node in view after Fit view', async () => (await nodesOutside()).length === 0);
    expect((await viewport()).zoom).toBeLessThanOrEqual(1);

    // The controls' own fit button after panning everything away by dragging the pane.
    const box = (await canvas.boundingBox())!;
    await page().mouse.move(box.x + 80, box.y + 20);
    await page().mouse.down();
    await page().mouse.move(box.x + box.width - 20, box.y + box.height - 20, { steps: 8 });
    await page().mouse.up();
    await waitFor('nodes out of view after panning', async () => (await nodesOutside()).length > 0);
    await controls.getByRole('button', { name: 'Fit View' }).click();
    await waitFor('every node in view after the controls’ Fit View', async () => (await nodesOutside()).length === 0);

    const minimap = canvas.getByRole('img', { name: 'Minimap' });
    expect(await minimap.isVisible()).toBe(true);
    const mm = (await minimap.boundingBox())!;
    expect(mm.width).toBeGreaterThan(50);
    expect(mm.height).toBeGreaterThan(30);
    expect(await canvas.locator('.react-flow__minimap-node').count()).toBe(3);
    await h().shot('canvas fitted with minimap');
  });

  it('acknowledges an alarm by keyboard on the alarms page', async () => {
    await h().goto('alarms');
    const row = page().locator('[data-testid="alarm-table"] tbody tr', { hasText: RULE });
    await row.waitFor();
    const details = row.getByRole('button', { name: new RegExp(`^Details of ${RULE} on `) });
    await details.focus();
    await page().keyboard.press('Enter');
    const panel = page().getByRole('complementary', { name: 'Alarm details' });
    const comment = panel.getByLabel('Comment');
    await comment.waitFor();
    expect(page().url()).toContain('alarm=');
    expect(await isFocused(details), 'the focus stays on the row').toBe(true);
    await page().keyboard.press('Tab');
    expect(await focused()).toBe('button:Close the alarm details');
    await page().keyboard.press('Tab');
    expect(await isFocused(comment)).toBe(true);
    await page().keyboard.type('on it');
    await page().keyboard.press('Tab');
    expect(await focused()).toBe('button:Acknowledge');
    await page().keyboard.press('Space');
    await waitFor('the panel to show the alarm acknowledged', async () => (await panel.getByTestId('alarm-status').textContent()) === 'active, acknowledged');
    const a = (await api().get<{ items: AlarmJson[] }>('/api/v1/alarms?status=active')).items.find((x) => x.rule === RULE)!;
    expect(a).toMatchObject({ acknowledged: true, ackComment: 'on it' });
    await h().shot('alarm acknowledged by keyboard');
  });

  it('has no horizontal scrollbar at 1280×800 on any page', async () => {
    expect(page().viewportSize()).toEqual({ width: 1280, height: 800 });
    const pages: [string, () => Promise<void>][] = [
      ['flows', () => page().getByTestId(`flow-row-${FLOW}`).waitFor()],
      [`flows/${FLOW}`, () => page().locator('[data-testid="node-httpIn1"]').waitFor()],
      ['alarm-rules', () => page().locator(`[data-node-key="${FLOW}/${ALARM_NODE}"]`).waitFor()],
      ['alarms', () => page().locator('[data-testid="alarm-table"] tbody tr').first().waitFor()],
      [
        'alarms?status=any',
        async () => {
          await page().locator('[data-testid="alarm-table"] tbody tr').first().getByRole('button').click();
          await page().getByTestId('alarm-history').waitFor();
        },
      ],
      ['dashboard', () => page().getByTestId('alarm-count-total').getByText(/raised in the range/).waitFor()],
      ['health', () => page().locator(`tr[data-flow-id="${FLOW}"]`).waitFor()],
    ];
    const wide: string[] = [];
    for (const [route, ready] of pages) {
      await h().goto(route);
      await ready();
      const s = await noHorizontalScroll();
      if (s.scroll > s.inner) wide.push(`${route}: scrollWidth ${s.scroll} > innerWidth ${s.inner}`);
    }
    expect(wide).toEqual([]);
  });

  it('says what failed on every page while the server is down, and Retry works once it is back', async () => {
    const alert = () => page().getByRole('alert');
    const alertTexts = async () => (await alert().allTextContents()).map((t) => t.replace(/Retry$/, ''));
    /** down stops the server from a page that makes no requests, then opens route. */
    async function down(route: string) {
      await hash('nowhere');
      await page().getByRole('heading', { name: 'Not found' }).waitFor();
      await h().stopServer();
      await hash(route);
    }
    /** retryAll presses every Retry shown (each error note has its own). An error goes away once
     * its Retry succeeds, so the first Retry left is pressed until none is. */
    async function retryAll() {
      const buttons = alert().getByRole('button', { name: 'Retry' });
      const n = await buttons.count();
      expect(n, 'a Retry in every error').toBe(await alert().count());
      for (let pressed = 0; pressed < n && (await buttons.count()) > 0; pressed++) {
        await buttons.first().click({ timeout: 5000 }).catch(async (e: unknown) => {
          // The note may have gone between count and click: that is the outcome wanted.
          if ((await buttons.count()) > 0) throw e;
        });
      }
    }
    const didNotAnswer = (what: string) => new RegExp(`^${what}: the server did not answer \\(.+\\)$`);

    // Flows: no Retry on this page; opening it again once the server is back works.
    await down('flows');
    await alert().waitFor();
    expect(await alertTexts()).toEqual([expect.stringMatching(didNotAnswer('list the flows'))]);
    await h().shot('flows with the server down');
    await h().restartServer();
    await hash('nowhere');
    await hash('flows');
    await page().getByTestId(`flow-row-${FLOW}`).waitFor();
    expect(await alert().count()).toBe(0);

    // The editor: what failed, and a way back.
    await down(`flows/${FLOW}`);
    await alert().waitFor();
    expect(await alertTexts()).toEqual([expect.stringMatching(didNotAnswer(`(load the node catalog|load flow ${FLOW})`))]);
    expect(await page().getByRole('heading', { name: `Flow ${FLOW}` }).count()).toBe(1);
    await h().shot('editor with the server down');
    await h().restartServer();
    await page().getByRole('link', { name: 'Back to the flows' }).click();
    await page().getByTestId(`flow-row-${FLOW}`).waitFor();
    await hash(`flows/${FLOW}`);
    await page().getByTestId('node-httpIn1').waitFor();

    // Alarm rules: Retry.
    await down('alarm-rules');
    await alert().waitFor();
    expect(await alertTexts()).toEqual([expect.stringMatching(didNotAnswer('(load the node catalog|list the flows)'))]);
    await h().shot('alarm rules with the server down');
    await h().restartServer();
    await alert().getByRole('button', { name: 'Retry' }).click();
    await page().locator(`[data-node-key="${FLOW}/${ALARM_NODE}"]`).waitFor();
    expect(await alert().count()).toBe(0);

    // Alarms: the list says what failed (Retry), the live badge why it is not live.
    await down('alarms');
    await alert().waitFor();
    expect(await alertTexts()).toEqual([expect.stringMatching(didNotAnswer('load the alarms'))]);
    const badge = page().getByTestId('alarm-stream-state');
    await waitFor('the badge to say why it is not live', async () => didNotAnswer('open a live connection').test((await badge.getAttribute('title')) ?? ''));
    expect(await badge.textContent()).toMatch(/^Reconnecting…/);
    await h().shot('alarms with the server down');
    await h().restartServer();
    await alert().getByRole('button', { name: 'Retry' }).click();
    await page().locator('[data-testid="alarm-table"] tbody tr', { hasText: RULE }).waitFor();
    expect(await alert().count()).toBe(0);
    await waitFor('the alarm stream to be live again', async () => (await badge.textContent()) === 'Live', 20_000);

    // Dashboard: the devices (Retry) and the alarm counts.
    await down('dashboard');
    await waitFor('both dashboard errors', async () => (await alert().count()) === 2);
    expect((await alertTexts()).sort()).toEqual([
      expect.stringMatching(didNotAnswer('load the alarms')),
      expect.stringMatching(didNotAnswer('load the devices with telemetry')),
    ]);
    await h().shot('dashboard with the server down');
    await h().restartServer();
    // Each part has its Retry (the page polls only every 15 s).
    await retryAll();
    await page().getByText('No device has stored telemetry yet.', { exact: false }).waitFor();
    await waitFor('the dashboard errors to go', async () => (await alert().count()) === 0, 5000);
    await waitFor('the alarm count', async () => /raised in the range/.test((await page().getByTestId('alarm-count-total').textContent()) ?? ''));

    // Health: the server's components and the deployed flows (Retry).
    await down('health');
    await waitFor('both health errors', async () => (await alert().count()) === 2);
    expect((await alertTexts()).sort()).toEqual([
      expect.stringMatching(didNotAnswer('list the flows')),
      expect.stringMatching(didNotAnswer('load the server health')),
    ]);
    await h().shot('health with the server down');
    await h().restartServer();
    await retryAll();
    await page().locator(`tr[data-flow-id="${FLOW}"]`).waitFor();
    await waitFor('the health errors to go', async () => (await alert().count()) === 0, 3000);
    await page().getByTestId('server-status').waitFor();
    await h().shot('health after the server came back');

    // The only console errors were the refused requests.
    await hash('nowhere');
    expect(h().takeConsoleErrors(REFUSED)).toBeGreaterThan(0);
  });
});
