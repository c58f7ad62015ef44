// The business and operator pages (and two editor details) against a real
// server: the alarm rules page refuses invalid values (its own checks and
// the server's validation) and saves nothing; it never deploys a flow's
// undeployed changes silently; a joint alarm node edited and saved; clear
// on the alarms page; the dashboard without data; the health page with a
// source that cannot connect (and no layout jump); Live off resets the
// editor's status line; the test run's recent-message control says how to
// fill it; a wrong password reads plainly.

import { describe, expect, it } from 'vitest';
import { useHarness, waitFor } from './harness';

const FLOW = 'plant';
const DEVICE = 'boiler-9';
const PATH = 'plant-room';
const JOINT = 'jointAlarm1';
const RULE = 'boiler-hot';
const CONDITION = `dev("${DEVICE}").temperature > 80`;

interface FlowAnswer {
  version: number;
  flow: { metadata: { nodes: { id: string; type: string; name?: string; configuration?: Record<string, unknown> }[] } };
}
interface FlowStatus {
  deployed: boolean;
  version?: number;
  latestVersion: number;
}
interface AlarmJson {
  id: string;
  rule: string;
  deviceId: string;
  status: string;
  severity: string;
  clearComment?: string;
}

function plantFlow() {
  return {
    ruleChain: { id: FLOW, name: 'Plant room' },
    metadata: {
      nodes: [
        { id: 'httpIn1', type: 'httpIn', configuration: { path: PATH }, additionalInfo: { x: 40, y: 120 } },
        { id: 'scriptParse1', type: 'scriptParse', configuration: { code: 'return {deviceId: metadata.deviceId, signals: {temperature: msg.temperature}};' }, additionalInfo: { x: 300, y: 120 } },
        { id: JOINT, type: 'jointAlarm', name: 'Boiler hot', configuration: { name: RULE, condition: CONDITION }, additionalInfo: { x: 560, y: 120 } },
      ],
      connections: [
        { fromId: 'httpIn1', toId: 'scriptParse1', type: 'Success' },
        { fromId: 'scriptParse1', toId: JOINT, type: 'Success' },
      ],
    },
  };
}

/** A flow whose MQTT source points at a port nothing listens on. */
function unreachableFlow() {
  return {
    ruleChain: { id: 'mq', name: 'Unreachable broker' },
    metadata: {
      nodes: [
        { id: 'mqIn', type: 'mqttIn', configuration: { broker: 'tcp://127.0.0.1:1', topics: ['plant/#'] }, additionalInfo: { x: 40, y: 120 } },
        { id: 'log1', type: 'log', configuration: {}, additionalInfo: { x: 300, y: 120 } },
      ],
      connections: [{ fromId: 'mqIn', toId: 'log1', type: 'Success' }],
    },
  };
}

