// The end-to-end harness: a real `sluice serve` (from $SLUICE_BIN) on a free
// port with a fresh data directory, and Debian's Chromium driven by
// playwright-core. Every test file gets its own server and browser:
//
//   const h = useHarness('story');          // registers beforeAll/afterAll/afterEach
//   it('...', async () => { await h().login(); await h().shot('logged in'); });
//
// or, without the vitest hooks, `const h = await startHarness('perf')` and
// `await h.close()` at the end. Any console error or uncaught page error
// fails the test that caused it (useHarness checks after each test; call
// h.expectNoConsoleErrors() yourself otherwise). Screenshots go to
// designer/e2e-shots/<run>/NN-name.png; the folder is printed at start.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';

export const ADMIN_USER = 'admin';
export const ADMIN_PASSWORD = 'e2e-password-1';
export const VIEWPORT = { width: 1280, height: 800 };

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** ApiCallError is a failed API call made by the test itself (setup or check). */
export class ApiCallError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${path}: ${status} ${body.slice(0, 500)}`);
    this.name = 'ApiCallError';
  }
}

/** Api calls the server from the test (Node's fetch) with an admin session token. */
export class Api {
  token = '';
  constructor(readonly url: string) {}

  async login(username = ADMIN_USER, password = ADMIN_PASSWORD): Promise<string> {
    const a = await this.call<{ token: string }>('POST', '/api/v1/auth/login', { username, password });
    this.token = a.token;
    return a.token;
  }

  /** raw makes a request and returns the response, whatever its status. */
  async raw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const h: Record<string, string> = { Accept: 'application/json', ...headers };
    if (this.token && !('Authorization' in h)) h.Authorization = `Bearer ${this.token}`;
    let b: string | undefined;
    if (body !== undefined) {
      h['Content-Type'] ??= 'application/json';
      b = typeof body === 'string' ? body : JSON.stringify(body);
    }
    return fetch(this.url + path, { method, headers: h, body: b, signal: AbortSignal.timeout(30_000) });
  }

  /** call makes a request and returns its JSON answer; a non-2xx answer throws ApiCallError. */
  async call<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const res = await this.raw(method, path, body, headers);
    const text = await res.text();
    if (!res.ok) throw new ApiCallError(method, path, res.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }
  post<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }
  put<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('PUT', path, body);
  }
  del(path: string): Promise<unknown> {
    return this.call('DELETE', path);
  }
}

/** waitFor polls fn until it returns a value other than undefined/false, or throws after timeoutMs. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface HarnessOptions {
  /** load the shipped example flows (default false: an empty server) */
  examples?: boolean;
  /** extra environment for sluice serve */
  env?: Record<string, string>;
  /** extra flags for sluice serve */
  args?: string[];
}

export class Harness {
  readonly consoleErrors: string[] = [];
  readonly api: Api;
  private shotN = 0;
  private closed = false;
  private opts: HarnessOptions = {};

  private constructor(
    readonly name: string,
    readonly url: string,
    /** the running sluice serve (replaced by restartServer) */
    public server: ChildProcess,
    readonly serverLog: string[],
    readonly dataDir: string,
    readonly userDataDir: string,
    readonly context: BrowserContext,
    readonly page: Page,
    readonly shotsDir: string,
  ) {
    this.api = new Api(url);
  }

  static async start(name: string, opts: HarnessOptions = {}): Promise<Harness> {
    const bin = process.env.SLUICE_BIN;
    if (!bin) throw new Error('SLUICE_BIN is not set: build the binary (make build) and run with SLUICE_BIN=$PWD/bin/sluice');
    if (!existsSync(bin)) throw new Error(`SLUICE_BIN=${bin} does not exist: run make build first`);
    accessSync(bin, constants.X_OK);
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);

    const run = `${new Date().toISOString().replace(/[:.]/g, '-')}-${name}`;
    const shotsDir = resolve(here, '..', 'e2e-shots', run);
    mkdirSync(shotsDir, { recursive: true });
    console.log(`[e2e ${name}] screenshots: ${shotsDir}`);

    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-e2e-data-'));
    const { server, url, log } = await startServer(bin, dataDir, opts);
    console.log(`[e2e ${name}] sluice serve at ${url} (data ${dataDir})`);

    const userDataDir = mkdtempSync(join(tmpdir(), 'sluice-e2e-chromium-'));
    // A persistent context is how playwright takes a fresh --user-data-dir.
    let context: BrowserContext;
    try {
      context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
        headless: true,
        timeout: 60_000,
        viewport: VIEWPORT,
        baseURL: url,
      });
    } catch (e) {
      await stopServer(server);
      throw e;
    }
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    const h = new Harness(name, url, server, log, dataDir, userDataDir, context, page, shotsDir);
    h.opts = opts;
    page.on('console', (m) => {
      if (m.type() === 'error') h.consoleErrors.push(`console error: ${m.text()} (${m.location().url}:${m.location().lineNumber})`);
    });
    page.on('pageerror', (e) => h.consoleErrors.push(`page error: ${e.message}`));
    await h.api.login();
    return h;
  }

  /** shot writes a numbered full-page screenshot and returns its path. */
  async shot(name: string): Promise<string> {
    this.shotN++;
    const file = join(this.shotsDir, `${String(this.shotN).padStart(2, '0')}-${name.replace(/[^a-zA-Z0-9-]+/g, '-')}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** goto opens a designer route, e.g. goto('alarms') → /#/alarms. */
  async goto(route = ''): Promise<void> {
    await this.page.goto(`${this.url}/#/${route}`);
  }

  /** login logs in through the designer's login form. */
  async login(username = ADMIN_USER, password = ADMIN_PASSWORD): Promise<void> {
    await this.page.goto(this.url + '/');
    const form = this.page.getByRole('form', { name: 'Log in' });
    await form.getByLabel('Username').fill(username);
    await form.getByLabel('Password').fill(password);
    await form.getByRole('button', { name: 'Log in' }).click();
    await this.page.getByRole('navigation', { name: 'Main' }).waitFor();
  }

  /**
   * takeConsoleErrors removes the console errors matching re (an expected
   * failed request, such as a 409 the test provoked) and returns how many.
   */
  takeConsoleErrors(re: RegExp): number {
    const before = this.consoleErrors.length;
    const keep = this.consoleErrors.filter((e) => !re.test(e));
    this.consoleErrors.splice(0, this.consoleErrors.length, ...keep);
    return before - keep.length;
  }

  /** expectNoConsoleErrors throws (and clears the list) if the page logged an error. */
  expectNoConsoleErrors(): void {
    if (this.consoleErrors.length === 0) return;
    const errs = this.consoleErrors.splice(0);
    throw new Error(`the page logged ${errs.length} error(s):\n${errs.join('\n')}`);
  }

  /**
   * stopServer stops sluice serve (SIGTERM, SIGKILL after 20 s) and keeps
   * its data directory, so a test can look at the pages while the server is
   * down; restartServer brings it back.
   */
  async stopServer(): Promise<void> {
    await stopServer(this.server);
  }

  /**
   * restartServer starts sluice serve again on the same address with the
   * same data directory and options (sessions and flows survive), and waits
   * until /readyz answers. Its output joins serverLog.
   */
  async restartServer(): Promise<void> {
    await stopServer(this.server);
    const listen = new URL(this.url).host;
    const { server, url } = await startServer(process.env.SLUICE_BIN!, this.dataDir, this.opts, listen, this.serverLog);
    this.server = server;
    if (url !== this.url) {
      await stopServer(server);
      throw new Error(`sluice serve came back at ${url}, not at ${this.url}`);
    }
    console.log(`[e2e ${this.name}] sluice serve restarted at ${url}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.context.close();
    } catch (e) {
      console.error(`[e2e ${this.name}] closing Chromium: ${String(e)}`);
    }
    await stopServer(this.server);
    rmSync(this.userDataDir, { recursive: true, force: true });
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** startHarness starts a server and a browser for one test file. */
export function startHarness(name: string, opts?: HarnessOptions): Promise<Harness> {
  return Harness.start(name, opts);
}

/**
 * useHarness registers the vitest hooks of a test file: start in beforeAll,
 * fail a test that logged a console error in afterEach, close in afterAll
 * (with the server's log printed when something failed). It returns a
 * getter for the harness.
 */
export function useHarness(name: string, opts?: HarnessOptions): () => Harness {
  let h: Harness | undefined;
  beforeAll(async () => {
    h = await startHarness(name, opts);
  });
  afterEach((ctx) => {
    if (!h) return;
    if (ctx.task.result?.state === 'fail') {
      console.log(`[e2e ${name}] sluice serve log (last 60 lines):\n${h.serverLog.slice(-60).join('\n')}`);
    }
    h.expectNoConsoleErrors();
  });
  afterAll(async () => {
    await h?.close();
  });
  return () => {
    if (!h) throw new Error('the harness did not start (see the beforeAll error)');
    return h;
  };
}

async function startServer(
  bin: string,
  dataDir: string,
  opts: HarnessOptions,
  listen = '127.0.0.1:0',
  log: string[] = [],
): Promise<{ server: ChildProcess; url: string; log: string[] }> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? dataDir,
    SLUICE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    SLUICE_EXAMPLES: opts.examples ? 'true' : 'false',
    ...opts.env,
  };
  const args = ['serve', '--http', listen, '--mqtt', '', '--data', dataDir, '--drain-timeout', '2s', ...(opts.args ?? [])];
  const server = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (line: string) => {
    log.push(line);
    if (log.length > 2000) log.splice(0, log.length - 2000);
  };
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`sluice serve printed no URL within 60 s:\n${log.join('\n')}`)), 60_000);
    let buf = '';
    server.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        keep(line);
        const m = line.split(' is running at ')[1];
        if (m) {
          clearTimeout(timer);
          res(m.trim());
        }
      }
    });
    let ebuf = '';
    server.stderr!.on('data', (d: Buffer) => {
      ebuf += d.toString();
      let i: number;
      while ((i = ebuf.indexOf('\n')) >= 0) {
        keep(ebuf.slice(0, i));
        ebuf = ebuf.slice(i + 1);
      }
    });
    server.on('exit', (code, sig) => {
      clearTimeout(timer);
      rej(new Error(`sluice serve exited (${code ?? sig}) before it listened:\n${log.join('\n')}`));
    });
    server.on('error', (e) => {
      clearTimeout(timer);
      rej(new Error(`start ${bin}: ${e.message}`));
    });
  });
  try {
    await waitFor('sluice serve /readyz', async () => (await fetch(url + '/readyz', { signal: AbortSignal.timeout(2000) })).status === 200, 30_000);
  } catch (e) {
    await stopServer(server);
    throw new Error(`${String(e)}\n${log.join('\n')}`);
  }
  return { server, url, log };
}

async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise<void>((r) => server.once('exit', () => r()));
  server.kill('SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 20_000))]);
  if (timedOut) {
    console.error('[e2e] sluice serve did not stop within 20 s of SIGTERM: killing it');
    server.kill('SIGKILL');
    await exited;
  }
}
