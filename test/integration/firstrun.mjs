// C: the first hour, as a new user: a code-server whose only Python is the system python3 without torch and no
// spikeStudio.pythonPath. Open the folder → the "Get started with Spike Studio" walkthrough opens by itself and the
// status bar says "set up Python" → click the walkthrough's "Set Up Python Environment" button → pick Spike Studio's
// own environment → wait for "Python is ready" (the step gets its check mark, the status-bar item goes) → open the
// MNIST example, "Spike Studio: Train" from the palette → the dashboard's #loss-chart gets step points → Stop.
// Logs the time from the Set Up click to the first step event (events.jsonl) and to the first point on the chart.
// Screenshots: test-results/walkthrough.png (and media/screenshots/walkthrough.png with SPIKE_UPDATE_SCREENSHOTS=1).
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { diagnose, pick, points, waitForTrainDashboard } from './ui.mjs';

/**
 * code-server's environment for C: PATH without the project's .venv or pyenv shims (the system python3 is the one
 * found), the torch spec the test machine's pip has a wheel for, pip's own index/configuration and its user cache.
 */
export function firstRunPath(tmp) {
  // A HOME of its own: VS Code's server resolves the login shell's environment for the extension host, and the
  // user's ~/.bashrc may put pyenv's or conda's python3 (or a venv) first again.
  const home = join(tmp, 'home-c');
  mkdirSync(home, { recursive: true });
  return {
    HOME: home,
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    SPIKE_STUDIO_TORCH_SPEC: process.env.SPIKE_IT_TORCH_SPEC || 'torch==2.13.0',
    SPIKE_STUDIO_TORCH_INDEX: process.env.SPIKE_IT_TORCH_INDEX ?? '',
    // XDG_CACHE_HOME points into the temp dir; keep pip's cache where setup.sh filled it
    PIP_CACHE_DIR: process.env.PIP_CACHE_DIR || join(homedir(), '.cache', 'pip'),
    SPIKE_IT_TMP: tmp,
  };
}

const WALKTHROUGH_TITLE = 'Get started with Spike Studio';
const SETUP_STEP = 'Set up Python';

function stepLocator(page, title) {
  return page.locator('.gettingStartedContainer .getting-started-step', { has: page.locator('.step-title', { hasText: title }) }).first();
}

async function isChecked(step) {
  return (await step.locator('.codicon-getting-started-step-checked').count()) > 0;
}

/** The first `step` event of the newest run in ws: its wall time (ms), or null. */
function firstStepTime(ws) {
  const root = join(ws, '.spike-studio/runs');
  if (!existsSync(root)) return null;
  for (const id of readdirSync(root).sort().reverse()) {
    const file = join(root, id, 'events.jsonl');
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      try {
        const e = JSON.parse(line);
        if (e.type === 'step') return e.t * 1000;
      } catch { /* torn line */ }
    }
  }
  return null;
}

async function waitForToast(page, pattern, { timeout, failOn, ws, logsDir }) {
  const end = Date.now() + timeout;
  const toasts = page.locator('.notifications-toasts .notification-list-item-message');
  for (;;) {
    const texts = await toasts.allInnerTexts().catch(() => []);
    const hit = texts.find((t) => pattern.test(t));
    if (hit) return hit;
    const bad = failOn && texts.find((t) => failOn.test(t));
    if (bad) throw new Error(`error notification: ${bad}\n${await diagnose(page, { ws, logsDir })}`);
    if (Date.now() > end) throw new Error(`no notification matching ${pattern} within ${timeout / 1000} s\n${await diagnose(page, { ws, logsDir })}`);
    await page.waitForTimeout(500);
  }
}

async function screenshotWalkthrough(page, resultsDir, repo, log) {
  // the walkthrough alone, full width (its step media shows beside the steps), no toasts over it (the run's
  // "stopped" message comes a moment after the dashboard says so)
  await page.locator('.notifications-toasts .notification-list-item-message', { hasText: /stopped|finished/ }).first().waitFor({ timeout: 15_000 }).catch(() => {});
  await pick(page, '>Notifications: Clear All Notifications', 'Notifications: Clear All Notifications').catch((e) => log(e.message));
  const tab = page.locator('.tabs-container .tab', { hasText: /Welcome|Walkthrough|Get started/i }).first();
  if (await tab.count()) await tab.click().catch(() => {});
  await pick(page, '>View: Close Editors in Other Groups', 'View: Close Editors in Other Groups').catch((e) => log(e.message));
  if (await tab.count()) await tab.click().catch(() => {});
  await page.locator('.gettingStartedContainer').first().waitFor({ timeout: 20_000 });
  await page.waitForTimeout(2_000); // the step media (markdown) renders in a webview
  const file = join(resultsDir, 'walkthrough.png');
  await page.screenshot({ path: file });
  if (process.env.SPIKE_UPDATE_SCREENSHOTS === '1') {
    mkdirSync(join(repo, 'media/screenshots'), { recursive: true });
    copyFileSync(file, join(repo, 'media/screenshots/walkthrough.png'));
    log('C: media/screenshots/walkthrough.png updated');
  }
  log('C: screenshot test-results/walkthrough.png');
}