describe('the pages', () => {
  const h = useHarness('pages');
  const page = () => h().page;
  const api = () => h().api;
  let deviceToken = '';

  const flow = () => api().get<FlowAnswer>(`/api/v1/flows/${FLOW}`);
  const status = () => api().get<FlowStatus>(`/api/v1/flows/${FLOW}/status`);
  const jointConfig = async () => (await flow()).flow.metadata.nodes.find((n) => n.id === JOINT)!.configuration ?? {};
  const form = () => page().getByRole('form', { name: 'Alarm rule settings' });
  const field = (path: string) => form().locator(`[data-field="${path}"]`);
  const fieldError = (path: string) => form().locator(`.field-error[data-error-for="${path}"]`);
  const outcome = () => page().getByTestId('save-outcome');

  async function openRules() {
    // A fresh load: the page reads every flow when it opens.
    await h().goto('alarm-rules');
    await page().reload();
    await page().locator(`[data-node-key="${FLOW}/${JOINT}"]`).click();
    await form().waitFor();
    await field('duration').waitFor();
  }

  async function postReading(temperature: number) {
    const res = await fetch(`${h().url}/ingest/${PATH}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${deviceToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ temperature }),
    });
    expect(res.status, `POST /ingest/${PATH}: ${await res.text()}`).toBe(202);
  }

  it('says plainly that a password is wrong', async () => {
    await page().goto(h().url + '/');
    const loginForm = page().getByRole('form', { name: 'Log in' });
    await loginForm.getByLabel('Password').fill('not-the-password');
    await loginForm.getByRole('button', { name: 'Log in' }).click();
    const alert = loginForm.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('Wrong username or password.');
    expect(h().takeConsoleErrors(/status of 401/)).toBe(1);
    await h().shot('wrong password');
    await h().login();
  });

  it('says the dashboard has no data yet', async () => {
    await h().goto('dashboard');
    await page().getByText('No device has stored telemetry yet.', { exact: false }).waitFor();
    await waitFor('the alarm count', async () => (await page().getByTestId('alarm-count-total').textContent()) === '0 raised in the range');
    await h().shot('dashboard without data');
  });

  it('shows a source that cannot connect on the health page without a click, and nothing jumps', async () => {
    await api().post('/api/v1/flows?comment=e2e', unreachableFlow());
    await api().post('/api/v1/flows/mq/deploy');
    await waitFor('the source to report its error', async () => {
      const st = await api().get<{ stats?: { sources?: Record<string, { state: string; errors: number; lastError?: string }> } }>('/api/v1/flows/mq/status');
      const s = st.stats?.sources?.mqIn;
      return s && s.state === 'retrying' && s.errors > 0 && !!s.lastError;
    });
    // Record where the "Deployed flows" card is on every frame while the page loads.
    await h().goto('');
    await page().getByRole('navigation', { name: 'Main' }).waitFor();
    await page().evaluate(() => {
      const w = window as unknown as { __tops: number[]; __done: boolean };
      w.__tops = [];
      w.__done = false;
      const t0 = performance.now();
      const frame = () => {
        const el = document.querySelector('section[aria-label="Deployed flows"]');
        if (el) w.__tops.push(Math.round(el.getBoundingClientRect().top));
        if (performance.now() - t0 < 2500) requestAnimationFrame(frame);
        else w.__done = true;
      };
      requestAnimationFrame(frame);
      location.hash = '#/health';
    });
    await page().getByTestId('server-status').waitFor();
    await waitFor('the recording', () => page().evaluate(() => (window as unknown as { __done: boolean }).__done));
    const tops = await page().evaluate(() => (window as unknown as { __tops: number[] }).__tops);
    expect(tops.length).toBeGreaterThan(5);
    expect(new Set(tops).size, `the Deployed flows card moved: ${[...new Set(tops)].join(' → ')}`).toBe(1);

    const row = page().locator('tr[data-flow-id="mq"]');
    await row.waitFor();
    const problem = row.getByTestId('flow-problem');
    await problem.waitFor();
    expect(await problem.textContent()).toMatch(/source mqIn retrying: .*127\.0\.0\.1:1.*refused/);
    expect(await row.locator('.tone').first().textContent()).toBe('errors');
    // The parts list is open by itself, with the source's last error.
    const part = page().locator('[data-part-id="mqIn"]');
    await part.waitFor();
    expect(await part.textContent()).toContain('last error: connect to tcp://127.0.0.1:1');
    expect(await row.getByRole('button', { name: /Hide \d+ parts? of mq/ }).getAttribute('aria-expanded')).toBe('true');
    await h().shot('health with an unreachable broker');
    await api().post('/api/v1/flows/mq/undeploy');
  });

  it('sets up the plant flow with a joint alarm (API)', async () => {
    deviceToken = (await api().post<{ token: string }>('/api/v1/devices', { id: DEVICE, name: 'Boiler 9' })).token;
    await api().post(`/api/v1/flows?comment=e2e`, plantFlow());
    await api().post(`/api/v1/flows/${FLOW}/deploy`);
    expect((await status()).version).toBe(1);
  });

  it('resets the status line when Live is turned off; the test run says how to get recent messages', async () => {
    await h().goto(`flows/${FLOW}`);
    await page().getByTestId('canvas').waitFor();
    const toolbar = page().getByRole('toolbar', { name: 'Editor' });
    const statusLine = page().getByTestId('status-line');
    await toolbar.getByRole('button', { name: 'Test run', exact: true }).click();
    const recent = page().getByTestId('recent-message');
    expect(await recent.isDisabled()).toBe(true);
    expect(await page().getByTestId('recent-hint').textContent()).toBe('Turn on Live to capture recent messages from the deployed flow.');

    await toolbar.getByRole('button', { name: 'Live', exact: true }).click();
    await waitFor('Live view on', async () => (await statusLine.textContent()) === 'Live view on.');
    await postReading(20);
    await page().getByTestId('debug-msg').first().waitFor();
    await toolbar.getByRole('button', { name: 'Test run', exact: true }).click();
    await waitFor('a recent message to pick', async () => !(await recent.isDisabled()));
    expect(await recent.locator('option').count()).toBeGreaterThan(1);
    await recent.selectOption({ index: 1 });
    expect(await page().getByLabel('Payload').inputValue()).toContain('"temperature": 20');
    await h().shot('test run with a recent message');

    await toolbar.getByRole('button', { name: 'Live', exact: true }).click();
    await waitFor('Live view off', async () => (await statusLine.textContent()) === 'Live view off.');
    expect(await toolbar.getByRole('button', { name: 'Live', exact: true }).getAttribute('aria-pressed')).toBe('false');
    // What was captured stays pickable, and the hint says Live is off.
    expect(await page().getByTestId('recent-hint').textContent()).toContain('(Live is off now)');
    await h().shot('live off');
  });

  it('refuses an invalid value on the alarm rules page with an inline error and saves nothing', async () => {
    const before = await flow();
    await openRules();
    expect(await page().getByTestId('undeployed-notice').count()).toBe(0);
    await field('duration').fill('abc');
    await fieldError('duration').waitFor();
    expect(await fieldError('duration').textContent()).toContain('want a duration');
    expect(await field('duration').getAttribute('aria-invalid')).toBe('true');
    const save = form().getByRole('button', { name: 'Save and deploy' });
    expect(await save.isDisabled()).toBe(true);
    expect(await page().getByTestId('blocking-count').textContent()).toBe('1 problem to fix before saving');
    expect(await page().getByTestId('form-problems').textContent()).toContain('Must hold for: want a duration');
    await h().shot('rules invalid duration');

    // A value only the server can judge: an expression that does not parse.
    await field('duration').fill('30s');
    await waitFor('the duration error to go', async () => (await fieldError('duration').count()) === 0);
    await field('condition').fill(`${CONDITION} &&`);
    expect(await save.isDisabled()).toBe(false);
    await save.click();
    await waitFor('the refusal', async () => /^Not saved: the server found/.test((await outcome().textContent()) ?? ''));
    expect(await outcome().getAttribute('role')).toBe('alert');
    await fieldError('condition').waitFor();
    expect(await save.isDisabled()).toBe(true);
    await h().shot('rules server validation');

    const after = await flow();
    expect(after.version).toBe(before.version);
    const versions = await api().get<unknown[]>(`/api/v1/flows/${FLOW}/versions`);
    expect(versions).toHaveLength(1);
    expect((await status()).version).toBe(before.version);
    await form().getByRole('button', { name: 'Revert' }).click();
    expect(await field('condition').inputValue()).toBe(CONDITION);
  });

  it('edits a joint alarm node, saves and deploys it', async () => {
    await field('severity').selectOption('critical');
    await field('reminder').fill('10m');
    await page().getByText('Unsaved changes', { exact: true }).waitFor();
    await form().getByRole('button', { name: 'Save and deploy' }).click();
    await waitFor('the save outcome', async () => (await outcome().textContent()) === 'Saved as version 2 and deployed.');
    const st = await status();
    expect(st.version).toBe(2);
    expect(st.latestVersion).toBe(2);
    const cfg = await jointConfig();
    expect(cfg).toMatchObject({ name: RULE, condition: CONDITION, severity: 'critical', reminder: '10m' });
    expect(await field('reminder').inputValue()).toBe('10m');
    await h().shot('joint alarm saved');
  });

  it('never deploys undeployed changes silently; the explicit choice does', async () => {
    // An integrator saves a change without deploying it: latest 3, deployed 2.
    const cur = await flow();
    cur.flow.metadata.nodes.find((n) => n.id === JOINT)!.name = 'Boiler hot (renamed)';
    await api().put(`/api/v1/flows/${FLOW}?baseVersion=${cur.version}&comment=not+deployed`, cur.flow);
    await openRules();
    const notice = page().getByTestId('undeployed-notice');
    await notice.waitFor();
    expect(await notice.textContent()).toContain('Version 3 has changes not deployed yet (deployed: version 2)');
    expect(await form().getByRole('button', { name: 'Save and deploy', exact: true }).count()).toBe(0);

    await field('reminder').fill('20m');
    await form().getByRole('button', { name: 'Save only' }).click();
    await waitFor('the save-only outcome', async () => /^Saved as version 4, not deployed: version 2 keeps running\./.test((await outcome().textContent()) ?? ''));
    let st = await status();
    expect(st.latestVersion).toBe(4);
    expect(st.version).toBe(2);
    await waitFor('the notice to name version 4', async () => ((await notice.textContent()) ?? '').includes('Version 4 has changes not deployed yet (deployed: version 2)'));
    await h().shot('rules saved only');

    await field('reminder').fill('30m');
    await form().getByRole('button', { name: 'Save and deploy (includes version 4’s changes)' }).click();
    await waitFor('the deploy outcome', async () => (await outcome().textContent()) === 'Saved as version 5 and deployed.');
    st = await status();
    expect(st.version).toBe(5);
    expect(st.latestVersion).toBe(5);
    await waitFor('the notice to go', async () => (await notice.count()) === 0);
    expect(await jointConfig()).toMatchObject({ reminder: '30m', severity: 'critical' });
    expect((await flow()).flow.metadata.nodes.find((n) => n.id === JOINT)!.name).toBe('Boiler hot (renamed)');
    await h().shot('rules saved and deployed knowingly');
  });

  it('clears an alarm on the alarms page', async () => {
    await h().goto('alarms');
    await waitFor('the alarm stream to be live', async () => (await page().getByTestId('alarm-stream-state').textContent()) === 'Live');
    await postReading(90);
    const row = page().locator('[data-testid="alarm-table"] tbody tr', { hasText: RULE });
    await row.waitFor();
    expect(await row.locator('.sev').textContent()).toBe('critical');
    await row.getByRole('button', { name: `Details of ${RULE} on joint` }).click();
    const panel = page().getByLabel('Alarm details');
    await panel.getByTestId('alarm-history').waitFor();
    await panel.getByLabel('Comment').fill('checked on site');
    await panel.getByRole('button', { name: 'Clear', exact: true }).click();
    await waitFor('the alarm to be cleared', async () => {
      const list = await api().get<{ items: AlarmJson[] }>(`/api/v1/alarms?status=cleared`);
      return list.items.find((a) => a.rule === RULE);
    });
    await waitFor('the panel to show it cleared', async () => ((await panel.getByTestId('alarm-status').textContent()) ?? '').includes('cleared'));
    const list = await api().get<{ items: AlarmJson[] }>(`/api/v1/alarms?status=cleared`);
    expect(list.items.find((a) => a.rule === RULE)!.clearComment).toBe('checked on site');
    await h().shot('alarm cleared');
  });
});
