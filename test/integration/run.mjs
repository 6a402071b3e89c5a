// Integration tests: the extension inside a real VS Code (code-server 4.100.3 from npm, installed by
// `bash scripts/setup.sh code-server` into .cache/code-server), driven by Debian's Chromium through playwright-core.
//
//   node test/integration/run.mjs            (npm run test:integration; build first: npm run build)
//
// A. In-host mocha suite (test/integration/suite → out/integration/index.js) loaded through the workbench URL
//    payload (extensionDevelopmentPath + extensionTestsPath); its exit code arrives via codeAutomationExit.
// B. UI test: open smoke.spike.yaml, run "Spike Studio: Train" from the palette (click the row), watch the
//    dashboard webview's #loss-chart[data-points] grow, screenshot, "Spike Studio: Stop Training", #run-status.
// C. First run (test/integration/firstrun.mjs), in a code-server of its own where only the system python3 (no
//    torch) is on PATH and spikeStudio.pythonPath is unset: walkthrough → Set Up Python Environment (clicked in the
//    walkthrough) → Train the MNIST example → the dashboard shows step points. It installs torch==2.13.0 with pip
//    (SPIKE_STUDIO_TORCH_SPEC; SPIKE_STUDIO_TORCH_INDEX empty: pip's configured index, its cache in ~/.cache/pip).
//
// Prints `integration: N passed, M failed` and exits non-zero on any failure. code-server, Chromium and any
// training process started under the temp dir are always ended (finally + signal handlers + an 8-minute guard).
// Environment: SPIKE_IT_ONLY=A|B|C|AB, SPIKE_IT_KEEP=1 (keep the temp dir), SPIKE_IT_TIMEOUT_S (default 2280),
// SPIKE_IT_HEADFUL=1, CHROMIUM=/path/to/chromium, SPIKE_IT_GREP=REGEX (A: only the in-host tests whose title matches).
// Launching code-server and Chromium and running the in-host suite: codeserver.mjs (shared with test/slurm).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUiTest } from './ui.mjs';
import { runFirstRunTest } from './firstrun.mjs';
import { endAll, killAllSync as killAll } from './processes.mjs';
import {
  CHROMIUM, CODE_SERVER, PYTHON, REPO, launchBrowser as launchBrowserIn, runInHostSuite, startCodeServer as startCodeServerIn,
  wireConsole as wireConsoleTo, workbenchUrl,
} from './codeserver.mjs';

const RESULTS_DIR = join(REPO, 'test-results');
const TIMEOUT_S = Number(process.env.SPIKE_IT_TIMEOUT_S || 2280);
const A_GUARD_S = 1080;
const ONLY = (process.env.SPIKE_IT_ONLY || '').toUpperCase();
const runs = (phase) => ONLY === '' || ONLY.includes(phase);

const results = []; // { name, ok, detail }
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const log = (...a) => console.log(`[integration ${since()}]`, ...a);

// ------------------------------------------------------------------------------------------ cleanup
let tmp; // the fresh temp dir: xdg, tmp, user data, extensions, workspaces, chromium profile
let server; // code-server child (own process group)
let context; // playwright persistent context

function killAllSync() {
  killAll({ server, tmp });
}

async function cleanup() {
  const c = context;
  context = undefined; // closed once, whoever calls first
  await endAll({ server, context: c, tmp });
}

process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`received ${sig}; cleaning up`);
    killAllSync();
    if (tmp && !process.env.SPIKE_IT_KEEP) try { rmSync(tmp, { recursive: true, force: true }); } catch { /* best effort */ }
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}
const guard = setTimeout(async () => {
  log(`overall timeout of ${TIMEOUT_S}s reached; giving up`);
  await Promise.race([cleanup(), new Promise((r) => setTimeout(r, 15_000))]);
  killAllSync();
  if (tmp) {
    saveArtifacts();
    if (!process.env.SPIKE_IT_KEEP) rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`integration: ${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length + 1} failed`);
  process.exit(1);
}, TIMEOUT_S * 1000);

// ------------------------------------------------------------------------------------------ helpers
const SMOKE = (steps) => `# Tiny, fast config for the integration tests (written by test/integration/run.mjs).
extends: spikformer-tiny/mnist
name: smoke
train:
  epochs: 1
  max_steps_per_epoch: ${steps}
telemetry:
  step_every: 2
`;

