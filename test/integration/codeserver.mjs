// Launching a real VS Code for tests: code-server 4.100.3 (from .cache/code-server) with its own user data under a
// temp dir, headless Chromium through playwright-core, and the in-host mocha suite (out/integration/index.js) run
// through the workbench URL payload. Used by run.mjs (the integration layer) and test/slurm/runs-view.test.ts.
//
// Every function takes the temp dir (`tmp`), the folder for logs and screenshots (`resultsDir`) and a `log`
// function; the caller owns the processes it gets back (end them with processes.mjs's endAll).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstRunPath } from './firstrun.mjs';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CODE_SERVER = join(REPO, '.cache/code-server/node_modules/.bin/code-server');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const PYTHON = join(REPO, '.venv/bin/python');

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * Starts code-server; resolves to { base, port, server } once /healthz answers. firstRun (C): its own user data, no
 * spikeStudio.pythonPath anywhere, and only the system python3 on PATH. `env`: more variables for code-server and
 * so for the extension host (e.g. SLURM_CONF, SPIKE_IT_GREP). The in-host suite's JSON summary goes to `resultsFile`.
 * onSpawn(server) is called at once, so the caller can end it even when the start fails.
 */
export async function startCodeServer({ tmp, resultsDir, log, firstRun = false, env: extraEnv = {}, resultsFile = join(tmp, 'results-a.json'), onSpawn }) {
  const port = await freePort();
  const ud = join(tmp, firstRun ? 'user-data-c' : 'user-data');
  mkdirSync(join(ud, 'User'), { recursive: true });
  const settings = {
    'workbench.startupEditor': 'none',
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    ...(firstRun ? {} : { 'spikeStudio.pythonPath': PYTHON }),
    'security.workspace.trust.enabled': false,
    'workbench.tips.enabled': false,
  };
  // The interpreter is named three ways, because a remote window (code-server is one) may not yet show the user
  // settings to the extension host when the UI test clicks Train 2 s after load (seen in CI: "python3 (from
  // default)" → "PyTorch is not installed"): user settings, remote machine settings (the scope of
  // spikeStudio.pythonPath) and, as a last resort, the venv's bin first on code-server's PATH.
  writeFileSync(join(ud, 'User/settings.json'), JSON.stringify(settings, null, 2));
  if (!firstRun) {
    mkdirSync(join(ud, 'Machine'), { recursive: true });
    writeFileSync(join(ud, 'Machine/settings.json'), JSON.stringify({ 'spikeStudio.pythonPath': PYTHON }, null, 2));
  }
  for (const d of ['xdg-config', 'xdg-data', 'xdg-cache', 'xdg-state', 'tmp', 'extensions']) mkdirSync(join(tmp, d), { recursive: true });
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: join(tmp, 'xdg-config'),
    XDG_DATA_HOME: join(tmp, 'xdg-data'),
    XDG_CACHE_HOME: join(tmp, 'xdg-cache'),
    XDG_STATE_HOME: join(tmp, 'xdg-state'),
    TMPDIR: join(tmp, 'tmp'),
    SPIKE_IT_RESULTS: resultsFile,
    PATH: `${dirname(PYTHON)}:${process.env.PATH ?? ''}`,
    ...(firstRun ? firstRunPath(tmp) : {}),
    ...extraEnv,
  };
  delete env.VSCODE_IPC_HOOK_CLI;
  if (firstRun) for (const k of ['VIRTUAL_ENV', 'PYENV_VERSION', 'PYENV_ROOT', 'CONDA_PREFIX', 'PYTHONHOME', 'PYTHONPATH', 'SPIKE_STUDIO_PYTHON']) delete env[k];
  const args = [
    '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check',
    '--disable-workspace-trust', '--disable-getting-started-override', '--ignore-last-opened',
    '--user-data-dir', ud, '--extensions-dir', join(tmp, 'extensions'),
  ];
  const out = createWriteStream(join(resultsDir, `integration-code-server${firstRun ? '-c' : ''}.log`));
  const started = Date.now();
  const server = spawn(CODE_SERVER, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.pipe(out);
  server.stderr.pipe(out);
  onSpawn?.(server);
  let exited = false;
  server.once('exit', (code, sig) => { exited = true; log(`code-server exited (${code ?? sig})`); });
  const base = `http://127.0.0.1:${port}`;
  for (;;) {
    if (exited) throw new Error('code-server exited during start; see test-results/integration-code-server.log');
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch { /* not yet */ }
    if (Date.now() - started > 60_000) throw new Error('code-server did not answer /healthz within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`code-server 4.100.3 up on ${base} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { base, port, server };
}

export function workbenchUrl(base, port, folder, extra = []) {
  const payload = [['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${port}${REPO}`], ...extra];
  return `${base}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** Browser console → a log file; extension-host lines (mocha's reporter among them) also to stdout. */
export function wireConsole(page, name, resultsDir) {
  const file = createWriteStream(join(resultsDir, `integration-${name}-console.log`));
  page.on('console', (m) => {
    // VS Code forwards extension-host console output as "%c INFO color: #33f <text>".
    const text = m.text().replace(/^%c\s*\w+\s+color:\s*\S+\s*/, '');
    file.write(`[${m.type()}] ${text}\n`);
    if (/^\[spike-it\]|Activating extension .*failed/.test(text)) {
      console.log(`  [${name}] ${text.replace(/^\[spike-it\] /, '').split('\n').slice(0, 20).join('\n  ')}`);
    }
  });
  page.on('pageerror', (e) => file.write(`[pageerror] ${e.message}\n`));
  return file;
}

/** Headless Chromium with its own profile under the temp dir; every page of the previous context is gone. */
export async function launchBrowser({ tmp, profile, log }) {
  const { chromium } = await import('playwright-core');
  const tb = Date.now();
  const headless = !process.env.SPIKE_IT_HEADFUL;
  const launched = await chromium.launchPersistentContext(join(tmp, profile), {
    executablePath: CHROMIUM,
    headless,
    viewport: { width: 1400, height: 900 },
    // Keeps Chromium's "Crash Reports" and caches out of ~/.config and ~/.cache.
    env: { ...process.env, XDG_CONFIG_HOME: join(tmp, 'xdg-config'), XDG_CACHE_HOME: join(tmp, 'xdg-cache') },
    args: [...(headless ? ['--headless'] : []), '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  log(`chromium (${profile}) up in ${((Date.now() - tb) / 1000).toFixed(1)} s`);
  for (const p of launched.pages()) await p.close().catch(() => {});
  return launched;
}

/**
 * Opens `ws` in the workbench with the in-host suite as extensionTestsPath and waits for its exit code
 * (codeAutomationExit; `guardS` is a guard only: the tests' own waits follow events). Resolves to
 * { code, report }: report is the suite's JSON summary ({passed, failed, tests}) or null when none was written.
 */
export async function runInHostSuite({ context, base, port, ws, name, guardS, resultsFile, resultsDir, log }) {
  const testsEntry = join(REPO, 'out/integration/index.js');
  if (!existsSync(testsEntry)) throw new Error('out/integration/index.js is missing: run `npm run build` first');
  const page = await context.newPage();
  wireConsole(page, name, resultsDir);
  const done = new Promise((res) => {
    page.exposeFunction('codeAutomationExit', (code, logs) => res({ code, logs })).catch(() => {});
  });
  const url = workbenchUrl(base, port, ws, [['extensionTestsPath', `vscode-remote://127.0.0.1:${port}${testsEntry}`]]);
  const ta = Date.now();
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  log(`${name}: workbench loaded in ${((Date.now() - ta) / 1000).toFixed(1)} s; the suite runs in the extension host`);
  let guard;
  const { code } = await Promise.race([
    done,
    new Promise((_, rej) => (guard = setTimeout(() => rej(new Error(`${name}: no codeAutomationExit within ${guardS} s`)), guardS * 1000))),
  ]).finally(() => clearTimeout(guard)); // a pending guard would keep a mocha process (no --exit) alive
  log(`${name}: codeAutomationExit(${code}) after ${((Date.now() - ta) / 1000).toFixed(1)} s`);
  await page.screenshot({ path: join(resultsDir, `integration-${name}.png`) }).catch(() => {});
  await page.close().catch(() => {});
  const report = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : null;
  return { code, report };
}

export { endAll } from './processes.mjs';