export async function runFirstRunTest({ page, url, ws, repo, logsDir, resultsDir, log }) {
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  await page.waitForSelector('.statusbar', { timeout: 60_000 });
  log('C: workbench loaded');

  // The extension's startup check (doctor on python3: no torch) shows the status-bar item and opens the walkthrough.
  const title = page.locator('.gettingStartedContainer', { hasText: WALKTHROUGH_TITLE }).first();
  await title.waitFor({ timeout: 120_000 }).catch(async (e) => {
    throw new Error(`the walkthrough "${WALKTHROUGH_TITLE}" did not open (${e.message.split('\n')[0]})\n${await diagnose(page, { ws, logsDir })}`);
  });
  log('C: walkthrough visible');
  const statusItem = page.locator('.statusbar-item', { hasText: 'Spike Studio: set up Python' });
  await statusItem.first().waitFor({ timeout: 30_000 });
  log('C: status bar shows "Spike Studio: set up Python"');

  // Open the example from the walkthrough's first step, as a user would.
  const open = stepLocator(page, 'Open an example config');
  await open.click();
  await page.locator('.gettingStartedContainer .monaco-button', { hasText: 'Open the MNIST Example' }).first().click();
  await page.locator('.tabs-container .tab', { hasText: 'mnist-spikformer.spike.yaml' }).first().waitFor({ timeout: 30_000 });
  log('C: example opened from the walkthrough');

  // Back to the walkthrough: expand "Set up Python" and click its button.
  await page.locator('.tabs-container .tab', { hasText: /Welcome|Walkthrough|Get started/i }).first().click();
  const setupStep = stepLocator(page, SETUP_STEP);
  const button = page.locator('.gettingStartedContainer .monaco-button', { hasText: 'Set Up Python Environment' }).first();
  // the walkthrough may already have moved on to this step (the first one completed); else expand it
  if (!(await button.isVisible().catch(() => false))) await setupStep.click();
  await button.waitFor({ timeout: 20_000 });
  const tClick = Date.now();
  await button.click();
  log('C: clicked "Set Up Python Environment" in the walkthrough');
  await pickRow(page, "Spike Studio's own environment");
  log("C: picked Spike Studio's own environment");

  const ready = await waitForToast(page, /Python is ready|already set up/, { timeout: 600_000, failOn: /Spike Studio: .*(failed|cannot|not found|too old)/i, ws, logsDir });
  const tReady = Date.now();
  log(`C: "${ready}" ${((tReady - tClick) / 1000).toFixed(1)} s after the click`);
  await statusItem.first().waitFor({ state: 'hidden', timeout: 30_000 });
  log('C: the status-bar item is gone');
  const checkEnd = Date.now() + 30_000;
  while (!(await isChecked(stepLocator(page, SETUP_STEP)))) {
    if (Date.now() > checkEnd) throw new Error('the walkthrough step "Set up Python" did not get its check mark');
    await page.waitForTimeout(500);
  }
  log('C: walkthrough step "Set up Python" is checked');

  // Train the MNIST example from the palette.
  await pick(page, 'mnist-spikformer.spike.yaml', 'mnist-spikformer.spike.yaml', { timeout: 30_000 });
  await page.locator('.tabs-container .tab.active', { hasText: 'mnist-spikformer.spike.yaml' }).waitFor({ timeout: 20_000 });
  const tTrain = Date.now();
  await pick(page, '>Spike Studio: Train', 'Spike Studio: Train');
  log('C: clicked "Spike Studio: Train"');
  // a fresh environment's first `import torch` (doctor, then the run) is slow on a loaded machine: no second click before 90 s
  const web = await waitForTrainDashboard(page, { ws, logsDir, log, timeout: 180_000, clickAgainAfterMs: 90_000 });
  const chart = web.locator('#loss-chart');
  // the example sends a step event every 10 steps; on a loaded 2-core machine the first ones take a while
  const end = Date.now() + 420_000;
  let n = await points(chart);
  while (!(n > 0)) {
    if (Date.now() > end) throw new Error(`#loss-chart shows no step points (data-points ${n})\n${await diagnose(page, { ws, logsDir })}`);
    await page.waitForTimeout(500);
    n = await points(chart);
  }
  const tPoints = Date.now();
  const tStep = firstStepTime(ws);
  const secs = (ms) => (ms / 1000).toFixed(1);
  const timing = {
    setupSeconds: Number(secs(tReady - tClick)),
    trainClickToFirstPointSeconds: Number(secs(tPoints - tTrain)),
    setupClickToFirstStepEventSeconds: tStep ? Number(secs(tStep - tClick)) : null,
    setupClickToFirstChartPointSeconds: Number(secs(tPoints - tClick)),
  };
  log(`C: #loss-chart data-points ${n}; Set Up click → ready ${timing.setupSeconds} s, → first step event ${timing.setupClickToFirstStepEventSeconds} s, → first chart point ${timing.setupClickToFirstChartPointSeconds} s`);
  writeFileSync(join(resultsDir, 'integration-C-timing.json'), JSON.stringify(timing, null, 2) + '\n');

  await pick(page, '>Spike Studio: Stop Training', 'Spike Studio: Stop Training');
  log('C: clicked "Spike Studio: Stop Training"');
  const status = web.locator('#run-status');
  await status.filter({ hasText: /stopped|completed/i }).waitFor({ timeout: 120_000 }).catch(() => log('C: the run did not report stopped within 120 s (the harness ends it)'));

  // the walkthrough with its first three steps checked (README "First run")
  await screenshotWalkthrough(page, resultsDir, repo, log);
  for (const [step, want] of [['Open an example config', true], [SETUP_STEP, true], ['Train', true], ['Make your own config', false]]) {
    const checked = await isChecked(stepLocator(page, step));
    if (checked !== want) throw new Error(`walkthrough step "${step}" is ${checked ? '' : 'not '}checked`);
  }
  log('C: walkthrough steps open example, set up Python and train are checked; make your own config is not');
}

/** Clicks a row of the open quick pick by its label. */
async function pickRow(page, label, timeout = 20_000) {
  const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: label }).first();
  await row.waitFor({ timeout });
  await row.click();
}