/** A fresh workspace: the embedded default example and smoke.spike.yaml. */
function makeWorkspace(name, steps) {
  const ws = join(tmp, name);
  mkdirSync(join(ws, 'examples'), { recursive: true });
  copyFileSync(join(REPO, 'examples/mnist-spikformer.spike.yaml'), join(ws, 'examples/mnist-spikformer.spike.yaml'));
  cpSync(join(REPO, 'examples/custom'), join(ws, 'examples/custom'), { recursive: true }); // "your own model" suite
  writeFileSync(join(ws, 'smoke.spike.yaml'), SMOKE(steps));
  return ws;
}

// codeserver.mjs's launchers, bound to this run's temp dir, results folder and log (code-server is ended in cleanup)
async function startCodeServer({ firstRun = false } = {}) {
  return startCodeServerIn({ tmp, resultsDir: RESULTS_DIR, log, firstRun, onSpawn: (s) => (server = s) });
}
const wireConsole = (page, name) => wireConsoleTo(page, name, RESULTS_DIR);
const launchBrowser = (profile) => launchBrowserIn({ tmp, profile, log });

// ------------------------------------------------------------------------------------------ A: in-host mocha
async function runSuiteA({ base, port }) {
  const ws = makeWorkspace('ws-a', 30);
  // a guard only: each in-host test has its own event-driven waits; A trains five runs, so a loaded machine needs long
  const { code, report: r } = await runInHostSuite({ context, base, port, ws, name: 'A', guardS: A_GUARD_S, resultsFile: join(tmp, 'results-a.json'), resultsDir: RESULTS_DIR, log });
  if (r) {
    for (const t of r.tests) {
      if (t.state === 'pending') continue;
      results.push({ name: `A ${t.title}`, ok: t.state === 'passed', detail: t.error });
    }
    if (code !== 0 && r.failed === 0) results.push({ name: 'A suite exit code', ok: false, detail: `exit code ${code}` });
  } else {
    results.push({ name: 'A in-host suite', ok: false, detail: `no results file (exit code ${code}); see test-results/integration-A-console.log` });
  }
}

/** On failure: VS Code's logs and the runs' event logs and stderr → test-results/integration-artifacts/. */
function saveArtifacts() {
  const dest = join(RESULTS_DIR, 'integration-artifacts');
  try {
    rmSync(dest, { recursive: true, force: true });
    if (existsSync(join(tmp, 'user-data/logs'))) cpSync(join(tmp, 'user-data/logs'), join(dest, 'vscode-logs'), { recursive: true });
    if (existsSync(join(tmp, 'user-data-c/logs'))) cpSync(join(tmp, 'user-data-c/logs'), join(dest, 'vscode-logs-c'), { recursive: true });
    for (const ws of ['ws-a', 'ws-b', 'ws-c']) {
      const runs = join(tmp, ws, '.spike-studio/runs');
      if (!existsSync(runs)) continue;
      for (const id of readdirSync(runs)) {
        for (const f of ['events.jsonl', 'stderr.log', 'config.resolved.json']) {
          const src = join(runs, id, f);
          if (existsSync(src)) cpSync(src, join(dest, ws, id, f));
        }
      }
    }
    log(`failure artifacts in test-results/integration-artifacts/`);
  } catch (e) {
    log(`could not save artifacts: ${e.message}`);
  }
}

