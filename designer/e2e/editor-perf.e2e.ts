// The flow editor with a 300-node flow: all nodes render, and pan, zoom and
// a node drag are timed with requestAnimationFrame deltas in Chromium. The
// figures are printed (and recorded in docs/designer.md); only functional
// facts are asserted, never speed.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useHarness, waitFor } from './harness';

const N = 300;
const COLS = 20;
const FLOW = 'perf300';

function bigFlow() {
  const nodes = [];
  const connections = [];
  for (let i = 0; i < N; i++) {
    const id = i === 0 ? 'in' : `log${i}`;
    const x = (i % COLS) * 240;
    const y = Math.floor(i / COLS) * 120;
    nodes.push(i === 0
      ? { id, type: 'httpIn', name: 'HTTP in', configuration: { path: 'perf/in', auth: 'none' }, additionalInfo: { x, y } }
      : { id, type: 'log', name: `Log ${i}`, configuration: { message: `node ${i}` }, additionalInfo: { x, y } });
    if (i > 0) connections.push({ fromId: i === 1 ? 'in' : `log${i - 1}`, toId: id, type: 'Success' });
  }
  return { ruleChain: { id: FLOW, name: '300 nodes' }, metadata: { nodes, connections } };
}

interface Frames { count: number; meanMs: number; p95Ms: number; maxMs: number; fps: number }

/** startFrames records requestAnimationFrame deltas until stopFrames. */
async function startFrames(page: Page) {
  await page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __stop: boolean };
    w.__frames = [];
    w.__stop = false;
    let last = performance.now();
    const tick = (t: number) => {
      w.__frames.push(t - last);
      last = t;
      if (!w.__stop) requestAnimationFrame(tick);
    };
    requestAnimationFrame((t) => { last = t; requestAnimationFrame(tick); });
  });
}

async function stopFrames(page: Page): Promise<Frames> {
  const d = await page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __stop: boolean };
    w.__stop = true;
    return w.__frames;
  });
  const s = [...d].sort((a, b) => a - b);
  const mean = d.reduce((a, b) => a + b, 0) / Math.max(1, d.length);
  const r = (x: number) => Math.round(x * 10) / 10;
  return { count: d.length, meanMs: r(mean), p95Ms: r(s[Math.floor(s.length * 0.95)] ?? 0), maxMs: r(s[s.length - 1] ?? 0), fps: r(1000 / Math.max(mean, 0.001)) };
}

async function nodeBox(page: Page, id: string) {
  const b = await page.getByTestId(`node-${id}`).boundingBox();
  if (!b) throw new Error(`node ${id} has no box`);
  return b;
}

describe('flow editor with 300 nodes', () => {
  const h = useHarness('editor-perf');

  it('renders every node and stays usable while panning, zooming and dragging', async () => {
    const { api, page } = h();
    await api.post('/api/v1/flows', bigFlow());
    await h().login();

    const t0 = Date.now();
    await h().goto(`flows/${FLOW}`);
    await page.getByTestId('canvas').waitFor();
    const rendered = await waitFor('300 nodes on the canvas', async () => {
      const n = await page.locator('.react-flow__node-flow').count();
      return n === N ? n : false;
    }, 60_000);
    await waitFor('300 edges on the canvas', async () => (await page.locator('.react-flow__edge').count()) === N - 1, 60_000);
    const openMs = Date.now() - t0;
    expect(rendered).toBe(N);
    await h().shot('perf-opened');

    const canvas = (await page.getByTestId('canvas').boundingBox())!;
    // Pan: drag the empty pane (the top-left corner is outside the fitted flow's padding).
    await startFrames(page);
    await page.mouse.move(canvas.x + 8, canvas.y + 8);
    await page.mouse.down();
    for (let i = 1; i <= 60; i++) await page.mouse.move(canvas.x + 8 + i * 4, canvas.y + 8 + i * 2);
    await page.mouse.up();
    const pan = await stopFrames(page);

    // Zoom in and out with the wheel over the middle of the canvas.
    const cx = canvas.x + canvas.width / 2;
    const cy = canvas.y + canvas.height / 2;
    await startFrames(page);
    await page.mouse.move(cx, cy);
    for (let i = 0; i < 15; i++) await page.mouse.wheel(0, -120);
    for (let i = 0; i < 15; i++) await page.mouse.wheel(0, 120);
    const zoom = await stopFrames(page);

    // Fit, then drag one node across the canvas.
    await page.getByRole('button', { name: 'Fit view', exact: true }).click();
    await page.waitForFunction(() => !document.querySelector('.react-flow__viewport')?.getAttribute('style')?.includes('transition'));
    const target = 'log150';
    await page.getByTestId(`node-${target}`).scrollIntoViewIfNeeded();
    const before = await nodeBox(page, target);
    await startFrames(page);
    await page.mouse.move(before.x + 10, before.y + 6);
    await page.mouse.down();
    for (let i = 1; i <= 60; i++) await page.mouse.move(before.x + 10 + i * 3, before.y + 6 + i * 2);
    await page.mouse.up();
    const drag = await stopFrames(page);
    const after = await nodeBox(page, target);
    await h().shot('perf-dragged');

    const moved = Math.hypot(after.x - before.x, after.y - before.y);
    expect(moved).toBeGreaterThan(50);
    expect(pan.count).toBeGreaterThan(0);
    expect(zoom.count).toBeGreaterThan(0);
    expect(drag.count).toBeGreaterThan(0);
    // The drag is one undo step and the flow is marked changed.
    await expect.poll(() => page.getByText('unsaved changes').count()).toBe(1);

    console.log(`[e2e editor-perf] ${N} nodes, ${N - 1} edges: opened and rendered in ${openMs} ms`);
    for (const [name, f] of [['pan', pan], ['zoom', zoom], ['drag', drag]] as const) {
      console.log(`[e2e editor-perf] ${name}: ${f.count} frames, mean ${f.meanMs} ms (${f.fps} fps), p95 ${f.p95Ms} ms, max ${f.maxMs} ms`);
    }
    console.log(`[e2e editor-perf] the dragged node moved ${Math.round(moved)} px on screen`);
  });
});