// ------------------------------------------------------------------------------------------ main
async function main() {
  mkdirSync(RESULTS_DIR, { recursive: true });
  if (!existsSync(CODE_SERVER)) throw new Error(`${CODE_SERVER} is missing: run \`bash scripts/setup.sh apt code-server\``);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`bash scripts/setup.sh apt\``);
  if (!existsSync(join(REPO, 'dist/extension.js'))) log('warning: dist/extension.js is missing (npm run build); the extension cannot load');
  if (!existsSync(PYTHON)) log(`warning: ${PYTHON} is missing (bash scripts/setup.sh runtime); training will fail`);

  tmp = mkdtempSync(join(tmpdir(), 'spike-it-'));
  log(`temp dir ${tmp}`);
  const cs = runs('A') || runs('B') ? await startCodeServer() : undefined;

  if (runs('A')) {
    try {
      context = await launchBrowser('chromium-profile-a');
      await runSuiteA(cs);
    } catch (e) {
      results.push({ name: 'A in-host suite', ok: false, detail: String(e?.stack ?? e) });
    }
  }
  if (runs('B')) {
    // B gets a browser profile of its own, as a user's fresh window would: no service worker or cache left by A's
    // webviews (VS Code web's webview service worker is per origin and A's tabs used the same one).
    const previous = context;
    context = undefined;
    await previous?.close().catch(() => {});
    context = await launchBrowser('chromium-profile-b');
    const ws = makeWorkspace('ws-b', 200);
    const page = await context.newPage();
    wireConsole(page, 'B');
    const tu = Date.now();
    try {
      await runUiTest({ page, url: workbenchUrl(cs.base, cs.port, ws), ws, logsDir: join(tmp, 'user-data/logs'), resultsDir: RESULTS_DIR, log });
      results.push({ name: 'B UI: palette Train → dashboard fills → Stop', ok: true });
      log(`B: passed in ${((Date.now() - tu) / 1000).toFixed(1)} s`);
    } catch (e) {
      results.push({ name: 'B UI: palette Train → dashboard fills → Stop', ok: false, detail: String(e?.stack ?? e) });
      await page.screenshot({ path: join(RESULTS_DIR, 'integration-B-failure.png') }).catch(() => {});
      const toasts = await page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts().catch(() => []);
      if (toasts.length) log(`B: notifications at failure: ${toasts.join(' | ')}`);
    }
    await page.close().catch(() => {});
  }
  if (runs('C')) {
    // C: a code-server of its own (fresh user data, no pythonPath, no .venv on PATH); the first one is ended first.
    const previous = context;
    context = undefined;
    await previous?.close().catch(() => {});
    if (server) {
      await endAll({ server, context: undefined, tmp: undefined });
      server = undefined;
    }
    const csc = await startCodeServer({ firstRun: true });
    context = await launchBrowser('chromium-profile-c');
    const ws = join(tmp, 'ws-c');
    mkdirSync(join(ws, 'examples'), { recursive: true });
    copyFileSync(join(REPO, 'examples/mnist-spikformer.spike.yaml'), join(ws, 'examples/mnist-spikformer.spike.yaml'));
    const page = await context.newPage();
    wireConsole(page, 'C');
    const tc = Date.now();
    const name = 'C first run: walkthrough → Set Up Python Environment → Train the MNIST example → step points';
    try {
      await runFirstRunTest({ page, url: workbenchUrl(csc.base, csc.port, ws), ws, repo: REPO, logsDir: join(tmp, 'user-data-c/logs'), resultsDir: RESULTS_DIR, log });
      results.push({ name, ok: true });
      log(`C: passed in ${((Date.now() - tc) / 1000).toFixed(1)} s`);
    } catch (e) {
      results.push({ name, ok: false, detail: String(e?.stack ?? e) });
      await page.screenshot({ path: join(RESULTS_DIR, 'integration-C-failure.png') }).catch(() => {});
      const toasts = await page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts().catch(() => []);
      if (toasts.length) log(`C: notifications at failure: ${toasts.join(' | ')}`);
    }
    await page.close().catch(() => {});
  }
}

let exitCode = 1;
try {
  await main();
} catch (e) {
  results.push({ name: 'harness', ok: false, detail: String(e?.stack ?? e) });
} finally {
  await cleanup();
  clearTimeout(guard);
  const passed = results.filter((r) => r.ok).length;
  const failed = results.filter((r) => !r.ok).length;
  console.log('');
  for (const r of results) {
    console.log(`${r.ok ? '  ✔' : '  ✘'} ${r.name}`);
    if (!r.ok && r.detail) console.log(`      ${r.detail.split('\n').slice(0, 30).join('\n      ')}`);
  }
  if (tmp) {
    if (failed > 0) saveArtifacts();
    if (process.env.SPIKE_IT_KEEP) log(`kept ${tmp} for inspection (logs under user-data/logs)`);
    else rmSync(tmp, { recursive: true, force: true });
  }
  log(`total ${since()}`);
  console.log(`integration: ${passed} passed, ${failed} failed`);
  exitCode = failed === 0 && passed > 0 ? 0 : 1;
}
process.exit(exitCode);
